package artifact

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/queue"
)

// projectTable is the projects the tests upload for: organization 7 has
// projects 1 (30 days' retention) and 2 (90 days).
type projectTable map[uint64]*meta.Project

func (p projectTable) ProjectByID(id uint64) (*meta.Project, bool) {
	x, ok := p[id]
	return x, ok
}

// openStore runs a real embedded NATS server (the queue's) and the
// artifact buckets on it.
func openStore(t *testing.T, cfg Config) *Store { return openStoreTB(t, cfg) }

func openStoreB(b *testing.B) *Store { return openStoreTB(b, Config{}) }

func openStoreTB(t testing.TB, cfg Config) *Store {
	t.Helper()
	q, err := queue.Open(context.Background(), queue.Config{DataDir: t.TempDir()}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	projects := projectTable{1: {ID: 1, OrgID: 7, RetentionDays: 30}, 2: {ID: 2, OrgID: 7, RetentionDays: 90}}
	s, err := Open(context.Background(), q.JetStream(), cfg, projects, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hexSHA1(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// objects counts the file bucket's objects.
func objects(t *testing.T, s *Store) int {
	t.Helper()
	list, err := s.files.List(context.Background())
	if err != nil {
		return 0
	}
	n := 0
	for _, o := range list {
		if !o.Deleted {
			n++
		}
	}
	return n
}

// assemble uploads a bundle in two chunks and assembles it as a worker
// does, checking the states on the way.
func assemble(t *testing.T, s *Store, bundle []byte, projects []uint64, release string) *AssembleAnswer {
	t.Helper()
	ctx := context.Background()
	half := len(bundle) / 2
	chunks := [][]byte{bundle[:half], bundle[half:]}
	req := AssembleRequest{Kind: AssembleBundle, OrgID: 7, Checksum: hexSHA1(bundle), Projects: projects, Release: release,
		Chunks: []string{hexSHA1(chunks[0]), hexSHA1(chunks[1])}}
	ans, err := s.Assemble(ctx, req)
	if err != nil || ans.State != StateNotFound || len(ans.MissingChunks) != 2 {
		t.Fatalf("before the upload: %+v %v", ans, err)
	}
	for _, c := range chunks {
		if err := s.PutChunk(ctx, 7, hexSHA1(c), c); err != nil {
			t.Fatal(err)
		}
	}
	if ans, err = s.Assemble(ctx, req); err != nil || ans.State != StateCreated || len(ans.MissingChunks) != 0 {
		t.Fatalf("after the upload: %+v %v", ans, err)
	}
	s.assembleOne(ctx, assemblyKey(&req)) // what Run does when it sees the request
	if ans, err = s.Assemble(ctx, req); err != nil {
		t.Fatal(err)
	}
	return ans
}

func TestAssembleAndLookups(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, Config{})
	ans := assemble(t, s, zipOf(t, true, goodFiles()...), []uint64{1, 2}, "1.0")
	if ans.State != StateOK || ans.Detail != nil {
		t.Fatalf("assembled: %+v", ans)
	}
	for _, pid := range []uint64{1, 2} {
		a, err := s.ByDebugID(ctx, pid, "0BF4D1A2-E9CC-5AA3-BDCB-535510848E95", KindMinifiedSource)
		if err != nil || a == nil || string(a.Body) != "function a(){}" || a.Headers["sourcemap"] != "app.min.js.map" {
			t.Fatalf("project %d by debug id: %+v %v", pid, a, err)
		}
		m, err := s.ByURL(ctx, pid, "1.0", "", "~/app.min.js.map")
		if err != nil || m == nil || m.Kind != KindSourceMap || string(m.Body) != `{"version":3}` {
			t.Fatalf("project %d by URL: %+v %v", pid, m, err)
		}
	}
	if a, err := s.ByDebugID(ctx, 3, "0bf4d1a2e9cc5aa3bdcb535510848e95", KindMinifiedSource); err != nil || a != nil {
		t.Errorf("another project: %+v %v", a, err)
	}
	if a, err := s.ByURL(ctx, 1, "2.0", "", "~/app.min.js"); err != nil || a != nil {
		t.Errorf("another release: %+v %v", a, err)
	}
	if a, err := s.ByURL(ctx, 1, "1.0", "d1", "~/app.min.js"); err != nil || a != nil {
		t.Errorf("another dist: %+v %v", a, err)
	}
	// The same bundle again is ok at once, without an upload.
	if ans, err := s.Assemble(ctx, AssembleRequest{Kind: AssembleBundle, OrgID: 7, Checksum: hexSHA1(zipOf(t, true, goodFiles()...)),
		Projects: []uint64{1, 2}, Release: "1.0", Chunks: []string{hexSHA1([]byte("gone"))}}); err != nil || ans.State != StateOK {
		t.Errorf("assembled again: %+v %v", ans, err)
	}

	// A project's deletion takes its index away; the bytes stay while the
	// other project refers to them, and go with the last one.
	if err := s.DeleteProject(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.ByDebugID(ctx, 1, "0bf4d1a2e9cc5aa3bdcb535510848e95", KindMinifiedSource); a != nil {
		t.Error("a deleted project's file is still found")
	}
	if a, _ := s.ByDebugID(ctx, 2, "0bf4d1a2e9cc5aa3bdcb535510848e95", KindMinifiedSource); a == nil {
		t.Error("the other project lost its file")
	}
	if n := objects(t, s); n != 2 {
		t.Errorf("%d objects after one project's deletion, want 2", n)
	}
	if err := s.DeleteProject(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if n := objects(t, s); n != 0 {
		t.Errorf("%d objects after both projects' deletion, want 0", n)
	}
	if keys, _ := s.keys(ctx, ">"); len(keys) != 0 {
		t.Errorf("index entries left: %v", keys)
	}
	// Asked again once it is gone, the bundle is not "ok": its chunks are
	// asked for (they were deleted once assembled).
	bundle := zipOf(t, true, goodFiles()...)
	half := len(bundle) / 2
	ans, err := s.Assemble(ctx, AssembleRequest{Kind: AssembleBundle, OrgID: 7, Checksum: hexSHA1(bundle), Projects: []uint64{1, 2},
		Release: "1.0", Chunks: []string{hexSHA1(bundle[:half]), hexSHA1(bundle[half:])}})
	if err != nil || ans.State != StateNotFound || len(ans.MissingChunks) != 2 {
		t.Errorf("a deleted bundle asked again: %+v %v", ans, err)
	}
}

func TestAssembleErrors(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, Config{MaxFileSize: 1 << 20, MaxBundleSize: 1 << 20})
	// A chunk that is not what it is named by.
	if err := s.PutChunk(ctx, 7, hexSHA1([]byte("a")), []byte("b")); !errors.Is(err, ErrChecksum) {
		t.Errorf("a mislabelled chunk: %v", err)
	}
	// A bad bundle ends in error, with a detail.
	ans := assemble(t, s, zipOf(t, true, append(goodFiles(), [2]string{"../evil", "x"})...), []uint64{1}, "")
	if ans.State != StateError || ans.Detail == nil {
		t.Errorf("a bad bundle: %+v", ans)
	}
	// Chunks that are together over the bundle limit are refused at once.
	big := make([]byte, 600<<10)
	for i := range big {
		big[i] = byte(i)
	}
	other := append([]byte{1}, big...)
	for _, c := range [][]byte{big, other} {
		if err := s.PutChunk(ctx, 7, hexSHA1(c), c); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Assemble(ctx, AssembleRequest{Kind: AssembleBundle, OrgID: 7, Checksum: hexSHA1([]byte("x")), Projects: []uint64{1},
		Chunks: []string{hexSHA1(big), hexSHA1(other)}})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("an oversize bundle: %v", err)
	}
	// Another organization's chunks are missing to this one.
	ans2, err := s.Assemble(ctx, AssembleRequest{Kind: AssembleBundle, OrgID: 8, Checksum: hexSHA1([]byte("y")), Projects: []uint64{1},
		Chunks: []string{hexSHA1(big)}})
	if err != nil || ans2.State != StateNotFound {
		t.Errorf("another organization's chunk: %+v %v", ans2, err)
	}
}

func TestReleaseFilesLimitAndExpiry(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, Config{OrgMaxBytes: 100})
	now := time.Now()
	s.now = func() time.Time { return now }
	put := func(name string, size int) error {
		_, err := s.PutReleaseFile(ctx, 7, []uint64{1}, "1.0", File{Name: name, Type: KindMinifiedSource}, make([]byte, size))
		return err
	}
	if err := put("~/a.js", 60); err != nil {
		t.Fatal(err)
	}
	if err := put("~/a.js", 10); !errors.Is(err, ErrExists) {
		t.Errorf("the same name again: %v", err)
	}
	if err := put("~/huge.js", 101); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the organization's limit: %v", err)
	}
	// Over the limit with what is kept: the oldest goes.
	now = now.Add(time.Minute)
	if err := put("~/b.js", 50); err != nil {
		t.Fatal(err)
	}
	files, err := s.ReleaseFiles(ctx, 7, "1.0", 0)
	if err != nil || len(files) != 1 || files[0].Name != "~/b.js" {
		t.Fatalf("after eviction: %+v %v", files, err)
	}
	if a, _ := s.ByURL(ctx, 1, "1.0", "", "~/a.js"); a != nil {
		t.Error("the evicted file is still found")
	}
	if n := objects(t, s); n != 1 {
		t.Errorf("%d objects, want 1", n)
	}
	if u, _ := s.Usage(ctx, 7); u != 50 {
		t.Errorf("usage %d, want 50", u)
	}
	// Past project 1's retention (30 days), cleanup takes it all away.
	if err := s.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.ByURL(ctx, 1, "1.0", "", "~/b.js"); a == nil {
		t.Fatal("a file within its retention is gone")
	}
	now = now.Add(31 * 24 * time.Hour)
	if a, _ := s.ByURL(ctx, 1, "1.0", "", "~/b.js"); a != nil {
		t.Error("an expired file is served")
	}
	if err := s.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if n := objects(t, s); n != 0 {
		t.Errorf("%d objects after expiry, want 0", n)
	}
	if keys, _ := s.keys(ctx, ">"); len(keys) != 0 {
		t.Errorf("index entries left: %v", keys)
	}
}

// TestBucketsBounded opens the store twice on one server (as the API and
// worker roles do) and checks the buckets' limits: unclaimed chunks
// expire after an hour, every bucket has a byte bound.
func TestBucketsBounded(t *testing.T) {
	ctx := context.Background()
	q, err := queue.Open(ctx, queue.Config{DataDir: t.TempDir()}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	for range 2 {
		if _, err := Open(ctx, q.JetStream(), Config{}, projectTable{}, slog.Default()); err != nil {
			t.Fatal(err)
		}
	}
	chunks, err := q.JetStream().ObjectStore(ctx, ChunkBucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := chunks.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != time.Hour || st.Size() != 0 {
		t.Errorf("chunk bucket: ttl %v", st.TTL())
	}
	for _, name := range []string{ChunkBucket, FileBucket, "KV_" + IndexBucket, "KV_" + AssembleBucket} {
		stream := name
		if !strings.HasPrefix(name, "KV_") {
			stream = "OBJ_" + name
		}
		s, err := q.JetStream().Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if s.CachedInfo().Config.MaxBytes <= 0 {
			t.Errorf("%s has no byte bound", stream)
		}
	}
}
