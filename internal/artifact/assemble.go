package artifact

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Assembly states, as Sentry answers them.
const (
	StateNotFound   = "not_found"
	StateCreated    = "created"
	StateAssembling = "assembling"
	StateOK         = "ok"
	StateError      = "error"
)

// Assembly kinds: an artifact bundle (artifactbundle/assemble/) or a
// release's files (releases/{version}/assemble/).
const (
	AssembleBundle  = "bundle"
	AssembleRelease = "release"
)

// ErrTooLarge means an upload is over a size limit; its message says
// which, for the 413 answer.
var ErrTooLarge = errors.New("too large")

// ErrFull means the chunk store is at its byte limit: try again later.
var ErrFull = errors.New("artifact: the chunk store is full")

// ErrChecksum means an upload's bytes do not match the SHA-1 it was named by.
var ErrChecksum = errors.New("checksum mismatch")

// PutChunk stores one uploaded chunk, named by the SHA-1 of its bytes,
// for the organization. Chunks expire after Config.ChunkTTL.
func (s *Store) PutChunk(ctx context.Context, org uint64, sha string, data []byte) error {
	sum := sha1.Sum(data)
	if !ValidSHA1(sha) || hex.EncodeToString(sum[:]) != sha {
		return fmt.Errorf("%w: chunk %.40q", ErrChecksum, sha)
	}
	if len(data) > ChunkSize {
		return fmt.Errorf("%w: a chunk may be at most %d bytes", ErrTooLarge, ChunkSize)
	}
	key := chunkKey(org, sha)
	if info, err := s.chunks.GetInfo(ctx, key); err == nil && !info.Deleted {
		return nil
	}
	if _, err := s.chunks.PutBytes(ctx, key, data); err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == 10047 || apiErr.ErrorCode == 10077) {
			return fmt.Errorf("%w: %v", ErrFull, err)
		}
		return fmt.Errorf("artifact: chunk %s: %w", key, err)
	}
	return nil
}

// AssembleRequest is what an assemble route asks for.
type AssembleRequest struct {
	Kind     string   `json:"kind"`
	OrgID    uint64   `json:"org"`
	Checksum string   `json:"checksum"`
	Chunks   []string `json:"chunks"`
	Projects []uint64 `json:"projects"`
	Release  string   `json:"release,omitempty"`
	Dist     string   `json:"dist,omitempty"`
}

// assembly is an assemble request and its state, in the assemble bucket.
type assembly struct {
	State   string          `json:"state"`
	Detail  string          `json:"detail,omitempty"`
	Request AssembleRequest `json:"request"`
	Updated time.Time       `json:"updated"`
}

func assemblyKey(req *AssembleRequest) string {
	return strconv.FormatUint(req.OrgID, 10) + "." + req.Kind + "." + req.Checksum
}

// AssembleAnswer is an assemble route's answer.
type AssembleAnswer struct {
	State         string   `json:"state"`
	MissingChunks []string `json:"missingChunks"`
	Detail        *string  `json:"detail"`
}

// Assemble records an assemble request: not_found with the chunks still
// missing, or created, for the worker role to assemble; asked again, the
// request's state (assembling, then ok or error with a detail). A bundle
// whose chunks are together larger than MaxBundleSize is ErrTooLarge.
func (s *Store) Assemble(ctx context.Context, req AssembleRequest) (*AssembleAnswer, error) {
	key := assemblyKey(&req)
	if a, _, err := s.getAssembly(ctx, key); err != nil {
		return nil, err
	} else if a != nil {
		gone := false
		if a.State == StateOK && req.Kind == AssembleBundle {
			// Assembled, then evicted or deleted: assemble it again.
			r, _, err := s.getRecord(ctx, bundleKey(req.OrgID, req.Checksum))
			if err != nil {
				return nil, err
			}
			gone = r == nil || !r.Expires.After(s.now())
		}
		if !gone {
			return answer(a.State, a.Detail, nil), nil
		}
		if err := s.states.Delete(ctx, key); err != nil {
			return nil, fmt.Errorf("artifact: assemble %s: %w", key, err)
		}
	}
	if req.Kind == AssembleBundle {
		if r, _, err := s.getRecord(ctx, bundleKey(req.OrgID, req.Checksum)); err != nil {
			return nil, err
		} else if r != nil && r.Expires.After(s.now()) && sameIDs(r.Projects, req.Projects) && r.Release == req.Release && r.Dist == req.Dist {
			return answer(StateOK, "", nil), nil // assembled before
		}
	}
	var missing []string
	var total uint64
	for _, c := range req.Chunks {
		info, err := s.chunks.GetInfo(ctx, chunkKey(req.OrgID, c))
		if errors.Is(err, jetstream.ErrObjectNotFound) || err == nil && info.Deleted {
			missing = append(missing, c)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("artifact: chunk %s: %w", c, err)
		}
		total += info.Size
	}
	if total > uint64(s.cfg.MaxBundleSize) {
		return nil, fmt.Errorf("%w: the bundle is %d bytes, more than the limit of %d bytes (--artifact-max-bundle-size)", ErrTooLarge, total, s.cfg.MaxBundleSize)
	}
	if len(missing) > 0 {
		return answer(StateNotFound, "", missing), nil
	}
	raw, _ := json.Marshal(assembly{State: StateCreated, Request: req, Updated: s.now().UTC()})
	if _, err := s.states.Create(ctx, key, raw); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			if a, _, err := s.getAssembly(ctx, key); err == nil && a != nil {
				return answer(a.State, a.Detail, nil), nil
			}
		}
		return nil, fmt.Errorf("artifact: assemble %s: %w", key, err)
	}
	return answer(StateCreated, "", nil), nil
}

func answer(state, detail string, missing []string) *AssembleAnswer {
	a := &AssembleAnswer{State: state, MissingChunks: missing}
	if a.MissingChunks == nil {
		a.MissingChunks = []string{}
	}
	if detail != "" {
		a.Detail = &detail
	}
	return a
}

func sameIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range b {
		if !containsID(a, x) {
			return false
		}
	}
	return true
}

func (s *Store) getAssembly(ctx context.Context, key string) (*assembly, uint64, error) {
	e, err := s.states.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("artifact: assemble state %s: %w", key, err)
	}
	var a assembly
	if err := json.Unmarshal(e.Value(), &a); err != nil {
		return nil, 0, fmt.Errorf("artifact: assemble state %s: %w", key, err)
	}
	return &a, e.Revision(), nil
}

// staleAssembly is how long an assembly may stay "assembling" before
// another worker takes it over (its worker is taken to have died).
const staleAssembly = 10 * time.Minute

// assembleOne claims the assembly under key (compare-and-set, so that one
// worker assembles it), assembles it and records the outcome.
func (s *Store) assembleOne(ctx context.Context, key string) {
	a, rev, err := s.getAssembly(ctx, key)
	if err != nil || a == nil {
		return
	}
	switch {
	case a.State == StateCreated:
	case a.State == StateAssembling && s.now().Sub(a.Updated) > staleAssembly:
	default:
		return
	}
	a.State, a.Updated = StateAssembling, s.now().UTC()
	raw, _ := json.Marshal(a)
	if _, err := s.states.Update(ctx, key, raw, rev); err != nil {
		return // another worker claimed it
	}
	rev++
	err = s.build(ctx, &a.Request)
	a.State, a.Updated = StateOK, s.now().UTC()
	if err != nil {
		a.State = StateError
		var b *userError
		switch {
		case errors.As(err, &b):
			a.Detail = b.msg
		case errors.Is(err, ErrBadBundle), errors.Is(err, ErrTooLarge), errors.Is(err, ErrChecksum):
			a.Detail = err.Error()
		default:
			s.log.Error("artifact: assembly failed", "key", key, "err", err)
			a.Detail = "internal error while assembling the bundle"
		}
	}
	raw, _ = json.Marshal(a)
	if e, err := s.states.Get(ctx, key); err == nil {
		rev = e.Revision()
	}
	if _, err := s.states.Update(ctx, key, raw, rev); err != nil {
		s.log.Warn("artifact: record assembly state", "key", key, "err", err)
	}
}

type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

// build assembles a request's chunks into a bundle, reads it, and stores
// its files and index.
func (s *Store) build(ctx context.Context, req *AssembleRequest) error {
	var buf bytes.Buffer
	for _, c := range req.Chunks {
		b, err := s.chunks.GetBytes(ctx, chunkKey(req.OrgID, c))
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return &userError{"a chunk expired before the bundle was assembled; upload again"}
		}
		if err != nil {
			return fmt.Errorf("artifact: chunk %s: %w", c, err)
		}
		if int64(buf.Len()+len(b)) > s.cfg.MaxBundleSize {
			return fmt.Errorf("%w: the bundle is larger than the limit of %d bytes", ErrTooLarge, s.cfg.MaxBundleSize)
		}
		buf.Write(b)
	}
	sum := sha1.Sum(buf.Bytes())
	if hex.EncodeToString(sum[:]) != req.Checksum {
		return fmt.Errorf("%w: the chunks do not add up to the bundle's checksum", ErrChecksum)
	}
	b, err := ReadBundle(buf.Bytes(), BundleLimits{MaxFiles: s.cfg.MaxBundleFiles + 1, MaxFileSize: s.cfg.MaxFileSize, MaxTotalSize: s.cfg.MaxBundleSize})
	if err != nil {
		return err
	}
	release, dist := req.Release, req.Dist
	if req.Kind == AssembleBundle {
		if release == "" {
			release = b.Attributes["release"]
		}
		if dist == "" {
			dist = b.Attributes["dist"]
		}
	}
	now := s.now().UTC()
	expires := now.Add(s.retention(req.Projects))
	var size int64
	files := make([]File, 0, len(b.Files))
	for _, f := range b.Files {
		sum := sha1.Sum(f.Body)
		files = append(files, File{Name: f.URL, Dist: dist, Type: f.Type, Headers: f.Headers,
			Size: int64(len(f.Body)), SHA1: hex.EncodeToString(sum[:])})
		size += int64(len(f.Body))
	}
	if err := s.makeRoom(ctx, req.OrgID, size); err != nil {
		return err
	}
	for i, f := range b.Files {
		if err := s.putObject(ctx, req.OrgID, files[i].SHA1, f.Body); err != nil {
			return err
		}
	}
	if req.Kind == AssembleBundle {
		for i := range files {
			files[i].ID = strconv.Itoa(i + 1)
		}
		r := &record{Kind: "bundle", ID: req.Checksum, OrgID: req.OrgID, Projects: req.Projects, Release: release,
			Dist: dist, DebugID: b.Attributes["debug_id"], Files: files, Size: size, Created: now, Expires: expires}
		if err := s.saveRecord(ctx, r); err != nil {
			return err
		}
	} else {
		for _, f := range files {
			f.ID = fileID(req.OrgID, release, dist, f.Name)
			r := &record{Kind: "release_file", ID: f.ID, OrgID: req.OrgID, Projects: req.Projects, Release: release,
				Files: []File{f}, Size: f.Size, Created: now, Expires: expires}
			if err := s.saveRecord(ctx, r); err != nil {
				return err
			}
		}
	}
	for _, c := range req.Chunks {
		s.chunks.Delete(ctx, chunkKey(req.OrgID, c)) //nolint:errcheck // they expire anyway
	}
	return nil
}

// Run assembles what is requested, as requests come (a watch on the
// assemble bucket), and expires what is past its retention every
// interval, until ctx is done. The worker role runs it.
func (s *Store) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Hour
	}
	go s.cleanupLoop(ctx, interval)
	for ctx.Err() == nil {
		s.watch(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// watch follows the assemble bucket until ctx is done or the watch fails;
// stale assemblies are taken over every minute.
func (s *Store) watch(ctx context.Context) {
	w, err := s.states.WatchAll(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("artifact: watch assemblies", "err", err)
		}
		return
	}
	defer w.Stop() //nolint:errcheck
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var a assembly
			if json.Unmarshal(e.Value(), &a) == nil && (a.State == StateCreated || a.State == StateAssembling) {
				s.assembleOne(ctx, e.Key())
			}
		case <-tick.C:
			keys, err := s.states.ListKeys(ctx)
			if err != nil {
				continue
			}
			for k := range keys.Keys() {
				s.assembleOne(ctx, k)
			}
		}
	}
}
