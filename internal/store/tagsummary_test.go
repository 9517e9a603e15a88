package store

import (
	"context"
	"testing"
	"time"
)

func TestTagSummary(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow()
		var events []Event
		for i, browser := range []string{"Chrome", "Firefox", "Chrome", "Chrome", "Fire'fox\t2", "Safari", ""} {
			e := ev(1, 1, i, now.Add(-time.Duration(i)*time.Minute), "prod", "")
			if browser != "" {
				e.TagKeys, e.TagValues = []string{"environment", "browser"}, []string{"prod", browser}
			} else {
				e.TagKeys, e.TagValues = []string{"environment"}, []string{"prod"}
			}
			events = append(events, e)
		}
		other := ev(1, 2, 0, now, "prod", "") // another issue
		other.TagKeys, other.TagValues = []string{"browser", "os"}, []string{"Chrome", "Linux"}
		events = append(events, other)
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		got, err := s.TagSummary(ctx, 1, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Key != "environment" || got[0].Total != 7 || got[1].Key != "browser" || got[1].Total != 6 {
			t.Fatalf("keys = %+v", got)
		}
		if v := got[0].Values; len(v) != 1 || v[0].Value != "prod" || v[0].Count != 7 {
			t.Errorf("environment = %+v", v)
		}
		// The top 2 of browser: Chrome (3), then the first of the ties by value.
		if v := got[1].Values; len(v) != 2 || v[0].Value != "Chrome" || v[0].Count != 3 || v[1].Value != "Fire'fox\t2" || v[1].Count != 1 {
			t.Errorf("browser = %+v", v)
		}
		if v := got[1].Values[0]; !v.LastSeen.Equal(now.Truncate(time.Second)) || !v.FirstSeen.Equal(now.Add(-3*time.Minute).Truncate(time.Second)) {
			t.Errorf("Chrome seen %v..%v", v.FirstSeen, v.LastSeen)
		}
		if got, err := s.TagSummary(ctx, 1, 99, 5); err != nil || len(got) != 0 {
			t.Errorf("an issue with no events: %+v, %v", got, err)
		}
	})
}
