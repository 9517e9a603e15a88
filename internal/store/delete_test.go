package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// linkedTable creates a table of rows that belong to events (as attachment
// metadata does) and fills it.
func linkedTable(t *testing.T, s *Store, rows [][]any) {
	t.Helper()
	ctx := context.Background()
	if err := s.t.exec(ctx, s.sql("CREATE TABLE {db}.linked (project_id UInt64, event_id FixedString(32), name String) "+
		"ENGINE = MergeTree() ORDER BY (project_id, event_id)")); err != nil {
		t.Fatal(err)
	}
	if err := s.t.insert(ctx, s.table("linked"), []string{"project_id", "event_id", "name"}, rows); err != nil {
		t.Fatal(err)
	}
}

func userEvent(pid, gid uint64, n int, at time.Time, user string) Event {
	e := ev(pid, gid, n, at, "prod", user)
	e.UserID, e.UserEmail, e.IPAddress = user, user+"@example.com", "10.0.0."+user
	return e
}

func TestDeleteIssue(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow()
		events := []Event{
			userEvent(1, 1, 0, now, "1"), userEvent(1, 1, 1, now.Add(-time.Hour), "2"),
			userEvent(1, 2, 0, now, "1"),
			userEvent(2, 1, 0, now, "1"), // same issue number in another project
		}
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertGroups(ctx, []Group{{ProjectID: 1, GroupID: 1, Title: "a", Version: 1},
			{ProjectID: 1, GroupID: 2, Title: "b", Version: 1}, {ProjectID: 2, GroupID: 1, Title: "c", Version: 1}}); err != nil {
			t.Fatal(err)
		}
		// Project 2's event reuses the id of an event of the doomed issue:
		// event ids come from clients, and projects must stay apart.
		linkedTable(t, s, [][]any{
			{uint64(1), events[0].EventID, "doomed"}, {uint64(1), events[1].EventID, "doomed"},
			{uint64(1), events[2].EventID, "kept"}, {uint64(2), events[0].EventID, "kept"},
		})
		// Real attachments: one of the doomed issue, one of another issue.
		if err := s.InsertAttachments(ctx, []Attachment{
			{ProjectID: 1, EventID: events[0].EventID, ID: 1, GroupID: 1, Name: "a.txt", Created: now, RetentionDays: 90},
			{ProjectID: 1, EventID: events[2].EventID, ID: 2, GroupID: 2, Name: "b.txt", Created: now, RetentionDays: 90},
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.HideIssues(ctx, 1, []uint64{1}); err != nil {
			t.Fatal(err)
		}
		for _, status := range []string{"", StatusUnresolved} {
			if got := issueIDs(t, s, IssueQuery{ProjectIDs: []uint64{1}, Status: status}); !slices.Equal(got, []uint64{2}) {
				t.Errorf("status %q: issues while deleting = %v, want [2]", status, got)
			}
		}
		if is, err := s.GetIssue(ctx, 1, 1, nil, ""); err != nil || is != nil {
			t.Errorf("hidden issue = %+v, %v", is, err)
		}
		if err := s.DeleteIssue(ctx, 1, 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		for table, want := range map[string]uint64{"events": 0, "group_hourly": 0, "groups": 0, "group_status": 0} {
			if n := s.countRows(t, table, "project_id = 1 AND group_id = 1"); n != want {
				t.Errorf("%s keeps %d rows of the deleted issue", table, n)
			}
		}
		if n := s.countRows(t, "linked", "name = 'doomed'"); n != 0 {
			t.Errorf("%d linked rows of deleted events remain", n)
		}
		if n := s.countRows(t, "attachments", "name = 'a.txt'"); n != 0 {
			t.Errorf("the deleted issue's attachment remains")
		}
		if n := s.countRows(t, "attachments", "name = 'b.txt'"); n != 1 {
			t.Errorf("another issue's attachment is gone")
		}
		if n := s.countRows(t, "linked", "name = 'kept'"); n != 2 {
			t.Errorf("linked rows of other events: %d, want 2", n)
		}
		if n := s.countRows(t, "events", "project_id = 2 OR group_id = 2"); n != 2 {
			t.Errorf("other issues keep %d events, want 2", n)
		}
		if got := issueIDs(t, s, IssueQuery{ProjectIDs: []uint64{2}}); !slices.Equal(got, []uint64{1}) {
			t.Errorf("project 2 issues = %v", got)
		}
		// A new event of the deleted issue is a new occurrence.
		if err := s.InsertEvents(ctx, []Event{userEvent(1, 1, 9, now, "3")}); err != nil {
			t.Fatal(err)
		}
		if is, err := s.GetIssue(ctx, 1, 1, nil, ""); err != nil || is == nil || is.TimesSeen != 1 {
			t.Errorf("issue after a new event = %+v, %v", is, err)
		}
	})
}

func TestDeleteProject(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow()
		events := []Event{userEvent(1, 1, 0, now, "1"), userEvent(1, 2, 0, now, "1"), userEvent(2, 3, 0, now, "1")}
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertGroups(ctx, []Group{{ProjectID: 1, GroupID: 1, Version: 1}, {ProjectID: 2, GroupID: 3, Version: 1}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetStatus(ctx, []StatusChange{{ProjectID: 1, GroupID: 2, Status: StatusResolved}}); err != nil {
			t.Fatal(err)
		}
		linkedTable(t, s, [][]any{{uint64(1), events[0].EventID, "x"}, {uint64(2), events[2].EventID, "y"}})
		if err := s.DeleteProject(ctx, 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"events", "group_hourly", "groups", "group_status", "linked"} {
			if n := s.countRows(t, table, "project_id = 1"); n != 0 {
				t.Errorf("%s keeps %d rows of the deleted project", table, n)
			}
			if table != "group_status" {
				if n := s.countRows(t, table, "project_id = 2"); n == 0 {
					t.Errorf("%s lost the other project's rows", table)
				}
			}
		}
	})
}

// TestDeleteUserData erases one user's events across a project: the
// events go, and the counts of the issues they were in are rebuilt.
func TestDeleteUserData(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow()
		events := []Event{
			// Issue 1: user a twice, user b three times, in the same hour.
			userEvent(1, 1, 0, now, "a"), userEvent(1, 1, 1, now, "a"),
			userEvent(1, 1, 2, now, "b"), userEvent(1, 1, 3, now, "b"), userEvent(1, 1, 4, now.Add(-2*time.Hour), "b"),
			// Issue 2: only user a.
			userEvent(1, 2, 0, now.Add(-time.Hour), "a"),
			// Project 2: user a too, untouched.
			userEvent(2, 3, 0, now, "a"),
		}
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		linkedTable(t, s, [][]any{{uint64(1), events[0].EventID, "a's"}, {uint64(1), events[2].EventID, "b's"}})
		// User reports: a's report on b's event (it names a), b's report on
		// a's event (it goes with the event), b's report on b's event.
		if err := s.InsertUserReports(ctx, []UserReport{
			{ProjectID: 1, EventID: events[2].EventID, ID: 1, Name: "a", Email: "a@example.com", Comments: "by a", Created: now, RetentionDays: 90},
			{ProjectID: 1, EventID: events[0].EventID, ID: 2, Name: "b", Email: "b@example.com", Comments: "on a's", Created: now, RetentionDays: 90},
			{ProjectID: 1, EventID: events[3].EventID, ID: 3, Name: "b", Email: "b@example.com", Comments: "kept", Created: now, RetentionDays: 90},
		}); err != nil {
			t.Fatal(err)
		}
		for _, f := range []UserFilter{{Email: "a@example.com"}, {ID: "a"}, {IPAddress: "10.0.0.a"}} {
			n, err := s.DeleteUserData(ctx, 1, f, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if f.Email != "" && n != 3 {
				t.Errorf("deleted %d events, want 3", n)
			}
			if f.Email == "" && n != 0 {
				t.Errorf("second erasure by %+v found %d events", f, n)
			}
		}
		if n := s.countRows(t, "events", "project_id = 1 AND (user_id = 'a' OR user_email = 'a@example.com')"); n != 0 {
			t.Errorf("%d events of the user remain", n)
		}
		if n := s.countRows(t, "linked", "name = "+str("a's")); n != 0 {
			t.Errorf("the user's linked rows remain")
		}
		if n := s.countRows(t, "user_reports", "comments IN ('by a', 'on a''s')"); n != 0 {
			t.Errorf("%d user reports by the user or on the user's events remain", n)
		}
		if n := s.countRows(t, "user_reports", "comments = 'kept'"); n != 1 {
			t.Errorf("another user's report is gone")
		}
		is, err := s.GetIssue(ctx, 1, 1, nil, "24h")
		if err != nil || is == nil {
			t.Fatalf("issue 1 = %+v, %v", is, err)
		}
		if is.TimesSeen != 3 || is.Users != 1 {
			t.Errorf("issue 1 after erasure: %d events, %d users; want 3 and 1", is.TimesSeen, is.Users)
		}
		var sum uint64
		for _, b := range is.Stats {
			sum += b.Count
		}
		if sum != 3 {
			t.Errorf("issue 1 stats sum to %d, want 3", sum)
		}
		if got := issueIDs(t, s, IssueQuery{ProjectIDs: []uint64{1}}); !slices.Equal(got, []uint64{1}) {
			t.Errorf("issues = %v, want [1] (issue 2 had only the user's event)", got)
		}
		if is, err := s.GetIssue(ctx, 2, 3, nil, ""); err != nil || is == nil || is.TimesSeen != 1 || is.Users != 1 {
			t.Errorf("project 2's issue = %+v, %v", is, err)
		}
		if _, err := s.DeleteUserData(ctx, 1, UserFilter{}, time.Minute); err == nil {
			t.Error("an empty filter was accepted")
		}
	})
}
