package eventgen

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/event"
)

func TestEventsAreValidAndVaried(t *testing.T) {
	end := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	g := New(Config{Seed: 1, Issues: 100, End: end})
	perIssue := map[int]int{}
	bodies := map[string]bool{}
	total := 0
	for i := 0; i < 2000; i++ {
		e := g.Next()
		if !json.Valid(e.JSON) {
			t.Fatalf("invalid JSON: %s", e.JSON)
		}
		dec, err := event.Decode(e.JSON)
		if err != nil {
			t.Fatalf("the pipeline's decoder refuses it: %v\n%s", err, e.JSON)
		}
		if dec.EventID != e.EventID || dec.MainException() == nil || dec.MainException().Type != e.ExcType {
			t.Fatalf("decoded %+v", dec)
		}
		if i < 100 && e.Issue != i {
			t.Fatalf("event %d is of issue %d; the first events must visit every issue", i, e.Issue)
		}
		if e.Timestamp.After(end) || e.Timestamp.Before(end.Add(-14*24*time.Hour)) {
			t.Fatalf("timestamp %v out of span", e.Timestamp)
		}
		if bytes.Contains(e.JSON, []byte("%!")) {
			t.Fatalf("format noise in %s", e.JSON)
		}
		perIssue[e.Issue]++
		bodies[string(e.JSON)] = true
		total += len(e.JSON)
	}
	if len(bodies) != 2000 {
		t.Errorf("%d distinct bodies of 2000", len(bodies))
	}
	if perIssue[0] < 2000/10 {
		t.Errorf("the hottest issue has %d events: the load is not skewed", perIssue[0])
	}
	if mean := total / 2000; mean < 2000 || mean > 12000 {
		t.Errorf("mean event size %d B, outside real SDKs' range", mean)
	}
	// Deterministic for a seed.
	a, b := New(Config{Seed: 7, Issues: 10, End: end}).Next(), New(Config{Seed: 7, Issues: 10, End: end}).Next()
	if !bytes.Equal(a.JSON, b.JSON) {
		t.Error("same seed, different events")
	}
}

func BenchmarkNext(b *testing.B) {
	g := New(Config{Seed: 1})
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		n += len(g.Next().JSON)
	}
	b.ReportMetric(float64(n)/float64(b.N), "bytes/event")
}
