package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/faultline/faultline/internal/testenv"
)

// enginesAt runs f on every engine, with a fresh database migrated up to
// version upTo only: the schema an earlier Faultline left.
func enginesAt(t *testing.T, upTo int, f func(t *testing.T, s *Store)) {
	open := func(t *testing.T, cfg Config) *Store {
		s, err := Open(context.Background(), cfg, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.MigrateTo(context.Background(), upTo); err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Run("chdb", func(t *testing.T) {
		f(t, open(t, Config{Path: t.TempDir(), CHDBLib: testenv.CHDBLib(t)}))
	})
	t.Run("server", func(t *testing.T) {
		db := fmt.Sprintf("faultline_test_%d", rand.Uint64())
		s := open(t, Config{URL: testenv.ClickHouseURL(t), Database: db})
		t.Cleanup(func() { s.t.exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(db)) })
		f(t, s)
	})
}

func claimsOf(t *testing.T, s *Store, keys ...EventKey) map[EventKey][]uint64 {
	t.Helper()
	got, err := s.EventClaims(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	for k := range got {
		slices.Sort(got[k])
	}
	return got
}

func TestEventClaims(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow()
		a, b := ev(1, 1, 0, now, "prod", "u"), ev(1, 2, 0, now, "prod", "u")
		other := ev(2, 1, 0, now, "prod", "u") // project 2 reuses a's event id
		if other.EventID != a.EventID {
			t.Fatal("the test needs the same id in two projects")
		}
		claim := func(e Event, seq uint64) EventClaim {
			return EventClaim{ProjectID: e.ProjectID, EventID: e.EventID, Seq: seq, Timestamp: e.Timestamp, RetentionDays: 90}
		}
		// A claim recorded twice (a retried batch) reads once.
		for i := 0; i < 2; i++ {
			if err := s.ClaimEvents(ctx, []EventClaim{claim(a, 10), claim(other, 11)}); err != nil {
				t.Fatal(err)
			}
		}
		// Two messages that raced both show.
		if err := s.ClaimEvents(ctx, []EventClaim{claim(b, 12), claim(b, 13)}); err != nil {
			t.Fatal(err)
		}
		ka, kb, ko := EventKey{1, a.EventID}, EventKey{1, b.EventID}, EventKey{2, other.EventID}
		unknown := EventKey{1, "ffffffffffffffffffffffffffffffff"}
		got := claimsOf(t, s, ka, kb, ko, unknown)
		want := map[EventKey][]uint64{ka: {10}, kb: {12, 13}, ko: {11}}
		if len(got) != len(want) {
			t.Fatalf("claims = %v, want %v", got, want)
		}
		for k, w := range want {
			if !slices.Equal(got[k], w) {
				t.Errorf("claims of %v = %v, want %v", k, got[k], w)
			}
		}
		// The index key is the id's first 64 bits: an id sharing them with a
		// claimed one is not claimed.
		twin := EventKey{1, a.EventID[:16] + "ffffffffffffffff"}
		if got := claimsOf(t, s, twin); len(got) != 0 {
			t.Fatalf("claims of an unclaimed id with a claimed prefix: %v", got)
		}
		if err := s.ClaimEvents(ctx, []EventClaim{{ProjectID: 1, EventID: "short"}}); err == nil {
			t.Error("accepted a bad event id")
		}
		// Deleting an issue deletes its events' claims; deleting a project
		// all of the project's.
		if err := s.InsertEvents(ctx, []Event{a, b, other}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteIssue(ctx, 1, 1, 0); err != nil {
			t.Fatal(err)
		}
		if got := claimsOf(t, s, ka, kb, ko); len(got) != 2 || got[ka] != nil {
			t.Fatalf("after deleting issue 1: %v", got)
		}
		if err := s.DeleteProject(ctx, 1, 0); err != nil {
			t.Fatal(err)
		}
		if got := claimsOf(t, s, ka, kb, ko); len(got) != 1 || got[ko] == nil {
			t.Fatalf("after deleting project 1: %v", got)
		}
	})
}

// TestClaimsErasedWithUserData: one user's erasure deletes the claims of
// the user's events.
func TestClaimsErasedWithUserData(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow()
		mine, theirs := userEvent(1, 1, 0, now, "1"), userEvent(1, 1, 1, now, "2")
		if err := s.InsertEvents(ctx, []Event{mine, theirs}); err != nil {
			t.Fatal(err)
		}
		if err := s.ClaimEvents(ctx, []EventClaim{{ProjectID: 1, EventID: mine.EventID, Seq: 1, Timestamp: now},
			{ProjectID: 1, EventID: theirs.EventID, Seq: 2, Timestamp: now}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteUserData(ctx, 1, UserFilter{ID: "1"}, 0); err != nil {
			t.Fatal(err)
		}
		got := claimsOf(t, s, EventKey{1, mine.EventID}, EventKey{1, theirs.EventID})
		if len(got) != 1 || got[EventKey{1, theirs.EventID}] == nil {
			t.Fatalf("claims after erasure: %v", got)
		}
	})
}

// TestMigrationClaimsStoredEvents: events stored by the version before
// event_ids existed are claimed by the migration (seq 0), so that a replay
// of their ids is caught; the migration can run again.
func TestMigrationClaimsStoredEvents(t *testing.T) {
	enginesAt(t, 7, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow()
		old := []Event{ev(1, 1, 0, now, "prod", "u"), ev(1, 2, 0, now.AddDate(0, 0, -20), "prod", "u"), ev(3, 1, 0, now, "prod", "u")}
		if err := s.InsertEvents(ctx, old); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EventClaims(ctx, []EventKey{{1, old[0].EventID}}); err == nil {
			t.Fatal("event_ids exists before its migration; the test proves nothing")
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		// An interrupted migration fills the table again.
		if err := backfill0008(ctx, s); err != nil {
			t.Fatal(err)
		}
		keys := []EventKey{{1, old[0].EventID}, {1, old[1].EventID}, {3, old[2].EventID}}
		got := claimsOf(t, s, keys...)
		for _, k := range keys {
			if !slices.Equal(got[k], []uint64{0}) {
				t.Errorf("claims of %v = %v, want [0]", k, got[k])
			}
		}
		if got := claimsOf(t, s, EventKey{2, old[0].EventID}); len(got) != 0 {
			t.Errorf("claims of another project: %v", got)
		}
		if vs, err := s.Migrations(ctx); err != nil || !slices.Equal(vs, allVersions()) {
			t.Fatalf("migrations %v, %v", vs, err)
		}
	})
}

func TestStoredAttachmentKeys(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow()
		eid := "0123456789abcdef0123456789abcdef"
		if err := s.InsertAttachments(ctx, []Attachment{
			{ProjectID: 5, EventID: eid, ID: 1, ObjectKey: "5/" + eid + "/1/aa", Created: now, RetentionDays: 90},
			{ProjectID: 6, EventID: eid, ID: 2, ObjectKey: "6/" + eid + "/2/bb", Created: now, RetentionDays: 90},
		}); err != nil {
			t.Fatal(err)
		}
		got, err := s.StoredAttachmentKeys(ctx, []AttachmentKey{{5, eid, 1}, {5, eid, 2}, {6, eid, 2}, {7, eid, 1}})
		if err != nil {
			t.Fatal(err)
		}
		want := map[AttachmentKey]string{{5, eid, 1}: "5/" + eid + "/1/aa", {6, eid, 2}: "6/" + eid + "/2/bb"}
		if len(got) != len(want) || got[AttachmentKey{5, eid, 1}] != want[AttachmentKey{5, eid, 1}] ||
			got[AttachmentKey{6, eid, 2}] != want[AttachmentKey{6, eid, 2}] {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}
