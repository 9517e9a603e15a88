package process_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/store"
)

const replayedID = "0123456789abcdef0123456789abcdef"

// sendID queues one event with id replayedID and message text msg, as its
// own queue message (dedup makes its Nats-Msg-Id differ, as it does once
// JetStream's deduplication window has passed), with the attachment refs.
func (r *rig) sendID(t *testing.T, msg, dedup string, atts ...queue.AttachmentRef) {
	t.Helper()
	body := fmt.Sprintf(`{"event_id":%q,"message":%q}`, replayedID, msg)
	if err := r.q.Publish(context.Background(), &queue.Message{ProjectID: r.project.ID, EventID: replayedID, DedupID: dedup,
		Kind: queue.KindStore, Received: time.Now(), Body: []byte(body), Attachments: atts}); err != nil {
		t.Fatal(err)
	}
}

// outcomeCount sums the project's outcomes of one kind, reason and
// category.
func (r *rig) outcomeCount(t *testing.T, kind outcome.Kind, reason string, cat outcome.Category) uint64 {
	t.Helper()
	totals, err := r.s.OutcomeTotals(context.Background(), store.OutcomeQuery{ProjectIDs: []uint64{r.project.ID}})
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, o := range totals {
		if o.Kind == kind && o.Reason == reason && o.Category == cat {
			n += o.Quantity
		}
	}
	return n
}

func (r *rig) duplicates(t *testing.T) uint64 {
	return r.outcomeCount(t, outcome.Filtered, outcome.ReasonDuplicate, outcome.CategoryError)
}

// storedMessage returns the stored event's message text.
func (r *rig) storedMessage(t *testing.T) string {
	t.Helper()
	e, err := r.s.GetEvent(context.Background(), r.project.ID, replayedID)
	if err != nil || e == nil {
		t.Fatalf("event not stored: %v", err)
	}
	return e.Message
}

func ref(id uint64, key, sha1 string, size uint64) queue.AttachmentRef {
	return queue.AttachmentRef{ID: id, Key: key, Name: "log.txt", Type: "event.attachment", Size: size, SHA1: sha1}
}

// TestReplayedEventIsDropped: an event id sent again in another message,
// in a later batch or in the same one, is dropped and counted as a
// filtered duplicate; the stored event and its attachment stay as the
// first message left them.
func TestReplayedEventIsDropped(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sameBatch bool
	}{{"later batch", false}, {"same batch", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			orig := ref(7, "1/"+replayedID+"/7/aaaa", "1111111111111111111111111111111111111111", 8)
			evil := ref(7, "1/"+replayedID+"/7/bbbb", "2222222222222222222222222222222222222222", 4)
			r.sendID(t, "original", "", orig)
			if !tc.sameBatch {
				r.run(t, r.s, 5*time.Second, r.drained(t))
			}
			r.sendID(t, "replayed", "other-message", evil)
			r.run(t, r.s, 5*time.Second, r.drained(t))

			if got := r.storedMessage(t); got != "original" {
				t.Errorf("stored message %q, want the original", got)
			}
			if n := r.total(t); n != 1 {
				t.Errorf("%d events counted in the issue, want 1", n)
			}
			if a, d := r.accepted(t), r.duplicates(t); a != 1 || d != 1 {
				t.Errorf("accepted %d, duplicates %d; want 1 and 1", a, d)
			}
			atts, err := r.s.ListAttachments(context.Background(), r.project.ID, replayedID)
			if err != nil {
				t.Fatal(err)
			}
			if len(atts) != 1 || atts[0].ObjectKey != orig.Key || atts[0].SHA1 != orig.SHA1 || atts[0].Size != 8 {
				t.Errorf("attachments %+v, want the original only", atts)
			}
			if n := r.outcomeCount(t, outcome.Filtered, outcome.ReasonDuplicate, outcome.CategoryAttachmentItem); n != 1 {
				t.Errorf("%d attachments counted as duplicates, want 1", n)
			}
			if n := r.outcomeCount(t, outcome.Accepted, "", outcome.CategoryAttachment); n != 8 {
				t.Errorf("%d attachment bytes accepted, want 8", n)
			}
		})
	}
}

// TestRedeliveryIsNotADuplicate: messages redelivered after a worker
// crashed between storing and acknowledging them are stored and counted
// once, and none is counted as a duplicate.
func TestRedeliveryIsNotADuplicate(t *testing.T) {
	r := newRig(t)
	r.publish(t, 90)
	r.crashAfterFirstInsert(t)
	r.run(t, r.s, 2*time.Second, r.drained(t))
	if a, d, n := r.accepted(t), r.duplicates(t), r.total(t); a != 90 || d != 0 || n != 90 {
		t.Fatalf("accepted %d, duplicates %d, stored %d; want 90, 0, 90", a, d, n)
	}
}

// TestEventOfPreviousVersionBlocksReplay: an event stored before the
// event_ids migration (by the previous version, which had no claims) is
// not replaced by a replay after the upgrade.
func TestEventOfPreviousVersionBlocksReplay(t *testing.T) {
	r := newRigAt(t, 7) // the schema of the previous version
	ctx := context.Background()
	if err := r.s.InsertEvents(ctx, []store.Event{{ProjectID: r.project.ID, EventID: replayedID, GroupID: 1,
		Timestamp: time.Now(), Received: time.Now(), Message: "original", Type: "default", RetentionDays: 90,
		Body: `{"message":"original"}`}}); err != nil {
		t.Fatal(err)
	}
	if err := r.s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	r.sendID(t, "replayed", "")
	r.run(t, r.s, 5*time.Second, r.drained(t))
	if got := r.storedMessage(t); got != "original" {
		t.Errorf("stored message %q, want the original", got)
	}
	if d := r.duplicates(t); d != 1 {
		t.Errorf("duplicates %d, want 1", d)
	}
}
