package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// TestClusterMigrate runs every migration on a real cluster (2 shards × 2
// replicas of clickhouse-server with ZooKeeper): first the initial schema,
// with events written by it, then the rest (the ALTERs create the
// Distributed tables again), then all of it again (re-runnable). Every
// server then holds every local table, each shard's replicas hold the
// same rows, an issue's events sit on one shard, and the store reads the
// old events back through the Distributed tables.
func TestClusterMigrate(t *testing.T) {
	c := testenv.StartClickHouseCluster(t, 2, 2)
	ctx := context.Background()
	s, err := Open(ctx, Config{URL: c.URL(), Database: "faultline", Cluster: testenv.ClusterName}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	start := time.Now()
	if err := s.MigrateTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	now := testNow()
	var events []Event
	for g := uint64(1); g <= 8; g++ {
		for i := range 3 {
			events = append(events, ev(7, g, i, now.Add(-time.Duration(i)*time.Minute), "prod", fmt.Sprint("u", i)))
		}
	}
	if err := s.InsertEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("migrated the cluster in %s", time.Since(start).Round(time.Millisecond))
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrating again: %v", err)
	}
	versions, err := s.Migrations(ctx)
	if err != nil || len(versions) != len(migrations) {
		t.Fatalf("recorded migrations %v (%v), want %d", versions, err, len(migrations))
	}

	page, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{7}, StatsPeriod: "24h", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Issues) != 8 {
		t.Fatalf("%d issues, want 8", len(page.Issues))
	}
	for _, is := range page.Issues {
		if is.TimesSeen != 3 || is.Users != 3 {
			t.Errorf("issue %d: %d events, %d users; want 3 and 3", is.GroupID, is.TimesSeen, is.Users)
		}
	}

	// Each server: every local table; per shard, both replicas hold the
	// same events, and each issue lives on one shard only.
	var tables []struct {
		Name string `ch:"name"`
	}
	if err := s.t.query(ctx, &tables, "SELECT name FROM system.tables WHERE database = 'faultline' AND engine = 'Distributed'"); err != nil {
		t.Fatal(err)
	}
	if len(tables) < 15 {
		t.Fatalf("%d Distributed tables", len(tables))
	}
	shardOf := map[uint64]int{}
	total := 0
	for i, shard := range c.Shards {
		var counts []int
		for _, srv := range shard {
			node, err := Open(ctx, Config{URL: srv.URL(), Database: "faultline"}, quietLog())
			if err != nil {
				t.Fatal(err)
			}
			for _, tb := range tables {
				var n []struct {
					N uint64 `ch:"n"`
				}
				if err := node.t.query(ctx, &n, "SELECT count() AS n FROM system.tables WHERE database = 'faultline' AND name = "+str(tb.Name+localSuffix)); err != nil || n[0].N != 1 {
					t.Errorf("server %s: no local table %s_local (%v)", srv.URL(), tb.Name, err)
				}
			}
			// Replication is asynchronous: wait for this replica.
			if err := node.t.exec(ctx, "SYSTEM SYNC REPLICA "+node.table("events_local")); err != nil {
				t.Fatal(err)
			}
			var rows []struct {
				GroupID uint64 `ch:"group_id"`
				N       uint64 `ch:"n"`
			}
			if err := node.t.query(ctx, &rows, "SELECT group_id, count() AS n FROM "+node.table("events_local")+" GROUP BY group_id"); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range rows {
				n += int(r.N)
				if r.N != 3 {
					t.Errorf("shard %d holds %d events of issue %d, want all 3", i+1, r.N, r.GroupID)
				}
				if sh, ok := shardOf[r.GroupID]; ok && sh != i {
					t.Errorf("issue %d on shards %d and %d", r.GroupID, sh+1, i+1)
				}
				shardOf[r.GroupID] = i
			}
			counts = append(counts, n)
			node.Close()
		}
		if counts[0] != counts[1] {
			t.Errorf("shard %d: replicas hold %v events", i+1, counts)
		}
		total += counts[0]
	}
	if total != len(events) || len(shardOf) != 8 {
		t.Errorf("shards hold %d events of %d issues, want %d of 8", total, len(shardOf), len(events))
	}

	// A merge moves an issue's events to another issue, which may live on
	// the other shard: the counts follow, nothing is counted twice.
	if _, err := s.MoveEvents(ctx, Move{ProjectID: 7, From: 1, To: 2}, time.Minute); err != nil {
		t.Fatal(err)
	}
	page, err = s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{7}, StatsPeriod: "24h", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[uint64]uint64{}
	for _, is := range page.Issues {
		counts[is.GroupID] = is.TimesSeen
	}
	if len(counts) != 7 || counts[2] != 6 || counts[1] != 0 {
		t.Errorf("after merging issue 1 into 2: %v", counts)
	}
	var moved []struct {
		N uint64 `ch:"n"`
	}
	if err := s.t.query(ctx, &moved, "SELECT count() AS n FROM "+s.table("events")+" WHERE project_id = 7"); err != nil || moved[0].N != uint64(len(events)) {
		t.Errorf("after the merge: %v events stored (%v), want %d", moved, err, len(events))
	}

	measureWritePaths(t, c, s)
}

// measureWritePaths logs the insert rate of batches of events through the
// Distributed table (insert_distributed_sync=1) and straight into the
// shards' local tables (what a writer that computes the shard itself
// would do), and checks that both stored every row.
func measureWritePaths(t *testing.T, c *testenv.ClickHouseCluster, s *Store) {
	ctx := context.Background()
	const batches, size = 8, 2000
	body := `{"exception":{"values":[{"type":"Error","value":"` + strings.Repeat("x", 900) + `"}]}}`
	batch := func(path, b int) []Event {
		out := make([]Event, size)
		for i := range out {
			e := ev(9, uint64(path*1000+i%50), b*size+i, testNow(), "prod", "u")
			e.Body = body
			out[i] = e
		}
		return out
	}
	var nodes []*Store
	for _, sh := range c.Shards {
		node, err := Open(ctx, Config{URL: sh[0].URL(), Database: "faultline"}, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		defer node.Close()
		nodes = append(nodes, node)
	}
	// The two paths alternate batch by batch, so that the machine's load
	// drifts over both alike.
	var dist, direct time.Duration
	for b := range batches {
		start := time.Now()
		if err := s.InsertEvents(ctx, batch(1, b)); err != nil {
			t.Fatal(err)
		}
		dist += time.Since(start)
		start = time.Now()
		// Split by issue, as the sharding key does.
		parts := make([][][]any, len(nodes))
		for _, e := range batch(2, b) {
			k := e.GroupID % uint64(len(nodes))
			parts[k] = append(parts[k], e.row())
		}
		var wg sync.WaitGroup
		errs := make([]error, len(nodes))
		for k, node := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[k] = node.t.insert(ctx, node.table("events_local"), eventCols, parts[k])
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		direct += time.Since(start)
	}
	// The straight path wrote the shards' first replicas: let the others
	// catch up before counting.
	for _, srv := range c.Servers() {
		node, err := Open(ctx, Config{URL: srv.URL(), Database: "faultline"}, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		if err := node.t.exec(ctx, "SYSTEM SYNC REPLICA "+node.table("events_local")); err != nil {
			t.Fatal(err)
		}
		node.Close()
	}
	var n []struct {
		N uint64 `ch:"n"`
	}
	if err := s.t.query(ctx, &n, "SELECT count() AS n FROM "+s.table("events")+" WHERE project_id = 9"); err != nil || n[0].N != 2*batches*size {
		t.Fatalf("%v events stored (%v), want %d", n, err, 2*batches*size)
	}
	rate := func(d time.Duration) int { return int(float64(batches*size) / d.Seconds()) }
	t.Logf("write paths, %d batches of %d events of 1 KB: Distributed (insert_distributed_sync=1) %d events/s; straight to the shards' local tables %d events/s",
		batches, size, rate(dist), rate(direct))
}
