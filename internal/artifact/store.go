// Package artifact keeps what sentry-cli uploads for JavaScript source
// maps: chunks, artifact bundles and release files. Bytes live in JetStream
// object stores (chunks in one that forgets them after an hour, files in
// one named by organization and content); what is where lives in a KV
// bucket, which indexes every file by debug id and by (project, release,
// dist, URL). The worker role assembles uploaded bundles and expires
// what is past its project's retention.
package artifact

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/sourcemap"
)

// Bucket names.
const (
	ChunkBucket    = "faultline-artifact-chunks"
	FileBucket     = "faultline-artifacts"
	IndexBucket    = "faultline-artifact-index"
	AssembleBucket = "faultline-artifact-assemble"
)

// Upload options sentry-cli is told (GET .../chunk-upload/).
const (
	ChunkSize        = 8 << 20
	ChunksPerRequest = 64
	MaxRequestSize   = 32 << 20
	Concurrency      = 8
)

// Config configures the artifact store.
type Config struct {
	// MaxFileSize bounds one file (a legacy upload, or a file inside a
	// bundle, uncompressed). Default 40 MiB.
	MaxFileSize int64
	// MaxBundleSize bounds one assembled bundle (its chunks together) and
	// what its files inflate to. Default 256 MiB.
	MaxBundleSize int64
	// MaxBundleFiles bounds the files of one bundle. Default 20,000.
	MaxBundleFiles int
	// OrgMaxBytes bounds what one organization keeps; over it, its oldest
	// bundles and files go first. 0 means no limit. Default 1 GiB.
	OrgMaxBytes int64
	// MaxBytes bounds the file bucket; MaxChunkBytes the chunk bucket.
	// Defaults 16 GiB and 4 GiB.
	MaxBytes, MaxChunkBytes int64
	// ChunkTTL is how long an uploaded chunk is kept (an hour).
	ChunkTTL time.Duration
	// CacheBytes bounds the in-memory cache of files and index records
	// that lookups read (default 64 MiB; negative: none).
	CacheBytes int64
	// Replicas of the buckets on a NATS cluster (1 when embedded).
	Replicas int
}

// Validate fills defaults.
func (c *Config) Validate() error {
	def := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxFileSize, 40<<20)
	def(&c.MaxBundleSize, 256<<20)
	def(&c.MaxBytes, 16<<30)
	def(&c.MaxChunkBytes, 4<<30)
	if c.OrgMaxBytes == 0 {
		c.OrgMaxBytes = 1 << 30
	}
	def(&c.CacheBytes, 64<<20)
	if c.MaxBundleFiles == 0 {
		c.MaxBundleFiles = 20000
	}
	if c.ChunkTTL == 0 {
		c.ChunkTTL = time.Hour
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.MaxFileSize < 0 || c.MaxBundleSize < 0 || c.MaxBytes < 0 || c.MaxChunkBytes < 0 || c.MaxBundleFiles < 0 || c.ChunkTTL < 0 {
		return errors.New("artifact: sizes, counts and durations must not be negative")
	}
	if c.OrgMaxBytes < 0 {
		c.OrgMaxBytes = 0 // negative: no limit
	}
	return nil
}

// Projects finds projects (their organization and retention).
type Projects interface {
	ProjectByID(id uint64) (*meta.Project, bool)
}

// Store is the artifact store. It is safe for concurrent use.
type Store struct {
	cfg      Config
	chunks   jetstream.ObjectStore
	files    jetstream.ObjectStore
	index    jetstream.KeyValue
	states   jetstream.KeyValue
	projects Projects
	log      *slog.Logger
	now      func() time.Time
	cache    *cache
}

var _ sourcemap.Artifacts = (*Store)(nil)

// Open creates or updates the buckets (idempotent, bounded) and returns
// the store.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config, projects Projects, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Store{cfg: cfg, projects: projects, log: log, now: time.Now, cache: newCache(cfg.CacheBytes)}
	var err error
	if s.chunks, err = ensureObjectStore(ctx, js, jetstream.ObjectStoreConfig{
		Bucket: ChunkBucket, Description: "Faultline: uploaded chunks of source-map bundles (unclaimed ones expire)",
		TTL: cfg.ChunkTTL, MaxBytes: cfg.MaxChunkBytes, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	}); err != nil {
		return nil, err
	}
	if s.files, err = ensureObjectStore(ctx, js, jetstream.ObjectStoreConfig{
		Bucket: FileBucket, Description: "Faultline: source maps and minified sources, by organization and SHA-1",
		MaxBytes: cfg.MaxBytes, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	}); err != nil {
		return nil, err
	}
	if s.index, err = queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket: IndexBucket, Description: "Faultline: source-map bundles and release files, indexed by debug id and URL",
		History: 1, MaxBytes: 1 << 30, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("artifact: %w", err)
	}
	if s.states, err = queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket: AssembleBucket, Description: "Faultline: source-map bundle assembly requests and their state",
		History: 1, TTL: 24 * time.Hour, MaxBytes: 256 << 20, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("artifact: %w", err)
	}
	return s, nil
}

// ensureObjectStore creates or updates an object store as Faultline's
// buckets are made: retried while a cluster elects, bounded, never
// lowering the replicas an operator gave it.
func ensureObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	var os jetstream.ObjectStore
	err := queue.Retry(ctx, queue.EnsureTimeout, func(ctx context.Context) error {
		c := cfg
		if old, err := js.ObjectStore(ctx, cfg.Bucket); err == nil {
			if st, err := old.Status(ctx); err == nil && st.Replicas() > c.Replicas {
				c.Replicas = st.Replicas()
			}
		}
		var err error
		os, err = js.CreateOrUpdateObjectStore(ctx, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("artifact: bucket %s: %w", cfg.Bucket, err)
	}
	return os, nil
}

// Config returns the store's configuration, defaults filled.
func (s *Store) Config() Config { return s.cfg }

// File is one stored file: a release file, or a file of a bundle.
type File struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"` // the URL: "~/app.min.js"
	Dist    string            `json:"dist,omitempty"`
	Type    string            `json:"type,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Size    int64             `json:"size"`
	SHA1    string            `json:"sha1"`
}

// record is a bundle or a release file, as kept in the index bucket.
type record struct {
	Kind     string    `json:"kind"` // "bundle" or "release_file"
	ID       string    `json:"id"`   // the bundle's checksum, or the file's id
	OrgID    uint64    `json:"org"`
	Projects []uint64  `json:"projects"`
	Release  string    `json:"release,omitempty"`
	Dist     string    `json:"dist,omitempty"`
	DebugID  string    `json:"debugId,omitempty"`
	Files    []File    `json:"files"`
	Size     int64     `json:"size"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
}

func (r *record) key() string {
	if r.Kind == "bundle" {
		return bundleKey(r.OrgID, r.ID)
	}
	return releaseFileKey(r.OrgID, r.Release, r.ID)
}

func bundleKey(org uint64, checksum string) string {
	return "b." + strconv.FormatUint(org, 10) + "." + checksum
}

func releaseFileKey(org uint64, release, id string) string {
	return releasePrefix(org, release) + id
}

func releasePrefix(org uint64, release string) string {
	h := sha256.Sum256([]byte(release))
	return "f." + strconv.FormatUint(org, 10) + "." + hex.EncodeToString(h[:12]) + "."
}

func debugKey(project uint64, debugID, kind string) string {
	return "d." + strconv.FormatUint(project, 10) + "." + debugID + "." + kind
}

func urlKey(project uint64, release, dist, url string) string {
	h := sha256.New()
	h.Write([]byte(release))
	h.Write([]byte{0})
	h.Write([]byte(dist))
	h.Write([]byte{0})
	h.Write([]byte(url))
	return "u." + strconv.FormatUint(project, 10) + "." + hex.EncodeToString(h.Sum(nil)[:20])
}

func objectKey(org uint64, sha string) string {
	return strconv.FormatUint(org, 10) + "/" + sha
}

func chunkKey(org uint64, sha string) string {
	return strconv.FormatUint(org, 10) + "/" + sha
}

// NormalizeDebugID returns a debug id as 32 lower-case hex digits (a UUID
// without dashes, and without an appendix), or "" if it is none.
func NormalizeDebugID(s string) string {
	s = strings.ToLower(strings.ReplaceAll(s, "-", ""))
	if len(s) > 32 {
		s = s[:32] // an appendix (age) after the UUID
	}
	if len(s) != 32 {
		return ""
	}
	if _, err := hex.DecodeString(s); err != nil {
		return ""
	}
	return s
}

// ValidSHA1 reports whether s is a SHA-1 in lower-case hex.
func ValidSHA1(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// fileID is a release file's id: stable for its organization, release,
// dist and name, and under 2^53 as JavaScript clients need.
func fileID(org uint64, release, dist, name string) string {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], org)
	h.Write(b[:])
	for _, s := range []string{release, dist, name} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	id := binary.LittleEndian.Uint64(h.Sum(nil)) & (1<<53 - 1)
	if id == 0 {
		id = 1
	}
	return strconv.FormatUint(id, 10)
}

// retention is how long a record of these projects is kept: the longest
// of their retentions.
func (s *Store) retention(projects []uint64) time.Duration {
	days := 0
	for _, id := range projects {
		if p, ok := s.projects.ProjectByID(id); ok && p.RetentionDays > days {
			days = p.RetentionDays
		}
	}
	if days <= 0 {
		days = meta.DefaultRetentionDays
	}
	return time.Duration(days) * 24 * time.Hour
}

func (s *Store) getRecord(ctx context.Context, key string) (*record, uint64, error) {
	e, err := s.index.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("artifact: get %s: %w", key, err)
	}
	if c, ok := s.cache.get("r:"+key, e.Revision()); ok {
		cp := *c.rec // callers may change Projects: a shallow copy with its own slice
		cp.Projects = append([]uint64(nil), c.rec.Projects...)
		return &cp, e.Revision(), nil
	}
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, 0, fmt.Errorf("artifact: record %s: %w", key, err)
	}
	cp := r
	cp.Projects = append([]uint64(nil), r.Projects...)
	s.cache.put(&cacheEntry{key: "r:" + key, rev: e.Revision(), rec: &cp, size: int64(len(e.Value()))})
	return &r, e.Revision(), nil
}

// putObject stores a file's bytes under its organization and SHA-1,
// unless they are there already.
func (s *Store) putObject(ctx context.Context, org uint64, sha string, body []byte) error {
	key := objectKey(org, sha)
	if info, err := s.files.GetInfo(ctx, key); err == nil && !info.Deleted {
		return nil
	} else if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("artifact: put %s: %w", key, err)
	}
	if _, err := s.files.PutBytes(ctx, key, body); err != nil {
		return fmt.Errorf("artifact: put %s: %w", key, err)
	}
	return nil
}

// readObject reads a file's bytes, checked against their SHA-1.
func (s *Store) readObject(ctx context.Context, org uint64, sha string) ([]byte, error) {
	if c, ok := s.cache.get("o:"+objectKey(org, sha), 0); ok {
		return c.body, nil
	}
	b, err := s.files.GetBytes(ctx, objectKey(org, sha))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("artifact: read %s: %w", objectKey(org, sha), err)
	}
	sum := sha1.Sum(b)
	if hex.EncodeToString(sum[:]) != sha {
		return nil, fmt.Errorf("artifact: %s does not match its checksum", objectKey(org, sha))
	}
	s.cache.put(&cacheEntry{key: "o:" + objectKey(org, sha), body: b, size: int64(len(b))})
	return b, nil
}

// saveRecord writes a record and indexes its files for each of its
// projects: by debug id (minified sources and maps) and by release, dist
// and URL (the latest upload wins).
func (s *Store) saveRecord(ctx context.Context, r *record) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := s.index.Put(ctx, r.key(), raw); err != nil {
		return fmt.Errorf("artifact: save %s: %w", r.key(), err)
	}
	for i, f := range r.Files {
		ref := r.key() + "/" + strconv.Itoa(i)
		for _, pid := range r.Projects {
			if d := NormalizeDebugID(f.Headers["debug-id"]); d != "" && (f.Type == KindMinifiedSource || f.Type == KindSourceMap) {
				if _, err := s.index.PutString(ctx, debugKey(pid, d, f.Type), ref); err != nil {
					return fmt.Errorf("artifact: index: %w", err)
				}
			}
			if r.Kind == "release_file" || r.Release != "" {
				dist := f.Dist
				if r.Kind == "bundle" {
					dist = r.Dist
				}
				if _, err := s.index.PutString(ctx, urlKey(pid, r.Release, dist, f.Name), ref); err != nil {
					return fmt.Errorf("artifact: index: %w", err)
				}
			}
		}
	}
	return nil
}

// resolve follows an index entry to its file, for project pid.
func (s *Store) resolve(ctx context.Context, key string, pid uint64) (*sourcemap.Artifact, error) {
	e, err := s.index.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("artifact: index %s: %w", key, err)
	}
	rk, idx, ok := strings.Cut(string(e.Value()), "/")
	if !ok {
		return nil, nil
	}
	i, err := strconv.Atoi(idx)
	if err != nil {
		return nil, nil
	}
	r, _, err := s.getRecord(ctx, rk)
	if err != nil || r == nil {
		return nil, err
	}
	if i < 0 || i >= len(r.Files) || !r.Expires.After(s.now()) || !containsID(r.Projects, pid) {
		return nil, nil
	}
	f := r.Files[i]
	body, err := s.readObject(ctx, r.OrgID, f.SHA1)
	if err != nil || body == nil {
		return nil, err
	}
	h := make(map[string]string, len(f.Headers))
	for k, v := range f.Headers {
		h[k] = v
	}
	return &sourcemap.Artifact{URL: f.Name, Kind: f.Type, Headers: h, Body: body}, nil
}

// ByDebugID implements sourcemap.Artifacts. The Body of what lookups
// return is shared with the store's cache: read it, never change it.
func (s *Store) ByDebugID(ctx context.Context, projectID uint64, debugID, kind string) (*sourcemap.Artifact, error) {
	d := NormalizeDebugID(debugID)
	if d == "" || (kind != KindMinifiedSource && kind != KindSourceMap) {
		return nil, nil
	}
	return s.resolve(ctx, debugKey(projectID, d, kind), projectID)
}

// ByURL implements sourcemap.Artifacts.
func (s *Store) ByURL(ctx context.Context, projectID uint64, release, dist, url string) (*sourcemap.Artifact, error) {
	if release == "" || url == "" {
		return nil, nil
	}
	return s.resolve(ctx, urlKey(projectID, release, dist, url), projectID)
}

func containsID(ids []uint64, id uint64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
