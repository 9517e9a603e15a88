package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/queue"
)

// GroupRef is an issue's identity: a global id allocated once per (project,
// grouping config, hash), and a per-project short id. The id is never
// derived from the hash, so that merging issues and upgrading the grouping
// algorithm can point hashes at existing issues.
type GroupRef struct {
	ID        uint64 `json:"id"`
	ProjectID uint64 `json:"projectId"`
	ShortID   uint64 `json:"shortId"`
	Config    string `json:"config"`
	Hash      string `json:"hash"`
	// FirstEvent is the id of the event whose processing allocated the
	// issue (empty for issues allocated before it was recorded): a
	// redelivery of that event still knows the issue is new, for alerts.
	FirstEvent string `json:"firstEvent,omitempty"`
}

// Groups allocates and resolves issue ids in a KV bucket, with a bounded
// in-process cache. It is safe for concurrent use, also across processes:
// allocation is a compare-and-set, and a losing racer adopts the winner's id.
type Groups struct {
	kv    jetstream.KeyValue
	mu    sync.Mutex // guards the caches
	byKey map[string]GroupRef
	byID  map[uint64]GroupRef
	limit int
	// onLookup, when set, is told whether each ResolveEvent was answered
	// by the cache (metrics).
	onLookup func(hit bool)
}

// OnLookup sets a function told whether each issue id lookup was answered
// by the cache. Call it before the groups are used.
func (g *Groups) OnLookup(f func(hit bool)) { g.onLookup = f }

// OpenGroups creates the bucket if needed.
func OpenGroups(ctx context.Context, js jetstream.JetStream, replicas int) (*Groups, error) {
	if replicas <= 0 {
		replicas = 1
	}
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      "faultline-groups",
		Description: "Faultline issue ids: grouping hash -> issue id, issue id -> project and short id",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("meta: groups bucket: %w", err)
	}
	return &Groups{kv: kv, byKey: map[string]GroupRef{}, byID: map[uint64]GroupRef{}, limit: 200_000}, nil
}

func hashKey(projectID uint64, config, hash string) string {
	return "h." + strconv.FormatUint(projectID, 10) + "." + config + "." + hash
}

func (g *Groups) cache(key string, ref GroupRef) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.byKey) >= g.limit {
		// Crude but bounded: start over. Misses cost one KV read each.
		g.byKey = map[string]GroupRef{}
		g.byID = map[uint64]GroupRef{}
	}
	if key != "" {
		g.byKey[key] = ref
	}
	g.byID[ref.ID] = ref
}

// Resolve returns the issue for a grouping hash, allocating it on first
// sight; created reports whether this call allocated it.
func (g *Groups) Resolve(ctx context.Context, projectID uint64, config, hash string) (ref GroupRef, created bool, err error) {
	return g.ResolveEvent(ctx, projectID, config, hash, "")
}

// ResolveEvent is Resolve for an event: a new issue records eventID as
// its FirstEvent.
func (g *Groups) ResolveEvent(ctx context.Context, projectID uint64, config, hash, eventID string) (ref GroupRef, created bool, err error) {
	key := hashKey(projectID, config, hash)
	g.mu.Lock()
	ref, ok := g.byKey[key]
	g.mu.Unlock()
	if g.onLookup != nil {
		g.onLookup(ok)
	}
	if ok {
		return ref, false, nil
	}
	if e, err := g.kv.Get(ctx, key); err == nil {
		id, err := strconv.ParseUint(string(e.Value()), 10, 64)
		if err != nil {
			return GroupRef{}, false, fmt.Errorf("meta: %s holds %q", key, e.Value())
		}
		ref, err := g.Get(ctx, id)
		// The allocator may be between its two writes: give it a moment,
		// so that short ids stay dense.
		for wait := 0; errors.Is(err, ErrNotFound) && wait < 100; wait++ {
			time.Sleep(20 * time.Millisecond)
			ref, err = g.Get(ctx, id)
		}
		if errors.Is(err, ErrNotFound) {
			// It crashed between the two writes: finish the allocation.
			ref, err = g.record(ctx, GroupRef{ID: id, ProjectID: projectID, Config: config, Hash: hash})
		}
		if err != nil {
			return GroupRef{}, false, err
		}
		g.cache(key, ref)
		return ref, false, nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return GroupRef{}, false, err
	}
	id, err := nextSeq(ctx, g.kv, "seq.group")
	if err != nil {
		return GroupRef{}, false, err
	}
	if _, err := g.kv.Create(ctx, key, []byte(strconv.FormatUint(id, 10))); errors.Is(err, jetstream.ErrKeyExists) {
		// Another worker allocated it first; use theirs (our id is a gap).
		return g.ResolveEvent(ctx, projectID, config, hash, eventID)
	} else if err != nil {
		return GroupRef{}, false, err
	}
	ref, err = g.record(ctx, GroupRef{ID: id, ProjectID: projectID, Config: config, Hash: hash, FirstEvent: eventID})
	if err != nil {
		return GroupRef{}, false, err
	}
	g.cache(key, ref)
	return ref, true, nil
}

// record allocates the short id and writes the id's record, once.
func (g *Groups) record(ctx context.Context, ref GroupRef) (GroupRef, error) {
	short, err := nextSeq(ctx, g.kv, "seq.short."+strconv.FormatUint(ref.ProjectID, 10))
	if err != nil {
		return GroupRef{}, err
	}
	ref.ShortID = short
	b, _ := json.Marshal(ref)
	if _, err := g.kv.Create(ctx, "g."+strconv.FormatUint(ref.ID, 10), b); errors.Is(err, jetstream.ErrKeyExists) {
		return g.Get(ctx, ref.ID)
	} else if err != nil {
		return GroupRef{}, err
	}
	return ref, nil
}

// Get returns the issue with id, or ErrNotFound.
func (g *Groups) Get(ctx context.Context, id uint64) (GroupRef, error) {
	g.mu.Lock()
	ref, ok := g.byID[id]
	g.mu.Unlock()
	if ok {
		return ref, nil
	}
	e, err := g.kv.Get(ctx, "g."+strconv.FormatUint(id, 10))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return GroupRef{}, ErrNotFound
	}
	if err != nil {
		return GroupRef{}, err
	}
	if err := json.Unmarshal(e.Value(), &ref); err != nil {
		return GroupRef{}, err
	}
	g.cache("", ref)
	return ref, nil
}

// ShortID renders Sentry's short id of an issue: the project slug in
// capitals and the per-project number (GroupRef.ShortID) in
// Sentry's base32 alphabet, e.g. WEB-3J.
func ShortID(slug string, n uint64) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	if n == 0 {
		return strings.ToUpper(slug) + "-0"
	}
	var b []byte
	for ; n > 0; n /= 32 {
		b = append([]byte{alphabet[n%32]}, b...)
	}
	return strings.ToUpper(slug) + "-" + string(b)
}
