// Package attachment keeps the bytes of event attachments (files, minidumps)
// in a JetStream Object Store. An attachment may be far larger than a queue
// message (8 MiB), so ingest stores it here before answering 200, and the
// queued event only carries a reference to it; the object store chunks it
// into 128 KiB messages on the same durable JetStream as the queue.
package attachment

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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
	bucket, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      BucketName,
		Description: "Faultline: event attachments and minidumps",
		TTL:         cfg.TTL,
		MaxBytes:    cfg.MaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("attachment: bucket %s: %w", BucketName, err)
	}
	return &Store{os: bucket}, nil
}

// Info describes a stored attachment.
type Info struct {
	Size uint64
	SHA1 string // hex, as Sentry's API shows it
}

// Put stores data under key and returns once JetStream has acknowledged
// every chunk. Storing under an existing key replaces the object, so a
// retried upload does not leave a copy behind.
func (s *Store) Put(ctx context.Context, key string, data []byte) (Info, error) {
	sum := sha1.Sum(data)
	if _, err := s.os.PutBytes(ctx, key, data); err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == 10047 || apiErr.ErrorCode == 10077) {
			return Info{}, fmt.Errorf("%w: %v", ErrFull, err)
		}
		return Info{}, fmt.Errorf("attachment: put %s: %w", key, err)
	}
	return Info{Size: uint64(len(data)), SHA1: hex.EncodeToString(sum[:])}, nil
}

// Object is an attachment being read.
type Object interface {
	io.ReadCloser
}

// Get opens the object under key for reading; the caller closes it. The
// content is verified against its digest as it is read.
func (s *Store) Get(ctx context.Context, key string) (Object, uint64, error) {
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

// Key names an attachment's object: "project/event/id". Keys are built by
// Faultline from validated parts only, never taken from a client.
func Key(projectID uint64, eventID string, id uint64) string {
	return strconv.FormatUint(projectID, 10) + "/" + eventID + "/" + strconv.FormatUint(id, 10)
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
