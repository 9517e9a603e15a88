package process_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/store"
)

// TestWorkersFollowMergeAndDiscard: two workers, each with its own issue
// id cache (as two worker processes have), consume one stream. Both have
// resolved two fingerprints when a third party (the API) merges the
// issues, then discards the survivor: a second later, every event of
// either fingerprint lands in the survivor, whichever worker takes it,
// and then every one is dropped and counted as filtered, discarded-hash.
func TestWorkersFollowMergeAndDiscard(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	var workers []*meta.Groups
	for range 3 {
		g, err := meta.OpenGroups(ctx, r.q.JetStream(), 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Close)
		workers = append(workers, g)
	}
	api := workers[2]
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, g := range workers[:2] {
		cons, err := r.q.Consumer(ctx, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		w, err := process.New(process.Config{BatchSize: 5, BatchWait: 20 * time.Millisecond},
			process.Deps{Consumer: cons, Store: r.s, Groups: g, Projects: r.m, Log: r.log})
		if err != nil {
			t.Fatal(err)
		}
		go w.Run(cctx) //nolint:errcheck
	}
	seq := 0
	publish := func(n int) {
		for i := 0; i < n; i++ {
			seq++
			id := fmt.Sprintf("%032x", seq)
			body := fmt.Sprintf(`{"event_id":"%s","exception":{"values":[{"type":"Err%d","value":"boom"}]}}`, id, seq%2)
			if err := r.q.Publish(ctx, &queue.Message{ProjectID: r.project.ID, EventID: id, Kind: queue.KindStore,
				Received: time.Now(), Body: []byte(body)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	issues := func() map[uint64]uint64 {
		page, err := r.s.ListIssues(ctx, store.IssueQuery{ProjectIDs: []uint64{r.project.ID}, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		out := map[uint64]uint64{}
		for _, is := range page.Issues {
			out[is.GroupID] = is.TimesSeen
		}
		return out
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %v", what, issues())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	total := func() (n uint64) {
		for _, c := range issues() {
			n += c
		}
		return n
	}
	publish(20)
	wait("20 events in two issues", func() bool { return total() == 20 && len(issues()) == 2 })
	var ids []uint64
	for id := range issues() {
		ids = append(ids, id)
	}
	// Both workers' caches hold both fingerprints.
	for _, id := range ids {
		ref, err := api.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range workers[:2] {
			if got, _, err := g.Resolve(ctx, ref.ProjectID, ref.Config, ref.Hash); err != nil || got.ID != id {
				t.Fatalf("worker cache: %+v %v", got, err)
			}
		}
	}
	survivor, merged := ids[0], ids[1]
	if err := api.Merge(ctx, survivor, []uint64{merged}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.MoveEvents(ctx, store.Move{ProjectID: r.project.ID, From: merged, To: survivor}, time.Minute); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the workers follow within a second
	publish(20)
	wait("40 events in the survivor", func() bool { return total() == 40 })
	if got := issues(); len(got) != 1 || got[survivor] != 40 {
		t.Fatalf("after the merge: %v", got)
	}

	if err := api.Discard(ctx, survivor); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	publish(10)
	filtered := func() uint64 {
		tot, err := r.s.OutcomeTotals(ctx, store.OutcomeQuery{ProjectIDs: []uint64{r.project.ID}})
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, o := range tot {
			if o.Kind == outcome.Filtered && o.Reason == outcome.ReasonDiscardedHash {
				n += o.Quantity
			}
		}
		return n
	}
	wait("10 discarded events", func() bool { return filtered() == 10 })
	if n := total(); n != 40 {
		t.Fatalf("after the discard, %d events are stored", n)
	}
}
