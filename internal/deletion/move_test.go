package deletion

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/store"
)

// TestMoveJobsResume stops moves halfway, as a killed process would, and
// lets a runner finish them: a merge whose process died after copying
// the events (its lease lapses; the runner takes it over), and an
// unmerge whose request failed after deleting the originals (pending
// again; the runner retries it). Every event ends in one issue, counted
// once, and each activity is recorded once.
func TestMoveJobsResume(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC().Add(-time.Minute)
	var evs []store.Event
	for i, g := range []uint64{10, 10, 10, 20, 20} {
		evs = append(evs, store.Event{ProjectID: 1, GroupID: g, EventID: fmt.Sprintf("%032x", i+1), Timestamp: now, Received: now,
			Type: "error", Level: "error", Title: fmt.Sprint("Error ", g), PrimaryHash: fmt.Sprint("h", g), RetentionDays: 90, Body: "{}"})
	}
	if err := e.store.InsertEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	var stops atomic.Int32
	stopAt := func(step string) {
		stops.Store(1)
		e.store.SetMoveHook(func(s string) error {
			if s == step && stops.Add(-1) >= 0 {
				return errors.New("killed at " + step)
			}
			return nil
		})
	}
	counts := func(gid uint64) uint64 {
		t.Helper()
		is, err := e.store.GetIssue(ctx, 1, gid, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.store.ListEvents(ctx, store.EventQuery{ProjectID: 1, GroupID: gid, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if is == nil {
			return uint64(len(got)) * 1000 // listed without an issue: wrong
		}
		if is.TimesSeen != uint64(len(got)) {
			t.Fatalf("issue %d counts %d events and lists %d", gid, is.TimesSeen, len(got))
		}
		return is.TimesSeen
	}
	wait := func(id string) *Job {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			if j, ok := e.jobs.Get(id); ok && j.Finished() {
				return j
			}
			time.Sleep(20 * time.Millisecond)
		}
		j, _ := e.jobs.Get(id)
		t.Fatalf("job %s did not finish: %+v", id, j)
		return nil
	}
	activities := func(gid uint64, typ string) int {
		t.Helper()
		acts, err := e.store.ListActivity(ctx, 1, gid, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range acts {
			if a.Type == typ {
				n++
			}
		}
		return n
	}

	// A merge of 20 into 10, run in "the request", killed after the copy.
	stopAt("copied")
	h, err := e.jobs.Hold(ctx, Job{Kind: KindMerge, OrgID: 1, ProjectIDs: []uint64{1}, GroupID: 10, FromGroupIDs: []uint64{20},
		ActivityData: `{"issues":[{"id":"20"}]}`}, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	job := h.Job()
	if _, err := RunMove(ctx, e.store, nil, &job, false, time.Minute); err == nil {
		t.Fatal("the move was not stopped")
	}
	h.stop() // the process dies: no more renewals, no outcome
	<-h.done
	if j, _ := e.jobs.Get(job.ID); j.Status != StatusInProgress || j.Cancellable() {
		t.Fatalf("the abandoned merge: %+v", j)
	}
	e.run(t, Config{Lease: 300 * time.Millisecond})
	if j := wait(job.ID); j.Status != StatusDone || j.Attempts != 2 || j.EventsMoved == 0 {
		t.Fatalf("merge job after the runner: %+v", j)
	}
	if got := [2]uint64{counts(10), counts(20)}; got != [2]uint64{5, 0} {
		t.Fatalf("after the resumed merge issues 10 and 20 have %v events, want [5 0]", got)
	}
	if n := activities(10, ActivityMerge); n != 1 {
		t.Fatalf("%d merge activities", n)
	}

	// An unmerge of h20 into 30, whose request failed after the delete.
	stopAt("deleted")
	h, err = e.jobs.Hold(ctx, Job{Kind: KindUnmerge, OrgID: 1, ProjectIDs: []uint64{1}, GroupID: 10, ToGroupID: 30,
		Hashes: []string{"h20"}, ShortID: 3, Hash: "h20"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	job = h.Job()
	n, runErr := RunMove(ctx, e.store, nil, &job, false, time.Minute)
	if runErr == nil {
		t.Fatal("the unmerge was not stopped")
	}
	if j, err := h.Release(ctx, n, runErr); err != nil || j.Status != StatusPending {
		t.Fatalf("released after a failure: %+v %v", j, err)
	}
	if j := wait(job.ID); j.Status != StatusDone || j.Attempts != 2 {
		t.Fatalf("unmerge job after the runner: %+v", j)
	}
	if got := [2]uint64{counts(10), counts(30)}; got != [2]uint64{3, 2} {
		t.Fatalf("after the resumed unmerge issues 10 and 30 have %v events, want [3 2]", got)
	}
	if a, b := activities(10, ActivityUnmergeDestination), activities(30, ActivityUnmergeSource); a != 1 || b != 1 {
		t.Fatalf("unmerge activities: %d, %d", a, b)
	}
	if _, err := e.jobs.Cancel(ctx, job.ID, 1); !errors.Is(err, ErrTooLate) {
		t.Fatalf("cancelling a move: %v", err)
	}
}
