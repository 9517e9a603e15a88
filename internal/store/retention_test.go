package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

func (s *Store) countRows(t *testing.T, table, where string) uint64 {
	t.Helper()
	var rows []struct {
		N uint64 `ch:"n"`
	}
	if err := s.t.query(context.Background(), &rows, "SELECT count() AS n FROM "+s.table(table)+" WHERE "+where); err != nil {
		t.Fatal(err)
	}
	return rows[0].N
}

func (s *Store) partitionIDs(t *testing.T, table string) []string {
	t.Helper()
	var rows []struct {
		ID string `ch:"partition_id"`
	}
	if err := s.t.query(context.Background(), &rows, "SELECT DISTINCT partition_id FROM system.parts WHERE database = "+
		str(s.db)+" AND table = "+str(table)+" AND active ORDER BY partition_id"); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

func issueIDs(t *testing.T, s *Store, q IssueQuery) []uint64 {
	t.Helper()
	page, err := s.ListIssues(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, is := range page.Issues {
		out = append(out, is.GroupID)
	}
	slices.Sort(out)
	return out
}

// TestRetention backdates events of a project with a 7-day retention and
// of one with 90 days: expired issues leave the lists at once, cleanup
// drops exactly the partitions whose week is past retention, never a row
// of live data, and runs no mutation.
func TestRetention(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow()
		at := func(pid, gid uint64, n int, age time.Duration, retention uint16) Event {
			e := ev(pid, gid, n, now.Add(-age), "prod", "u")
			e.RetentionDays = retention
			return e
		}
		day := 24 * time.Hour
		events := []Event{
			// Project 1, 7 days: issue 1 is 40 days old (its week is droppable),
			// issue 2 is 8 days old (expired, its week maybe not droppable yet),
			// issue 3 had an event 40 days ago and one an hour ago (alive).
			at(1, 1, 0, 40*day, 7), at(1, 1, 1, 40*day+time.Hour, 7),
			at(1, 2, 0, 8*day, 7),
			at(1, 3, 0, 40*day, 7), at(1, 3, 1, time.Hour, 7),
			// Project 2, 90 days: 40 days old is alive.
			at(2, 4, 0, 40*day, 90),
		}
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		var groups []Group
		for _, e := range events {
			groups = append(groups, Group{ProjectID: e.ProjectID, GroupID: e.GroupID, Title: "t", LastSeen: e.Timestamp,
				RetentionDays: e.RetentionDays, Version: uint64(e.Timestamp.UnixMilli())})
		}
		if err := s.UpsertGroups(ctx, groups); err != nil {
			t.Fatal(err)
		}

		// Before any cleanup, reads already hide what expired.
		if got, want := issueIDs(t, s, IssueQuery{ProjectIDs: []uint64{1}, Now: now}), []uint64{3}; !slices.Equal(got, want) {
			t.Errorf("project 1 issues = %v, want %v", got, want)
		}
		if got, want := issueIDs(t, s, IssueQuery{ProjectIDs: []uint64{2}, Now: now}), []uint64{4}; !slices.Equal(got, want) {
			t.Errorf("project 2 issues = %v, want %v", got, want)
		}
		is, err := s.GetIssue(ctx, 1, 3, nil, "")
		if err != nil || is == nil || is.TimesSeen != 1 {
			t.Errorf("issue 3 counts only its live event: %+v, %v", is, err)
		}
		if latest, err := s.LatestEvent(ctx, 1, 1); err != nil || latest != nil {
			t.Errorf("expired issue's latest event = %+v, %v", latest, err)
		}
		if e, err := s.GetEvent(ctx, 1, events[0].EventID); err != nil || e != nil {
			t.Errorf("expired event = %+v, %v", e, err)
		}

		old := Partition{Table: "events", RetentionDays: 7, Week: mondayOf(now.Add(-40 * day))}
		expired, err := s.ExpiredPartitions(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range expired {
			if p.Expires().After(now) {
				t.Errorf("partition %s is not expired yet (until %s)", p, p.Expires())
			}
			if p.RetentionDays == 90 {
				t.Errorf("90-day partition %s listed as expired", p)
			}
		}
		if !slices.ContainsFunc(expired, func(p Partition) bool { return p == old }) {
			t.Fatalf("expired partitions %v lack %v", expired, old)
		}
		dropped, err := s.Cleanup(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(dropped, expired) {
			t.Errorf("dropped %v, want %v", dropped, expired)
		}
		wantTables := map[string]bool{"events": false, "group_hourly": false, "groups": false}
		for _, p := range dropped {
			wantTables[p.Table] = true
		}
		for table, seen := range wantTables {
			if !seen {
				t.Errorf("no partition of %s dropped", table)
			}
			if slices.Contains(s.partitionIDs(t, table), "7-"+old.Week.Format("20060102")) {
				t.Errorf("%s still has partition %v", table, old)
			}
		}
		// The rows are gone from disk, the live ones are all there.
		if n := s.countRows(t, "events", "group_id = 1"); n != 0 {
			t.Errorf("issue 1 keeps %d events", n)
		}
		if n := s.countRows(t, "events", "group_id IN (3, 4)"); n != 2 {
			t.Errorf("live issues keep %d events, want 2", n)
		}
		if n := s.countRows(t, "groups", "group_id IN (3, 4)"); n == 0 {
			t.Error("live issues lost their metadata")
		}
		var muts []struct {
			N uint64 `ch:"n"`
		}
		if err := s.t.query(ctx, &muts, "SELECT count() AS n FROM system.mutations WHERE database = "+str(s.db)); err != nil {
			t.Fatal(err)
		}
		if muts[0].N != 0 {
			t.Errorf("cleanup ran %d mutations; expiry must only drop partitions", muts[0].N)
		}
		if got, want := issueIDs(t, s, IssueQuery{ProjectIDs: []uint64{1, 2}, Now: now}), []uint64{3, 4}; !slices.Equal(got, want) {
			t.Errorf("issues after cleanup = %v, want %v", got, want)
		}
		// A second run finds nothing.
		if again, err := s.Cleanup(ctx, now); err != nil || len(again) != 0 {
			t.Errorf("second cleanup dropped %v, %v", again, err)
		}
	})
}

func mondayOf(t time.Time) time.Time {
	d := t.UTC().Truncate(24 * time.Hour)
	return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
}

func TestPartitionExpiry(t *testing.T) {
	monday := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	p := Partition{RetentionDays: 7, Week: monday}
	// The week's last event (Sunday 23:59:59) expires 7 days later.
	if want := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC); !p.Expires().Equal(want) {
		t.Errorf("expires %v, want %v", p.Expires(), want)
	}
	if got := mondayOf(time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC)); !got.Equal(monday) {
		t.Errorf("mondayOf(Sunday) = %v", got)
	}
}
