// Package session keeps login sessions and the login lockout counters in
// NATS KV buckets of their own, read on demand (not the metadata bucket
// that every process watches), so that any node accepts a session and
// counts failures with the others.
//
// A session is found by the SHA-256 of its cookie value: the bucket never
// holds a value that logs a browser in. It lasts at most MaxAge from the
// login and IdleTimeout from its last use; its last use is written at most
// once a minute, and the bucket's TTL (IdleTimeout plus slack) removes
// sessions nobody used. A session records its user's password version:
// once the password changes, the session is refused.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/queue"
)

// Bucket names.
const (
	SessionsBucket = "faultline-sessions"
	FailuresBucket = "faultline-login-failures"
)

// Defaults.
const (
	DefaultMaxAge        = 14 * 24 * time.Hour
	DefaultIdleTimeout   = 24 * time.Hour
	DefaultTouchInterval = time.Minute
	DefaultLockWindow    = 15 * time.Minute
	DefaultAccountLimit  = 5
	DefaultClientLimit   = 20
)

// Config configures sessions and the lockout.
type Config struct {
	// MaxAge is a session's longest life (14 days); IdleTimeout how long
	// it lasts unused (24 hours); TouchInterval how often its last use is
	// written at most (a minute).
	MaxAge, IdleTimeout, TouchInterval time.Duration
	// LockWindow is the window failures are counted in and how long a
	// lockout lasts (15 minutes). AccountLimit failures for one account
	// (5), or ClientLimit from one client address (20), lock further
	// attempts out.
	LockWindow                time.Duration
	AccountLimit, ClientLimit int
	// Replicas of the buckets on a NATS cluster (never lowered).
	Replicas int
	// MaxBytes bounds each bucket (64 MiB).
	MaxBytes int64
}

// Validate fills defaults.
func (c *Config) Validate() error {
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.TouchInterval <= 0 {
		c.TouchInterval = DefaultTouchInterval
	}
	if c.LockWindow <= 0 {
		c.LockWindow = DefaultLockWindow
	}
	if c.AccountLimit <= 0 {
		c.AccountLimit = DefaultAccountLimit
	}
	if c.ClientLimit <= 0 {
		c.ClientLimit = DefaultClientLimit
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 64 << 20
	}
	if c.IdleTimeout > c.MaxAge {
		return fmt.Errorf("session: idle timeout %s exceeds the maximum age %s", c.IdleTimeout, c.MaxAge)
	}
	return nil
}

// ErrNoSession means the cookie names no valid session.
var ErrNoSession = errors.New("session: no such session")

// Session is a logged-in browser.
type Session struct {
	UserID uint64 `json:"userId"`
	// PasswordVersion is the user's when the session was made.
	PasswordVersion uint64    `json:"passwordVersion"`
	Created         time.Time `json:"created"`
	LastUsed        time.Time `json:"lastUsed"`
	// CSRF is the csrftoken cookie's value given at login: a write must
	// send it back.
	CSRF string `json:"csrf"`

	key string // the stored key: the cookie value's hash
	rev uint64
}

// Store keeps sessions and failure counters.
type Store struct {
	cfg      Config
	sessions jetstream.KeyValue
	failures jetstream.KeyValue
	now      func() time.Time
}

// Open creates or opens the buckets.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, now: time.Now}
	var err error
	// The TTL counts from an entry's last write: a session is written at
	// least every TouchInterval while used, so the bucket drops idle ones.
	if s.sessions, err = openBucket(ctx, js, SessionsBucket, "Faultline: login sessions, by the hash of their cookie",
		cfg.IdleTimeout+2*cfg.TouchInterval, cfg); err != nil {
		return nil, err
	}
	if s.failures, err = openBucket(ctx, js, FailuresBucket, "Faultline: recent login failures per account and client address",
		cfg.LockWindow, cfg); err != nil {
		return nil, err
	}
	return s, nil
}

func openBucket(ctx context.Context, js jetstream.JetStream, name, desc string, ttl time.Duration, cfg Config) (jetstream.KeyValue, error) {
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:       name,
		Description:  desc,
		History:      1,
		TTL:          ttl,
		MaxBytes:     cfg.MaxBytes,
		MaxValueSize: 4096,
		Storage:      jetstream.FileStorage,
		Replicas:     cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return kv, nil
}

// Config returns the configuration in effect.
func (s *Store) Config() Config { return s.cfg }

// NewToken returns 32 random bytes, URL-safe base64: a cookie value.
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashKey(prefix, v string) string {
	h := sha256.Sum256([]byte(v))
	return prefix + hex.EncodeToString(h[:])
}

// Create makes a session for a user and returns its cookie value.
func (s *Store) Create(ctx context.Context, userID, passwordVersion uint64) (string, *Session, error) {
	cookie := NewToken()
	now := s.now().UTC()
	sess := &Session{UserID: userID, PasswordVersion: passwordVersion, Created: now, LastUsed: now, CSRF: NewToken(),
		key: hashKey("s.", cookie)}
	b, _ := json.Marshal(sess)
	rev, err := s.sessions.Create(ctx, sess.key, b)
	if err != nil {
		return "", nil, fmt.Errorf("session: create: %w", err)
	}
	sess.rev = rev
	return cookie, sess, nil
}

// Get returns the session a cookie value names, if it is still valid for
// a user whose password is at passwordVersion (a func, since the user is
// known only once the session is read). It records the use at most once a
// TouchInterval.
func (s *Store) Get(ctx context.Context, cookie string, passwordVersion func(userID uint64) (uint64, bool)) (*Session, error) {
	if cookie == "" || len(cookie) > 128 {
		return nil, ErrNoSession
	}
	key := hashKey("s.", cookie)
	e, err := s.sessions.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("session: get: %w", err)
	}
	var sess Session
	if err := json.Unmarshal(e.Value(), &sess); err != nil {
		return nil, ErrNoSession
	}
	sess.key, sess.rev = key, e.Revision()
	now := s.now().UTC()
	pv, ok := passwordVersion(sess.UserID)
	if !ok || pv != sess.PasswordVersion || now.Sub(sess.Created) >= s.cfg.MaxAge || now.Sub(sess.LastUsed) >= s.cfg.IdleTimeout {
		s.sessions.Delete(ctx, key) //nolint:errcheck // expiry removes it anyway
		return nil, ErrNoSession
	}
	if now.Sub(sess.LastUsed) >= s.cfg.TouchInterval {
		sess.LastUsed = now
		b, _ := json.Marshal(&sess)
		// Another node touching it at the same time is as good.
		if rev, err := s.sessions.Update(ctx, key, b, sess.rev); err == nil {
			sess.rev = rev
		}
	}
	return &sess, nil
}

// Delete ends a session (logout).
func (s *Store) Delete(ctx context.Context, sess *Session) error {
	if err := s.sessions.Delete(ctx, sess.key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("session: delete: %w", err)
	}
	return nil
}

// Renew records a new password version on the session, so that it
// survives the password change its own user made (the other sessions of
// the user are refused from then on).
func (s *Store) Renew(ctx context.Context, sess *Session, passwordVersion uint64) error {
	cp := *sess
	cp.PasswordVersion = passwordVersion
	b, _ := json.Marshal(&cp)
	if _, err := s.sessions.Put(ctx, sess.key, b); err != nil {
		return fmt.Errorf("session: renew: %w", err)
	}
	sess.PasswordVersion = passwordVersion
	return nil
}
