// Package limits enforces rate limits and quotas the way Sentry's Relay
// does: fixed windows, counted per key, project and data category, and
// answered with Retry-After and X-Sentry-Rate-Limits so that SDKs back off.
//
// Counting holds across ingest nodes: each node counts locally and
// publishes its own totals to a NATS KV bucket every Sync interval; every
// node watches the bucket and adds the other nodes' totals to its own. A
// limit can therefore be overshot by at most what the other nodes accept
// within one sync interval (200 ms by default), and nothing on the request
// path waits for the network.
package limits

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// Data categories, as Sentry names them in X-Sentry-Rate-Limits.
const (
	CategoryDefault     = "default"
	CategoryError       = "error"
	CategorySecurity    = "security"
	CategoryTransaction = "transaction"
	CategoryAttachment  = "attachment"
	CategorySession     = "session"
)

// Scopes of a quota, as Sentry names them.
const (
	ScopeKey          = "key"
	ScopeProject      = "project"
	ScopeOrganization = "organization"
)

// Quota is one limit: at most Limit units of Categories per Window.
type Quota struct {
	// ID names the counter; it must be unique per quota and made of
	// [A-Za-z0-9_-] and dots (it is part of a NATS KV key).
	ID         string
	Scope      string
	Categories []string // empty: every category
	Window     time.Duration
	Limit      int64
	Reason     string // reason code in X-Sentry-Rate-Limits
}

func (q *Quota) applies(category string) bool {
	if len(q.Categories) == 0 {
		return true
	}
	for _, c := range q.Categories {
		if c == category {
			return true
		}
	}
	return false
}

// Limited describes a refusal.
type Limited struct {
	RetryAfter time.Duration
	Categories []string
	Scope      string
	Reason     string
}

// Header renders limits as X-Sentry-Rate-Limits:
// "retry_after:cat1;cat2:scope:reason_code, ...".
func Header(ls []Limited) string {
	parts := make([]string, 0, len(ls))
	for _, l := range ls {
		secs := int64((l.RetryAfter + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		parts = append(parts, strconv.FormatInt(secs, 10)+":"+strings.Join(l.Categories, ";")+":"+l.Scope+":"+l.Reason)
	}
	return strings.Join(parts, ", ")
}

// RetryAfter is the longest wait among ls, in whole seconds, for the
// Retry-After header.
func RetryAfter(ls []Limited) string {
	var max time.Duration
	for _, l := range ls {
		if l.RetryAfter > max {
			max = l.RetryAfter
		}
	}
	secs := int64((max + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return strconv.FormatInt(secs, 10)
}

// counter is one quota's count in one window.
type counter struct {
	local  int64            // accepted here
	pushed int64            // local value last published
	remote map[string]int64 // other nodes' totals, by node
	expiry time.Time        // end of the window
}

func (c *counter) total() int64 {
	n := c.local
	for _, v := range c.remote {
		n += v
	}
	return n
}

// Limiter counts and checks quotas. It is safe for concurrent use.
type Limiter struct {
	mu       sync.Mutex // guards counters
	counters map[string]*counter
	now      func() time.Time
}

// New returns a limiter that counts on this node only; attach a Sync to
// share counts across nodes.
func New() *Limiter {
	return &Limiter{counters: map[string]*counter{}, now: time.Now}
}

// windowKey is the counter's name for the window containing now.
func windowKey(q *Quota, now time.Time) (string, time.Time) {
	w := int64(q.Window / time.Second)
	if w <= 0 {
		w = 1
	}
	start := now.Unix() / w * w
	return q.ID + "." + strconv.FormatInt(w, 10) + "." + strconv.FormatInt(start, 10), time.Unix(start+w, 0)
}

// Admit checks qty units of category against every quota that applies; if
// all allow it, it counts them and returns nil. Otherwise nothing is
// counted and it returns the quotas that refused.
func (l *Limiter) Admit(quotas []Quota, category string, qty int64) []Limited {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var refused []Limited
	var take []*counter
	for i := range quotas {
		q := &quotas[i]
		if !q.applies(category) {
			continue
		}
		key, end := windowKey(q, now)
		c := l.counters[key]
		if c == nil {
			c = &counter{expiry: end}
			l.counters[key] = c
		}
		if q.Limit <= 0 || c.total()+qty > q.Limit {
			cats := q.Categories
			if len(cats) == 0 {
				cats = []string{}
			}
			refused = append(refused, Limited{RetryAfter: end.Sub(now), Categories: cats, Scope: q.Scope, Reason: q.Reason})
			continue
		}
		take = append(take, c)
	}
	if len(refused) > 0 {
		return refused
	}
	for _, c := range take {
		c.local += qty
	}
	return nil
}

// Count adds qty to a quota's counter without checking it (for rates that
// are observed, not enforced, such as spike protection's baseline).
func (l *Limiter) Count(q Quota, qty int64) int64 {
	now := l.now()
	key, end := windowKey(&q, now)
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.counters[key]
	if c == nil {
		c = &counter{expiry: end}
		l.counters[key] = c
	}
	c.local += qty
	return c.total()
}

// Total returns a quota's count in the window containing at.
func (l *Limiter) Total(q Quota, at time.Time) int64 {
	key, _ := windowKey(&q, at)
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.counters[key]; c != nil {
		return c.total()
	}
	return 0
}

// expire drops counters whose window ended.
func (l *Limiter) expire(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, c := range l.counters {
		if now.After(c.expiry.Add(time.Minute)) {
			delete(l.counters, k)
		}
	}
}

// changed returns the counters whose local value moved since the last
// call, with their values, and marks them published.
func (l *Limiter) changed() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int64{}
	for k, c := range l.counters {
		if c.local != c.pushed {
			out[k] = c.local
			c.pushed = c.local
		}
	}
	return out
}

// setRemote records another node's total for a counter.
func (l *Limiter) setRemote(key, node string, v int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.counters[key]
	if c == nil {
		c = &counter{expiry: expiryOf(key)}
		l.counters[key] = c
	}
	if c.remote == nil {
		c.remote = map[string]int64{}
	}
	c.remote[node] = v
}

// expiryOf parses the window end out of a counter key "<id>.<w>.<start>".
func expiryOf(key string) time.Time {
	i := strings.LastIndexByte(key, '.')
	j := strings.LastIndexByte(key[:max(i, 0)], '.')
	if i < 0 || j < 0 {
		return time.Now().Add(time.Hour)
	}
	w, _ := strconv.ParseInt(key[j+1:i], 10, 64)
	s, _ := strconv.ParseInt(key[i+1:], 10, 64)
	return time.Unix(s+w, 0)
}
