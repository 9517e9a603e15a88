package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	// Hashes are the grouping hashes once a merge or an unmerge
	// changed them (the id -> hashes index); empty means Config and Hash
	// alone. See AllHashes.
	Hashes []HashRef `json:"hashes,omitempty"`
	// MergedInto is the issue this one was merged into (0: none): its id
	// answers as that issue.
	MergedInto uint64 `json:"mergedInto,omitempty"`
}

// HashRef is one grouping hash under its grouping config.
type HashRef struct {
	Config string `json:"config"`
	Hash   string `json:"hash"`
}

// AllHashes is the grouping hashes.
func (r GroupRef) AllHashes() []HashRef {
	if len(r.Hashes) > 0 {
		return r.Hashes
	}
	if r.MergedInto != 0 || r.Hash == "" {
		return nil
	}
	return []HashRef{{Config: r.Config, Hash: r.Hash}}
}

// ErrDiscarded means a hash was discarded ("delete and discard"): its
// events are dropped.
var ErrDiscarded = errors.New("meta: the issue's hash was discarded")

// Groups allocates and resolves issue ids in a KV bucket, with a bounded
// in-process cache. It is safe for concurrent use, also across processes:
// allocation is a compare-and-set, and a losing racer adopts the winner's id.
//
// The cache follows the bucket: every process watches it (updates only),
// and a changed hash or issue entry (a merge, an unmerge, a discard, a
// deletion, in any process) leaves the cache as soon as the watch
// delivers it, so the next event of that hash reads the new entry. A read
// that raced with such an update is not cached (gen).
type Groups struct {
	kv    jetstream.KeyValue
	mu    sync.Mutex // guards the caches and gen
	byKey map[string]hashEntry
	byID  map[uint64]GroupRef
	gen   uint64 // counts invalidations
	limit int
	// onLookup, when set, is told whether each ResolveEvent was answered
	// by the cache (metrics).
	onLookup func(hit bool)
	stop     context.CancelFunc
	done     chan struct{}
}

// hashEntry is a hash key's value: the issue id, and whether the hash is
// discarded (the value "-ID").
type hashEntry struct {
	id        uint64
	discarded bool
}

func parseHashEntry(key string, v []byte) (hashEntry, error) {
	s := string(v)
	disc := strings.HasPrefix(s, "-")
	id, err := strconv.ParseUint(strings.TrimPrefix(s, "-"), 10, 64)
	if err != nil {
		return hashEntry{}, fmt.Errorf("meta: %s holds %q", key, v)
	}
	return hashEntry{id: id, discarded: disc}, nil
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
	wctx, cancel := context.WithCancel(context.Background())
	w, err := kv.WatchAll(wctx, jetstream.UpdatesOnly())
	if err != nil {
		cancel()
		return nil, fmt.Errorf("meta: watch groups: %w", err)
	}
	g := &Groups{kv: kv, byKey: map[string]hashEntry{}, byID: map[uint64]GroupRef{}, limit: 200_000,
		stop: cancel, done: make(chan struct{})}
	go g.watch(wctx, w)
	return g, nil
}

// watch drops what changed in the bucket from the cache, deletions
// included.
func (g *Groups) watch(ctx context.Context, w jetstream.KeyWatcher) {
	defer close(g.done)
	defer w.Stop() //nolint:errcheck // stopping
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				g.invalidate(e.Key())
			}
		case <-ctx.Done():
			return
		}
	}
}

func (g *Groups) invalidate(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case strings.HasPrefix(key, "h."):
		delete(g.byKey, key)
	case strings.HasPrefix(key, "g."):
		id, err := strconv.ParseUint(key[2:], 10, 64)
		if err == nil {
			delete(g.byID, id)
		}
	default:
		return // sequences
	}
	g.gen++
}

// Close stops following the bucket.
func (g *Groups) Close() {
	g.stop()
	<-g.done
}

func (g *Groups) generation() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gen
}

func hashKey(projectID uint64, config, hash string) string {
	return "h." + strconv.FormatUint(projectID, 10) + "." + config + "." + hash
}

// cache records what was read under generation gen, unless something
// changed since (the read may predate the change).
func (g *Groups) cache(gen uint64, key string, e hashEntry, ref *GroupRef) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gen != g.gen {
		return
	}
	if len(g.byKey) >= g.limit || len(g.byID) >= g.limit {
		// Crude but bounded: start over. Misses cost one KV read each.
		g.byKey = map[string]hashEntry{}
		g.byID = map[uint64]GroupRef{}
	}
	if key != "" {
		g.byKey[key] = e
	}
	if ref != nil {
		g.byID[ref.ID] = *ref
	}
}

// Resolve returns the issue for a grouping hash, allocating it on first
// sight; created reports whether this call allocated it.
func (g *Groups) Resolve(ctx context.Context, projectID uint64, config, hash string) (ref GroupRef, created bool, err error) {
	return g.ResolveEvent(ctx, projectID, config, hash, "")
}

// ResolveEvent is Resolve for an event: a new issue records eventID as
// its FirstEvent. A discarded hash answers ErrDiscarded (and the issue it
// belonged to); an issue merged away answers its survivor.
func (g *Groups) ResolveEvent(ctx context.Context, projectID uint64, config, hash, eventID string) (ref GroupRef, created bool, err error) {
	key := hashKey(projectID, config, hash)
	gen := g.generation()
	g.mu.Lock()
	he, ok := g.byKey[key]
	g.mu.Unlock()
	if g.onLookup != nil {
		g.onLookup(ok)
	}
	if !ok {
		e, err := g.kv.Get(ctx, key)
		switch {
		case err == nil:
			if he, err = parseHashEntry(key, e.Value()); err != nil {
				return GroupRef{}, false, err
			}
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return g.allocate(ctx, projectID, config, hash, eventID, key)
		default:
			return GroupRef{}, false, err
		}
	}
	ref, err = g.Get(ctx, he.id)
	// The allocator may be between its two writes: give it a moment,
	// so that short ids stay dense.
	for wait := 0; errors.Is(err, ErrNotFound) && wait < 100; wait++ {
		time.Sleep(20 * time.Millisecond)
		ref, err = g.Get(ctx, he.id)
	}
	if errors.Is(err, ErrNotFound) {
		// It crashed between the two writes: finish the allocation.
		ref, err = g.record(ctx, GroupRef{ID: he.id, ProjectID: projectID, Config: config, Hash: hash})
	}
	if err != nil {
		return GroupRef{}, false, err
	}
	if !ok {
		g.cache(gen, key, he, nil)
	}
	if he.discarded {
		return ref, false, ErrDiscarded
	}
	for hops := 0; ref.MergedInto != 0 && hops < 16; hops++ {
		// The hash is repointed right after the merge; an entry read
		// in between still lands in the survivor.
		if ref, err = g.Get(ctx, ref.MergedInto); err != nil {
			return GroupRef{}, false, err
		}
	}
	return ref, false, nil
}

// allocate makes a new issue for a hash seen for the first time (or
// again after its issue was deleted).
func (g *Groups) allocate(ctx context.Context, projectID uint64, config, hash, eventID, key string) (GroupRef, bool, error) {
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
	ref, err := g.record(ctx, GroupRef{ID: id, ProjectID: projectID, Config: config, Hash: hash, FirstEvent: eventID})
	if err != nil {
		return GroupRef{}, false, err
	}
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
	gen := g.generation()
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
	g.cache(gen, "", hashEntry{}, &ref)
	return ref, nil
}

// updateRef changes an issue's record by compare-and-set.
func (g *Groups) updateRef(ctx context.Context, id uint64, change func(*GroupRef) error) (GroupRef, error) {
	key := "g." + strconv.FormatUint(id, 10)
	for attempt := 0; attempt < 100; attempt++ {
		e, err := g.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return GroupRef{}, ErrNotFound
		}
		if err != nil {
			return GroupRef{}, err
		}
		var ref GroupRef
		if err := json.Unmarshal(e.Value(), &ref); err != nil {
			return GroupRef{}, err
		}
		if err := change(&ref); err != nil {
			return GroupRef{}, err
		}
		b, _ := json.Marshal(ref)
		if _, err := g.kv.Update(ctx, key, b, e.Revision()); err == nil {
			g.invalidate(key)
			return ref, nil
		} else if !isWrongSequence(err) {
			return GroupRef{}, err
		}
	}
	return GroupRef{}, fmt.Errorf("meta: %s: too much contention", key)
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// pointHashes points the hash keys of a project at id (discarded: as a
// tombstone of id).
func (g *Groups) pointHashes(ctx context.Context, projectID uint64, hashes []HashRef, id uint64, discarded bool) error {
	v := strconv.FormatUint(id, 10)
	if discarded {
		v = "-" + v
	}
	for _, h := range hashes {
		key := hashKey(projectID, h.Config, h.Hash)
		if _, err := g.kv.Put(ctx, key, []byte(v)); err != nil {
			return err
		}
		g.invalidate(key)
	}
	return nil
}

// Merge merges the issues others into survivor: every hash of theirs
// points to the survivor, which lists them among its hashes, and each of
// them records that it was merged (its id then answers as the survivor).
// All must be issues of one project. The order (the survivor's hashes,
// then the hash keys, then the merged records) leaves a consistent state
// after a crash at any point, and running it again finishes it.
func (g *Groups) Merge(ctx context.Context, survivor uint64, others []uint64) error {
	sv, err := g.Get(ctx, survivor)
	if err != nil {
		return err
	}
	var moved []HashRef
	refs := make([]GroupRef, 0, len(others))
	for _, id := range others {
		ref, err := g.Get(ctx, id)
		if err != nil {
			return err
		}
		if ref.ProjectID != sv.ProjectID {
			return fmt.Errorf("meta: issues %d and %d are in different projects", survivor, id)
		}
		refs = append(refs, ref)
		moved = append(moved, ref.AllHashes()...)
	}
	if _, err := g.updateRef(ctx, survivor, func(r *GroupRef) error {
		r.Hashes = addHashes(r.AllHashes(), moved)
		return nil
	}); err != nil {
		return err
	}
	if err := g.pointHashes(ctx, sv.ProjectID, moved, survivor, false); err != nil {
		return err
	}
	for _, ref := range refs {
		if _, err := g.updateRef(ctx, ref.ID, func(r *GroupRef) error {
			r.MergedInto, r.Hashes = survivor, nil
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

func addHashes(to, add []HashRef) []HashRef {
	out := append([]HashRef(nil), to...)
	for _, h := range add {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// ErrLastHash means an unmerge would leave an issue without a hash.
var ErrLastHash = errors.New("meta: an issue keeps at least one hash")

// Unmerge splits hashes off issue id into a new issue (a new id and short
// id, its first hash as its primary), which it returns. The hashes must
// be the issue's, and not all of them.
func (g *Groups) Unmerge(ctx context.Context, id uint64, hashes []string) (GroupRef, error) {
	src, err := g.Get(ctx, id)
	if err != nil {
		return GroupRef{}, err
	}
	all := src.AllHashes()
	var split []HashRef
	for _, h := range hashes {
		i := slices.IndexFunc(all, func(r HashRef) bool { return r.Hash == h })
		if i < 0 {
			return GroupRef{}, fmt.Errorf("meta: %w: %q", ErrNotFound, h)
		}
		if !slices.Contains(split, all[i]) {
			split = append(split, all[i])
		}
	}
	if len(split) == 0 {
		return GroupRef{}, fmt.Errorf("meta: %w: no hash", ErrNotFound)
	}
	if len(split) >= len(all) {
		return GroupRef{}, ErrLastHash
	}
	nid, err := nextSeq(ctx, g.kv, "seq.group")
	if err != nil {
		return GroupRef{}, err
	}
	nref := GroupRef{ID: nid, ProjectID: src.ProjectID, Config: split[0].Config, Hash: split[0].Hash}
	if len(split) > 1 {
		nref.Hashes = split
	}
	if nref, err = g.record(ctx, nref); err != nil {
		return GroupRef{}, err
	}
	if err := g.pointHashes(ctx, src.ProjectID, split, nid, false); err != nil {
		return GroupRef{}, err
	}
	if _, err := g.updateRef(ctx, id, func(r *GroupRef) error {
		var kept []HashRef
		for _, h := range r.AllHashes() {
			if !slices.Contains(split, h) {
				kept = append(kept, h)
			}
		}
		r.Hashes = kept
		return nil
	}); err != nil {
		return GroupRef{}, err
	}
	return nref, nil
}

// Discard tombstones the hashes of issue id: their events are dropped
// from now on (ResolveEvent answers ErrDiscarded).
func (g *Groups) Discard(ctx context.Context, id uint64) error {
	ref, err := g.Get(ctx, id)
	if err != nil {
		return err
	}
	return g.pointHashes(ctx, ref.ProjectID, ref.AllHashes(), id, true)
}

// Forget lets go of the hashes of a deleted issue: the next event with
// one of them allocates a new issue (a new id and short id), as Sentry
// does after a plain delete. A hash that points elsewhere by now is kept.
func (g *Groups) Forget(ctx context.Context, id uint64) error {
	ref, err := g.Get(ctx, id)
	if err != nil {
		return err
	}
	for _, h := range ref.AllHashes() {
		key := hashKey(ref.ProjectID, h.Config, h.Hash)
		e, err := g.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if he, err := parseHashEntry(key, e.Value()); err != nil || he.id != id || he.discarded {
			continue
		}
		if err := g.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil && !isWrongSequence(err) {
			return err
		}
		g.invalidate(key)
	}
	return nil
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
