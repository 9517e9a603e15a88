package sourcemap

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/faultline/faultline/internal/event"
)

//go:generate node testdata/gen.mjs

// memArtifacts is an in-memory Artifacts filled with the files a build
// produced (real esbuild and sentry-cli output under testdata): a storage
// fixture, not a stand-in for the upload side's behaviour.
type memArtifacts struct {
	files   []memFile
	lookups atomic.Int64
}

type memFile struct {
	project       uint64
	release, dist string
	debugID       string
	Artifact
}

func (m *memArtifacts) ByDebugID(_ context.Context, projectID uint64, debugID, kind string) (*Artifact, error) {
	m.lookups.Add(1)
	for i := range m.files {
		f := &m.files[i]
		if f.project == projectID && f.debugID == debugID && f.Kind == kind {
			return &f.Artifact, nil
		}
	}
	return nil, nil
}

func (m *memArtifacts) ByURL(_ context.Context, projectID uint64, release, dist, url string) (*Artifact, error) {
	m.lookups.Add(1)
	for i := range m.files {
		f := &m.files[i]
		if f.project == projectID && f.release == release && f.dist == dist && f.URL == url && release != "" {
			return &f.Artifact, nil
		}
	}
	return nil, nil
}

var debugIDComment = regexp.MustCompile(`//# debugId=([0-9a-fA-F-]+)`)

// upload adds a fixture's static files as sentry-cli uploads them: under
// "~/static/...", with the debug ids sentry-cli injected, for the release
// (and dist) given ("" uploads them with no release: debug ids only).
func (m *memArtifacts) upload(t testing.TB, project uint64, dir, release, dist string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "static"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		body, err := os.ReadFile(filepath.Join(dir, "static", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		f := memFile{project: project, release: release, dist: dist,
			Artifact: Artifact{URL: "~/static/" + e.Name(), Kind: "minified_source", Headers: map[string]string{}, Body: body}}
		if strings.HasSuffix(e.Name(), ".map") {
			f.Kind = "source_map"
			var dm struct {
				DebugID  string `json:"debug_id"`
				DebugID2 string `json:"debugId"`
			}
			json.Unmarshal(body, &dm) //nolint:errcheck
			f.debugID = strings.ToLower(dm.DebugID + dm.DebugID2)
		} else if m := debugIDComment.FindSubmatch(body); m != nil {
			f.debugID = strings.ToLower(string(m[1]))
			f.Headers["debug-id"] = f.debugID
		}
		if f.debugID != "" {
			f.Headers["debug-id"] = f.debugID
		}
		m.files = append(m.files, f)
	}
}

// uploadSources adds the application's original sources as source files
// of the release, as `sourcemaps upload` does for a map without
// sourcesContent when the sources are in the upload directory.
func (m *memArtifacts) uploadSources(t testing.TB, project uint64, release, dist string) {
	t.Helper()
	root := filepath.Join("testdata", "app")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		m.files = append(m.files, memFile{project: project, release: release, dist: dist,
			Artifact: Artifact{URL: "~/" + filepath.ToSlash(rel), Kind: "source", Body: body}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// stackCase is one failure the generator recorded from running a bundle.
type stackCase struct {
	Case      string          `json:"case"`
	Type      string          `json:"type"`
	Value     string          `json:"value"`
	Frames    []event.Frame   `json:"frames"`
	DebugMeta json.RawMessage `json:"debug_meta"`
}

func loadStacks(t testing.TB, dir string) []stackCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "stacks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cs []stackCase
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// browserEvent is the event @sentry/browser sends for a recorded failure.
func browserEvent(c stackCase, release string) *event.Event {
	frames := append([]event.Frame(nil), c.Frames...)
	for i := range frames {
		frames[i].Filename = frames[i].AbsPath
	}
	e := &event.Event{Platform: "javascript", Release: event.FlexString(release),
		Exception: &event.ExceptionList{Values: []event.Exception{{Type: c.Type, Value: event.FlexString(c.Value),
			Stacktrace: &event.Stacktrace{Frames: frames}}}}}
	if len(c.DebugMeta) > 0 {
		e.DebugMeta = event.Raw(c.DebugMeta)
	}
	return e
}
