package sourcemap

import (
	"container/list"
	"sync"
	"time"
)

// cache is a byte-bounded LRU of what symbolication resolved: parsed maps
// and the files found beside them, keyed by project and debug id or by
// project, release, dist and URL. Entries that found nothing expire
// (negTTL), so that an upload after the first events is picked up.
type cache struct {
	mu    sync.Mutex
	max   int64
	used  int64
	ll    *list.List // front = most recently used
	items map[string]*list.Element
	now   func() time.Time

	hits, misses, evictions int64
}

type cacheEntry struct {
	key     string
	value   any
	size    int64
	expires time.Time // zero = until evicted
}

func newCache(max int64) *cache {
	return &cache{max: max, ll: list.New(), items: map[string]*list.Element{}, now: time.Now}
}

func (c *cache) get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		c.misses++
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !e.expires.IsZero() && c.now().After(e.expires) {
		c.remove(el)
		c.misses++
		return nil, false
	}
	c.ll.MoveToFront(el)
	c.hits++
	return e.value, true
}

// put stores a value of the given size; ttl 0 keeps it until evicted. A
// value larger than the whole cache is not kept.
func (c *cache) put(key string, value any, size int64, ttl time.Duration) {
	size += int64(len(key)) + 64
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	if size > c.max {
		return
	}
	e := &cacheEntry{key: key, value: value, size: size}
	if ttl > 0 {
		e.expires = c.now().Add(ttl)
	}
	c.items[key] = c.ll.PushFront(e)
	c.used += size
	for c.used > c.max {
		c.remove(c.ll.Back())
		c.evictions++
	}
}

func (c *cache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.ll.Remove(el)
	delete(c.items, e.key)
	c.used -= e.size
}

// CacheStats reports the cache's use.
type CacheStats struct {
	Bytes, MaxBytes         int64
	Entries                 int
	Hits, Misses, Evictions int64
}

func (c *cache) stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Bytes: c.used, MaxBytes: c.max, Entries: len(c.items), Hits: c.hits, Misses: c.misses, Evictions: c.evictions}
}
