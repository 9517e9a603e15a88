// Package meta keeps Faultline's metadata (organizations, teams, projects,
// DSN keys, users and API tokens) in a NATS JetStream key-value bucket.
//
// Every process watches the bucket and holds the whole of it in memory, so
// that ingest authenticates a request with a map lookup. Writes go to the
// bucket first and are applied to the local cache at once (read-your-writes);
// other processes see them through their watch.
package meta

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/queue"
)

// Config configures the metadata store.
type Config struct {
	// Bucket is the KV bucket name; default "faultline-meta".
	Bucket string
	// Replicas on a NATS cluster; default 1.
	Replicas int
}

// Errors returned by the store.
var (
	// ErrNotFound means no such object exists (or it is not visible).
	ErrNotFound = errors.New("meta: not found")
	// ErrExists means a slug is taken.
	ErrExists = errors.New("meta: already exists")
	// ErrInvalid means a field failed validation; the message says which.
	ErrInvalid = errors.New("meta: invalid")
)

// Store is the metadata store. It is safe for concurrent use. Objects it
// returns are shared and must not be modified; writes take copies.
type Store struct {
	kv  jetstream.KeyValue
	log *slog.Logger

	mu        sync.RWMutex // guards everything below
	revs      map[string]uint64
	orgs      map[uint64]*Organization
	orgSlugs  map[string]uint64
	teams     map[uint64]*Team
	projects  map[uint64]*Project
	keys      map[string]*Key // by public key
	users     map[uint64]*User
	tokens    map[string]*Token // by hash
	members   map[uint64]*Member
	rules     map[uint64]*Rule          // alert rules, by id (rules.go)
	plugins   map[uint64]*WebhookPlugin // webhook plugin settings, by project
	watchDone chan struct{}
	stop      context.CancelFunc
}

// Open creates the bucket if needed, loads it, and starts watching it.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) (*Store, error) {
	if cfg.Bucket == "" {
		cfg.Bucket = "faultline-meta"
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "Faultline metadata: organizations, teams, projects, keys, users, tokens",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("meta: bucket %s: %w", cfg.Bucket, err)
	}
	s := &Store{
		kv: kv, log: log,
		revs: map[string]uint64{}, orgs: map[uint64]*Organization{}, orgSlugs: map[string]uint64{},
		teams: map[uint64]*Team{}, projects: map[uint64]*Project{}, keys: map[string]*Key{},
		users: map[uint64]*User{}, tokens: map[string]*Token{}, members: map[uint64]*Member{},
		watchDone: make(chan struct{}),
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	w, err := kv.WatchAll(wctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("meta: watch: %w", err)
	}
	// Load the current values: the watcher sends them, then a nil marker.
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				cancel()
				return nil, errors.New("meta: watch closed while loading")
			}
			if e == nil {
				go s.watch(wctx, w)
				if err := s.assignTokenIDs(ctx); err != nil {
					s.Close()
					return nil, err
				}
				if err := s.migrateMembers(ctx); err != nil {
					s.Close()
					return nil, err
				}
				if _, err := s.MigrateDefaultRules(ctx); err != nil {
					s.Close()
					return nil, err
				}
				return s, nil
			}
			s.apply(e.Key(), e.Value(), e.Revision(), e.Operation() != jetstream.KeyValuePut)
		case <-ctx.Done():
			cancel()
			return nil, ctx.Err()
		}
	}
}

func (s *Store) watch(ctx context.Context, w jetstream.KeyWatcher) {
	defer close(s.watchDone)
	defer w.Stop() //nolint:errcheck
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				s.apply(e.Key(), e.Value(), e.Revision(), e.Operation() != jetstream.KeyValuePut)
			}
		case <-ctx.Done():
			return
		}
	}
}

// Close stops watching.
func (s *Store) Close() {
	s.stop()
	<-s.watchDone
}

// apply installs one bucket entry into the cache. Entries older than what
// the cache holds (a watch update after our own write) are ignored.
func (s *Store) apply(key string, val []byte, rev uint64, deleted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev != 0 && rev <= s.revs[key] {
		return
	}
	// A local delete has no revision (0): keep the last one seen, so that
	// a late watch update of the deleted entry is not applied again.
	s.revs[key] = max(rev, s.revs[key])
	kind, id, _ := strings.Cut(key, ".")
	if deleted {
		switch kind {
		case "orgs":
			n, _ := strconv.ParseUint(id, 10, 64)
			if o := s.orgs[n]; o != nil {
				delete(s.orgSlugs, o.Slug)
			}
			delete(s.orgs, n)
		case "teams":
			n, _ := strconv.ParseUint(id, 10, 64)
			delete(s.teams, n)
		case "projects":
			n, _ := strconv.ParseUint(id, 10, 64)
			delete(s.projects, n)
		case "keys":
			delete(s.keys, id)
		case "users":
			n, _ := strconv.ParseUint(id, 10, 64)
			delete(s.users, n)
		case "tokens":
			delete(s.tokens, id)
		case "members":
			s.applyMember(id, nil, true) //nolint:errcheck // a deletion never fails
		case "rules", "plugins":
			s.applyAlerting(kind, id, nil, true) //nolint:errcheck // a deletion never fails
		}
		return
	}
	var err error
	switch kind {
	case "orgs":
		var o Organization
		if err = json.Unmarshal(val, &o); err == nil {
			if old := s.orgs[o.ID]; old != nil {
				delete(s.orgSlugs, old.Slug)
			}
			o.roles = s.orgRoles(o.ID)
			s.orgs[o.ID] = &o
			s.orgSlugs[o.Slug] = o.ID
		}
	case "teams":
		var t Team
		if err = json.Unmarshal(val, &t); err == nil {
			s.teams[t.ID] = &t
		}
	case "projects":
		var p Project
		if err = json.Unmarshal(val, &p); err == nil {
			s.projects[p.ID] = &p
		}
	case "keys":
		var k Key
		if err = json.Unmarshal(val, &k); err == nil {
			s.keys[k.Public] = &k
		}
	case "users":
		var u User
		if err = json.Unmarshal(val, &u); err == nil {
			s.users[u.ID] = &u
		}
	case "tokens":
		var t Token
		if err = json.Unmarshal(val, &t); err == nil {
			s.tokens[t.Hash] = &t
		}
	case "members":
		err = s.applyMember(id, val, false)
	case "rules", "plugins":
		err = s.applyAlerting(kind, id, val, false)
	}
	if err != nil {
		s.log.Error("meta: bad entry", "key", key, "err", err)
	}
}

// put writes an object and applies it locally.
func (s *Store) put(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	rev, err := s.kv.Put(ctx, key, b)
	if err != nil {
		return fmt.Errorf("meta: put %s: %w", key, err)
	}
	s.apply(key, b, rev, false)
	return nil
}

// claim reserves a unique name (e.g. a slug) for id. It fails with
// ErrExists if another id holds it.
func (s *Store) claim(ctx context.Context, key string, id uint64) error {
	_, err := s.kv.Create(ctx, key, []byte(strconv.FormatUint(id, 10)))
	if errors.Is(err, jetstream.ErrKeyExists) {
		e, gerr := s.kv.Get(ctx, key)
		if gerr == nil && string(e.Value()) == strconv.FormatUint(id, 10) {
			return nil
		}
		return ErrExists
	}
	return err
}

// release frees a name claimed by claim.
func (s *Store) release(ctx context.Context, key string) {
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		s.log.Warn("meta: release", "key", key, "err", err)
	}
}

// NextID allocates the next number of a named sequence with a
// compare-and-set loop, so that concurrent processes never share an id.
func (s *Store) NextID(ctx context.Context, seq string) (uint64, error) {
	return nextSeq(ctx, s.kv, "seq."+seq)
}

func nextSeq(ctx context.Context, kv jetstream.KeyValue, key string) (uint64, error) {
	for attempt := 0; attempt < 100; attempt++ {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			if _, err := kv.Create(ctx, key, []byte("1")); err == nil {
				return 1, nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseUint(string(e.Value()), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("meta: sequence %s holds %q", key, e.Value())
		}
		n++
		if _, err := kv.Update(ctx, key, []byte(strconv.FormatUint(n, 10)), e.Revision()); err == nil {
			return n, nil
		} else if !isWrongRevision(err) {
			return 0, err
		}
	}
	return 0, fmt.Errorf("meta: sequence %s: too much contention", key)
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		errors.Is(err, jetstream.ErrKeyExists)
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,49}$`)

// ValidSlug reports whether s is a valid organization, team or project slug.
func ValidSlug(s string) bool { return slugRE.MatchString(s) }

// Slugify derives a slug from a name.
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 50 {
			break
		}
	}
	return strings.TrimRight(b.String(), "-")
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// HashToken returns the stored form of an API token.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
