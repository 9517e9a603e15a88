package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// TestWindowCounts: per-minute counters count the events and distinct
// users of each issue in windows up to an hour, the hourly aggregates the
// longer ones, by the events' time, per environment or all.
func TestWindowCounts(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
		var evs []Event
		n := 0
		add := func(gid uint64, ago time.Duration, env, user string) {
			n++
			evs = append(evs, ev(1, gid, n, now.Add(-ago), env, user))
		}
		add(10, 0, "prod", "u1")
		add(10, 10*time.Second, "prod", "u1")
		add(10, 2*time.Minute, "prod", "u2")
		add(10, 10*time.Minute, "staging", "u3")
		add(10, 3*time.Hour, "prod", "u4")
		add(11, 0, "prod", "")
		add(12, 0, "prod", "u1") // another project's issue ids are not asked for
		evs[len(evs)-1].ProjectID = 2
		if err := s.InsertEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			window     time.Duration
			env        string
			g10e, g10u uint64
			g11e, g11u uint64
		}{
			{time.Minute, "", 2, 1, 1, 0},
			{5 * time.Minute, "", 3, 2, 1, 0},
			{15 * time.Minute, "", 4, 3, 1, 0},
			{15 * time.Minute, "prod", 3, 2, 1, 0},
			{time.Hour, "staging", 1, 1, 0, 0},
			{24 * time.Hour, "", 5, 4, 1, 0},
		} {
			got, err := s.WindowCounts(ctx, 1, []uint64{10, 11, 12}, c.env, c.window, now)
			if err != nil {
				t.Fatal(err)
			}
			if g := got[10]; g.Events != c.g10e || g.Users != c.g10u {
				t.Errorf("%v %q: issue 10 = %+v, want %d events, %d users", c.window, c.env, g, c.g10e, c.g10u)
			}
			if g := got[11]; g.Events != c.g11e || g.Users != c.g11u {
				t.Errorf("%v %q: issue 11 = %+v, want %d events, %d users", c.window, c.env, g, c.g11e, c.g11u)
			}
			if _, ok := got[12]; ok {
				t.Errorf("%v: counted another project's issue", c.window)
			}
		}
		// The counters are partitioned for Cleanup: their week's partition
		// expires eight days after it began.
		parts, err := s.ExpiredPartitions(ctx, now.AddDate(0, 0, 16))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range parts {
			found = found || p.Table == "group_minutely" && p.RetentionDays == minutelyRetentionDays
		}
		if !found {
			t.Fatalf("group_minutely has no expirable partition in %v", parts)
		}
	})
}

// TestMigration0012: events stored before the upgrade are kept, and
// counted from the upgrade on.
func TestMigration0012(t *testing.T) {
	run := func(t *testing.T, cfg Config, drop bool) {
		ctx := context.Background()
		s, err := Open(ctx, cfg, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if drop {
			t.Cleanup(func() { s.t.exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(cfg.Database)) })
		}
		if err := s.MigrateTo(ctx, 11); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		if err := s.InsertEvents(ctx, []Event{ev(1, 10, 1, now, "prod", "u1")}); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertEvents(ctx, []Event{ev(1, 10, 2, now, "prod", "u2")}); err != nil {
			t.Fatal(err)
		}
		got, err := s.WindowCounts(ctx, 1, []uint64{10}, "", 5*time.Minute, now)
		if err != nil || got[10].Events != 1 || got[10].Users != 1 {
			t.Fatalf("counts after the upgrade = %+v, %v; want the new event only", got, err)
		}
		long, err := s.WindowCounts(ctx, 1, []uint64{10}, "", 2*time.Hour, now)
		if err != nil || long[10].Events != 2 {
			t.Fatalf("hourly counts = %+v, %v; want both events", long, err)
		}
	}
	t.Run("chdb", func(t *testing.T) {
		run(t, Config{Path: t.TempDir(), CHDBLib: testenv.CHDBLib(t)}, false)
	})
	t.Run("server", func(t *testing.T) {
		run(t, Config{URL: testenv.ClickHouseURL(t), Database: fmt.Sprintf("faultline_test_%d", rand.Uint64())}, true)
	})
}

// TestIssueTotals: an issue's times seen and first event come from the
// hourly aggregates, per issue of the project asked for.
func TestIssueTotals(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		evs := []Event{ev(1, 20, 1, now.Add(-50*time.Hour), "prod", "u1"), ev(1, 20, 2, now, "staging", "u2"),
			ev(1, 20, 3, now.Add(-time.Minute), "prod", ""), ev(1, 21, 4, now, "prod", ""), ev(2, 22, 5, now, "prod", "")}
		if err := s.InsertEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		got, err := s.IssueTotals(ctx, 1, []uint64{20, 21, 22, 23})
		if err != nil {
			t.Fatal(err)
		}
		if g := got[20]; g.TimesSeen != 3 || !g.FirstSeen.Equal(now.Add(-50*time.Hour)) {
			t.Errorf("issue 20 = %+v, want 3 events, first %v", g, now.Add(-50*time.Hour))
		}
		if g := got[21]; g.TimesSeen != 1 || !g.FirstSeen.Equal(now) {
			t.Errorf("issue 21 = %+v", g)
		}
		if _, ok := got[22]; ok {
			t.Error("another project's issue was counted")
		}
		if _, ok := got[23]; ok {
			t.Error("an issue without events has totals")
		}
	})
}
