package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/eventgen"
	"github.com/faultline/faultline/internal/testenv"
)

// The store benchmarks load one project with FAULTLINE_BENCH_EVENTS events
// (default 1,000,000) over FAULTLINE_BENCH_ISSUES issues (default 10,000)
// of realistic SDK events (internal/eventgen: ~10 KB each, Zipf-skewed
// issues, 14 days), through InsertEvents and UpsertGroups as the worker
// writes them, on each engine. Then:
//
//   - disk: merges everything (OPTIMIZE FINAL) and reports the bytes on
//     disk per event of all Faultline's tables (events with their bodies,
//     aggregates, issue metadata), and that as a share of the raw JSON;
//   - the API's queries: the issue list, an issue's details, its latest
//     event and a tag's values, for the hottest issue and for typical ones.
//
// Run with `make bench`; BENCHMARKS.md has the figures. Loading takes
// minutes; set FAULTLINE_BENCH_EVENTS lower to try things out.

type benchData struct {
	s        *Store
	events   int
	rawBytes int64
	hot      uint64   // the issue with the most events
	typical  []uint64 // issues with about the median number of events
	load     time.Duration
	merged   bool
}

var (
	benchMu   sync.Mutex
	benchSets = map[string]*benchData{}
)

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchDataset loads (once per engine and test binary) the benchmark data.
func benchDataset(b *testing.B, engine string) *benchData {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if d, ok := benchSets[engine]; ok {
		return d
	}
	ctx := context.Background()
	var s *Store
	var err error
	switch engine {
	case "chdb":
		lib := testenv.CHDBLib(b)
		dir, derr := os.MkdirTemp("", "faultline-bench")
		if derr != nil {
			b.Fatal(derr)
		}
		benchCleanup = append(benchCleanup, func() { os.RemoveAll(dir) })
		s, err = Open(ctx, Config{Path: dir, CHDBLib: lib, EmbeddedSettings: map[string]string{
			"mark_cache_size": "268435456", "uncompressed_cache_size": "0"}}, quietLog())
	default:
		u := testenv.ClickHouseURL(b)
		db := fmt.Sprintf("faultline_bench_%d", rand.Uint64())
		s, err = Open(ctx, Config{URL: u, Database: db}, quietLog())
		if err == nil {
			benchCleanup = append(benchCleanup, func() { s.t.exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(db)) })
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	benchCleanup = append(benchCleanup, func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	d := &benchData{s: s, events: benchEnv("FAULTLINE_BENCH_EVENTS", 1_000_000)}
	issues := benchEnv("FAULTLINE_BENCH_ISSUES", 10_000)
	start := time.Now()
	counts, raw, err := loadEvents(ctx, s, d.events, issues)
	if err != nil {
		b.Fatal(err)
	}
	d.load, d.rawBytes = time.Since(start), raw
	d.hot, d.typical = pickIssues(counts)
	b.Logf("%s: loaded %d events (%.0f B of JSON each) in %d issues in %s (%.0f events/s); hottest issue %d has %d events",
		engine, d.events, float64(raw)/float64(d.events), issues, d.load.Round(time.Second),
		float64(d.events)/d.load.Seconds(), d.hot, counts[d.hot])
	benchSets[engine] = d
	return d
}

var benchCleanup []func()

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range slices.Backward(benchCleanup) {
		f()
	}
	os.Exit(code)
}

// loadEvents generates and inserts n events in batches of 10,000, the
// generation of the next batch overlapping the insert of the current one.
// It returns the events per issue and the raw JSON bytes.
func loadEvents(ctx context.Context, s *Store, n, issues int) (map[uint64]int, int64, error) {
	type batch struct {
		events []Event
		groups []Group
	}
	out := make(chan batch, 2)
	counts := map[uint64]int{}
	var raw int64
	go func() {
		defer close(out)
		g := eventgen.New(eventgen.Config{Seed: 42, Issues: issues})
		for done := 0; done < n; {
			size := min(10_000, n-done)
			bt := batch{events: make([]Event, size)}
			groups := map[uint64]Group{}
			for i := range bt.events {
				e := g.Next()
				gid := uint64(e.Issue) + 1
				counts[gid]++
				raw += int64(len(e.JSON))
				bt.events[i] = Event{ProjectID: 1, Timestamp: e.Timestamp, EventID: e.EventID, GroupID: gid,
					PrimaryHash: fmt.Sprintf("%032x", gid), Received: e.Timestamp.Add(time.Second), Type: "error",
					Level: e.Level, Platform: e.Platform, Environment: e.Environment, Release: e.Release,
					Transaction: e.Transaction, Message: e.Message, Title: e.Title, Culprit: e.Culprit,
					ExceptionType: e.ExcType, ExceptionValue: e.ExcValue, TagKeys: e.TagKeys, TagValues: e.TagValues,
					UserID: e.UserID, UserEmail: e.UserEmail, UserName: e.UserName, IPAddress: e.IPAddress,
					UserKey: "id:" + e.UserID, SDKName: e.SDKName, SDKVersion: e.SDKVersion, RetentionDays: 90,
					Body: string(e.JSON)}
				// As the worker does: one metadata row per issue and batch.
				gr := groups[gid]
				if e.Timestamp.After(gr.LastSeen) {
					gr = Group{ProjectID: 1, GroupID: gid, ShortID: gid, PrimaryHash: fmt.Sprintf("%032x", gid),
						GroupingConfig: "newstyle:2023-01-11", Title: e.Title, Culprit: e.Culprit, Level: e.Level,
						Type: "error", Platform: e.Platform, LastSeen: e.Timestamp, RetentionDays: 90,
						Metadata: `{"type":"` + e.ExcType + `","value":"...","filename":"app.js","function":"handler"}`,
						Version: uint64(e.Timestamp.UnixMilli())}
					groups[gid] = gr
				}
			}
			for _, gr := range groups {
				bt.groups = append(bt.groups, gr)
			}
			done += size
			select {
			case out <- bt:
			case <-ctx.Done():
				return
			}
		}
	}()
	for bt := range out {
		if err := s.UpsertGroups(ctx, bt.groups); err != nil {
			return nil, 0, err
		}
		if err := s.InsertEvents(ctx, bt.events); err != nil {
			return nil, 0, err
		}
	}
	return counts, raw, nil
}

// pickIssues returns the hottest issue and twenty issues around the median
// event count.
func pickIssues(counts map[uint64]int) (uint64, []uint64) {
	ids := make([]uint64, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uint64) int { return counts[b] - counts[a] })
	mid := len(ids) / 2
	lo, hi := max(0, mid-10), min(len(ids), mid+10)
	return ids[0], ids[lo:hi]
}

// timeIt runs f b.N times and reports the median and 95th percentile.
func timeIt(b *testing.B, f func(i int) error) {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := f(i); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
}

// measureDisk merges every table and returns bytes on disk per table.
func measureDisk(b *testing.B, s *Store, merge bool) map[string]uint64 {
	b.Helper()
	ctx := context.Background()
	tables := []string{"events", "group_hourly", "groups", "group_status"}
	if merge {
		for _, t := range tables {
			if err := s.t.exec(ctx, "OPTIMIZE TABLE "+s.table(t)+" FINAL"); err != nil {
				b.Fatal(err)
			}
		}
	}
	var rows []struct {
		Table string `ch:"table"`
		Bytes uint64 `ch:"bytes"`
	}
	if err := s.t.query(ctx, &rows, "SELECT table, sum(bytes_on_disk) AS bytes FROM system.parts WHERE database = "+
		str(s.db)+" AND active GROUP BY table"); err != nil {
		b.Fatal(err)
	}
	out := map[string]uint64{}
	for _, r := range rows {
		out[r.Table] = r.Bytes
	}
	if merge {
		var cols []struct {
			Table string `ch:"table"`
			Name  string `ch:"name"`
			Bytes uint64 `ch:"bytes"`
		}
		if err := s.t.query(ctx, &cols, "SELECT table, name, sum(data_compressed_bytes) AS bytes FROM system.columns WHERE database = "+
			str(s.db)+" GROUP BY table, name ORDER BY bytes DESC LIMIT 15"); err != nil {
			b.Fatal(err)
		}
		for _, c := range cols {
			b.Logf("%-14s %-16s %12d B compressed", c.Table, c.Name, c.Bytes)
		}
	}
	return out
}

func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	for _, engine := range []string{"chdb", "server"} {
		b.Run(engine, func(b *testing.B) {
			d := benchDataset(b, engine)
			s := d.s
			b.Run("disk", func(b *testing.B) {
				merge := !d.merged
				d.merged = true
				var per map[string]uint64
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					per = measureDisk(b, s, merge && i == 0)
				}
				var total uint64
				for _, v := range per {
					total += v
				}
				b.ReportMetric(float64(total)/float64(d.events), "disk-B/event")
				b.ReportMetric(float64(per["events"])/float64(d.events), "events-B/event")
				b.ReportMetric(float64(total-per["events"])/float64(d.events), "aggregates+meta-B/event")
				b.ReportMetric(float64(d.rawBytes)/float64(d.events), "raw-B/event")
				b.ReportMetric(100*float64(total)/float64(d.rawBytes), "%-of-raw")
			})
			list := func(sort string) func(int) error {
				return func(int) error {
					_, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{1}, Status: StatusUnresolved, Sort: sort,
						Limit: 25, StatsPeriod: "24h"})
					return err
				}
			}
			b.Run("issue_list/date", func(b *testing.B) { timeIt(b, list(SortDate)) })
			b.Run("issue_list/freq", func(b *testing.B) { timeIt(b, list(SortFreq)) })
			for _, which := range []string{"hot", "typical"} {
				issue := func(i int) uint64 {
					if which == "hot" {
						return d.hot
					}
					return d.typical[i%len(d.typical)]
				}
				b.Run("issue_detail/"+which, func(b *testing.B) {
					timeIt(b, func(i int) error {
						is, err := s.GetIssue(ctx, 1, issue(i), nil, "24h")
						if err == nil && is == nil {
							err = fmt.Errorf("issue %d not found", issue(i))
						}
						return err
					})
				})
				b.Run("latest_event/"+which, func(b *testing.B) {
					timeIt(b, func(i int) error {
						e, err := s.LatestEvent(ctx, 1, issue(i))
						if err == nil && e == nil {
							err = fmt.Errorf("issue %d has no latest event", issue(i))
						}
						return err
					})
				})
				b.Run("tag_values/"+which, func(b *testing.B) {
					timeIt(b, func(i int) error {
						vs, err := s.TagValues(ctx, 1, issue(i), "browser", 100)
						if err == nil && len(vs) == 0 {
							err = fmt.Errorf("issue %d has no browser values", issue(i))
						}
						return err
					})
				})
			}
		})
	}
}
