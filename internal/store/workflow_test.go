package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// workflowResolver resolves the test's user terms: me is user 5, #ops team
// 7, none nobody, anything else unknown (user 0).
func workflowResolver(_ context.Context, v string, _ bool) (AssigneeRef, error) {
	switch v {
	case "me":
		return AssigneeRef{Kind: AssigneeUser, ID: 5}, nil
	case "six":
		return AssigneeRef{Kind: AssigneeUser, ID: 6}, nil
	case "#ops":
		return AssigneeRef{Kind: AssigneeTeam, ID: 7}, nil
	case "none":
		return AssigneeRef{}, nil
	}
	return AssigneeRef{Kind: AssigneeUser}, nil
}

func searchIDs(t *testing.T, s *Store, pid uint64, q string) []uint64 {
	t.Helper()
	search, err := ParseIssueSearch(q)
	if err != nil {
		t.Fatalf("%q: %v", q, err)
	}
	if err := search.ResolveUsers(context.Background(), workflowResolver); err != nil {
		t.Fatal(err)
	}
	page, err := s.ListIssues(context.Background(), IssueQuery{ProjectIDs: []uint64{pid}, Status: search.Status, Search: &search, Limit: 100})
	if err != nil {
		t.Fatalf("%q: %v", q, err)
	}
	var got []uint64
	for _, is := range page.Issues {
		got = append(got, is.GroupID)
	}
	return got
}

// TestWorkflow: assignments, user flags and comments, their latest
// versions, and the search terms over them, on both engines.
func TestWorkflow(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow().Add(-time.Hour)
		var events []Event
		for gid := uint64(1); gid <= 4; gid++ {
			events = append(events, ev(9, gid, int(gid), now.Add(time.Duration(gid)*time.Second), "prod", ""))
		}
		events = append(events, ev(10, 5, 5, now, "prod", "")) // another project
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		at := func(ms int) time.Time { return now.Add(time.Duration(ms) * time.Millisecond) }
		if err := s.SetAssignees(ctx, []Assignment{
			{ProjectID: 9, GroupID: 1, Kind: AssigneeUser, TargetID: 5, ActorID: 5, At: at(1),
				Activity: &Activity{Type: ActivityAssigned, UserID: 5, Data: `{"assignee":"5"}`}},
			{ProjectID: 9, GroupID: 2, Kind: AssigneeTeam, TargetID: 7, At: at(1)},
			{ProjectID: 9, GroupID: 3, Kind: AssigneeUser, TargetID: 5, At: at(1)},
			{ProjectID: 10, GroupID: 5, Kind: AssigneeUser, TargetID: 5, At: at(1)},
		}); err != nil {
			t.Fatal(err)
		}
		// Issue 3 is unassigned again, in the same millisecond.
		if err := s.SetAssignees(ctx, []Assignment{{ProjectID: 9, GroupID: 3, At: at(1).Add(time.Microsecond)}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAssignees(ctx, []Assignment{{ProjectID: 9, GroupID: 3, Kind: "robot"}}); err == nil {
			t.Error("unknown kind accepted")
		}
		if err := s.SetUserFlags(ctx, []UserFlag{
			{ProjectID: 9, GroupID: 1, UserID: 5, Flag: FlagBookmarked, Value: true, At: at(1)},
			{ProjectID: 9, GroupID: 4, UserID: 5, Flag: FlagBookmarked, Value: true, At: at(1)},
			{ProjectID: 9, GroupID: 4, UserID: 5, Flag: FlagBookmarked, Value: false, At: at(2)},
			{ProjectID: 9, GroupID: 2, UserID: 6, Flag: FlagBookmarked, Value: true, At: at(1)},
			{ProjectID: 9, GroupID: 1, UserID: 5, Flag: FlagSubscribed, Value: true, At: at(1)},
			{ProjectID: 9, GroupID: 1, UserID: 6, Flag: FlagSubscribed, Value: true, At: at(1)},
			{ProjectID: 9, GroupID: 1, UserID: 5, Flag: FlagSeen, Value: true, At: at(1)},
			{ProjectID: 9, GroupID: 3, UserID: 5, Flag: FlagSubscribed, Value: true, At: at(1)},
			{ProjectID: 9, GroupID: 3, UserID: 5, Flag: FlagSubscribed, Value: false, At: at(2)},
		}); err != nil {
			t.Fatal(err)
		}
		c1 := Comment{ProjectID: 9, GroupID: 1, UserID: 5, Text: "first 'quoted' \\ note"}
		c2 := Comment{ProjectID: 9, GroupID: 1, UserID: 6, Text: "second"}
		c3 := Comment{ProjectID: 9, GroupID: 2, UserID: 6, Text: "gone"}
		for _, c := range []*Comment{&c1, &c2, &c3} {
			if err := s.PutComment(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		c2.Text = "second, edited"
		c3.Deleted = 1
		for _, c := range []*Comment{&c2, &c3} {
			if err := s.PutComment(ctx, c); err != nil {
				t.Fatal(err)
			}
		}

		ws, err := s.Workflows(ctx, []uint64{9}, []uint64{1, 2, 3, 4}, 5)
		if err != nil {
			t.Fatal(err)
		}
		want := map[uint64]Workflow{
			1: {AssigneeKind: AssigneeUser, AssigneeID: 5, Bookmarked: true, Subscribed: true, Seen: true, NumComments: 2},
			2: {AssigneeKind: AssigneeTeam, AssigneeID: 7},
			3: {},
			4: {},
		}
		for gid, w := range want {
			if ws[gid] != w {
				t.Errorf("issue %d: %+v, want %+v", gid, ws[gid], w)
			}
		}
		if ws, _ := s.Workflows(ctx, []uint64{9}, []uint64{2}, 6); !ws[2].Bookmarked || ws[2].Subscribed {
			t.Errorf("user 6 on issue 2: %+v", ws[2])
		}
		if subs, err := s.Subscribers(ctx, 9, 1); err != nil || !slices.Equal(subs, []uint64{5, 6}) {
			t.Errorf("subscribers = %v, %v", subs, err)
		}

		cs, err := s.ListComments(ctx, 9, 1, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 2 || cs[0].ID != c2.ID || cs[0].Text != "second, edited" || cs[0].UserID != 6 ||
			cs[1].Text != c1.Text || cs[1].UserID != 5 {
			t.Fatalf("comments = %+v", cs)
		}
		if cs, _ := s.ListComments(ctx, 9, 1, c1.ID, 10); len(cs) != 1 || cs[0].ID != c1.ID {
			t.Errorf("comment by id = %+v", cs)
		}
		if cs, _ := s.ListComments(ctx, 9, 2, 0, 10); len(cs) != 0 {
			t.Errorf("deleted comment listed: %+v", cs)
		}
		if acts, _ := s.ListActivity(ctx, 9, 1, 10); len(acts) != 1 || acts[0].Type != ActivityAssigned {
			t.Errorf("activity = %+v", acts)
		}

		for _, tc := range []struct {
			q    string
			want []uint64
		}{
			{"assigned:me", []uint64{1}},
			{"assigned:#ops", []uint64{2}},
			{"assigned:none", []uint64{4, 3}},
			{"is:unassigned", []uint64{4, 3}},
			{"is:assigned", []uint64{2, 1}},
			{"!assigned:me", []uint64{4, 3, 2}},
			{"assigned:six", nil},
			{"assigned:nobody@example.com", nil},
			{"bookmarks:me", []uint64{1}},
			{"bookmarks:six", []uint64{2}},
			{"!bookmarks:me", []uint64{4, 3, 2}},
			{"bookmarks:me assigned:#ops", nil},
			{"is:assigned bookmarks:six", []uint64{2}},
			{"is:subscribed", []uint64{1}}, // me (5): issue 3 unsubscribed again
			{"is:subscribed is:unassigned", nil},
		} {
			if got := searchIDs(t, s, 9, tc.q); !slices.Equal(got, tc.want) {
				t.Errorf("%q: %v, want %v", tc.q, got, tc.want)
			}
		}
		// Unresolved user terms are an error, never a silent match.
		search, _ := ParseIssueSearch("assigned:me")
		if _, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{9}, Search: &search}); err == nil {
			t.Error("assigned: unresolved: no error")
		}

		// A deleted issue loses its workflow.
		if err := s.DeleteIssue(ctx, 9, 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		if ws, _ := s.Workflows(ctx, []uint64{9}, []uint64{1}, 5); ws[1] != (Workflow{}) {
			t.Errorf("deleted issue's workflow = %+v", ws[1])
		}
	})
}

// TestMigration0013 upgrades a database written by the schema before
// migration 13: its issues have no workflow, and gain one.
func TestMigration0013(t *testing.T) {
	enginesAt(t, 11, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow().Add(-time.Hour)
		if err := s.InsertEvents(ctx, []Event{ev(9, 1, 1, now, "prod", ""), ev(9, 2, 2, now.Add(time.Second), "prod", "")}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetStatus(ctx, []StatusChange{{ProjectID: 9, GroupID: 1, Status: StatusResolved, At: now}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if got := searchIDs(t, s, 9, "is:unassigned"); !slices.Equal(got, []uint64{2, 1}) {
			t.Errorf("unassigned after migration: %v", got)
		}
		if err := s.SetAssignees(ctx, []Assignment{{ProjectID: 9, GroupID: 1, Kind: AssigneeUser, TargetID: 5}}); err != nil {
			t.Fatal(err)
		}
		if got := searchIDs(t, s, 9, "is:resolved assigned:me"); !slices.Equal(got, []uint64{1}) {
			t.Errorf("assigned after migration: %v", got)
		}
	})
}

// TestIssueAssignee: the latest assignment of an issue, nobody before
// the first and after an unassignment.
func TestIssueAssignee(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if k, id, err := s.IssueAssignee(ctx, 1, 5); err != nil || k != "" || id != 0 {
			t.Fatalf("never assigned: %q %d %v", k, id, err)
		}
		at := time.Now().UTC()
		for i, a := range []Assignment{{ProjectID: 1, GroupID: 5, Kind: AssigneeUser, TargetID: 7, At: at},
			{ProjectID: 1, GroupID: 5, Kind: AssigneeTeam, TargetID: 3, At: at.Add(time.Second)},
			{ProjectID: 1, GroupID: 6, Kind: AssigneeUser, TargetID: 9, At: at}} {
			if err := s.SetAssignees(ctx, []Assignment{a}); err != nil {
				t.Fatal(i, err)
			}
		}
		if k, id, err := s.IssueAssignee(ctx, 1, 5); err != nil || k != AssigneeTeam || id != 3 {
			t.Fatalf("issue 5: %q %d %v, want team 3", k, id, err)
		}
		if err := s.SetAssignees(ctx, []Assignment{{ProjectID: 1, GroupID: 5, At: at.Add(2 * time.Second)}}); err != nil {
			t.Fatal(err)
		}
		if k, _, err := s.IssueAssignee(ctx, 1, 5); err != nil || k != "" {
			t.Fatalf("after unassigning: %q %v", k, err)
		}
		if k, id, _ := s.IssueAssignee(ctx, 2, 6); k != "" || id != 0 {
			t.Fatalf("another project's issue: %q %d", k, id)
		}
	})
}
