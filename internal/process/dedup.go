package process

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/store"
)

// Stored events and attachments are write-once.
//
// A duplicate is the same (project, event id) arriving in another queue
// message than the one that stored it: an SDK's retry after JetStream's
// 2-minute deduplication window, or someone replaying a known event id with
// the project's public key. It is dropped and counted as Filtered with
// reason "duplicate", whenever it arrives. The same message delivered again
// (a worker crashed, ClickHouse failed) is not a duplicate: it finds its
// own claim, and is stored once and counted once, as before.
//
// The check is one read per batch and project of store.EventClaims (a
// table ordered by project and event id), and the claims are written before
// the events, so a message that wins the claim and then crashes still wins
// it on redelivery. Within one batch, the first message with an id wins.
// Two workers that check the same id at the same moment, in two messages
// published more than the deduplication window apart, can both store it;
// JetStream's own deduplication covers messages published close together.

// verdict is what becomes of one event of a batch.
type verdict uint8

const (
	// toStore: store it; claimed tells whether its claim is recorded.
	toStore verdict = iota
	// alreadyStored: this message stored it before (a redelivery or a
	// retry): skip it and count nothing.
	alreadyStored
	// duplicate: another message stored or claimed the id: drop it and
	// count it as filtered.
	duplicate
)

// msgEvent is an event id as carried by one queue message.
type msgEvent struct {
	key store.EventKey
	seq uint64
}

// attMeta is what an attachment row does not carry: the message it came
// in and the outcome's organization and key.
type attMeta struct {
	seq   uint64
	orgID uint64
	keyID string
}

// origin records which message the decoded items came in (its stream
// sequence) and whether it is a redelivery.
// A message replayed from the dead letter is the message as first queued,
// delivered again.
func origin(d *decoded, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	seq, again := md.Sequence.Stream, md.NumDelivered > 1
	if v := m.Headers().Get(queue.HdrOriginSeq); v != "" {
		if s, err := strconv.ParseUint(v, 10, 64); err == nil && s != 0 {
			seq, again = s, true
		}
	}
	for i := range d.events {
		d.events[i].seq, d.events[i].redelivered = seq, again
	}
	for i := range d.attMeta {
		d.attMeta[i].seq = seq
	}
}

// checkEvents decides, for every item of b, whether it is stored, and
// returns the claims to record before the events are written.
func (w *Worker) checkEvents(ctx context.Context, b *batch) ([]verdict, []store.EventClaim, error) {
	verdicts := make([]verdict, len(b.items))
	var keys []store.EventKey
	seen := map[store.EventKey]bool{}
	for i := range b.items {
		it := &b.items[i]
		if it.deploy != nil || it.move {
			continue
		}
		k := store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return verdicts, nil, nil
	}
	claimed, err := w.deps.Store.EventClaims(ctx, keys)
	if err != nil {
		return nil, nil, fmt.Errorf("check event ids: %w", err)
	}
	again := make(map[store.EventKey]bool, len(b.maybeStored))
	for _, k := range b.maybeStored {
		again[k] = true
	}
	// mine: the message's own claim, or, for a message seen before, one
	// recorded before claims existed (seq 0).
	mine := func(it *item, k store.EventKey) bool {
		for _, s := range claimed[k] {
			if (s == it.seq && s != 0) || (s == 0 && (it.redelivered || again[k])) {
				return true
			}
		}
		return false
	}
	// A claim is written before its event: whether a claimed event was
	// stored is read from the events table, for those only.
	var verify []store.EventKey
	for i := range b.items {
		it := &b.items[i]
		if it.deploy != nil || it.move {
			continue
		}
		if k := (store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID}); mine(it, k) {
			verify = append(verify, k)
		}
	}
	stored := map[store.EventKey]bool{}
	if len(verify) > 0 {
		if stored, err = w.deps.Store.ExistingEvents(ctx, verify); err != nil {
			return nil, nil, fmt.Errorf("check redelivered events: %w", err)
		}
	}
	var claims []store.EventClaim
	first := map[store.EventKey]uint64{} // the seq of the batch's first message with the id
	for i := range b.items {
		it := &b.items[i]
		if it.deploy != nil || it.move {
			continue // deploys are idempotent; moves keep their event's claim
		}
		k := store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID}
		if s, ok := first[k]; ok {
			if s == it.seq {
				verdicts[i] = alreadyStored // one message naming the id twice
			} else {
				verdicts[i] = duplicate
			}
			continue
		}
		first[k] = it.seq
		switch {
		case mine(it, k):
			if stored[k] {
				verdicts[i] = alreadyStored
			}
		case len(claimed[k]) > 0:
			verdicts[i] = duplicate
		default:
			claims = append(claims, store.EventClaim{ProjectID: k.ProjectID, EventID: k.EventID, Seq: it.seq,
				Timestamp: it.row.Timestamp, RetentionDays: it.row.RetentionDays})
		}
	}
	return verdicts, claims, nil
}

// duplicateOutcomes counts the batch's duplicates as filtered, once per
// batch however often it is retried, and returns the messages whose event
// was a duplicate (their attachments go with it).
func (b *batch) duplicateOutcomes(verdicts []verdict) ([]store.Outcome, map[msgEvent]bool) {
	var out []store.Outcome
	dropped := map[msgEvent]bool{}
	for i, v := range verdicts {
		if v != duplicate {
			continue
		}
		it := &b.items[i]
		me := msgEvent{store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID}, it.seq}
		dropped[me] = true
		if b.dupCounted[me] {
			continue
		}
		out = append(out, store.Outcome{OrgID: it.orgID, ProjectID: it.row.ProjectID, KeyID: it.keyID,
			Timestamp: it.row.Received, Kind: outcome.Filtered, Reason: outcome.ReasonDuplicate,
			Category: it.category, Quantity: 1})
	}
	return out, dropped
}

// markDuplicatesCounted records that the duplicates' outcomes are stored.
func (b *batch) markDuplicatesCounted(verdicts []verdict) {
	for i, v := range verdicts {
		if v == duplicate {
			if b.dupCounted == nil {
				b.dupCounted = map[msgEvent]bool{}
			}
			it := &b.items[i]
			b.dupCounted[msgEvent{store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID}, it.seq}] = true
		}
	}
}

// writeAttachments stores the batch's attachment rows that are new, and
// returns their outcomes. An attachment is write-once: one whose (project,
// event, id) is stored under another object is a duplicate, as are the
// attachments of a message whose event was one; one stored under the same
// object is this message's, written before (a redelivery), and is counted
// again, as the other items of a redelivered message are.
func (w *Worker) writeAttachments(ctx context.Context, b *batch, groupOf map[store.EventKey]uint64, dropped map[msgEvent]bool) ([]store.Outcome, error) {
	if len(b.attachments) == 0 {
		return nil, nil
	}
	var out []store.Outcome
	count := func(a *store.Attachment, m attMeta, kind outcome.Kind, reason string) {
		out = append(out,
			store.Outcome{OrgID: m.orgID, ProjectID: a.ProjectID, KeyID: m.keyID, Timestamp: a.Created,
				Kind: kind, Reason: reason, Category: outcome.CategoryAttachment, Quantity: a.Size},
			store.Outcome{OrgID: m.orgID, ProjectID: a.ProjectID, KeyID: m.keyID, Timestamp: a.Created,
				Kind: kind, Reason: reason, Category: outcome.CategoryAttachmentItem, Quantity: 1})
	}
	keys := make([]store.AttachmentKey, 0, len(b.attachments))
	for i := range b.attachments {
		a := &b.attachments[i]
		keys = append(keys, store.AttachmentKey{ProjectID: a.ProjectID, EventID: a.EventID, ID: a.ID})
	}
	stored, err := w.deps.Store.StoredAttachmentKeys(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("check attachments: %w", err)
	}
	var rows []store.Attachment
	first := map[store.AttachmentKey]string{}
	for i := range b.attachments {
		a, m := &b.attachments[i], b.attMeta[i]
		k := keys[i]
		if dropped[msgEvent{store.EventKey{ProjectID: a.ProjectID, EventID: a.EventID}, m.seq}] {
			count(a, m, outcome.Filtered, outcome.ReasonDuplicate)
			continue
		}
		if obj, ok := first[k]; ok {
			if obj != a.ObjectKey {
				count(a, m, outcome.Filtered, outcome.ReasonDuplicate)
			}
			continue
		}
		first[k] = a.ObjectKey
		if obj, ok := stored[k]; ok {
			if obj == a.ObjectKey {
				count(a, m, outcome.Accepted, "")
			} else {
				count(a, m, outcome.Filtered, outcome.ReasonDuplicate)
			}
			continue
		}
		rows = append(rows, *a)
		count(a, m, outcome.Accepted, "")
	}
	if err := w.linkAttachments(ctx, rows, groupOf); err != nil {
		return nil, err
	}
	if err := w.deps.Store.InsertAttachments(ctx, rows); err != nil {
		return nil, fmt.Errorf("store attachments: %w", err)
	}
	return out, nil
}
