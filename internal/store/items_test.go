package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/outcome"
)

func TestAttachments(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		eid := "0123456789abcdef0123456789abcdef"
		atts := []Attachment{
			{ProjectID: 5, EventID: eid, ID: 2, GroupID: 9, Name: "log\t'1'.txt", ContentType: "text/plain", Type: "event.attachment",
				Size: 11, SHA1: "da39a3ee5e6b4b0d3255bfef95601890afd80709", ObjectKey: "5/" + eid + "/2", Created: now, RetentionDays: 90},
			{ProjectID: 5, EventID: eid, ID: 1, Name: "minidump.dmp", ContentType: "application/octet-stream", Type: "event.minidump",
				Size: 1 << 20, ObjectKey: "5/" + eid + "/1", Created: now.Add(-time.Second), RetentionDays: 90},
			{ProjectID: 6, EventID: eid, ID: 1, Name: "other project", Created: now, RetentionDays: 90},
		}
		// A redelivered message writes its rows twice.
		for i := 0; i < 2; i++ {
			if err := s.InsertAttachments(ctx, atts); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ListAttachments(ctx, 5, eid)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !reflect.DeepEqual(got[0], atts[1]) || !reflect.DeepEqual(got[1], atts[0]) {
			t.Fatalf("ListAttachments =\n%+v\nwant\n%+v", got, atts[:2])
		}
		one, err := s.GetAttachment(ctx, 5, eid, 2)
		if err != nil || one == nil || !reflect.DeepEqual(*one, atts[0]) {
			t.Fatalf("GetAttachment = %+v, %v", one, err)
		}
		if one, err := s.GetAttachment(ctx, 7, eid, 2); err != nil || one != nil {
			t.Fatalf("GetAttachment of another project = %+v, %v", one, err)
		}
		if err := s.InsertAttachments(ctx, []Attachment{{EventID: "short"}}); err == nil {
			t.Fatal("accepted a bad event id")
		}
	})
}

func TestUserReports(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
		var reports []UserReport
		for i := 0; i < 5; i++ {
			reports = append(reports, UserReport{ProjectID: 5, EventID: fmt.Sprintf("%032x", i+1), ID: uint64(100 + i),
				Name: "Jane", Email: "jane@example.com", Comments: fmt.Sprintf("comment %d, it's \"broken\"\n", i),
				Created: base.Add(time.Duration(i) * time.Minute), RetentionDays: 90})
		}
		// A later report on event 1 replaces the first; a feedback item on
		// the same event does not.
		reports = append(reports,
			UserReport{ProjectID: 5, EventID: fmt.Sprintf("%032x", 1), ID: 100, Name: "Jane", Comments: "second thoughts",
				Created: base.Add(10 * time.Minute), RetentionDays: 90},
			UserReport{ProjectID: 5, EventID: fmt.Sprintf("%032x", 1), FeedbackID: "ffffffffffffffffffffffffffffffff", ID: 200,
				Comments: "new style", Created: base.Add(11 * time.Minute), RetentionDays: 90},
			UserReport{ProjectID: 6, EventID: fmt.Sprintf("%032x", 1), ID: 300, Comments: "other project", Created: base, RetentionDays: 90})
		if err := s.InsertUserReports(ctx, reports); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListUserReports(ctx, UserReportQuery{ProjectID: 5, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		comments := func(rs []UserReport) []string {
			var out []string
			for _, r := range rs {
				out = append(out, r.Comments)
			}
			return out
		}
		if want := []string{"new style", "second thoughts", "comment 4, it's \"broken\"\n"}; !reflect.DeepEqual(comments(got), want) {
			t.Fatalf("first page %q, want %q", comments(got), want)
		}
		last := got[len(got)-1]
		got, err = s.ListUserReports(ctx, UserReportQuery{ProjectID: 5, Limit: 10, Before: &UserReportCursor{Time: last.Created, ID: last.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"comment 3, it's \"broken\"\n", "comment 2, it's \"broken\"\n", "comment 1, it's \"broken\"\n"}; !reflect.DeepEqual(comments(got), want) {
			t.Fatalf("second page %q, want %q", comments(got), want)
		}
		got, err = s.ListUserReports(ctx, UserReportQuery{ProjectID: 5, EventIDs: []string{fmt.Sprintf("%032x", 1)}})
		if err != nil || len(got) != 2 {
			t.Fatalf("reports of event 1: %q, %v", comments(got), err)
		}
		groups, err := s.EventGroups(ctx, 5, []string{fmt.Sprintf("%032x", 1)})
		if err != nil || len(groups) != 0 {
			t.Fatalf("EventGroups without events = %v, %v", groups, err)
		}
		e := ev(5, 42, 1, base, "", "")
		e.EventID = fmt.Sprintf("%032x", 1)
		if err := s.InsertEvents(ctx, []Event{e}); err != nil {
			t.Fatal(err)
		}
		groups, err = s.EventGroups(ctx, 5, []string{e.EventID, fmt.Sprintf("%032x", 2)})
		if err != nil || !reflect.DeepEqual(groups, map[string]uint64{e.EventID: 42}) {
			t.Fatalf("EventGroups = %v, %v", groups, err)
		}
	})
}

func TestOutcomes(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		hour := time.Now().UTC().Truncate(time.Hour)
		rec := func(pid uint64, at time.Time, kind outcome.Kind, reason string, cat outcome.Category, q uint64) Outcome {
			return Outcome{OrgID: 1, ProjectID: pid, KeyID: "k1", Timestamp: at, Kind: kind, Reason: reason, Category: cat, Quantity: q}
		}
		batch := []Outcome{
			rec(5, hour.Add(time.Minute), outcome.Accepted, "", outcome.CategoryError, 1),
			rec(5, hour.Add(2*time.Minute), outcome.Accepted, "", outcome.CategoryError, 1),
			rec(5, hour.Add(-time.Hour), outcome.Accepted, "", outcome.CategoryError, 1),
			rec(5, hour, outcome.Accepted, "", outcome.CategorySession, 10),
			rec(5, hour, outcome.ClientDiscard, "queue_overflow", outcome.CategoryTransaction, 7),
			rec(5, hour, outcome.ClientDiscard, "before_send", outcome.CategoryTransaction, 1),
			rec(6, hour, outcome.Accepted, "", outcome.CategoryError, 100),
		}
		if err := s.RecordOutcomes(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordOutcomes(ctx, batch[:1]); err != nil {
			t.Fatal(err)
		}
		got, err := s.OutcomeTotals(ctx, OutcomeQuery{ProjectIDs: []uint64{5}, Since: hour})
		if err != nil {
			t.Fatal(err)
		}
		want := []OutcomeTotal{
			{ProjectID: 5, Kind: outcome.Accepted, Category: outcome.CategoryError, Quantity: 3, TimesSeen: 3},
			{ProjectID: 5, Kind: outcome.Accepted, Category: outcome.CategorySession, Quantity: 10, TimesSeen: 1},
			{ProjectID: 5, Kind: outcome.ClientDiscard, Reason: "before_send", Category: outcome.CategoryTransaction, Quantity: 1, TimesSeen: 1},
			{ProjectID: 5, Kind: outcome.ClientDiscard, Reason: "queue_overflow", Category: outcome.CategoryTransaction, Quantity: 7, TimesSeen: 1},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("OutcomeTotals =\n%+v\nwant\n%+v", got, want)
		}
		all, err := s.OutcomeTotals(ctx, OutcomeQuery{ProjectIDs: []uint64{5, 6}})
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, o := range all {
			if o.Kind == outcome.Accepted && o.Category == outcome.CategoryError {
				n += o.Quantity
			}
		}
		if n != 104 {
			t.Fatalf("accepted errors in all hours = %d, want 104", n)
		}
	})
}
