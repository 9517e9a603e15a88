package deletion

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/faultline/faultline/internal/store"
)

// Moves: merges and unmerges of issues (issue 19) move events between
// issues, which takes a while for large issues and must never stop
// halfway for good (events in two issues, or counted twice). Each is a
// job here, in the same bucket as deletions, so that a move that a killed
// process left halfway is finished by a runner once its lease lapses, and
// its status is served like a deletion's. Small moves run in the request
// that asked for them (Hold); large unmerges are left to the runners
// (Sentry answers 202 for unmerges). A move job cannot be cancelled: the
// issue ids already point where the events go.

// Kinds of move.
const (
	KindMerge   = "merge"
	KindUnmerge = "unmerge"
)

// Activity types of moves, as Sentry's ActivityType names them.
const (
	ActivityMerge              = "merge"
	ActivityUnmergeSource      = "unmerge_source"
	ActivityUnmergeDestination = "unmerge_destination"
)

// IsMove reports whether the job moves events (a merge or an unmerge).
func (j *Job) IsMove() bool { return j.Kind == KindMerge || j.Kind == KindUnmerge }

// Mover is what a move needs of the store.
type Mover interface {
	MoveEvents(ctx context.Context, m store.Move, wait time.Duration) (uint64, error)
	HideIssues(ctx context.Context, projectID uint64, groupIDs []uint64) error
	InsertActivity(ctx context.Context, acts []store.Activity) error
}

// GroupMerger points merged issues' hashes at their survivor (meta.Groups;
// idempotent), so that a resumed merge finishes that step too.
type GroupMerger interface {
	Merge(ctx context.Context, survivor uint64, others []uint64) error
}

// RunMove runs a move job's steps, each idempotent: for a merge, the
// children leave the lists, their hashes point to the survivor (when g is
// set), their events (and comments, activity, bookmarks, subscriptions)
// move; for an unmerge (whose hashes the request already pointed at the
// new issue), the events of the split hashes move to it. Then the
// activities are recorded, with ids derived from the job (once, however
// often it runs). resume tells that an earlier run may have stopped
// halfway. It returns how many events moved in this run.
func RunMove(ctx context.Context, m Mover, g GroupMerger, job *Job, resume bool, wait time.Duration) (uint64, error) {
	if len(job.ProjectIDs) != 1 {
		return 0, errors.New("deletion: a move needs one project")
	}
	pid := job.ProjectIDs[0]
	switch job.Kind {
	case KindMerge:
		if err := m.HideIssues(ctx, pid, job.FromGroupIDs); err != nil {
			return 0, err
		}
		if g != nil {
			if err := g.Merge(ctx, job.GroupID, job.FromGroupIDs); err != nil {
				return 0, fmt.Errorf("point the merged hashes: %w", err)
			}
		}
		var moved uint64
		for _, from := range job.FromGroupIDs {
			n, err := m.MoveEvents(ctx, store.Move{ProjectID: pid, From: from, To: job.GroupID, Resume: resume}, wait)
			if err != nil {
				return moved, err
			}
			moved += n
		}
		data := job.ActivityData
		if data == "" {
			data = "{}"
		}
		return moved, m.InsertActivity(ctx, []store.Activity{{ID: store.ActivityID(job.ID, ActivityMerge), ProjectID: pid,
			GroupID: job.GroupID, Type: ActivityMerge, UserID: job.CreatedBy, Data: data, CreatedMS: uint64(job.DateCreated.UnixMilli())}})
	case KindUnmerge:
		moved, err := m.MoveEvents(ctx, store.Move{ProjectID: pid, From: job.GroupID, To: job.ToGroupID, Hashes: job.Hashes,
			ShortID: job.ShortID, Hash: job.Hash, Resume: resume}, wait)
		if err != nil {
			return 0, err
		}
		total := job.EventsMoved + moved
		src, _ := json.Marshal(map[string]any{"fingerprints": job.Hashes, "destination_id": strconv.FormatUint(job.ToGroupID, 10), "events": total})
		dst, _ := json.Marshal(map[string]any{"fingerprints": job.Hashes, "source_id": strconv.FormatUint(job.GroupID, 10), "events": total})
		at := uint64(job.DateCreated.UnixMilli())
		return moved, m.InsertActivity(ctx, []store.Activity{
			{ID: store.ActivityID(job.ID, ActivityUnmergeDestination), ProjectID: pid, GroupID: job.GroupID,
				Type: ActivityUnmergeDestination, UserID: job.CreatedBy, Data: string(src), CreatedMS: at},
			{ID: store.ActivityID(job.ID, ActivityUnmergeSource), ProjectID: pid, GroupID: job.ToGroupID,
				Type: ActivityUnmergeSource, UserID: job.CreatedBy, Data: string(dst), CreatedMS: at},
		})
	}
	return 0, fmt.Errorf("deletion: %q is not a move", job.Kind)
}

// Held is a job that the process recording it runs itself (a move small
// enough for its request), under a lease it renews: if the process dies,
// the lease lapses and a runner finishes the job.
type Held struct {
	jobs   *Jobs
	job    *Job
	mu     sync.Mutex
	stop   context.CancelFunc
	done   chan struct{}
	lease  time.Duration
	failed error // a renewal lost the job
}

// Job returns a copy of the held job.
func (h *Held) Job() Job {
	h.mu.Lock()
	defer h.mu.Unlock()
	return *h.job
}

// Hold records a new job already in progress under this process's lease
// (default 1 minute), renewed until Release.
func (j *Jobs) Hold(ctx context.Context, job Job, lease time.Duration) (*Held, error) {
	if lease <= 0 {
		lease = time.Minute
	}
	// Not due before the lease would lapse: no runner takes it while
	// it becomes this process's.
	rec, err := j.Schedule(ctx, job, time.Now().Add(lease))
	if err != nil {
		return nil, err
	}
	b := make([]byte, 6)
	rand.Read(b) //nolint:errcheck // never fails on Linux
	now := time.Now().UTC()
	rec.Status, rec.Phase, rec.Owner, rec.LeaseUntil = StatusInProgress, PhaseMutating, "request-"+hex.EncodeToString(b), now.Add(lease)
	rec.Attempts, rec.DateStarted = 1, now
	if err := j.update(ctx, rec); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := &Held{jobs: j, job: rec, stop: cancel, done: make(chan struct{}), lease: lease}
	go h.renew(rctx)
	return h, nil
}

func (h *Held) renew(ctx context.Context) {
	defer close(h.done)
	t := time.NewTicker(h.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		cp := *h.job
		cp.LeaseUntil = time.Now().UTC().Add(h.lease)
		err := h.jobs.update(ctx, &cp)
		if err == nil {
			*h.job = cp
		} else if errors.Is(err, errLost) {
			h.failed = err
		}
		h.mu.Unlock()
		if h.failed != nil {
			return
		}
	}
}

// Release records the outcome of a held job: done (moved events), or, on
// runErr, pending again at once, so that a runner retries it (resuming).
func (h *Held) Release(ctx context.Context, moved uint64, runErr error) (*Job, error) {
	h.stop()
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != nil {
		return nil, h.failed
	}
	job := h.job
	now := time.Now().UTC()
	job.Owner, job.LeaseUntil = "", time.Time{}
	job.EventsMoved += moved
	if runErr == nil {
		job.Status, job.Error, job.DateFinished = StatusDone, "", now
	} else {
		job.Status, job.Error, job.NotBefore = StatusPending, runErr.Error(), now
	}
	if err := h.jobs.update(context.WithoutCancel(ctx), job); err != nil {
		return nil, err
	}
	cp := *job
	return &cp, nil
}
