package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// TestActivity: status changes record their activity (newest first, one
// row per id however often a retried change wrote it), on both engines,
// and a deleted issue loses its history.
func TestActivity(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour)
		at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
		regression := ActivityID("7", "1", "regressed")
		changes := []StatusChange{
			{ProjectID: 7, GroupID: 1, Status: StatusResolved, At: at(1),
				Activity: &Activity{Type: ActivitySetResolved, UserID: 42}},
			{ProjectID: 7, GroupID: 1, Status: StatusUnresolved, Substatus: "regressed", At: at(2),
				Activity: &Activity{ID: regression, Type: ActivitySetRegression, Data: `{"version":"1.0 'x'"}`}},
			{ProjectID: 7, GroupID: 2, Status: StatusIgnored, At: at(3),
				Activity: &Activity{Type: ActivitySetIgnored, UserID: 42, Data: `{"ignoreDuration":30}`}},
			{ProjectID: 7, GroupID: 1, Status: StatusResolved, At: at(4)}, // no activity
		}
		if err := s.SetStatus(ctx, changes); err != nil {
			t.Fatal(err)
		}
		// The worker retried the regression later: the same id, once.
		if err := s.SetStatus(ctx, []StatusChange{{ProjectID: 7, GroupID: 1, Status: StatusUnresolved, At: at(5),
			Activity: &Activity{ID: regression, Type: ActivitySetRegression, Data: `{"version":"1.0 'x'"}`}}}); err != nil {
			t.Fatal(err)
		}
		acts, err := s.ListActivity(ctx, 7, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(acts) != 2 {
			t.Fatalf("activity = %+v, want 2", acts)
		}
		if a := acts[0]; a.Type != ActivitySetRegression || a.ID != regression || a.UserID != 0 ||
			a.Data != `{"version":"1.0 'x'"}` || !a.Created().Equal(at(2)) {
			t.Errorf("newest = %+v (created %v, want %v)", a, a.Created(), at(2))
		}
		if a := acts[1]; a.Type != ActivitySetResolved || a.UserID != 42 || a.Data != "{}" || !a.Created().Equal(at(1)) || a.ID == 0 {
			t.Errorf("oldest = %+v", a)
		}
		if acts, _ := s.ListActivity(ctx, 7, 1, 1); len(acts) != 1 || acts[0].Type != ActivitySetRegression {
			t.Errorf("limit 1 = %+v", acts)
		}
		if acts, _ := s.ListActivity(ctx, 8, 1, 10); len(acts) != 0 {
			t.Errorf("another project's = %+v", acts)
		}
		if err := s.DeleteIssue(ctx, 7, 2, time.Minute); err != nil {
			t.Fatal(err)
		}
		if acts, _ := s.ListActivity(ctx, 7, 2, 10); len(acts) != 0 {
			t.Errorf("a deleted issue's = %+v", acts)
		}
	})
}

// TestMigration0011 upgrades a database written by the schema before
// migration 11: the statuses set then stay, and changes record activity.
func TestMigration0011(t *testing.T) {
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
		if err := s.MigrateTo(ctx, 10); err != nil {
			t.Fatal(err)
		}
		if err := s.SetStatus(ctx, []StatusChange{{ProjectID: 1, GroupID: 5, Status: StatusIgnored, Details: `{"ignoreCount":3}`}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := s.GroupStates(ctx, []uint64{1}, []uint64{5})
		if err != nil || st[5].Status != StatusIgnored || st[5].Details != `{"ignoreCount":3}` {
			t.Fatalf("state after the upgrade = %+v, %v", st, err)
		}
		if err := s.SetStatus(ctx, []StatusChange{{ProjectID: 1, GroupID: 5, Status: StatusUnresolved,
			Activity: &Activity{Type: ActivitySetUnresolved, UserID: 3}}}); err != nil {
			t.Fatal(err)
		}
		acts, err := s.ListActivity(ctx, 1, 5, 100)
		if err != nil || len(acts) != 1 || acts[0].Type != ActivitySetUnresolved || acts[0].UserID != 3 {
			t.Fatalf("activity = %+v, %v", acts, err)
		}
	}
	t.Run("chdb", func(t *testing.T) {
		run(t, Config{Path: t.TempDir(), CHDBLib: testenv.CHDBLib(t)}, false)
	})
	t.Run("server", func(t *testing.T) {
		run(t, Config{URL: testenv.ClickHouseURL(t), Database: fmt.Sprintf("faultline_test_%d", rand.Uint64())}, true)
	})
}
