package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestMoveEvents: a merge moves every event of one issue to another, and
// every read (list, details, stats, tags, events, releases, per-minute
// counters, attachments) then counts them in the survivor only; an
// unmerge of one hash moves its events to a new issue, which gets the
// metadata, and the old issue's counts return to what they were.
func TestMoveEvents(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC().Add(-time.Minute)
		var evs []Event
		add := func(gid uint64, n int, hash, user, release string) {
			e := ev(1, gid, n, now.Add(-time.Duration(n)*time.Second), "prod", user)
			e.PrimaryHash, e.Release = hash, release
			e.TagKeys, e.TagValues = []string{"hash"}, []string{hash}
			evs = append(evs, e)
		}
		add(10, 1, "ha", "u1", "1.0")
		add(10, 2, "ha", "u2", "1.0")
		add(10, 3, "ha", "u2", "1.0")
		add(20, 4, "hb", "u3", "2.0")
		add(20, 5, "hb", "", "2.0")
		if err := s.InsertEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertGroups(ctx, []Group{{ProjectID: 1, GroupID: 10, ShortID: 1, PrimaryHash: "ha", Title: "Error 10", Version: 1},
			{ProjectID: 1, GroupID: 20, ShortID: 2, PrimaryHash: "hb", Title: "Error 20", Version: 1}}); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertAttachments(ctx, []Attachment{{ProjectID: 1, EventID: evs[3].EventID, ID: 1, GroupID: 20,
			Name: "a.txt", Size: 1, Created: now, RetentionDays: 90}}); err != nil {
			t.Fatal(err)
		}
		check := func(gid uint64, times, users uint64) {
			t.Helper()
			is, err := s.GetIssue(ctx, 1, gid, nil, "24h")
			if err != nil {
				t.Fatal(err)
			}
			if times == 0 {
				if is != nil {
					t.Fatalf("issue %d still listed: %+v", gid, is)
				}
				return
			}
			if is == nil {
				t.Fatalf("issue %d is gone", gid)
			}
			var stats uint64
			for _, b := range is.Stats {
				stats += b.Count
			}
			if is.TimesSeen != times || is.Users != users || stats != times {
				t.Fatalf("issue %d: %d events (stats %d), %d users; want %d, %d", gid, is.TimesSeen, stats, is.Users, times, users)
			}
			got, err := s.ListEvents(ctx, EventQuery{ProjectID: 1, GroupID: gid, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if uint64(len(got)) != times {
				t.Fatalf("issue %d lists %d events, want %d", gid, len(got), times)
			}
			wc, err := s.WindowCounts(ctx, 1, []uint64{gid}, "", time.Hour, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if wc[gid].Events != times {
				t.Fatalf("issue %d: per-minute counters say %d, want %d", gid, wc[gid].Events, times)
			}
		}
		// tagged lists the issues that the tag search hash:h finds (the
		// tag index follows moves as the other aggregates do).
		tagged := func(h string) []uint64 {
			t.Helper()
			search, err := ParseIssueSearch("hash:" + h)
			if err != nil {
				t.Fatal(err)
			}
			page, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{1}, Search: &search, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var ids []uint64
			for _, is := range page.Issues {
				ids = append(ids, is.GroupID)
			}
			return ids
		}
		check(10, 3, 2)
		check(20, 2, 1)
		if got := tagged("hb"); !slices.Equal(got, []uint64{20}) {
			t.Fatalf("hash:hb before the merge finds %v", got)
		}

		// Merge 20 into 10.
		n, err := s.MoveEvents(ctx, Move{ProjectID: 1, From: 20, To: 10}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("moved %d events, want 2", n)
		}
		check(10, 5, 3)
		check(20, 0, 0)
		if got := tagged("hb"); !slices.Equal(got, []uint64{10}) {
			t.Fatalf("hash:hb after the merge finds %v", got)
		}
		first, last, err := s.IssueReleases(ctx, 1, 10)
		if err != nil || first == nil || last == nil || first.Version != "2.0" || last.Version != "1.0" {
			t.Fatalf("survivor's releases: %+v %+v %v", first, last, err)
		}
		att, err := s.ListAttachments(ctx, 1, evs[3].EventID)
		if err != nil || len(att) != 1 || att[0].GroupID != 10 {
			t.Fatalf("attachment after the merge: %+v %v", att, err)
		}
		hashes, err := s.IssueHashes(ctx, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hashes) != 2 || hashes["hb"].Count != 2 || hashes["hb"].EventID != evs[3].EventID {
			t.Fatalf("hashes: %+v", hashes)
		}

		// Unmerge hb into a new issue 30.
		n, err = s.MoveEvents(ctx, Move{ProjectID: 1, From: 10, To: 30, Hashes: []string{"hb"}, ShortID: 3, Hash: "hb"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("unmerged %d events, want 2", n)
		}
		check(10, 3, 2)
		check(30, 2, 1)
		if got := tagged("hb"); !slices.Equal(got, []uint64{30}) {
			t.Fatalf("hash:hb after the unmerge finds %v", got)
		}
		if got := tagged("ha"); !slices.Equal(got, []uint64{10}) {
			t.Fatalf("hash:ha after the unmerge finds %v", got)
		}
		is, err := s.GetIssue(ctx, 1, 30, nil, "")
		if err != nil || is == nil || is.ShortID != 3 || is.Title != "Error 20" || is.PrimaryHash != "hb" {
			t.Fatalf("new issue's metadata: %+v %v", is, err)
		}
		first, last, err = s.IssueReleases(ctx, 1, 10)
		if err != nil || first == nil || first.Version != "1.0" || last.Version != "1.0" {
			t.Fatalf("releases after the unmerge: %+v %+v %v", first, last, err)
		}
	})
}

// TestMoveResume stops moves halfway, as a process killed between their
// steps would (events copied and not deleted; deleted, aggregates not yet
// dropped or rebuilt), then runs them again with Resume: every event ends
// in exactly one issue, counted once, and a merge carries the child's
// comments, activity, bookmarks and subscriptions to the survivor.
func TestMoveResume(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC().Add(-time.Minute)
		var evs []Event
		for i, g := range []uint64{10, 10, 10, 20, 20} {
			e := ev(1, g, i, now.Add(-time.Duration(i)*time.Second), "prod", fmt.Sprint("u", i))
			e.PrimaryHash = fmt.Sprint("h", g)
			evs = append(evs, e)
		}
		if err := s.InsertEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		c := &Comment{ProjectID: 1, GroupID: 20, UserID: 7, Text: "seen it before"}
		if err := s.PutComment(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertActivity(ctx, []Activity{{ProjectID: 1, GroupID: 20, Type: "note", UserID: 7, Data: `{"text":"x"}`}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetUserFlags(ctx, []UserFlag{{ProjectID: 1, GroupID: 20, UserID: 7, Flag: FlagBookmarked, Value: true},
			{ProjectID: 1, GroupID: 20, UserID: 8, Flag: FlagSeen, Value: true}}); err != nil {
			t.Fatal(err)
		}
		counts := func(gid uint64) (times, listed uint64) {
			t.Helper()
			is, err := s.GetIssue(ctx, 1, gid, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			if is != nil {
				times = is.TimesSeen
			}
			got, err := s.ListEvents(ctx, EventQuery{ProjectID: 1, GroupID: gid, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return times, uint64(len(got))
		}
		for _, tc := range []struct {
			name, stop string
			move       Move
			want       map[uint64]uint64 // issue -> events
		}{
			{"merge stopped after the copy", "copied", Move{ProjectID: 1, From: 20, To: 10}, map[uint64]uint64{10: 5, 20: 0}},
			{"unmerge stopped after the delete", "deleted", Move{ProjectID: 1, From: 10, To: 30, Hashes: []string{"h20"}, ShortID: 3, Hash: "h20"},
				map[uint64]uint64{10: 3, 30: 2}},
		} {
			stop := errors.New("killed at " + tc.stop)
			s.SetMoveHook(func(step string) error {
				if step == tc.stop {
					return stop
				}
				return nil
			})
			if _, err := s.MoveEvents(ctx, tc.move, time.Minute); !errors.Is(err, stop) {
				t.Fatalf("%s: %v", tc.name, err)
			}
			s.SetMoveHook(nil)
			m := tc.move
			m.Resume = true
			if _, err := s.MoveEvents(ctx, m, time.Minute); err != nil {
				t.Fatalf("%s: resume: %v", tc.name, err)
			}
			// Once more: a resumed move that finished changes nothing.
			if _, err := s.MoveEvents(ctx, m, time.Minute); err != nil {
				t.Fatalf("%s: again: %v", tc.name, err)
			}
			for gid, want := range tc.want {
				times, listed := counts(gid)
				if times != want || listed != want {
					t.Fatalf("%s: issue %d counts %d and lists %d events, want %d", tc.name, gid, times, listed, want)
				}
			}
			if tc.move.Hashes != nil {
				continue
			}
			cs, err := s.ListComments(ctx, 1, 10, 0, 10)
			if err != nil || len(cs) != 1 || cs[0].ID != c.ID || cs[0].Text != c.Text || cs[0].UserID != 7 {
				t.Fatalf("comments carried to the survivor: %+v %v", cs, err)
			}
			acts, err := s.ListActivity(ctx, 1, 10, 10)
			if err != nil || len(acts) != 1 || acts[0].Type != "note" {
				t.Fatalf("activity carried to the survivor: %+v %v", acts, err)
			}
			wf, err := s.Workflows(ctx, []uint64{1}, []uint64{10}, 7)
			if err != nil || !wf[10].Bookmarked || wf[10].NumComments != 1 {
				t.Fatalf("bookmark carried to the survivor: %+v %v", wf, err)
			}
			if wf, err := s.Workflows(ctx, []uint64{1}, []uint64{10}, 8); err != nil || wf[10].Seen {
				t.Fatalf("seen is not carried: %+v %v", wf, err)
			}
		}
	})
}
