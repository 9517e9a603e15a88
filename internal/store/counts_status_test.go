package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestCountIssuesByStatus: the tabs counted in one query agree with one
// CountIssues per status, for searches that narrow by text, tag, release,
// aggregate and environment, with issues in every status (a status set
// and then set back, one being deleted, one with no status row).
func TestCountIssuesByStatus(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow().Add(-time.Hour)
		var events []Event
		for gid := uint64(1); gid <= 8; gid++ {
			for n := 0; n < int(gid); n++ {
				env := "prod"
				if gid%3 == 0 {
					env = "staging"
				}
				e := ev(21, gid, n, now.Add(time.Duration(n)*time.Second), env, "")
				e.Message = fmt.Sprintf("boom %d", gid%2)
				e.Release = fmt.Sprintf("r%d", gid%4)
				events = append(events, e)
			}
		}
		events = append(events, ev(22, 30, 0, now, "prod", "")) // another project
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-time.Minute)
		if err := s.SetStatus(ctx, []StatusChange{
			{ProjectID: 21, GroupID: 1, Status: StatusResolved, At: at},
			{ProjectID: 21, GroupID: 2, Status: StatusIgnored, At: at},
			{ProjectID: 21, GroupID: 3, Status: StatusResolved, At: at},
			{ProjectID: 21, GroupID: 3, Status: StatusUnresolved, At: at.Add(time.Second)}, // reopened
			{ProjectID: 21, GroupID: 4, Status: StatusPendingDeletion, At: at},
			{ProjectID: 21, GroupID: 5, Status: StatusResolved, At: at},
			{ProjectID: 22, GroupID: 30, Status: StatusResolved, At: at},
		}); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"", "boom", "boom 1", "release:r1", "!release:r2", "timesSeen:>3", "environment:staging",
			"level:error", "nothing-matches"} {
			search, err := ParseIssueSearch(q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.CountIssuesByStatus(ctx, IssueQuery{ProjectIDs: []uint64{21}, Search: &search})
			if err != nil {
				t.Fatalf("%q: %v", q, err)
			}
			var all uint64
			for st, n := range got {
				if st != StatusPendingDeletion {
					all += n
				}
			}
			for _, st := range []string{StatusUnresolved, StatusResolved, StatusIgnored, ""} {
				want, err := s.CountIssues(ctx, IssueQuery{ProjectIDs: []uint64{21}, Status: st, Search: &search})
				if err != nil {
					t.Fatal(err)
				}
				n := got[st]
				if st == "" {
					n = all
				}
				if n != want[21] {
					t.Errorf("%q, status %q: %d in one query, %d by CountIssues (%v)", q, st, n, want[21], got)
				}
			}
			if q == "" && (got[StatusUnresolved] != 4 || got[StatusResolved] != 2 || got[StatusIgnored] != 1) {
				t.Errorf("all issues: %v, want 4 unresolved, 2 resolved, 1 ignored", got)
			}
		}
		search, _ := ParseIssueSearch("is:regressed")
		if _, err := s.CountIssuesByStatus(ctx, IssueQuery{ProjectIDs: []uint64{21}, Search: &search}); err == nil {
			t.Error("is:regressed counted by status: no error")
		}
	})
}
