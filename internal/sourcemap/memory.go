package sourcemap

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// Memory is an Artifacts held in memory: the files of a build, added as
// sentry-cli would upload them. Tests fill it with real esbuild and
// sentry-cli output; it is not a substitute for the upload side's store.
type Memory struct {
	mu      sync.RWMutex
	files   []memoryFile
	lookups atomic.Int64
}

type memoryFile struct {
	project       uint64
	release, dist string
	debugID       string
	a             Artifact
}

var _ Artifacts = (*Memory)(nil)

// Add adds one file of a project's release and dist ("" release: found
// by its "debug-id" header only).
func (m *Memory) Add(projectID uint64, release, dist string, a Artifact) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files = append(m.files, memoryFile{project: projectID, release: release, dist: dist,
		debugID: strings.ToLower(a.Headers["debug-id"]), a: a})
}

var debugIDComment = regexp.MustCompile(`//# debugId=([0-9a-fA-F-]+)`)

// AddDir adds the .js and .map files under dir as `sentry-cli sourcemaps
// upload` does: under urlPrefix ("~/static"), maps as source_map, scripts
// naming a map as minified_source, other scripts as source, each with the
// debug id `sourcemaps inject` gave it.
func (m *Memory) AddDir(projectID uint64, release, dist, dir, urlPrefix string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".js") || strings.HasSuffix(p, ".map")) {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		a := Artifact{URL: path.Join(urlPrefix, filepath.ToSlash(rel)), Kind: "source", Headers: map[string]string{}, Body: body}
		switch {
		case strings.HasSuffix(p, ".map"):
			a.Kind = "source_map"
			var dm struct {
				DebugID  string `json:"debug_id"`
				DebugID2 string `json:"debugId"`
			}
			if json.Unmarshal(body, &dm) == nil && dm.DebugID+dm.DebugID2 != "" {
				a.Headers["debug-id"] = strings.ToLower(dm.DebugID + dm.DebugID2)
			}
		case sourceMappingURL(body) != "":
			a.Kind = "minified_source"
			if id := debugIDComment.FindSubmatch(body); id != nil {
				a.Headers["debug-id"] = strings.ToLower(string(id[1]))
			}
		}
		m.Add(projectID, release, dist, a)
		return nil
	})
}

// Lookups is the number of lookups answered, found or not.
func (m *Memory) Lookups() int64 { return m.lookups.Load() }

// ByDebugID implements Artifacts.
func (m *Memory) ByDebugID(_ context.Context, projectID uint64, debugID, kind string) (*Artifact, error) {
	m.lookups.Add(1)
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i := range m.files {
		f := &m.files[i]
		if f.project == projectID && f.debugID != "" && f.debugID == strings.ToLower(debugID) && f.a.Kind == kind {
			a := f.a
			return &a, nil
		}
	}
	return nil, nil
}

// ByURL implements Artifacts.
func (m *Memory) ByURL(_ context.Context, projectID uint64, release, dist, url string) (*Artifact, error) {
	m.lookups.Add(1)
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i := range m.files {
		f := &m.files[i]
		if release != "" && f.project == projectID && f.release == release && f.dist == dist && f.a.URL == url {
			a := f.a
			return &a, nil
		}
	}
	return nil, nil
}
