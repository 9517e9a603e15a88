package store

import (
	"context"
	"maps"
	"testing"
	"time"
)

// TestCountIssues counts what the list shows, per project, by status,
// environment and search, and the projects' hourly events.
func TestCountIssues(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		var events []Event
		// project 7: groups 1 (3 events, prod, this hour and 2 h ago),
		// 2 (staging, resolved), 3 (prod, ignored); project 8: group 4.
		for i := 0; i < 3; i++ {
			events = append(events, ev(7, 1, i, now.Add(-time.Duration(i)*time.Hour), "prod", "a"))
		}
		events = append(events, ev(7, 2, 0, now, "staging", ""), ev(7, 3, 0, now, "prod", ""), ev(8, 4, 0, now, "prod", ""))
		events = append(events, ev(7, 1, 9, now.Add(-30*time.Hour), "prod", "")) // outside 24 h
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		if err := s.SetStatus(ctx, []StatusChange{{ProjectID: 7, GroupID: 2, Status: StatusResolved},
			{ProjectID: 7, GroupID: 3, Status: StatusIgnored}}); err != nil {
			t.Fatal(err)
		}
		both := []uint64{7, 8}
		for _, c := range []struct {
			name string
			q    IssueQuery
			want map[uint64]uint64
		}{
			{"all", IssueQuery{ProjectIDs: both}, map[uint64]uint64{7: 3, 8: 1}},
			{"unresolved", IssueQuery{ProjectIDs: both, Status: StatusUnresolved}, map[uint64]uint64{7: 1, 8: 1}},
			{"resolved", IssueQuery{ProjectIDs: both, Status: StatusResolved}, map[uint64]uint64{7: 1}},
			{"ignored", IssueQuery{ProjectIDs: both, Status: StatusIgnored}, map[uint64]uint64{7: 1}},
			{"staging", IssueQuery{ProjectIDs: both, Environments: []string{"staging"}}, map[uint64]uint64{7: 1}},
			{"one project", IssueQuery{ProjectIDs: []uint64{8}}, map[uint64]uint64{8: 1}},
			{"text", IssueQuery{ProjectIDs: both, Search: &IssueSearch{Text: []string{"error 4"}}}, map[uint64]uint64{8: 1}},
			{"none", IssueQuery{}, map[uint64]uint64{}},
		} {
			got, err := s.CountIssues(ctx, c.q)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !maps.Equal(got, c.want) {
				t.Errorf("%s: counts %v, want %v", c.name, got, c.want)
			}
		}
		hourly, err := s.ProjectHourly(ctx, []uint64{7, 8, 9}, now)
		if err != nil {
			t.Fatal(err)
		}
		sum := func(bs []Bucket) (n uint64) {
			for _, b := range bs {
				n += b.Count
			}
			return n
		}
		if len(hourly[7]) != 24 || sum(hourly[7]) != 5 || hourly[7][23].Count != 3 || hourly[7][21].Count != 1 {
			t.Errorf("project 7 hourly: %v", hourly[7])
		}
		if sum(hourly[8]) != 1 || len(hourly[9]) != 24 || sum(hourly[9]) != 0 {
			t.Errorf("projects 8, 9 hourly: %v %v", hourly[8], hourly[9])
		}
	})
}
