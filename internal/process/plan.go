package process

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/faultline/faultline/internal/grouping"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/store"
)

// Storing a batch happens in three steps (Worker.store):
//
//  1. what is known: the duplicate check (checkEvents: one read per
//     project) and each event's issue (resolveIssues: the fingerprint to
//     issue lookup, which allocates new issues in NATS KV);
//  2. planStore, a pure function of the batch and those answers: the rows
//     of every table and the alert candidates, testable without a store;
//  3. the ordered writes (Worker.write), whose order is what makes a crash
//     or a failure at any point safe to retry.

// resolution is what the issue lookup answered for one item of a batch.
type resolution struct {
	ref meta.GroupRef
	// looked says the lookup ran: an event to store that had no issue
	// yet, or, with alerting, an event this message stored before.
	looked bool
	// isNew: the lookup created the issue.
	isNew bool
	// discarded: the issue was deleted and discarded (meta.ErrDiscarded).
	discarded bool
}

// resolveIssues looks up the issue of each event to store that has none
// yet (a move inside Faultline carries its own), and, when alert rules are
// evaluated, of each event this message stored before (its issue may be
// new, and its alert must be queued again). An event to store is given
// its issue at once, so that a retry of the batch does not look it up
// again.
func (w *Worker) resolveIssues(ctx context.Context, b *batch, verdicts []verdict, alerting bool) ([]resolution, error) {
	res := make([]resolution, len(b.items))
	for i := range b.items {
		it := &b.items[i]
		if it.deploy != nil {
			continue
		}
		switch {
		case verdicts[i] == alreadyStored && alerting:
			ref, _, err := w.deps.Groups.ResolveEvent(ctx, it.row.ProjectID, grouping.Config, it.hash, it.row.EventID)
			if errors.Is(err, meta.ErrDiscarded) {
				res[i] = resolution{looked: true, discarded: true} // stored before its issue was discarded: no alert
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("resolve issue: %w", err)
			}
			if it.row.GroupID != 0 && it.row.GroupID != ref.ID {
				ref = meta.GroupRef{ID: it.row.GroupID} // moved inside Faultline: not new
			}
			if it.row.GroupID == 0 {
				it.group.GroupID, it.group.ShortID = ref.ID, ref.ShortID
			}
			res[i] = resolution{ref: ref, looked: true}
		case verdicts[i] == toStore && it.row.GroupID == 0:
			ref, isNew, err := w.deps.Groups.ResolveEvent(ctx, it.row.ProjectID, grouping.Config, it.hash, it.row.EventID)
			if errors.Is(err, meta.ErrDiscarded) {
				res[i] = resolution{looked: true, discarded: true}
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("resolve issue: %w", err)
			}
			it.row.GroupID = ref.ID
			it.group.GroupID, it.group.ShortID = ref.ID, ref.ShortID
			res[i] = resolution{ref: ref, looked: true, isNew: isNew}
		}
	}
	return res, nil
}

// storePlan is what one attempt at a batch writes, table by table, and
// the alert candidates it raises.
type storePlan struct {
	deploys []store.Deploy
	// events are the rows to insert; groups the issues' metadata rows (one
	// per issue, the newest metadata, living as long as the issue's newest
	// event of the batch), by issue id.
	events []store.Event
	groups []store.Group
	// created are the issues this attempt created.
	created map[uint64]bool
	// groupOf is each stored event's issue, for its attachments; itemOf
	// its item, for the alerts raised by status changes.
	groupOf map[store.EventKey]uint64
	itemOf  map[store.EventKey]*item
	// outcomes are recorded before anything else: accepted events,
	// events of discarded issues, duplicates (each once per batch).
	outcomes []store.Outcome
	// counted are the events whose outcome the plan records (accepted or
	// discarded); the batch remembers them once recorded.
	counted []store.EventKey
	// dropped are the events not stored (duplicates, discarded issues),
	// by message: their attachments are dropped too.
	dropped map[msgEvent]bool
	// newIssues and frequency are the alert candidates of the batch's
	// events: one per new issue, one entry per event for the frequency
	// conditions (the tracker keeps each issue's newest).
	newIssues []alertEvent
	frequency []alertEvent
}

// alertEvent is an event that raises an alert candidate: its item, its
// row as stored (with its issue) and whether it may have fired before.
type alertEvent struct {
	it    *item
	row   store.Event
	again bool
}

// planStore decides what storing b writes, from the duplicate check's
// verdicts and the issue lookups. It reads nothing and writes nothing.
func planStore(b *batch, verdicts []verdict, res []resolution, alerting bool) *storePlan {
	p := &storePlan{
		created: map[uint64]bool{},
		groupOf: map[store.EventKey]uint64{},
		itemOf:  map[store.EventKey]*item{},
	}
	groups := map[uint64]store.Group{}
	newIssue := map[uint64]bool{}
	// again: the item's message was delivered before, or this batch's
	// store failed before: what it fires may be queued already.
	again := func(it *item) bool { return it.redelivered || len(b.maybeStored) > 0 }
	for i := range b.items {
		it := &b.items[i]
		if it.deploy != nil {
			p.deploys = append(p.deploys, *it.deploy)
			continue
		}
		key := store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID}
		if verdicts[i] == alreadyStored && alerting && !res[i].discarded {
			// Stored by this message before a crash (or by this batch's
			// failed attempt): its issue may be new, and the alert must
			// be queued again, with its key.
			ref := res[i].ref
			r := it.row
			r.GroupID = ref.ID
			if ref.FirstEvent == it.row.EventID && !newIssue[ref.ID] {
				newIssue[ref.ID] = true
				p.newIssues = append(p.newIssues, alertEvent{it: it, row: r, again: true})
			}
			p.frequency = append(p.frequency, alertEvent{it: it, row: r, again: true})
		}
		if verdicts[i] != toStore {
			continue // stored by this message before, or a duplicate
		}
		if res[i].discarded {
			// Its issue was deleted and discarded: dropped, with its
			// attachments, and counted as filtered (once per batch).
			if p.dropped == nil {
				p.dropped = map[msgEvent]bool{}
			}
			p.dropped[msgEvent{key, it.seq}] = true
			if !b.counted[key] {
				p.outcomes = append(p.outcomes, store.Outcome{OrgID: it.orgID, ProjectID: it.row.ProjectID, KeyID: it.keyID,
					Timestamp: it.row.Received, Kind: outcome.Filtered, Reason: outcome.ReasonDiscardedHash,
					Category: it.category, Quantity: 1})
				p.counted = append(p.counted, key)
			}
			continue
		}
		if res[i].looked {
			ref := res[i].ref
			if res[i].isNew {
				p.created[ref.ID] = true
			}
			// A new issue, or one whose allocation this event made
			// before a crash (a redelivery, not stored yet).
			if alerting && (res[i].isNew || ref.FirstEvent == it.row.EventID) && !newIssue[ref.ID] {
				newIssue[ref.ID] = true
				p.newIssues = append(p.newIssues, alertEvent{it: it, row: it.row, again: !res[i].isNew || again(it)})
			}
		}
		p.itemOf[key] = it
		if alerting {
			p.frequency = append(p.frequency, alertEvent{it: it, row: it.row, again: again(it)})
		}
		p.groupOf[key] = it.row.GroupID
		p.events = append(p.events, it.row)
		g, ok := groups[it.row.GroupID]
		if !ok || it.group.Version >= g.Version {
			last := it.group.LastSeen
			if ok && g.LastSeen.After(last) {
				last = g.LastSeen
			}
			g = it.group
			g.LastSeen = last
		} else if it.group.LastSeen.After(g.LastSeen) {
			// The row must live as long as the batch's newest event of the
			// issue, whichever event carried the latest metadata.
			g.LastSeen = it.group.LastSeen
		}
		groups[it.row.GroupID] = g
		if !b.counted[key] {
			p.outcomes = append(p.outcomes, store.Outcome{OrgID: it.orgID, ProjectID: it.row.ProjectID, KeyID: it.keyID,
				Timestamp: it.row.Received, Kind: outcome.Accepted, Category: it.category, Quantity: 1})
			p.counted = append(p.counted, key)
		}
	}
	p.groups = make([]store.Group, 0, len(groups))
	for _, g := range groups {
		p.groups = append(p.groups, g)
	}
	slices.SortFunc(p.groups, func(a, b store.Group) int {
		if a.GroupID < b.GroupID {
			return -1
		}
		if a.GroupID > b.GroupID {
			return 1
		}
		return 0
	})
	dupOutcomes, dupDropped := b.duplicateOutcomes(verdicts)
	p.outcomes = append(p.outcomes, dupOutcomes...)
	for me := range dupDropped {
		if p.dropped == nil {
			p.dropped = map[msgEvent]bool{}
		}
		p.dropped[me] = true
	}
	return p
}
