package store

import (
	"context"
	"testing"
	"time"
)

func TestIssueDetailsExtras(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow().Add(-time.Hour)
		// Events 0 and 1 share a second and differ by milliseconds; 2 and
		// 3 share the millisecond and differ by id; 4 is in another issue.
		at := []time.Time{now, now.Add(5 * time.Millisecond), now.Add(2 * time.Second), now.Add(2 * time.Second), now.Add(time.Second)}
		var events []Event
		for i, t := range at {
			gid := uint64(1)
			if i == 4 {
				gid = 2
			}
			events = append(events, ev(4, gid, i, t, "prod", ""))
		}
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		order := []int{0, 1, 2, 3} // oldest first
		for i, n := range order {
			e, err := s.GetEvent(ctx, 4, events[n].EventID)
			if err != nil || e == nil {
				t.Fatal(err, e)
			}
			prev, next, err := s.AdjacentEvents(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			wantPrev, wantNext := "", ""
			if i > 0 {
				wantPrev = events[order[i-1]].EventID
			}
			if i < len(order)-1 {
				wantNext = events[order[i+1]].EventID
			}
			if prev != wantPrev || next != wantNext {
				t.Errorf("event %d: prev %q next %q, want %q %q", n, prev, next, wantPrev, wantNext)
			}
		}
		reports := []UserReport{
			{ProjectID: 4, EventID: events[0].EventID, ID: 1, Comments: "first", Created: now, RetentionDays: 90},
			{ProjectID: 4, EventID: events[0].EventID, ID: 2, Comments: "edited", Created: now.Add(time.Second), RetentionDays: 90},
			{ProjectID: 4, EventID: events[2].EventID, ID: 3, Comments: "other", Created: now, RetentionDays: 90},
			{ProjectID: 4, EventID: events[4].EventID, ID: 4, Comments: "issue 2", Created: now, RetentionDays: 90},
		}
		if err := s.InsertUserReports(ctx, reports); err != nil {
			t.Fatal(err)
		}
		for gid, want := range map[uint64]uint64{1: 2, 2: 1, 3: 0} {
			n, err := s.IssueUserReportCount(ctx, 4, gid)
			if err != nil || n != want {
				t.Errorf("issue %d: %d reports (%v), want %d", gid, n, err, want)
			}
		}
	})
}

// TestEdgeEventsAcrossDays: the latest and oldest events and the
// neighbours are found through the issue's first and last seen and a day's
// window first, and through all its days when those miss: days apart, and
// when the aggregates still count an event that is gone (flagged deleted).
func TestEdgeEventsAcrossDays(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow().Add(-time.Hour)
		at := []time.Time{now.Add(-10 * 24 * time.Hour), now.Add(-10*24*time.Hour + time.Second), now.Add(-5 * 24 * time.Hour),
			now.Add(-3 * time.Hour), now.Add(-time.Minute)}
		var events []Event
		for i, a := range at {
			events = append(events, ev(9, 1, i, a, "prod", ""))
		}
		events = append(events, ev(9, 2, 0, now, "prod", "")) // another issue
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		check := func(step string, latest, oldest int, order []int) {
			t.Helper()
			l, err := s.LatestEvent(ctx, 9, 1)
			if err != nil || l == nil || l.EventID != events[latest].EventID {
				t.Errorf("%s: latest %v %v, want event %d", step, l, err, latest)
			}
			o, err := s.OldestEvent(ctx, 9, 1)
			if err != nil || o == nil || o.EventID != events[oldest].EventID {
				t.Errorf("%s: oldest %v %v, want event %d", step, o, err, oldest)
			}
			for i, n := range order {
				e, err := s.GetEvent(ctx, 9, events[n].EventID)
				if err != nil || e == nil {
					t.Fatal(err, e)
				}
				prev, next, err := s.AdjacentEvents(ctx, e)
				if err != nil {
					t.Fatal(err)
				}
				wantPrev, wantNext := "", ""
				if i > 0 {
					wantPrev = events[order[i-1]].EventID
				}
				if i < len(order)-1 {
					wantNext = events[order[i+1]].EventID
				}
				if prev != wantPrev || next != wantNext {
					t.Errorf("%s: event %d: prev %q next %q, want %q %q", step, n, prev, next, wantPrev, wantNext)
				}
			}
		}
		check("all", 4, 0, []int{0, 1, 2, 3, 4})
		// The newest and the oldest go; group_hourly still counts them.
		if err := s.mutate(ctx, []string{"ALTER TABLE " + s.table("events") + " UPDATE deleted = 1 WHERE project_id = 9 AND event_id IN " +
			strs([]string{events[0].EventID, events[4].EventID})}, time.Minute); err != nil {
			t.Fatal(err)
		}
		check("deleted", 3, 1, []int{1, 2, 3})
		if e, err := s.LatestEvent(ctx, 9, 3); err != nil || e != nil {
			t.Errorf("an issue without events: %v %v", e, err)
		}
	})
}
