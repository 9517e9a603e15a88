package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// TestTagValuesMigration: events stored under the schema before
// migration 17 are backfilled into group_tag_values, events stored after
// it are counted by its view, and a merge of issues moves the counts with
// the events; running the backfill again counts nothing twice;
// TagSummary reads them on both engines.
func TestTagValuesMigration(t *testing.T) {
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
		if err := s.MigrateTo(ctx, 16); err != nil {
			t.Fatal(err)
		}
		now := testNow()
		mk := func(gid uint64, n int, browser string) Event {
			e := ev(5, gid, n, now.Add(-time.Duration(n)*time.Minute), "prod", "")
			e.TagKeys, e.TagValues = []string{"environment", "browser"}, []string{"prod", browser}
			return e
		}
		if err := s.InsertEvents(ctx, []Event{mk(1, 0, "Chrome"), mk(1, 1, "Chrome"), mk(1, 2, "Firefox"), mk(2, 3, "Safari")}); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		// The backfill run again (a migration interrupted after it, run
		// again at the next start) counts the old events once, not twice.
		if err := backfill0017(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertEvents(ctx, []Event{mk(1, 4, "Firefox"), mk(1, 5, "Firefox")}); err != nil {
			t.Fatal(err)
		}
		summary := func(gid uint64) string {
			t.Helper()
			got, err := s.TagSummary(ctx, 5, gid, 5)
			if err != nil {
				t.Fatal(err)
			}
			out := ""
			for _, k := range got {
				out += fmt.Sprintf("%s=%d", k.Key, k.Total)
				for _, v := range k.Values {
					out += fmt.Sprintf(" %s:%d", v.Value, v.Count)
				}
				out += "; "
			}
			return out
		}
		if got, want := summary(1), "browser=5 Firefox:3 Chrome:2; environment=5 prod:5; "; got != want {
			t.Errorf("issue 1 after the backfill and new events: %q, want %q", got, want)
		}
		if got, want := summary(2), "browser=1 Safari:1; environment=1 prod:1; "; got != want {
			t.Errorf("issue 2: %q, want %q", got, want)
		}
		if _, err := s.MoveEvents(ctx, Move{ProjectID: 5, From: 2, To: 1}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if got, want := summary(1), "browser=6 Firefox:3 Chrome:2 Safari:1; environment=6 prod:6; "; got != want {
			t.Errorf("issue 1 after merging 2 into it: %q, want %q", got, want)
		}
		if got := summary(2); got != "" {
			t.Errorf("issue 2 after the merge: %q", got)
		}
	}
	t.Run("chdb", func(t *testing.T) {
		run(t, Config{Path: t.TempDir(), CHDBLib: testenv.CHDBLib(t)}, false)
	})
	t.Run("server", func(t *testing.T) {
		run(t, Config{URL: testenv.ClickHouseURL(t), Database: fmt.Sprintf("faultline_test_%d", rand.Uint64())}, true)
	})
}
