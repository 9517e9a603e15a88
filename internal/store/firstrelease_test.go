package store

import (
	"context"
	"maps"
	"testing"
	"time"
)

// TestFirstReleases: each issue's first release is the one its earliest
// event named, whatever the order of insertion; issues without a release,
// and those of other projects, have none; on both engines.
func TestFirstReleases(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow().Add(-time.Hour)
		rel := func(gid uint64, n int, at time.Time, release string) Event {
			e := ev(9, gid, n, at, "prod", "")
			e.Release = release
			return e
		}
		// Issue 1: 2.0 inserted first, but 1.0's event is older.
		if err := s.InsertEvents(ctx, []Event{rel(1, 1, now, "2.0"), rel(2, 2, now, "")}); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertEvents(ctx, []Event{rel(1, 3, now.Add(-time.Minute), "1.0"), rel(3, 4, now, "3.0'\\x")}); err != nil {
			t.Fatal(err)
		}
		other := ev(10, 4, 5, now, "prod", "")
		other.Release = "9.9"
		if err := s.InsertEvents(ctx, []Event{other}); err != nil {
			t.Fatal(err)
		}
		got, err := s.FirstReleases(ctx, []uint64{9}, []uint64{1, 2, 3, 4})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[uint64]string{1: "1.0", 3: "3.0'\\x"}; !maps.Equal(got, want) {
			t.Errorf("first releases = %v, want %v", got, want)
		}
		if got, err := s.FirstReleases(ctx, nil, []uint64{1}); err != nil || len(got) != 0 {
			t.Errorf("no projects: %v %v", got, err)
		}
	})
}
