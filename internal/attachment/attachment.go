// Package attachment keeps the bytes of event attachments (files, minidumps)
// in a JetStream Object Store. An attachment may be far larger than a queue
// message (8 MiB), so ingest stores it here before answering 200, and the
// queued event only carries a reference to it; the object store chunks it
// into 128 KiB messages on the same durable JetStream as the queue.
//
// Attachments are write-once. An object's key names its content (Key), and
// Put never replaces an object, so that an upload sent again, by an SDK or
// by someone who knows an event id, cannot change stored bytes; reads are
// verified against the SHA-1 recorded in the attachment's metadata (Get),
// so that a mismatch is an error, never the wrong bytes served.
package attachment

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/queue"
)

// BucketName is the object store bucket that holds attachments.
const BucketName = "faultline-attachments"

// Config configures the attachment store.
type Config struct {
	// MaxBytes bounds the bucket: when full, ingest refuses attachments
	// (the answer is 429) instead of filling the disk. Default 16 GiB.
	MaxBytes int64
	// TTL is how long an attachment is kept at most; it should be at least
	// the longest project retention. Default 90 days.
	TTL time.Duration
	// Replicas of the bucket on a NATS cluster (1 when embedded).
	Replicas int
}

// Validate fills defaults.
func (c *Config) Validate() error {
	if c.MaxBytes == 0 {
		c.MaxBytes = 16 << 30
	}
	if c.TTL == 0 {
		c.TTL = 90 * 24 * time.Hour
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.MaxBytes < 0 || c.TTL < 0 {
		return errors.New("attachment: MaxBytes and TTL must not be negative")
	}
	return nil
}

// Store is the attachment object store. It is safe for concurrent use.
type Store struct {
	os jetstream.ObjectStore
}

// ErrNotFound means no object has that key (expired, deleted or never
// stored).
var ErrNotFound = errors.New("attachment: not found")

// ErrFull means the bucket is at its byte limit.
var ErrFull = errors.New("attachment: store is full")

// Open creates or updates the bucket.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bucket, err := queue.EnsureObjectStore(ctx, js, jetstream.ObjectStoreConfig{
		Bucket:      BucketName,
		Description: "Faultline: event attachments and minidumps",
		TTL:         cfg.TTL,
		MaxBytes:    cfg.MaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("attachment: %w", err)
	}
	return &Store{os: bucket}, nil
}

// Info describes a stored attachment.
type Info struct {
	Size uint64
	SHA1 string // hex, as Sentry's API shows it
}

// ErrChecksum means an object's bytes do not match the SHA-1 recorded for
// it: they are not served.
var ErrChecksum = errors.New("attachment: content does not match its checksum")

// Put stores data under key, unless an object is there already, and
// returns once JetStream has acknowledged every chunk. Keys name their
// content (Key), so an object found under key holds the same bytes: a
// retried upload writes nothing, and nothing is ever replaced.
func (s *Store) Put(ctx context.Context, key string, data []byte) (Info, error) {
	sum := sha1.Sum(data)
	info := Info{Size: uint64(len(data)), SHA1: hex.EncodeToString(sum[:])}
	if old, err := s.os.GetInfo(ctx, key); err == nil && !old.Deleted {
		return info, nil
	} else if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return Info{}, fmt.Errorf("attachment: put %s: %w", key, err)
	}
	if _, err := s.os.PutBytes(ctx, key, data); err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == 10047 || apiErr.ErrorCode == 10077) {
			return Info{}, fmt.Errorf("%w: %v", ErrFull, err)
		}
		return Info{}, fmt.Errorf("attachment: put %s: %w", key, err)
	}
	return info, nil
}

// Object is an attachment being read.
type Object interface {
	io.ReadCloser
}

// Get opens the object under key for reading, once its content is found to
// match wantSHA1 (hex, as recorded in the attachment's metadata); the
// caller closes it. The object is read twice: once to check it, without
// holding it in memory, then to serve it, checked again as it is read (a
// mismatch then ends the read with ErrChecksum).
func (s *Store) Get(ctx context.Context, key, wantSHA1 string) (Object, uint64, error) {
	want, err := hex.DecodeString(wantSHA1)
	if err != nil || len(want) != sha1.Size {
		return nil, 0, fmt.Errorf("%w: %s has no valid checksum recorded", ErrChecksum, key)
	}
	r, size, err := s.open(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	h := sha1.New()
	_, err = io.Copy(h, r)
	r.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("attachment: get %s: %w", key, err)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		return nil, 0, fmt.Errorf("%w: %s", ErrChecksum, key)
	}
	if r, size, err = s.open(ctx, key); err != nil {
		return nil, 0, err
	}
	return &verified{r: r, h: sha1.New(), want: want, key: key}, size, nil
}

// verified checks what it reads against the expected SHA-1 at the end.
type verified struct {
	r    io.ReadCloser
	h    hash.Hash
	want []byte
	key  string
}

func (v *verified) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF && !bytes.Equal(v.h.Sum(nil), v.want) {
		return n, fmt.Errorf("%w: %s", ErrChecksum, v.key)
	}
	return n, err
}

func (v *verified) Close() error { return v.r.Close() }

// open opens the object under key, unverified.
func (s *Store) open(ctx context.Context, key string) (io.ReadCloser, uint64, error) {
	r, err := s.os.Get(ctx, key)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("attachment: get %s: %w", key, err)
	}
	info, err := r.Info()
	if err != nil {
		r.Close()
		return nil, 0, fmt.Errorf("attachment: get %s: %w", key, err)
	}
	return r, info.Size, nil
}

// Delete removes the object under key; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.os.Delete(ctx, key)
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("attachment: delete %s: %w", key, err)
	}
	return nil
}

// Key names an attachment's object by where it belongs and what it holds:
// "project/event/id/sha256 of the bytes" (hex). Two uploads of one
// attachment name one object only if their bytes are the same, so an
// object is never replaced by other bytes. Keys are built by Faultline from
// validated parts only, never taken from a client. Objects stored before
// keys named their content are "project/event/id"; they are still read
// through the key recorded in their metadata.
func Key(projectID uint64, eventID string, id uint64, data []byte) string {
	sum := sha256.Sum256(data)
	return strconv.FormatUint(projectID, 10) + "/" + eventID + "/" + strconv.FormatUint(id, 10) + "/" + hex.EncodeToString(sum[:])
}

// ID derives an attachment's id from where it was sent: the project, the
// event, its position in the upload and its file name. The same upload
// retried by an SDK gets the same ids (so it overwrites, never duplicates),
// and ids fit in 53 bits, as JavaScript clients of the API need.
func ID(projectID uint64, eventID string, index int, name string) uint64 {
	h := sha256.New()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], projectID)
	binary.LittleEndian.PutUint64(b[8:], uint64(index))
	h.Write(b[:])
	h.Write([]byte(eventID))
	h.Write([]byte{0})
	h.Write([]byte(name))
	id := binary.LittleEndian.Uint64(h.Sum(nil)) & (1<<53 - 1)
	if id == 0 {
		id = 1
	}
	return id
}
