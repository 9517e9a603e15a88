package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// BenchmarkEventClaims is the duplicate check's extra cost per worker
// batch of 1,000 events: one EventClaims read (the batch's ids, new ones)
// and one ClaimEvents insert, on a table already holding 1M claims of the
// project, on both engines. It reports the mean and the medians of the
// read and the insert, per event.
//
//	FAULTLINE_TEST_CLICKHOUSE=clickhouse://127.0.0.1:9000/default \
//	go test -bench EventClaims -run '^$' -benchtime 50x ./internal/store
func BenchmarkEventClaims(b *testing.B) {
	benchMu.Lock()
	closeCHDBBench()
	benchMu.Unlock()
	run := func(b *testing.B, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		const existing, batch = 1_000_000, 1000
		if err := s.t.exec(ctx, "INSERT INTO "+s.table("event_ids")+" SELECT 1, "+idPrefixSQL+", event_id, number + 1, "+
			ts(now)+", 90 FROM (SELECT number, lower(hex(MD5(toString(number)))) AS event_id FROM numbers("+num(existing)+"))"); err != nil {
			b.Fatal(err)
		}
		seq := uint64(existing)
		var reads, writes []time.Duration
		var readCPU time.Duration
		cpu0 := cpuTime()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			keys := make([]EventKey, batch)
			claims := make([]EventClaim, batch)
			for j := range keys {
				id := fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
				seq++
				keys[j] = EventKey{1, id}
				claims[j] = EventClaim{ProjectID: 1, EventID: id, Seq: seq, Timestamp: now, RetentionDays: 90}
			}
			t0, c0 := time.Now(), cpuTime()
			got, err := s.EventClaims(ctx, keys)
			if err != nil || len(got) != 0 {
				b.Fatalf("%v, %v", got, err)
			}
			reads = append(reads, time.Since(t0))
			readCPU += cpuTime() - c0
			t0 = time.Now()
			if err := s.ClaimEvents(ctx, claims); err != nil {
				b.Fatal(err)
			}
			writes = append(writes, time.Since(t0))
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*batch), "µs/event")
		// Medians: on a shared machine, means measure the neighbours.
		median := func(ds []time.Duration) float64 {
			slices.Sort(ds)
			return float64(ds[len(ds)/2].Microseconds()) / batch
		}
		b.ReportMetric(median(reads), "median-read-µs/event")
		// The embedded engine runs in this process: its CPU time is ours,
		// and does not stretch with the machine's load.
		if _, ok := s.t.(*chdbTransport); ok {
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*batch), "cpu-µs/event")
			b.ReportMetric(float64(readCPU.Microseconds())/float64(b.N*batch), "read-cpu-µs/event")
		}
		b.ReportMetric(median(writes), "median-insert-µs/event")
	}
	b.Run("chdb", func(b *testing.B) {
		run(b, openTestStore(b, Config{Path: b.TempDir(), CHDBLib: testenv.CHDBLib(b)}))
	})
	b.Run("server", func(b *testing.B) {
		db := fmt.Sprintf("faultline_bench_%d", rand.Uint64())
		s := openTestStore(b, Config{URL: testenv.ClickHouseURL(b), Database: db})
		b.Cleanup(func() { s.t.exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(db)) })
		run(b, s)
	})
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
