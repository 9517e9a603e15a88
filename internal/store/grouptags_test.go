package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// searchFixture stores, in project 21, issues that differ in each
// attribute a search term reads:
//
//	1: 3 events, prod, level error, browser Chrome, user a@x.io, 1 hour ago
//	2: 1 event, staging, level warning, browser Firefox, no user, 3 days ago
//	3: 2 events, prod, level error, no browser tag, user b@x.io, 10 days ago
//
// and, in project 22, an issue like 1 (other projects never match).
func searchFixture(t *testing.T, s *Store, now time.Time) {
	t.Helper()
	mk := func(pid, gid uint64, n int, at time.Time, env, level, browser, email string) Event {
		e := ev(pid, gid, n, at, env, "")
		e.Level = level
		e.TagKeys, e.TagValues = []string{"level", "environment"}, []string{level, env}
		if browser != "" {
			e.TagKeys, e.TagValues = append(e.TagKeys, "browser"), append(e.TagValues, browser)
		}
		if email != "" {
			e.UserEmail, e.UserKey = email, "email:"+email
		}
		return e
	}
	var events []Event
	for i := range 3 {
		events = append(events, mk(21, 1, i, now.Add(-time.Hour+time.Duration(i)*time.Minute), "prod", "error", "Chrome", "a@x.io"))
	}
	events = append(events, mk(21, 2, 0, now.Add(-72*time.Hour), "staging", "warning", "Firefox", ""))
	for i := range 2 {
		events = append(events, mk(21, 3, i, now.Add(-240*time.Hour+time.Duration(i)*time.Minute), "prod", "error", "", "b@x.io"))
	}
	events = append(events, mk(22, 4, 0, now.Add(-time.Hour), "prod", "error", "Chrome", "a@x.io"))
	if err := s.InsertEvents(context.Background(), events); err != nil {
		t.Fatal(err)
	}
}

// termIDs lists the issues of project 21 a query finds, newest first,
// and what CountIssues counts for it (they share one WHERE builder).
func termIDs(t *testing.T, s *Store, q string, now time.Time, start time.Time) ([]uint64, uint64) {
	t.Helper()
	ctx := context.Background()
	search, err := ParseIssueSearch(q)
	if err != nil {
		t.Fatalf("%q: %v", q, err)
	}
	iq := IssueQuery{ProjectIDs: []uint64{21}, Status: search.Status, Search: &search, Limit: 100, Now: now, Start: start}
	page, err := s.ListIssues(ctx, iq)
	if err != nil {
		t.Fatalf("%q: %v", q, err)
	}
	var got []uint64
	for _, is := range page.Issues {
		got = append(got, is.GroupID)
	}
	n, err := s.CountIssues(ctx, iq)
	if err != nil {
		t.Fatalf("%q: count: %v", q, err)
	}
	return got, n[21]
}

// TestIssueSearchTerms runs each kind of term against stored events on
// both engines, and checks that the counts agree with the list.
func TestIssueSearchTerms(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		now := testNow()
		searchFixture(t, s, now)
		day := now.UTC().Format(time.DateOnly)
		tests := []struct {
			q    string
			want []uint64
		}{
			{"", []uint64{1, 2, 3}},
			{"level:error", []uint64{1, 3}},
			{"!level:error", []uint64{2}},
			{"level:[warning,fatal]", []uint64{2}},
			{"!level:[warning,error]", nil},
			{"browser:Chrome", []uint64{1}},
			{"has:browser", []uint64{1, 2}},
			{"!has:browser", []uint64{3}},
			{"has:user.email", []uint64{1, 3}},
			{"user.email:b@x.io", []uint64{3}},
			{"user.email:\"a@x.io\" level:error browser:Chrome", []uint64{1}},
			{"environment:staging", []uint64{2}},
			{"!environment:staging", []uint64{1, 3}},
			{"environment:[prod,staging]", []uint64{1, 2, 3}},
			{"timesSeen:>1", []uint64{1, 3}},
			{"timesSeen:>=3", []uint64{1}},
			{"timesSeen:<2", []uint64{2}},
			{"timesSeen:2", []uint64{3}},
			{"!timesSeen:2", []uint64{1, 2}},
			{"firstSeen:-24h", []uint64{1}},
			{"firstSeen:+7d", []uint64{3}},
			{"lastSeen:-4d", []uint64{1, 2}},
			{"lastSeen:<=" + now.Add(-48*time.Hour).Format("2006-01-02T15:04:05"), []uint64{2, 3}},
			{"lastSeen:" + day, nil}, // issue 1's hour ago may be yesterday: checked below
			{"tags[level]:warning", []uint64{2}},
			{"level:'error'", nil}, // quotes are double quotes only: a literal value
			{"unknown:x", nil},
		}
		for _, tc := range tests {
			got, n := termIDs(t, s, tc.q, now, time.Time{})
			if tc.q == "lastSeen:"+day {
				// Exactly the issues last seen today (UTC).
				tc.want = nil
				if now.Add(-time.Hour+2*time.Minute).Format(time.DateOnly) == day {
					tc.want = []uint64{1}
				}
			}
			if !slices.Equal(got, tc.want) || n != uint64(len(tc.want)) {
				t.Errorf("%q: %v (count %d), want %v", tc.q, got, n, tc.want)
			}
		}
		// A time range narrows the list, and the tag terms to its days.
		got, n := termIDs(t, s, "", now, now.Add(-96*time.Hour))
		if !slices.Equal(got, []uint64{1, 2}) || n != 2 {
			t.Errorf("range: %v %d", got, n)
		}
		got, _ = termIDs(t, s, "user.email:b@x.io", now, now.Add(-96*time.Hour))
		if len(got) != 0 {
			t.Errorf("range and tag: %v", got)
		}
		envs, err := s.Environments(context.Background(), []uint64{21})
		if err != nil || !slices.Equal(envs, []string{"prod", "staging"}) {
			t.Errorf("environments: %v %v", envs, err)
		}
	})
}

// TestIssueSearchRegressed: is:regressed lists the unresolved issues whose
// latest status change is a regression.
func TestIssueSearchRegressed(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow()
		searchFixture(t, s, now)
		at := now.Add(-time.Minute)
		if err := s.SetStatus(ctx, []StatusChange{
			{ProjectID: 21, GroupID: 1, Status: StatusUnresolved, Substatus: SubstatusRegressed, At: at},
			{ProjectID: 21, GroupID: 2, Status: StatusUnresolved, Substatus: SubstatusRegressed, At: at},
			{ProjectID: 21, GroupID: 2, Status: StatusResolved, At: at.Add(time.Second)},
		}); err != nil {
			t.Fatal(err)
		}
		for q, want := range map[string][]uint64{
			"is:regressed":             {1},
			"is:regressed level:error": {1},
			"is:unresolved":            {1, 3},
			"is:resolved":              {2},
		} {
			if got, n := termIDs(t, s, q, now, time.Time{}); !slices.Equal(got, want) || n != uint64(len(want)) {
				t.Errorf("%q: %v (%d), want %v", q, got, n, want)
			}
		}
	})
}

// TestMigration0016Backfill: events stored before the tag index existed
// are indexed by the migration, on both engines.
func TestMigration0016Backfill(t *testing.T) {
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
		if err := s.MigrateTo(ctx, 13); err != nil {
			t.Fatal(err)
		}
		now := testNow()
		searchFixture(t, s, now)
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		// Run again: the backfill is idempotent.
		if err := s.backfillAgain(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := termIDs(t, s, "browser:Chrome user.email:a@x.io", now, time.Time{}); !slices.Equal(got, []uint64{1}) {
			t.Errorf("after backfill: %v", got)
		}
		var n []struct {
			N uint64 `ch:"n"`
		}
		if err := s.t.query(ctx, &n, "SELECT count() AS n FROM (SELECT DISTINCT project_id, key, value, group_id, day FROM "+
			s.table("group_tags")+" WHERE project_id = 21)"); err != nil {
			t.Fatal(err)
		}
		// 1: level, environment, browser, user.email (one day, or two
		// around midnight); 2: level, environment, browser; 3: level,
		// environment, user.email.
		if n[0].N < 10 || n[0].N > 14 {
			t.Errorf("%d index rows", n[0].N)
		}
	}
	t.Run("chdb", func(t *testing.T) {
		run(t, Config{Path: t.TempDir(), CHDBLib: testenv.CHDBLib(t)}, false)
	})
	t.Run("server", func(t *testing.T) {
		run(t, Config{URL: testenv.ClickHouseURL(t), Database: fmt.Sprintf("faultline_test_%d", rand.Uint64())}, true)
	})
}

func (s *Store) backfillAgain(ctx context.Context) error { return backfill0016(ctx, s) }
