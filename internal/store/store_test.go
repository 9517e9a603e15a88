package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

func ev(pid, gid uint64, n int, at time.Time, env, user string) Event {
	return Event{
		ProjectID: pid, GroupID: gid, EventID: fmt.Sprintf("%016x%016x", gid, n), Timestamp: at, Received: at,
		Type: "error", Level: "error", Platform: "go", Environment: env, Title: fmt.Sprintf("Error %d", gid),
		UserKey: user, RetentionDays: 90, Body: `{"n":` + fmt.Sprint(n) + `}`,
		TagKeys: []string{"environment"}, TagValues: []string{env},
	}
}

func TestIssueAggregates(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		var events []Event
		// group 1: 5 events, 2 users, prod; group 2: 3 events in staging, no user;
		// group 3: 1 event in another project.
		for i := 0; i < 5; i++ {
			events = append(events, ev(7, 1, i, now.Add(-time.Duration(i)*time.Hour), "prod", []string{"a", "b"}[i%2]))
		}
		for i := 0; i < 3; i++ {
			events = append(events, ev(7, 2, i, now.Add(-48*time.Hour+time.Duration(i)*time.Minute), "staging", ""))
		}
		events = append(events, ev(8, 3, 0, now, "prod", "z"))
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertGroups(ctx, []Group{
			{ProjectID: 7, GroupID: 1, ShortID: 1, Title: "old title", Version: 1},
			{ProjectID: 7, GroupID: 1, ShortID: 1, Title: "new title", Version: 2},
			{ProjectID: 7, GroupID: 2, ShortID: 2, Title: "second", Version: 1},
		}); err != nil {
			t.Fatal(err)
		}
		page, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{7}, StatsPeriod: "24h", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Issues) != 2 || page.Next != "" {
			t.Fatalf("got %d issues (next %q), want 2", len(page.Issues), page.Next)
		}
		g1, g2 := page.Issues[0], page.Issues[1]
		if g1.GroupID != 1 || g1.TimesSeen != 5 || g1.Users != 2 || g1.Title != "new title" || g1.ShortID != 1 {
			t.Errorf("group 1 = %+v", g1)
		}
		if !g1.LastSeen.Equal(now.Truncate(time.Second)) || !g1.FirstSeen.Equal(now.Add(-4*time.Hour).Truncate(time.Second)) {
			t.Errorf("group 1 seen %v..%v", g1.FirstSeen, g1.LastSeen)
		}
		if g2.GroupID != 2 || g2.TimesSeen != 3 || g2.Users != 0 || g2.Status != StatusUnresolved {
			t.Errorf("group 2 = %+v", g2)
		}
		var sum uint64
		for _, b := range g1.Stats {
			sum += b.Count
		}
		if len(g1.Stats) != 24 || sum != 5 {
			t.Errorf("group 1 24h stats: %d buckets, %d events", len(g1.Stats), sum)
		}
		// Environment filter.
		page, err = s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{7}, Environments: []string{"staging"}})
		if err != nil || len(page.Issues) != 1 || page.Issues[0].GroupID != 2 {
			t.Fatalf("staging issues = %+v, %v", page.Issues, err)
		}
		// Status filter.
		if err := s.SetStatus(ctx, []StatusChange{{ProjectID: 7, GroupID: 2, Status: StatusResolved}}); err != nil {
			t.Fatal(err)
		}
		for status, want := range map[string][]uint64{StatusUnresolved: {1}, StatusResolved: {2}, "": {1, 2}, StatusIgnored: nil} {
			page, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{7}, Status: status})
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, is := range page.Issues {
				got = append(got, is.GroupID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("status %q: groups %v, want %v", status, got, want)
			}
		}
		is, err := s.GetIssue(ctx, 7, 2, nil, "")
		if err != nil || is == nil || is.Status != StatusResolved {
			t.Fatalf("GetIssue = %+v, %v", is, err)
		}
		if is, err := s.GetIssue(ctx, 8, 2, nil, ""); err != nil || is != nil {
			t.Fatalf("GetIssue in another project = %+v, %v", is, err)
		}
	})
}

func TestIssuePagingIsKeyset(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		var events []Event
		// Groups 1..7; group g has g events; last seen all equal for ties.
		for g := uint64(1); g <= 7; g++ {
			for i := 0; i < int(g); i++ {
				events = append(events, ev(1, g, i, now, "", ""))
			}
		}
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		for _, sort := range []string{SortDate, SortFreq, SortNew} {
			var got []uint64
			cursor := ""
			for pages := 0; pages < 10; pages++ {
				page, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{1}, Sort: sort, Limit: 3, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				for _, is := range page.Issues {
					got = append(got, is.GroupID)
				}
				if page.Next == "" {
					break
				}
				cursor = page.Next
			}
			if want := []uint64{7, 6, 5, 4, 3, 2, 1}; !slices.Equal(got, want) {
				t.Errorf("sort %s: %v, want %v", sort, got, want)
			}
		}
		if _, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{1}, Cursor: "not a cursor!"}); err != ErrBadCursor {
			t.Errorf("bad cursor: %v", err)
		}
	})
}

func TestEventsRoundTrip(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
		nasty := "tab\there\nnewline\n\nblank line, 'quote' \"dq\" back\\slash \x00 nul, ünïcödé 💥, [x]"
		var events []Event
		for i := 0; i < 5; i++ {
			e := ev(3, 9, i, base.Add(time.Duration(i)*1500*time.Millisecond), "prod", "")
			e.Message = nasty
			e.TagKeys = []string{"k'1", "k\t2"}
			e.TagValues = []string{nasty, "v2"}
			e.Body = `{"message":"` + fmt.Sprint(i) + `\n\u0000"}`
			events = append(events, e)
		}
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		// A second insert of the same event is detected.
		seen, err := s.ExistingEvents(ctx, []EventKey{{3, events[0].EventID}, {3, "ffffffffffffffffffffffffffffffff"}, {4, events[0].EventID}})
		if err != nil {
			t.Fatal(err)
		}
		if !seen[EventKey{3, events[0].EventID}] || len(seen) != 1 {
			t.Fatalf("ExistingEvents = %v", seen)
		}
		got, err := s.ListEvents(ctx, EventQuery{ProjectID: 3, GroupID: 9, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].EventID != events[4].EventID || got[1].EventID != events[3].EventID {
			t.Fatalf("first page: %+v", got)
		}
		if got[0].Message != nasty || got[0].TagValues[0] != nasty || got[0].TagKeys[1] != "k\t2" || got[0].Body != events[4].Body {
			t.Errorf("round trip changed data: %q %q %q", got[0].Message, got[0].TagValues, got[0].Body)
		}
		if !got[0].Time().Equal(events[4].Timestamp) {
			t.Errorf("time %v, want %v", got[0].Time(), events[4].Timestamp)
		}
		next, err := s.ListEvents(ctx, EventQuery{ProjectID: 3, GroupID: 9, Limit: 10,
			Before: &EventCursor{Time: got[1].Time(), EventID: got[1].EventID}})
		if err != nil {
			t.Fatal(err)
		}
		if len(next) != 3 || next[0].EventID != events[2].EventID {
			t.Fatalf("second page: %d events", len(next))
		}
		one, err := s.GetEvent(ctx, 3, events[1].EventID)
		if err != nil || one == nil || one.GroupID != 9 {
			t.Fatalf("GetEvent = %+v, %v", one, err)
		}
		if one, err := s.GetEvent(ctx, 4, events[1].EventID); err != nil || one != nil {
			t.Fatalf("GetEvent from another project = %+v, %v", one, err)
		}
		latest, err := s.LatestEvent(ctx, 3, 9)
		if err != nil || latest == nil || latest.EventID != events[4].EventID {
			t.Fatalf("LatestEvent = %+v, %v", latest, err)
		}
	})
}

func TestSQLLiteralsAreInert(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, in := range []string{`'; DROP TABLE x; --`, `\'`, "\\", "a\x00b", "\n\t\r", "é'\"`"} {
			var rows []struct {
				V string `ch:"v"`
			}
			if err := s.t.query(ctx, &rows, "SELECT "+str(in)+" AS v"); err != nil {
				t.Fatalf("%q: %v", in, err)
			}
			if len(rows) != 1 || rows[0].V != in {
				t.Errorf("%q came back as %+v", in, rows)
			}
		}
	})
}

func TestTagValues(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow()
		var events []Event
		for i, browser := range []string{"Chrome", "Firefox", "Chrome", "Chrome", "Fire'fox\t2", ""} {
			e := ev(1, 1, i, now.Add(-time.Duration(i)*time.Minute), "prod", "")
			if browser != "" {
				e.TagKeys, e.TagValues = []string{"environment", "browser"}, []string{"prod", browser}
			}
			events = append(events, e)
		}
		events = append(events, ev(1, 2, 0, now, "prod", "")) // another issue
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		got, err := s.TagValues(ctx, 1, 1, "browser", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Value != "Chrome" || got[0].Count != 3 || got[1].Value != "Fire'fox\t2" || got[2].Count != 1 {
			t.Fatalf("browser values = %+v", got)
		}
		if !got[0].LastSeen.Equal(now.Truncate(time.Second)) || !got[0].FirstSeen.Equal(now.Add(-3*time.Minute).Truncate(time.Second)) {
			t.Errorf("Chrome seen %v..%v", got[0].FirstSeen, got[0].LastSeen)
		}
		if got, err := s.TagValues(ctx, 1, 1, "environment", 10); err != nil || len(got) != 1 || got[0].Count != 6 {
			t.Errorf("environment values = %+v, %v", got, err)
		}
	})
}

func TestDeploys(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		at := time.Date(2024, 3, 8, 10, 15, 2, 0, time.UTC)
		d := func(pid uint64, version, id, env string, after time.Duration) Deploy {
			return Deploy{ProjectID: pid, Version: version, DeployID: fmt.Sprintf("%032s", id), Environment: env,
				Revision: "38748467ea579e7ae64f7815452307c9d05e05c5", Repository: "https://example.com/shop.git",
				Username: "john", Email: "john@example.com", DateFinished: at.Add(after)}
		}
		deploys := []Deploy{
			d(1, "v2.0", "a1", "staging", 0),
			d(1, "v2.0", "a2", "production", time.Hour),
			d(1, "v2.0", "a2", "production", time.Hour), // a redelivered message
			d(1, "v1.9", "a3", "production", -time.Hour),
			d(2, "v2.0", "b1", "production", 2*time.Hour), // another project
			d(1, "it's \\ 'quoted'", "a4", "x", 0),
		}
		if err := s.InsertDeploys(ctx, deploys); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertDeploys(ctx, []Deploy{{ProjectID: 1, DeployID: "short"}}); err == nil {
			t.Error("a deploy id that is not 32 hex characters was accepted")
		}
		got, err := s.ListDeploys(ctx, []uint64{1}, "v2.0")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].DeployID != deploys[1].DeployID || got[1].DeployID != deploys[0].DeployID {
			t.Fatalf("deploys of v2.0 in project 1: %+v", got)
		}
		if g := got[0]; g != deploys[1] {
			t.Errorf("read back %+v, want %+v", g, deploys[1])
		}
		got, err = s.ListDeploys(ctx, []uint64{1, 2}, "v2.0")
		if err != nil || len(got) != 3 || got[0].ProjectID != 2 {
			t.Errorf("two projects: %+v, %v", got, err)
		}
		got, err = s.ListDeploys(ctx, []uint64{1}, `it's \ 'quoted'`)
		if err != nil || len(got) != 1 || got[0].Version != `it's \ 'quoted'` {
			t.Errorf("quoted version: %+v, %v", got, err)
		}
		if got, err = s.ListDeploys(ctx, nil, "v2.0"); err != nil || len(got) != 0 {
			t.Errorf("no projects: %+v, %v", got, err)
		}
	})
}

// TestEventFilters: an issue's events narrowed by environment, tags, user
// fields and free text, as the issue-events API's environment and query
// parameters ask, on both engines.
func TestEventFilters(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow().Add(-time.Hour)
		var events []Event
		for i := 0; i < 6; i++ {
			env := []string{"prod", "staging"}[i%2]
			e := ev(5, 2, i, now.Add(time.Duration(i)*time.Second), env, "")
			e.TagKeys = []string{"environment", "browser", "k'q"}
			e.TagValues = []string{env, []string{"Firefox", "Chrome", "Safari"}[i%3], "v'" + fmt.Sprint(i)}
			e.Message = []string{"Connection REFUSED by db", "timeout talking to cache"}[i%2]
			e.UserID = fmt.Sprint(i % 3)
			events = append(events, e)
		}
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			q    EventQuery
			want []int // event numbers, newest first
		}{
			{"all", EventQuery{}, []int{5, 4, 3, 2, 1, 0}},
			{"environment", EventQuery{Environments: []string{"prod"}}, []int{4, 2, 0}},
			{"two environments", EventQuery{Environments: []string{"prod", "staging"}}, []int{5, 4, 3, 2, 1, 0}},
			{"tag", EventQuery{Tags: []TagFilter{{Key: "browser", Value: "Chrome"}}}, []int{4, 1}},
			{"negated tag", EventQuery{Tags: []TagFilter{{Key: "browser", Value: "Chrome", Negate: true}}}, []int{5, 3, 2, 0}},
			{"tag and environment", EventQuery{Environments: []string{"staging"}, Tags: []TagFilter{{Key: "browser", Value: "Safari"}}}, []int{5}},
			{"quoted tag", EventQuery{Tags: []TagFilter{{Key: "k'q", Value: "v'3"}}}, []int{3}},
			{"tag key is not a value", EventQuery{Tags: []TagFilter{{Key: "browser", Value: "prod"}}}, nil},
			{"user", EventQuery{Tags: []TagFilter{{Key: "user.id", Value: "2"}}}, []int{5, 2}},
			{"text", EventQuery{Text: []string{"refused"}}, []int{4, 2, 0}},
			{"two terms", EventQuery{Text: []string{"timeout", "CACHE"}}, []int{5, 3, 1}},
			{"no match", EventQuery{Text: []string{"nothing like it"}}, nil},
			{"injection", EventQuery{Text: []string{"') OR 1=1 --"}, Environments: []string{"' OR '1'='1"}}, nil},
		}
		for _, tc := range tests {
			tc.q.ProjectID, tc.q.GroupID, tc.q.Limit = 5, 2, 100
			got, err := s.ListEvents(ctx, tc.q)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.EventID)
			}
			var want []string
			for _, n := range tc.want {
				want = append(want, events[n].EventID)
			}
			if !slices.Equal(ids, want) {
				t.Errorf("%s: %v, want %v", tc.name, ids, want)
			}
		}
	})
}
