package store

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// The fast loader of the store benchmarks. Generating realistic events
// costs ~190 µs each in Go (internal/eventgen) and inserting them through
// InsertEvents ~0.2-0.4 ms each on chDB: 1,000,000 events took over ten
// minutes per engine on an idle machine, and did not finish in 50 minutes
// on a loaded one. loadCopies generates FAULTLINE_BENCH_SEED_EVENTS
// events (default 100,000) in Go, writes them as the worker does, then
// stores each again copies-1 times with INSERT ... SELECT from the events
// table itself: the server copies the rows (a new event id, the timestamp
// moved back by up to an hour) without any Go-side encoding, and the
// materialized views (group_hourly, group_releases, group_tags,
// group_minutely) fill the aggregates from the copies as from any insert.
// The copies keep the generator's distribution (every issue, the Zipf
// skew, the hot issue ten times larger), its tags, releases and
// environments, so the queries' plans are the real ones. Bodies repeat,
// so a copied load does not measure disk: FAULTLINE_BENCH_LOAD=generate
// generates every event (the disk figures come from such a run).

// benchSeedEvents is how many events to generate for a load of n: n
// itself with FAULTLINE_BENCH_LOAD=generate or when n is small.
func benchSeedEvents(n int) int {
	if benchLoadMode() == "generate" {
		return n
	}
	return min(n, benchEnv("FAULTLINE_BENCH_SEED_EVENTS", 100_000))
}

func benchLoadMode() string {
	if v := os.Getenv("FAULTLINE_BENCH_LOAD"); v != "" {
		return v
	}
	return "copy"
}

// loadCopies loads seed generated events, then copies-1 server-side
// copies of them, in slices of issues so that each INSERT ... SELECT
// reads only rows not copied yet and stays within memory.
func loadCopies(ctx context.Context, s *Store, seed, issues, copies int) (map[uint64]int, int64, error) {
	counts, raw, err := loadEvents(ctx, s, seed, issues)
	if err != nil {
		return nil, 0, err
	}
	for gid := range counts {
		counts[gid] *= copies
	}
	if copies <= 1 {
		return counts, raw * int64(copies), nil
	}
	// The copy k of an event: a new id (md5 of the id and k), the time
	// moved back by up to an hour. Positional: no aliases, which
	// ClickHouse would substitute into the other expressions.
	jitter := "toUInt32(cityHash64(event_id, k) % 3600)"
	exprs := make([]string, len(eventCols))
	for i, c := range eventCols {
		switch c {
		case "timestamp", "received":
			exprs[i] = c + " - " + jitter
		case "event_id":
			exprs[i] = "toFixedString(lower(hex(MD5(concat(event_id, toString(k))))), 32)"
		default:
			exprs[i] = "`" + c + "`"
		}
	}
	cols := make([]string, len(eventCols))
	for i, c := range eventCols {
		cols[i] = "`" + c + "`"
	}
	const slices = 8
	for j := 0; j < slices; j++ {
		q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ARRAY JOIN arrayMap(x -> x + 1, range(%d)) AS k WHERE project_id = 1 AND group_id %% %d = %d",
			s.table("events"), strings.Join(cols, ", "), strings.Join(exprs, ", "), s.table("events"), copies-1, slices, j)
		if err := s.t.exec(ctx, q); err != nil {
			return nil, 0, fmt.Errorf("copy slice %d: %w", j, err)
		}
	}
	return counts, raw * int64(copies), nil
}

// checkLoaded checks that the events and the aggregates the pages read
// hold n events (the materialized views filled from the copies).
func checkLoaded(ctx context.Context, s *Store, n int) error {
	var rows []struct {
		N uint64 `ch:"n"`
	}
	for _, q := range []string{
		"SELECT count() AS n FROM " + s.table("events") + " WHERE project_id = 1",
		"SELECT countMerge(times_seen) AS n FROM " + s.table("group_hourly") + " WHERE project_id = 1",
	} {
		rows = rows[:0]
		if err := s.t.query(ctx, &rows, q); err != nil {
			return err
		}
		if len(rows) != 1 || rows[0].N != uint64(n) {
			return fmt.Errorf("loaded %v, want %d events: %s", rows, n, q)
		}
	}
	return nil
}

// loadedCounts returns the events per issue and the JSON bytes of a
// reused dataset (none when it is empty).
func loadedCounts(ctx context.Context, s *Store) (map[uint64]int, int64, error) {
	var rows []struct {
		GroupID uint64 `ch:"group_id"`
		N       uint64 `ch:"n"`
	}
	if err := s.t.query(ctx, &rows, "SELECT group_id, countMerge(times_seen) AS n FROM "+s.table("group_hourly")+
		" WHERE project_id = 1 GROUP BY group_id"); err != nil {
		return nil, 0, err
	}
	counts := make(map[uint64]int, len(rows))
	for _, r := range rows {
		counts[r.GroupID] = int(r.N)
	}
	var raw []struct {
		N uint64 `ch:"n"`
	}
	if len(rows) > 0 {
		if err := s.t.query(ctx, &raw, "SELECT sum(length(body)) AS n FROM "+s.table("events")+" WHERE project_id = 1"); err != nil {
			return nil, 0, err
		}
	}
	if len(raw) == 0 {
		return counts, 0, nil
	}
	return counts, int64(raw[0].N), nil
}

func sumCounts(counts map[uint64]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}
