package store

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
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
	copies   int          // each generated event is stored this many times (loadCopies); 0: all generated
	columns  []columnSize // the largest columns, after the merge
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
	// FAULTLINE_BENCH_REUSE=name keeps the data (a chDB directory and a
	// server database named after it) for the next run, which loads
	// nothing if it holds the events asked for: for working on queries.
	reuse := os.Getenv("FAULTLINE_BENCH_REUSE")
	if reuse != "" && !identRE.MatchString(reuse) {
		b.Fatalf("FAULTLINE_BENCH_REUSE=%q: letters, digits and _ only", reuse)
	}
	switch engine {
	case "chdb":
		lib := testenv.CHDBLib(b)
		dir, derr := os.MkdirTemp("", "faultline-bench")
		if reuse != "" {
			dir = filepath.Join(os.TempDir(), "faultline-bench-"+reuse)
			derr = os.MkdirAll(dir, 0o755)
		}
		if derr != nil {
			b.Fatal(derr)
		}
		if reuse == "" {
			benchCleanup = append(benchCleanup, func() { os.RemoveAll(dir) })
		}
		s, err = Open(ctx, Config{Path: dir, CHDBLib: lib, EmbeddedSettings: map[string]string{
			"mark_cache_size": "268435456", "uncompressed_cache_size": "0"}}, quietLog())
		if err == nil {
			benchCleanup = append(benchCleanup, func() { s.Close() })
			closeCHDBBench = func() { s.Close(); delete(benchSets, "chdb") }
		}
	default:
		u := testenv.ClickHouseURL(b)
		db := fmt.Sprintf("faultline_bench_%d", rand.Uint64())
		if reuse != "" {
			db = "faultline_bench_" + reuse
		}
		s, err = Open(ctx, Config{URL: u, Database: db, QueryTimeout: time.Hour}, quietLog()) // copies take long on a loaded machine
		if err == nil && reuse != "" {
			benchCleanup = append(benchCleanup, func() { s.Close() })
		} else if err == nil {
			// Cleanups run last first: drop, then close.
			benchCleanup = append(benchCleanup, func() { s.Close() },
				func() { s.t.exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(db)) })
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	d := &benchData{s: s, events: benchEnv("FAULTLINE_BENCH_EVENTS", 1_000_000)}
	issues := benchEnv("FAULTLINE_BENCH_ISSUES", 10_000)
	start := time.Now()
	var counts map[uint64]int
	var raw int64
	if reuse != "" {
		counts, raw, err = loadedCounts(ctx, s)
	}
	if err != nil {
		b.Fatal(err)
	}
	if total := sumCounts(counts); total > 0 && total >= d.events {
		d.events = total
		b.Logf("%s: reusing the %d events of FAULTLINE_BENCH_REUSE=%s", engine, total, reuse)
	} else if seed := benchSeedEvents(d.events); seed < d.events {
		d.copies = (d.events + seed - 1) / seed
		counts, raw, err = loadCopies(ctx, s, seed, issues, d.copies)
		d.events = seed * d.copies
	} else {
		counts, raw, err = loadEvents(ctx, s, d.events, issues)
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := checkLoaded(ctx, s, d.events); err != nil {
		b.Fatal(err)
	}
	d.load, d.rawBytes = time.Since(start), raw
	d.hot, d.typical = pickIssues(counts)
	b.Logf("%s: loaded %d events (%.0f B of JSON each, %d copies) in %d issues in %s (%.0f events/s); hottest issue %d has %d events",
		engine, d.events, float64(raw)/float64(d.events), d.copies, issues, d.load.Round(time.Second),
		float64(d.events)/d.load.Seconds(), d.hot, counts[d.hot])
	benchLoadAvg = append(benchLoadAvg, loadAvg())
	benchSets[engine] = d
	return d
}

var benchCleanup []func()

// closeCHDBBench closes the chDB dataset's engine: a process holds one
// chDB engine at a time, so another benchmark's store needs it closed.
var closeCHDBBench = func() {}

func TestMain(m *testing.M) {
	code := m.Run()
	if out := os.Getenv("FAULTLINE_BENCH_OUT"); out != "" && code == 0 && len(benchResults) > 0 {
		if err := writeBenchSection(out); err != nil {
			fmt.Fprintln(os.Stderr, "write", out, ":", err)
			code = 1
		}
	}
	for _, f := range slices.Backward(benchCleanup) {
		f()
	}
	os.Exit(code)
}

// benchResult is one benchmark's figures, kept for BENCHMARKS.md.
type benchResult struct {
	p50, p95 time.Duration
	disk     map[string]float64
	columns  []columnSize // the largest columns after merges
}

type columnSize struct {
	Table string `ch:"table"`
	Name  string `ch:"name"`
	Bytes uint64 `ch:"bytes"`
}

// benchResults are keyed by engine, then by benchmark ("issue_list/date").
var benchResults = map[string]map[string]*benchResult{}

func recordResult(b *testing.B, r *benchResult) {
	// b.Name() is BenchmarkStore/<engine>/<name...>
	parts := strings.SplitN(b.Name(), "/", 3)
	if len(parts) < 3 {
		return
	}
	engine, name := parts[1], parts[2]
	benchMu.Lock()
	defer benchMu.Unlock()
	if benchResults[engine] == nil {
		benchResults[engine] = map[string]*benchResult{}
	}
	benchResults[engine][name] = r
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
			var bt batch
			bt.events, bt.groups = genBatch(g, size, func(gid uint64, e *eventgen.Event) {
				counts[gid]++
				raw += int64(len(e.JSON))
			})
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
	p50, p95 := lat[len(lat)/2], lat[len(lat)*95/100]
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
	recordResult(b, &benchResult{p50: p50, p95: p95})
}

// measureDisk merges every table and returns bytes on disk per table, and
// after merging the largest columns.
func measureDisk(b *testing.B, s *Store, merge bool) (map[string]uint64, []columnSize) {
	b.Helper()
	ctx := context.Background()
	if merge {
		var tables []struct {
			Name string `ch:"name"`
		}
		if err := s.t.query(ctx, &tables, "SELECT name FROM system.tables WHERE database = "+str(s.db)+
			" AND engine LIKE '%MergeTree'"); err != nil {
			b.Fatal(err)
		}
		for _, t := range tables {
			if err := s.t.exec(ctx, "OPTIMIZE TABLE "+s.table(t.Name)+" FINAL"); err != nil {
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
	var cols []columnSize
	if merge {
		if err := s.t.query(ctx, &cols, "SELECT table, name, sum(data_compressed_bytes) AS bytes FROM system.columns WHERE database = "+
			str(s.db)+" GROUP BY table, name ORDER BY bytes DESC LIMIT 8"); err != nil {
			b.Fatal(err)
		}
		for _, c := range cols {
			b.Logf("%-14s %-16s %12d B compressed", c.Table, c.Name, c.Bytes)
		}
	}
	return out, cols
}

func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	for _, engine := range []string{"chdb", "server"} {
		b.Run(engine, func(b *testing.B) {
			d := benchDataset(b, engine)
			s := d.s
			b.Run("disk", func(b *testing.B) {
				// A copied load repeats bodies: no merge, its sizes
				// are not reported (writeBenchSection keeps the last
				// generated run's).
				merge := !d.merged && d.copies == 0
				d.merged = true
				var per map[string]uint64
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					p, c := measureDisk(b, s, merge && i == 0)
					if per = p; c != nil {
						d.columns = c // the benchmark runs again with a larger b.N, without merging
					}
				}
				var total uint64
				for _, v := range per {
					total += v
				}
				m := map[string]float64{
					"disk-B/event":            float64(total) / float64(d.events),
					"events-B/event":          float64(per["events"]) / float64(d.events),
					"aggregates+meta-B/event": float64(total-per["events"]) / float64(d.events),
					"raw-B/event":             float64(d.rawBytes) / float64(d.events),
					"%-of-raw":                100 * float64(total) / float64(d.rawBytes),
					"events":                  float64(d.events),
					"load-events/s":           float64(d.events) / d.load.Seconds(),
					"copies":                  float64(d.copies),
					"load-seconds":            d.load.Seconds(),
				}
				for k, v := range m {
					if k != "events" {
						b.ReportMetric(v, k)
					}
				}
				m["version-major"], m["version-minor"] = float64(s.version.Major), float64(s.version.Minor)
				recordResult(b, &benchResult{disk: m, columns: d.columns})
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
			// The issue search's free text scans the project's events
			// (title, culprit, message): a term that matches some, and
			// one that matches none (the whole scan, nothing to merge).
			// And three filters through the tag index and the aggregates
			// (a tag, the level, an event count), and a tag value no event
			// has.
			for name, q := range map[string]string{"hit": `is:unresolved "timed out"`, "miss": "is:unresolved zzqx-no-such-text",
				"3filters": `is:unresolved browser:"Firefox 121.0" level:error timesSeen:>50`,
				"tag_miss": `is:unresolved browser:"Netscape 4.0"`} {
				search, err := ParseIssueSearch(q)
				if err != nil {
					b.Fatal(err)
				}
				b.Run("issue_search/"+name, func(b *testing.B) {
					timeIt(b, func(int) error {
						_, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{1}, Status: search.Status, Search: &search,
							Limit: 25, StatsPeriod: "24h"})
						return err
					})
				})
			}
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
			benchPages(b, d)
		})
	}
}

// writeBenchSection writes the figures between <!-- store:begin --> and
// <!-- store:end --> in file, appending the section if it is absent, so
// that other benchmarks (tools/loadgen) share BENCHMARKS.md.
func writeBenchSection(file string) error {
	var b strings.Builder
	engines := []string{"chdb", "server"}
	label := func(engine string) string {
		d := benchResults[engine]["disk"]
		if d == nil {
			return engine
		}
		name := "ClickHouse server"
		if engine == "chdb" {
			name = "chDB"
		}
		return fmt.Sprintf("%s %d.%d", name, int(d.disk["version-major"]), int(d.disk["version-minor"]))
	}
	events := 0
	for _, e := range engines {
		if d := benchResults[e]["disk"]; d != nil {
			events = int(d.disk["events"])
		}
	}
	fmt.Fprintf(&b, "Measured with `make bench-store` (`go test -run '^$' -bench . -benchtime %s ./internal/store/`) on %s, %s.\n\n",
		benchTime(), machine(), time.Now().UTC().Format("2006-01-02"))
	if note := benchLoadNote(); note != "" {
		fmt.Fprintf(&b, "This run: %s.\n\n", note)
	}
	fmt.Fprintf(&b, "The load: %d events in %s issues of one project, over 14 days, generated by internal/eventgen "+
		"(Node, Python and Go SDK JSON with stack traces, context lines, breadcrumbs, request data and contexts; "+
		"issues Zipf-skewed, 50,000 users), written with InsertEvents and UpsertGroups in batches of 10,000 as the "+
		"worker writes them. The stored body is the SDK's JSON (the worker's normalized JSON is within 1%% of it).\n\n",
		events, strconv.Itoa(benchEnv("FAULTLINE_BENCH_ISSUES", 10_000)))
	old, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	measured := false
	for _, e := range engines {
		if d := benchResults[e]["disk"]; d != nil && d.disk["copies"] == 0 {
			measured = true
		}
	}
	if !measured {
		// A copied load repeats bodies: its disk figures mean nothing.
		// Keep the last generated run's.
		text := string(old)
		i, j := strings.Index(text, "### Disk per event"), strings.Index(text, "### Query latency")
		if i >= 0 && j > i {
			b.WriteString(text[i:j])
		}
		fmt.Fprintf(&b, "### Query latency, milliseconds (median / 95th percentile), %d events\n\n", events)
	} else {
		writeDisk(&b, engines, label)
		b.WriteString("\n### Query latency, milliseconds (median / 95th percentile)\n\n")
	}
	writeLatency(&b, engines, label)
	begin, end := "<!-- store:begin -->", "<!-- store:end -->"
	block := begin + "\n" + b.String() + end
	text := string(old)
	if i, j := strings.Index(text, begin), strings.Index(text, end); i >= 0 && j > i {
		text = text[:i] + block + text[j+len(end):]
	} else {
		if text == "" {
			text = "# Benchmarks\n"
		}
		text += "\n## Storage: disk and query latency\n\n" + block + "\n"
	}
	return os.WriteFile(file, []byte(text), 0o644)
}

func writeDisk(b *strings.Builder, engines []string, label func(string) string) {
	b.WriteString("### Disk per event, after merges (OPTIMIZE FINAL)\n\n")
	b.WriteString("All of Faultline's tables, bytes on disk (data, marks, indexes) divided by the number of events.\n\n")
	b.WriteString("| engine | events table (with bodies) | aggregates and issue metadata | total | raw JSON | total / raw | load rate |\n|---|---|---|---|---|---|---|\n")
	for _, e := range engines {
		d := benchResults[e]["disk"]
		if d == nil {
			continue
		}
		m := d.disk
		fmt.Fprintf(b, "| %s | %.0f B | %.0f B | **%.0f B** | %.0f B | **%.1f%%** | %.0f events/s |\n", label(e),
			m["events-B/event"], m["aggregates+meta-B/event"], m["disk-B/event"], m["raw-B/event"], m["%-of-raw"], m["load-events/s"])
	}
	b.WriteString("\nThe largest columns, compressed bytes per event:\n\n")
	for _, e := range engines {
		d := benchResults[e]["disk"]
		if d == nil || len(d.columns) == 0 {
			continue
		}
		fmt.Fprintf(b, "- %s:", label(e))
		for i, c := range d.columns {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(b, "%s %s.%s %.0f B", sep, c.Table, c.Name, float64(c.Bytes)/d.disk["events"])
		}
		b.WriteString("\n")
	}
}

func writeLatency(b *strings.Builder, engines []string, label func(string) string) {
	b.WriteString("| query |")
	for _, e := range engines {
		b.WriteString(" " + label(e) + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(engines)) + "\n")
	rows := []struct{ name, desc string }{
		{"issue_list/date", "issue list, `sort=date`, 25 issues with 24h stats"},
		{"issue_list/freq", "issue list, `sort=freq`"},
		{"issue_search/hit", "issue search, free text that matches (`\"timed out\"`)"},
		{"issue_search/miss", "issue search, free text that matches nothing (a scan of the events' text)"},
		{"issue_search/3filters", "issue search, three filters: `browser:\"Firefox 121.0\" level:error timesSeen:>50`"},
		{"issue_search/tag_miss", "issue search, a tag value no event has"},
		{"issue_detail/hot", "issue detail, the hottest issue"},
		{"issue_detail/typical", "issue detail, typical issues"},
		{"latest_event/hot", "latest event (full JSON), the hottest issue"},
		{"latest_event/typical", "latest event, typical issues"},
		{"tag_values/hot", "tag values (`browser`), the hottest issue"},
		{"tag_values/typical", "tag values, typical issues"},
		{"page_issue_list_before", "issue list page (`is:unresolved`): its page, workflow and 4 tab counts, one query each, as before"},
		{"page_issue_list", "**issue list page** (`is:unresolved`): its page, workflow and the tab counts in one query"},
		{"page_issue_search_before", "issue search page, three filters (`is:unresolved release:backend@3.1.0 \"timed out\"`), as before"},
		{"page_issue_search", "**issue search page**, three filters (`is:unresolved release:backend@3.1.0 \"timed out\"`)"},
		{"query/count_tabs_before", "the search page's tab counts: 4 CountIssues, as before"},
		{"query/count_tabs", "the search page's tab counts: CountIssuesByStatus"},
		{"page_issue_detail/hot_before", "issue page, the hottest issue, its latest event: all its queries, as before"},
		{"page_issue_detail/hot", "**issue page**, the hottest issue, its latest event: all its queries"},
		{"page_issue_detail/hot_oldest_before", "issue page, the hottest issue, its oldest event, as before"},
		{"page_issue_detail/hot_oldest", "**issue page**, the hottest issue, its oldest event"},
		{"page_issue_detail/typical_before", "issue page, typical issues, as before"},
		{"page_issue_detail/typical", "**issue page**, typical issues"},
		{"query/get_issue_before", "the issue page's queries, the hottest issue: getIssue as before"},
		{"query/get_issue", "getIssue"},
		{"query/oldest_event", "oldest event"},
		{"query/adjacent_events", "latest event and its neighbours"},
		{"query/tag_summary_before", "tag distributions (TagSummary, top 5) from the events, as before"},
		{"query/tag_summary", "tag distributions (TagSummary, top 5) from group_tag_values"},
		{"page_issue_events/hot", "**events tab**, the hottest issue, `environment:production`"},
		{"ingest/page_issue_list", "issue list page **while events are inserted** (1,000 every 200 ms)"},
		{"ingest/page_issue_search", "issue search page while events are inserted"},
		{"ingest/page_issue_detail/hot", "issue page, the hottest issue, while events are inserted"},
		{"ingest/page_issue_detail/typical", "issue page, typical issues, while events are inserted"},
	}
	for _, r := range rows {
		b.WriteString("| " + r.desc + " |")
		for _, e := range engines {
			if res := benchResults[e][r.name]; res != nil {
				fmt.Fprintf(b, " %.1f / %.1f |", float64(res.p50.Microseconds())/1000, float64(res.p95.Microseconds())/1000)
			} else {
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}
}

func benchTime() string {
	if f := flag.Lookup("test.benchtime"); f != nil {
		return f.Value.String()
	}
	return "?"
}

// machine describes the machine for the figures.
func machine() string {
	cpu := runtime.GOARCH
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %d GB of memory", (kb+512*1024)/(1024*1024))
	}
	return fmt.Sprintf("%s, %d cores%s, %s", cpu, runtime.NumCPU(), mem, runtime.Version())
}

// benchLoadAvg is /proc/loadavg's first three figures when the data was
// loaded and when the figures were written.
var benchLoadAvg []string

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// benchLoadNote describes how the data was loaded, how long it took and
// the machine's load average, for BENCHMARKS.md.
func benchLoadNote() string {
	var parts []string
	for _, e := range []string{"chdb", "server"} {
		d := benchResults[e]["disk"]
		if d == nil {
			continue
		}
		how := "generated"
		if c := d.disk["copies"]; c > 0 {
			how = fmt.Sprintf("%.0f generated, stored %.0f times by INSERT ... SELECT (FAULTLINE_BENCH_LOAD=copy)", d.disk["events"]/c, c)
		}
		parts = append(parts, fmt.Sprintf("%s loaded %.0f events (%s) in %.0f s", e, d.disk["events"], how, d.disk["load-seconds"]))
	}
	parts = append(parts, "load average (1, 5, 15 min) "+strings.Join(append(benchLoadAvg, loadAvg()), " after loading, then ")+" at the end")
	return strings.Join(parts, "; ")
}

// genBatch generates n events as the worker stores them, and the
// metadata rows it writes with them (one per issue and batch); seen, if
// set, is told of each event.
func genBatch(g *eventgen.Generator, n int, seen func(gid uint64, e *eventgen.Event)) ([]Event, []Group) {
	events := make([]Event, n)
	groups := map[uint64]Group{}
	for i := range events {
		e := g.Next()
		gid := uint64(e.Issue) + 1
		if seen != nil {
			seen(gid, &e)
		}
		events[i] = Event{ProjectID: 1, Timestamp: e.Timestamp, EventID: e.EventID, GroupID: gid,
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
				Version:  uint64(e.Timestamp.UnixMilli())}
			groups[gid] = gr
		}
	}
	out := make([]Group, 0, len(groups))
	for _, gr := range groups {
		out = append(out, gr)
	}
	return events, out
}
