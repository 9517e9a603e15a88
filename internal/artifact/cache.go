package artifact

import (
	"container/list"
	"sync"
)

// cache keeps what lookups read often, within a byte bound: file bodies
// by organization and SHA-1 (they never change), and decoded records by
// key and revision (a record read at another revision is decoded again).
// The worker looks the same few bundles up for every event of a release.
type cache struct {
	mu       sync.Mutex
	max, n   int64
	order    *list.List // of *cacheEntry, most recent first
	byKey    map[string]*list.Element
	maxItems int
}

type cacheEntry struct {
	key  string
	rev  uint64
	body []byte
	rec  *record
	size int64
}

func newCache(maxBytes int64) *cache {
	return &cache{max: maxBytes, order: list.New(), byKey: map[string]*list.Element{}, maxItems: 4096}
}

// get returns the entry under key at revision rev (0 for bodies).
func (c *cache) get(key string, rev uint64) (*cacheEntry, bool) {
	if c == nil || c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if e.rev != rev {
		return nil, false
	}
	c.order.MoveToFront(el)
	return e, true
}

// put keeps e, evicting the least recently used entries beyond the bounds.
func (c *cache) put(e *cacheEntry) {
	if c == nil || c.max <= 0 || e.size > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[e.key]; ok {
		c.n -= el.Value.(*cacheEntry).size
		c.order.Remove(el)
	}
	c.byKey[e.key] = c.order.PushFront(e)
	c.n += e.size
	for c.n > c.max || c.order.Len() > c.maxItems {
		last := c.order.Back()
		old := last.Value.(*cacheEntry)
		c.order.Remove(last)
		delete(c.byKey, old.key)
		c.n -= old.size
	}
}
