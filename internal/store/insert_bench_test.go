package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// BenchmarkInsertCHDB measures the embedded engine's insert cost per event
// for realistic rows (a ~6 KB body), by chunk size. go test -bench InsertCHDB -run ^$ ./internal/store
func BenchmarkInsertCHDB(b *testing.B) {
	body := `{"exception":{"values":[{"type":"TypeError","value":"cannot read property","stacktrace":{"frames":[` +
		strings.Repeat(`{"filename":"/srv/app/src/checkout/payment.js","function":"chargeCard","lineno":120,"colno":13,"in_app":true,"context_line":"  throw new Error(\"card declined\")","pre_context":["a","b"],"post_context":["c","d"]},`, 24) +
		`{"filename":"x.js"}]}}]},"breadcrumbs":{"values":[` + strings.Repeat(`{"timestamp":1795734478.6,"category":"http","message":"GET /api/cart 200","level":"info"},`, 9) + `{}]}}`
	benchMu.Lock()
	closeCHDBBench()
	benchMu.Unlock()
	for _, chunk := range []int{2 << 20, 4 << 20, 8 << 20} {
		b.Run(fmt.Sprintf("chunk=%dMiB", chunk>>20), func(b *testing.B) {
			s := openTestStore(b, Config{Path: b.TempDir(), CHDBLib: testenv.CHDBLib(b)})
			s.t.(*chdbTransport).chunkBytes = chunk
			ctx := context.Background()
			const batch = 1000
			now := time.Now().UTC()
			b.SetBytes(int64(len(body) * batch))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				evs := make([]Event, batch)
				for j := range evs {
					evs[j] = ev(1, uint64(j%50+1), i*batch+j, now, "production", fmt.Sprintf("u%d", j%100))
					evs[j].Body = body
					evs[j].Release = "shop@1.0"
				}
				if err := s.InsertEvents(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*batch), "µs/event")
		})
	}
}
