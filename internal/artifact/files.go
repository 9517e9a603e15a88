package artifact

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ReleaseFile is a file of a release (Sentry's legacy release files, and
// what a release's assemble stores).
type ReleaseFile struct {
	File
	Projects []uint64
	Created  time.Time
}

// ErrExists means a release already has a file of that name and dist.
var ErrExists = errors.New("artifact: a file of that name exists in the release")

// PutReleaseFile stores one file of a release for its projects. A file
// of the same name and dist in the release is ErrExists, as in Sentry.
func (s *Store) PutReleaseFile(ctx context.Context, org uint64, projects []uint64, release string, f File, body []byte) (*ReleaseFile, error) {
	if int64(len(body)) > s.cfg.MaxFileSize {
		return nil, fmt.Errorf("%w: the file is %d bytes, more than the limit of %d bytes (--artifact-max-file-size)", ErrTooLarge, len(body), s.cfg.MaxFileSize)
	}
	sum := sha1.Sum(body)
	f.SHA1 = hex.EncodeToString(sum[:])
	f.Size = int64(len(body))
	f.ID = fileID(org, release, f.Dist, f.Name)
	now := s.now().UTC()
	r := &record{Kind: "release_file", ID: f.ID, OrgID: org, Projects: projects, Release: release,
		Files: []File{f}, Size: f.Size, Created: now, Expires: now.Add(s.retention(projects))}
	if old, _, err := s.getRecord(ctx, r.key()); err != nil {
		return nil, err
	} else if old != nil && old.Expires.After(now) {
		return nil, ErrExists
	}
	if err := s.makeRoom(ctx, org, f.Size); err != nil {
		return nil, err
	}
	if err := s.putObject(ctx, org, f.SHA1, body); err != nil {
		return nil, err
	}
	if err := s.saveRecord(ctx, r); err != nil {
		return nil, err
	}
	return &ReleaseFile{File: f, Projects: projects, Created: now}, nil
}

// ReleaseFiles lists a release's files (of project pid only, unless it is
// 0), ordered by name.
func (s *Store) ReleaseFiles(ctx context.Context, org uint64, release string, pid uint64) ([]ReleaseFile, error) {
	recs, err := s.records(ctx, releasePrefix(org, release)+"*")
	if err != nil {
		return nil, err
	}
	out := []ReleaseFile{}
	for _, r := range recs {
		if r.Release != release || len(r.Files) != 1 || !r.Expires.After(s.now()) || pid != 0 && !containsID(r.Projects, pid) {
			continue
		}
		out = append(out, ReleaseFile{File: r.Files[0], Projects: r.Projects, Created: r.Created})
	}
	// The files of the release's artifact bundles are listed too (read
	// only: their ids name the bundle and the file).
	bundles, err := s.records(ctx, "b."+strconv.FormatUint(org, 10)+".*")
	if err != nil {
		return nil, err
	}
	for _, r := range bundles {
		if r.Release != release || !r.Expires.After(s.now()) || pid != 0 && !containsID(r.Projects, pid) {
			continue
		}
		for _, f := range r.Files {
			f.ID = "bundle-" + r.ID[:12] + "-" + f.ID
			out = append(out, ReleaseFile{File: f, Projects: r.Projects, Created: r.Created})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Dist < out[j].Dist
	})
	return out, nil
}

// ReleaseFile returns one file of a release, or nil.
func (s *Store) ReleaseFile(ctx context.Context, org uint64, release, id string, pid uint64) (*ReleaseFile, error) {
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return nil, nil
	}
	r, _, err := s.getRecord(ctx, releaseFileKey(org, release, id))
	if err != nil || r == nil {
		return nil, err
	}
	if r.Release != release || len(r.Files) != 1 || !r.Expires.After(s.now()) || pid != 0 && !containsID(r.Projects, pid) {
		return nil, nil
	}
	return &ReleaseFile{File: r.Files[0], Projects: r.Projects, Created: r.Created}, nil
}

// ReleaseFileBody reads a release file's bytes.
func (s *Store) ReleaseFileBody(ctx context.Context, org uint64, f *ReleaseFile) ([]byte, error) {
	return s.readObject(ctx, org, f.SHA1)
}

// DeleteReleaseFile deletes one file of a release; it reports whether
// there was one. Its bytes go once nothing else refers to them.
func (s *Store) DeleteReleaseFile(ctx context.Context, org uint64, release, id string, pid uint64) (bool, error) {
	f, err := s.ReleaseFile(ctx, org, release, id, pid)
	if err != nil || f == nil {
		return false, err
	}
	if err := s.index.Delete(ctx, releaseFileKey(org, release, id)); err != nil {
		return false, fmt.Errorf("artifact: delete file %s: %w", id, err)
	}
	return true, s.gcOrg(ctx, org, map[string]bool{f.SHA1: true})
}

// records loads the records whose keys match a filter.
func (s *Store) records(ctx context.Context, filters ...string) ([]*record, error) {
	keys, err := s.keys(ctx, filters...)
	if err != nil {
		return nil, err
	}
	out := make([]*record, 0, len(keys))
	for _, k := range keys {
		r, _, err := s.getRecord(ctx, k)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *Store) keys(ctx context.Context, filters ...string) ([]string, error) {
	l, err := s.index.ListKeysFiltered(ctx, filters...)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("artifact: list: %w", err)
	}
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}

func orgFilters(org uint64) []string {
	o := strconv.FormatUint(org, 10)
	return []string{"b." + o + ".*", "f." + o + ".*.*"}
}

// Usage is how many bytes an organization's bundles and files hold.
func (s *Store) Usage(ctx context.Context, org uint64) (int64, error) {
	recs, err := s.records(ctx, orgFilters(org)...)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range recs {
		n += r.Size
	}
	return n, nil
}

// makeRoom makes room for need more bytes of the organization under
// OrgMaxBytes, deleting its oldest bundles and files first; more than the
// whole limit is ErrTooLarge.
func (s *Store) makeRoom(ctx context.Context, org uint64, need int64) error {
	limit := s.cfg.OrgMaxBytes
	if limit <= 0 {
		return nil
	}
	if need > limit {
		return fmt.Errorf("%w: %d bytes are more than the organization's limit of %d bytes (--artifact-org-max-bytes)", ErrTooLarge, need, limit)
	}
	recs, err := s.records(ctx, orgFilters(org)...)
	if err != nil {
		return err
	}
	var used int64
	for _, r := range recs {
		used += r.Size
	}
	if used+need <= limit {
		return nil
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Created.Before(recs[j].Created) })
	dropped := map[string]bool{}
	for _, r := range recs {
		if used+need <= limit {
			break
		}
		if err := s.index.Delete(ctx, r.key()); err != nil {
			return fmt.Errorf("artifact: evict %s: %w", r.key(), err)
		}
		s.log.Info("artifact: evicted to stay under the organization's limit", "org", org, "record", r.key(), "bytes", r.Size)
		used -= r.Size
		for _, f := range r.Files {
			dropped[f.SHA1] = true
		}
	}
	return s.gcOrg(ctx, org, dropped)
}

// gcOrg deletes the candidate objects of the organization that no record
// refers to any more.
func (s *Store) gcOrg(ctx context.Context, org uint64, candidates map[string]bool) error {
	if len(candidates) == 0 {
		return nil
	}
	recs, err := s.records(ctx, orgFilters(org)...)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, r := range recs {
		for _, f := range r.Files {
			used[f.SHA1] = true
		}
	}
	for sha := range candidates {
		if !used[sha] {
			if err := s.files.Delete(ctx, objectKey(org, sha)); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
				return fmt.Errorf("artifact: delete %s: %w", objectKey(org, sha), err)
			}
		}
	}
	return nil
}

// Cleanup deletes the bundles and files past their projects' retention,
// the index entries that lead nowhere, and the bytes nothing refers to
// (those stored in the last minutes are left: their record may be being
// written).
func (s *Store) Cleanup(ctx context.Context) error {
	keys, err := s.keys(ctx, "b.>", "f.>")
	if err != nil {
		return err
	}
	live := map[string]bool{}
	used := map[string]bool{} // object keys
	for _, k := range keys {
		r, _, err := s.getRecord(ctx, k)
		if err != nil || r == nil {
			continue
		}
		if !r.Expires.After(s.now()) {
			if err := s.index.Delete(ctx, k); err != nil {
				return fmt.Errorf("artifact: expire %s: %w", k, err)
			}
			continue
		}
		live[k] = true
		for _, f := range r.Files {
			used[objectKey(r.OrgID, f.SHA1)] = true
		}
	}
	if err := s.dropDangling(ctx, live, "d.>", "u.>"); err != nil {
		return err
	}
	list, err := s.files.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("artifact: list objects: %w", err)
	}
	for _, info := range list {
		if info.Deleted || used[info.Name] || s.now().Sub(info.ModTime) < staleAssembly {
			continue
		}
		if err := s.files.Delete(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("artifact: delete %s: %w", info.Name, err)
		}
	}
	return nil
}

// dropDangling deletes the index entries (under filters) whose record is
// not live.
func (s *Store) dropDangling(ctx context.Context, live map[string]bool, filters ...string) error {
	keys, err := s.keys(ctx, filters...)
	if err != nil {
		return err
	}
	for _, k := range keys {
		e, err := s.index.Get(ctx, k)
		if err != nil {
			continue
		}
		rk, _, _ := strings.Cut(string(e.Value()), "/")
		if !live[rk] {
			s.index.Delete(ctx, k) //nolint:errcheck // the next cleanup retries
		}
	}
	return nil
}

func (s *Store) cleanupLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Cleanup(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("artifact: cleanup", "err", err)
			}
		}
	}
}

// DeleteEvents is part of deletion.Blobs: artifacts do not belong to
// events.
func (s *Store) DeleteEvents(context.Context, uint64, []string) error { return nil }

// DeleteProject purges a project's artifacts (deletion.Blobs): its index
// entries, its bundles and release files (a record shared with other
// projects only loses the project), and the bytes nothing else refers to.
func (s *Store) DeleteProject(ctx context.Context, pid uint64) error {
	filters := []string{"b.>", "f.>"}
	if p, ok := s.projects.ProjectByID(pid); ok {
		filters = orgFilters(p.OrgID)
	}
	recs, err := s.records(ctx, filters...)
	if err != nil {
		return err
	}
	dropped := map[uint64]map[string]bool{}
	for _, r := range recs {
		if !containsID(r.Projects, pid) {
			continue
		}
		var rest []uint64
		for _, id := range r.Projects {
			if id != pid {
				rest = append(rest, id)
			}
		}
		if len(rest) > 0 {
			r.Projects = rest
			raw, _ := json.Marshal(r)
			if _, err := s.index.Put(ctx, r.key(), raw); err != nil {
				return fmt.Errorf("artifact: %s: %w", r.key(), err)
			}
			continue
		}
		if err := s.index.Delete(ctx, r.key()); err != nil {
			return fmt.Errorf("artifact: delete %s: %w", r.key(), err)
		}
		if dropped[r.OrgID] == nil {
			dropped[r.OrgID] = map[string]bool{}
		}
		for _, f := range r.Files {
			dropped[r.OrgID][f.SHA1] = true
		}
	}
	p := strconv.FormatUint(pid, 10)
	keys, err := s.keys(ctx, "d."+p+".>", "u."+p+".*")
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.index.Delete(ctx, k); err != nil {
			return fmt.Errorf("artifact: delete %s: %w", k, err)
		}
	}
	for org, shas := range dropped {
		if err := s.gcOrg(ctx, org, shas); err != nil {
			return err
		}
	}
	return nil
}
