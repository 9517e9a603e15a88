package sourcemap

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestBatchParsesOnce: 1,000 events of one bundle, symbolicated by 8
// goroutines at once as a worker's batch is, look the map up and parse it
// once.
func TestBatchParsesOnce(t *testing.T) {
	dir := filepath.Join("testdata", "normal")
	arts := &memArtifacts{}
	arts.upload(t, testProject, dir, "1.0", "")
	s := newTestSymbolicator(t, arts)
	cs := loadStacks(t, dir)
	s.Symbolicate(context.Background(), testProject, browserEvent(cs[0], "1.0"))
	first := arts.Lookups()
	if first == 0 {
		t.Fatal("no lookups")
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				e := browserEvent(cs[i%len(cs)], "1.0")
				if !s.Symbolicate(context.Background(), testProject, e) {
					t.Error("not symbolicated")
				}
			}
		}()
	}
	for i := range 1000 {
		next <- i
	}
	close(next)
	wg.Wait()
	if got := arts.Lookups(); got != first {
		t.Errorf("1,000 more events made %d artifact lookups, want 0", got-first)
	}
	if st := s.Stats(); st.Entries != 1 || st.Bytes <= 0 || st.Bytes > st.MaxBytes {
		t.Errorf("cache stats %+v", st)
	}
}

// TestCacheBound: a cache smaller than a map keeps nothing (each event
// looks its map up again) and never holds more than its bound.
func TestCacheBound(t *testing.T) {
	dir := filepath.Join("testdata", "normal")
	arts := &memArtifacts{}
	arts.upload(t, testProject, dir, "1.0", "")
	s, err := New(Config{CacheBytes: 1024}, arts)
	if err != nil {
		t.Fatal(err)
	}
	cs := loadStacks(t, dir)
	var prev int64
	for i := range 3 {
		if !s.Symbolicate(context.Background(), testProject, browserEvent(cs[0], "1.0")) {
			t.Fatal("not symbolicated")
		}
		n := arts.Lookups()
		if i > 0 && n == prev {
			t.Errorf("event %d: the map came from a cache smaller than it", i)
		}
		prev = n
		if st := s.Stats(); st.Bytes > 1024 {
			t.Errorf("cache holds %d bytes, bound 1024", st.Bytes)
		}
	}
	// The LRU evicts the least recently used entry to stay in bounds.
	c := newCache(1000)
	c.put("a", 1, 400, 0)
	c.put("b", 2, 400, 0)
	c.get("a")
	c.put("c", 3, 400, 0)
	if _, ok := c.get("b"); ok {
		t.Error("b was not evicted")
	}
	if _, ok := c.get("a"); !ok {
		t.Error("a, used last, was evicted")
	}
	if st := c.stats(); st.Bytes > 1000 || st.Evictions != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestMissRemembered: an event whose maps are not uploaded records
// js_no_source; the miss is remembered for MissTTL (no lookup per event),
// then a map uploaded meanwhile is used.
func TestMissRemembered(t *testing.T) {
	dir := filepath.Join("testdata", "normal")
	arts := &memArtifacts{}
	s := newTestSymbolicator(t, arts)
	now := time.Now()
	s.cache.now = func() time.Time { return now }
	cs := loadStacks(t, dir)
	e := browserEvent(cs[0], "1.0")
	if s.Symbolicate(context.Background(), testProject, e) {
		t.Fatal("symbolicated without maps")
	}
	if len(e.Errors) != 1 || e.Errors[0].Type != ErrNoSource || string(e.Errors[0].Value) != `{"url":"http://example.com/static/app.min.js"}` {
		t.Fatalf("errors %+v", e.Errors)
	}
	if e.Exception.Values[0].RawStack != nil {
		t.Error("a raw stack trace without any change")
	}
	n := arts.Lookups()
	arts.upload(t, testProject, dir, "1.0", "")
	if s.Symbolicate(context.Background(), testProject, browserEvent(cs[0], "1.0")) || arts.Lookups() != n {
		t.Fatal("the miss was not remembered")
	}
	now = now.Add(2 * time.Minute)
	if !s.Symbolicate(context.Background(), testProject, browserEvent(cs[0], "1.0")) {
		t.Fatal("the map uploaded after the miss is not used once it expired")
	}
	// Another project never sees this one's files.
	if s.Symbolicate(context.Background(), testProject+1, browserEvent(cs[0], "1.0")) {
		t.Fatal("another project's map was used")
	}
}

// TestInvalidMap: a map that does not decode records js_invalid_sourcemap
// and leaves the frames as they were.
func TestInvalidMap(t *testing.T) {
	arts := &memArtifacts{}
	arts.Add(testProject, "1.0", "", Artifact{URL: "~/static/app.min.js", Kind: "minified_source",
		Body: []byte("var a=1;\n//# sourceMappingURL=app.min.js.map\n")})
	arts.Add(testProject, "1.0", "", Artifact{URL: "~/static/app.min.js.map", Kind: "source_map", Body: []byte(`{"version":3,"mappings":"!"}`)})
	s := newTestSymbolicator(t, arts)
	cs := loadStacks(t, filepath.Join("testdata", "normal"))
	e := browserEvent(cs[0], "1.0")
	if s.Symbolicate(context.Background(), testProject, e) {
		t.Fatal("symbolicated with an invalid map")
	}
	if len(e.Errors) != 1 || e.Errors[0].Type != ErrInvalidSourcemap {
		t.Fatalf("errors %+v", e.Errors)
	}
}
