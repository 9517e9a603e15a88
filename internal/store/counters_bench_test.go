package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// BenchmarkCountersInsert is the cost of migration 12's per-minute
// counters on inserts: 1000-event batches (50 issues, 100 users) into a
// store without them (upTo=11) and with them (upTo=12), on chDB; and one
// WindowCounts read for the batch's 50 issues.
func BenchmarkCountersInsert(b *testing.B) {
	benchMu.Lock()
	closeCHDBBench()
	benchMu.Unlock()
	for _, upTo := range []int{11, 12} {
		b.Run(fmt.Sprintf("upTo=%d", upTo), func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, Config{Path: b.TempDir(), CHDBLib: testenv.CHDBLib(b)}, quietLog())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.MigrateTo(ctx, upTo); err != nil {
				b.Fatal(err)
			}
			const batch = 1000
			now := time.Now().UTC()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				evs := make([]Event, batch)
				for j := range evs {
					evs[j] = ev(1, uint64(j%50+1), i*batch+j, now, "production", fmt.Sprintf("u%d", j%100))
				}
				if err := s.InsertEvents(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*batch), "µs/event")
			if upTo == 12 {
				groups := make([]uint64, 50)
				for i := range groups {
					groups[i] = uint64(i + 1)
				}
				start := time.Now()
				const reads = 20
				for i := 0; i < reads; i++ {
					if _, err := s.WindowCounts(ctx, 1, groups, "", time.Hour, now); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/reads/1000, "ms/WindowCounts")
				start = time.Now()
				for i := 0; i < reads; i++ {
					if _, err := s.IssueTotals(ctx, 1, groups); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/reads/1000, "ms/IssueTotals")
			}
		})
	}
}
