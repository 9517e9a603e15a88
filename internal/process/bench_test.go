package process

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/meta"
)

// BenchmarkBuild is the worker's per-event CPU for the realistic 11 KB
// Node event (25 frames, 20 breadcrumbs): decode, normalize, scrub,
// promote tags, group, derive and encode the stored body.
func BenchmarkBuild(b *testing.B) {
	raw, err := os.ReadFile("../envelope/testdata/event_11k.json")
	if err != nil {
		b.Fatal(err)
	}
	w := &Worker{}
	p := &meta.Project{ID: 1, RetentionDays: 90}
	src := Source{EventID: "0123456789abcdef0123456789abcdef", Received: time.Now()}
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, err := event.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.build(context.Background(), e, src, p); err != nil {
			b.Fatal(err)
		}
	}
}
