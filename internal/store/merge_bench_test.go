package store

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkMerge weighs the two ways of merging issues on the store
// benchmark's data (see benchDataset):
//
//   - move: what Faultline does, re-inserting an issue's events under the
//     surviving id (MoveEvents), for the hottest issue and a typical one;
//     each iteration moves the events to a new id and back, so that the
//     data stays the same. Reported per move, with events moved per second;
//     move/hot/resume is the same move as a job resuming one that stopped
//     halfway runs it (Resume).
//   - the alternative, a merge map applied at read time: the issue list's
//     first phase with group_id rewritten by transform() through a map of
//     100 merged issues, against the same query without it. Every read of
//     an issue (list, details, stats, tags, events, search) would pay it,
//     and each of them would need the rewrite.
func BenchmarkMerge(b *testing.B) {
	ctx := context.Background()
	for _, engine := range []string{"chdb", "server"} {
		b.Run(engine, func(b *testing.B) {
			d := benchDataset(b, engine)
			s := d.s
			move := func(id uint64, resume bool) func(b *testing.B) {
				return func(b *testing.B) {
					var n []struct {
						N uint64 `ch:"n"`
					}
					if err := s.t.query(ctx, &n, "SELECT count() AS n FROM "+s.table("events")+" WHERE project_id = 1 AND group_id = "+num(id)); err != nil {
						b.Fatal(err)
					}
					tmp := uint64(1<<40) + id
					var total time.Duration
					for i := 0; i < b.N; i++ {
						t0 := time.Now()
						if _, err := s.MoveEvents(ctx, Move{ProjectID: 1, From: id, To: tmp, Resume: resume}, time.Hour); err != nil {
							b.Fatal(err)
						}
						if _, err := s.MoveEvents(ctx, Move{ProjectID: 1, From: tmp, To: id, Resume: resume}, time.Hour); err != nil {
							b.Fatal(err)
						}
						total += time.Since(t0)
					}
					per := total / time.Duration(2*b.N)
					b.ReportMetric(float64(per.Microseconds())/1000, "ms/move")
					b.ReportMetric(float64(n[0].N), "events")
					b.ReportMetric(float64(n[0].N)/per.Seconds(), "events/s")
				}
			}
			b.Run("move/hot", move(d.hot, false))
			b.Run("move/typical", move(d.typical[0], false))
			// A move run by a job after one that stopped halfway (Resume:
			// the copy leaves out what the destination holds already).
			b.Run("move/hot/resume", move(d.hot, true))
			keys := func(groupExpr string) func(int) error {
				return func(int) error {
					var rows []struct {
						G uint64 `ch:"g"`
						K uint64 `ch:"k"`
					}
					return s.t.query(ctx, &rows, "SELECT "+groupExpr+" AS g, toUInt64(maxMerge(last_seen)) AS k FROM "+
						s.table("group_hourly")+" WHERE project_id = 1 GROUP BY g ORDER BY k DESC, g DESC LIMIT 26")
				}
			}
			var from, to []string
			for i := uint64(1); i <= 100; i++ {
				from, to = append(from, strconv.FormatUint(i*2, 10)), append(to, strconv.FormatUint(i*2+1, 10))
			}
			mapped := "transform(group_id, [" + strings.Join(from, ",") + "], [" + strings.Join(to, ",") + "], group_id)"
			b.Run("list_keys/plain", func(b *testing.B) { timeIt(b, keys("group_id")) })
			b.Run("list_keys/read_time_map", func(b *testing.B) { timeIt(b, keys(mapped)) })
		})
	}
}
