package attachment_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/attachment"
	"github.com/faultline/faultline/internal/queue"
)

// open runs a real embedded NATS server (the queue's) and the bucket on it.
func open(t *testing.T, cfg attachment.Config) *attachment.Store {
	t.Helper()
	q, err := queue.Open(context.Background(), queue.Config{DataDir: t.TempDir()}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	s, err := attachment.Open(context.Background(), q.JetStream(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPutGetDelete(t *testing.T) {
	ctx := context.Background()
	s := open(t, attachment.Config{})
	// Larger than a queue message, so it must be chunked.
	data := make([]byte, queue.MaxPayload+12345)
	rand.Read(data)
	key := attachment.Key(42, "0123456789abcdef0123456789abcdef", 7, data)
	info, err := s.Put(ctx, key, data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(data)
	if info.Size != uint64(len(data)) || info.SHA1 != hex.EncodeToString(sum[:]) {
		t.Fatalf("info = %+v", info)
	}
	read := func() []byte {
		t.Helper()
		r, size, err := s.Get(ctx, key, info.SHA1)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil || uint64(len(got)) != size {
			t.Fatalf("read %d bytes of %d: %v", len(got), size, err)
		}
		return got
	}
	if !bytes.Equal(read(), data) {
		t.Fatal("content differs")
	}
	// Nothing replaces a stored object: a put under its key writes
	// nothing (keys name their content, so other bytes get another key).
	if _, err := s.Put(ctx, key, []byte("second")); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(), data) {
		t.Fatal("a second put replaced the object")
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, key, info.SHA1); !errors.Is(err, attachment.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if _, _, err := s.Get(ctx, "no/such/key", info.SHA1); !errors.Is(err, attachment.ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
}

func TestFullBucketRefuses(t *testing.T) {
	ctx := context.Background()
	s := open(t, attachment.Config{MaxBytes: 1 << 20})
	data := make([]byte, 600<<10)
	if _, err := s.Put(ctx, "a", data); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "b", data); !errors.Is(err, attachment.ErrFull) {
		t.Fatalf("second put into a full bucket: %v", err)
	}
}

func TestIDs(t *testing.T) {
	eid := "0123456789abcdef0123456789abcdef"
	a := attachment.ID(1, eid, 0, "log.txt")
	if a != attachment.ID(1, eid, 0, "log.txt") {
		t.Fatal("ID is not deterministic")
	}
	seen := map[uint64]bool{a: true}
	for _, other := range []uint64{attachment.ID(2, eid, 0, "log.txt"), attachment.ID(1, eid, 1, "log.txt"),
		attachment.ID(1, eid, 0, "log2.txt"), attachment.ID(1, "ffffffffffffffffffffffffffffffff", 0, "log.txt")} {
		if seen[other] {
			t.Fatal("IDs collide")
		}
		seen[other] = true
	}
	for id := range seen {
		if id == 0 || id >= 1<<53 {
			t.Fatalf("id %d out of range", id)
		}
	}
}

// TestKeysNameContent: the same attachment with other bytes gets another
// key; with the same bytes, the same key.
func TestKeysNameContent(t *testing.T) {
	eid := "0123456789abcdef0123456789abcdef"
	a := attachment.Key(1, eid, 5, []byte("original"))
	if a != attachment.Key(1, eid, 5, []byte("original")) {
		t.Fatal("Key is not deterministic")
	}
	if a == attachment.Key(1, eid, 5, []byte("replaced")) {
		t.Fatal("other bytes, same key")
	}
	// Deletion finds objects by their "project/event/" prefix.
	if !strings.HasPrefix(a, "1/"+eid+"/5/") {
		t.Fatalf("key %q", a)
	}
}

// TestGetVerifiesChecksum: bytes that do not match the recorded SHA-1 (an
// object of the old key scheme replaced by another upload) are not served.
func TestGetVerifiesChecksum(t *testing.T) {
	ctx := context.Background()
	s := open(t, attachment.Config{})
	old := "42/0123456789abcdef0123456789abcdef/7" // the key scheme before keys named content
	orig, err := s.Put(ctx, old, []byte("original"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, sha1 string
		want       error
	}{
		{"matching", orig.SHA1, nil},
		{"other bytes", hex.EncodeToString(make([]byte, 20)), attachment.ErrChecksum},
		{"no checksum", "", attachment.ErrChecksum},
		{"bad checksum", "xyz", attachment.ErrChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _, err := s.Get(ctx, old, tc.sha1)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil {
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || string(got) != "original" {
					t.Fatalf("read %q, %v", got, err)
				}
			}
		})
	}
}
