package store

import (
	"context"
	"testing"
	"time"
)

// TestLifecycleQueries runs the worker's lifecycle reads and writes on
// both engines: issue states with their time, activity since a time,
// releases first seen, and an issue's first and last release.
func TestLifecycleQueries(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
		at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }

		// States: the latest change wins, with its time.
		if err := s.SetStatus(ctx, []StatusChange{
			{ProjectID: 7, GroupID: 1, Status: StatusResolved, Details: `{"inNextRelease":true}`, At: at(1)},
			{ProjectID: 7, GroupID: 1, Status: StatusIgnored, Substatus: "archived_until_condition_met", Details: `{"ignoreCount":3}`, At: at(2)},
			{ProjectID: 7, GroupID: 2, Status: StatusResolved, At: at(3)},
			{ProjectID: 8, GroupID: 3, Status: StatusResolved, At: at(3)},
		}); err != nil {
			t.Fatal(err)
		}
		states, err := s.GroupStates(ctx, []uint64{7}, []uint64{1, 2, 3, 4})
		if err != nil {
			t.Fatal(err)
		}
		if len(states) != 2 {
			t.Fatalf("states = %+v", states)
		}
		if g := states[1]; g.Status != StatusIgnored || g.Details != `{"ignoreCount":3}` || !g.Updated().Equal(at(2)) {
			t.Errorf("group 1 = %+v (updated %v, want %v)", g, g.Updated(), at(2))
		}
		if g := states[2]; g.Status != StatusResolved || !g.Updated().Equal(at(3)) {
			t.Errorf("group 2 = %+v", g)
		}

		// Activity since a time: events and distinct users of one issue.
		var evs []Event
		for i, u := range []string{"a", "b", "a", "", "c"} {
			e := ev(7, 1, i, at(10*i), "prod", u)
			e.Received = at(10 * i)
			e.Release = []string{"1.0", "1.0", "2.0", "2.0", "3.0"}[i]
			evs = append(evs, e)
		}
		evs = append(evs, ev(7, 2, 9, at(50), "prod", "z"))
		if err := s.InsertEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		a, err := s.ActivitySince(ctx, 7, 1, at(15), 10)
		if err != nil {
			t.Fatal(err)
		}
		if a.Events != 3 || len(a.Users) != 2 {
			t.Errorf("activity since 15m = %+v, want 3 events and users a, c", a)
		}
		if a, _ := s.ActivitySince(ctx, 7, 1, at(0), 1); a.Events != 5 || len(a.Users) != 1 {
			t.Errorf("activity with a user limit of 1 = %+v", a)
		}

		// Releases: the earliest first-seen wins.
		if err := s.InsertReleases(ctx, []Release{{7, "1.0", at(0)}, {7, "2.0", at(20)}, {7, "3.0", at(40)}}); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertReleases(ctx, []Release{{7, "1.0", at(30)}, {8, "1.0", at(59)}}); err != nil {
			t.Fatal(err)
		}
		rel, err := s.ReleasesFirstSeen(ctx, 7, []string{"1.0", "2.0", "9.9"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rel) != 2 || !rel["1.0"].Equal(at(0)) || !rel["2.0"].Equal(at(20)) {
			t.Errorf("releases = %v", rel)
		}

		// First and last release of an issue.
		first, last, err := s.IssueReleases(ctx, 7, 1)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil || last == nil || first.Version != "1.0" || last.Version != "3.0" ||
			!first.FirstSeen.Equal(at(0)) || !last.LastSeen.Equal(at(40)) || !first.ReleaseFirstSeen.Equal(at(0)) || first.TimesSeen != 2 {
			t.Errorf("first %+v last %+v", first, last)
		}
		if f, l, err := s.IssueReleases(ctx, 7, 99); err != nil || f != nil || l != nil {
			t.Errorf("issue without events: %v %v %v", f, l, err)
		}
	})
}
