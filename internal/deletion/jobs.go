// Package deletion runs the deletions people ask for through the API: an
// issue, a project, an organization, or one user's data in a project
// (GDPR erasure). A request records a job and returns at once (Sentry
// answers 202); runners in the worker processes claim jobs, delete the
// data in ClickHouse (and blobs kept with events), and record the outcome,
// which the API serves as the job's status.
//
// Jobs live in the NATS KV bucket faultline-deletions, so they survive
// restarts and any worker may finish a job another one started: a runner
// holds a job under a lease it renews, and a job whose lease lapsed (its
// runner died) is taken again. Every step is idempotent, so running a job
// twice is harmless.
package deletion

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/queue"

	"github.com/faultline/faultline/internal/store"
)

// Kinds of deletion.
const (
	KindIssue        = "issue"
	KindProject      = "project"
	KindOrganization = "organization"
	KindUserData     = "user_data"
)

// Job statuses.
const (
	StatusPending    = "pending"
	StatusInProgress = "in_progress"
	StatusDone       = "done"
	StatusFailed     = "failed"
	// StatusCancelled: the job was cancelled before it changed anything
	// (Cancel); it never runs.
	StatusCancelled = "cancelled"
)

// Job phases: how far a job got, which decides whether it may still be
// cancelled. A job written by a version without phases has none.
const (
	// PhaseClaimed: a runner holds the job and has not changed anything
	// yet; it checks the job's revision again before its first mutation.
	PhaseClaimed = "claimed"
	// PhaseMutating: a runner started deleting; the job can no longer be
	// cancelled, and stays in this phase through retries.
	PhaseMutating = "mutating"
)

// ErrTooLate means a job can no longer be cancelled: it started deleting,
// or it ended.
var ErrTooLate = errors.New("deletion: too late to cancel")

// ErrNotFound means there is no such job.
var ErrNotFound = errors.New("deletion: no such job")

// Job is one requested deletion and its progress.
type Job struct {
	ID         string   `json:"id"`
	Kind       string   `json:"kind"`
	OrgID      uint64   `json:"orgId"`
	ProjectIDs []uint64 `json:"projectIds,omitempty"`
	GroupID    uint64   `json:"groupId,omitempty"`
	// User selects the data of a user_data job. It is personal data
	// itself, so it is erased from the job once the job is done.
	User *store.UserFilter `json:"user,omitempty"`

	Status string `json:"status"`
	// Phase is "", PhaseClaimed or PhaseMutating.
	Phase         string    `json:"phase,omitempty"`
	Error         string    `json:"error,omitempty"`
	Attempts      int       `json:"attempts"`
	EventsDeleted uint64    `json:"eventsDeleted"`
	CreatedBy     uint64    `json:"createdBy"`
	DateCreated   time.Time `json:"dateCreated"`
	NotBefore     time.Time `json:"notBefore"`
	DateStarted   time.Time `json:"dateStarted,omitzero"`
	DateFinished  time.Time `json:"dateFinished,omitzero"`
	// Owner and LeaseUntil say which runner holds the job, until when.
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitzero"`
	// CancelledBy is the user who cancelled the job.
	CancelledBy uint64 `json:"cancelledBy,omitempty"`

	// A move (KindMerge, KindUnmerge) moves events into GroupID from
	// FromGroupIDs (a merge), or from GroupID into ToGroupID, a new issue
	// with ShortID and primary Hash, the events of Hashes (an unmerge).
	FromGroupIDs []uint64 `json:"fromGroupIds,omitempty"`
	ToGroupID    uint64   `json:"toGroupId,omitempty"`
	Hashes       []string `json:"hashes,omitempty"`
	ShortID      uint64   `json:"shortId,omitempty"`
	Hash         string   `json:"hash,omitempty"`
	// ActivityData is the data of a merge's activity record.
	ActivityData string `json:"activityData,omitempty"`
	// EventsMoved counts the events a move moved.
	EventsMoved uint64 `json:"eventsMoved,omitempty"`

	rev uint64 // the KV revision this copy was read at
}

// Finished reports whether the job ended: done, failed or cancelled.
func (j *Job) Finished() bool {
	return j.Status == StatusDone || j.Status == StatusFailed || j.Status == StatusCancelled
}

// Cancellable reports whether the job may still be cancelled: nothing
// has been deleted yet. A job of the previous version (no phase) is
// cancellable only while it never ran.
func (j *Job) Cancellable() bool {
	if j.IsMove() {
		return false // the issue ids already point where the events go
	}
	switch j.Status {
	case StatusPending:
		return j.Phase == PhaseClaimed || j.Phase == "" && j.Attempts == 0
	case StatusInProgress:
		return j.Phase == PhaseClaimed
	}
	return false
}

// Jobs stores jobs in a KV bucket and holds them all in memory, kept up to
// date by a watch. It is safe for concurrent use.
type Jobs struct {
	kv  jetstream.KeyValue
	log *slog.Logger

	mu     sync.RWMutex // guards jobs and revs
	jobs   map[string]*Job
	revs   map[string]uint64
	stop   context.CancelFunc
	done   chan struct{}
	notify chan struct{} // a job changed; wakes runners
}

// Bucket is the KV bucket of deletion jobs.
const Bucket = "faultline-deletions"

// OpenJobs creates the bucket if needed, loads it and watches it.
func OpenJobs(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger) (*Jobs, error) {
	if replicas <= 0 {
		replicas = 1
	}
	if log == nil {
		log = slog.Default()
	}
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "Faultline deletion jobs and their status",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		// Finished jobs are kept for a while so that their status can be
		// read; a job's every update restarts its age.
		TTL: 90 * 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("deletion: bucket %s: %w", Bucket, err)
	}
	j := &Jobs{kv: kv, log: log, jobs: map[string]*Job{}, revs: map[string]uint64{},
		done: make(chan struct{}), notify: make(chan struct{}, 1)}
	wctx, cancel := context.WithCancel(context.Background())
	j.stop = cancel
	w, err := kv.WatchAll(wctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("deletion: watch: %w", err)
	}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				cancel()
				return nil, errors.New("deletion: watch closed while loading")
			}
			if e == nil {
				go j.watch(wctx, w)
				return j, nil
			}
			j.apply(e)
		case <-ctx.Done():
			cancel()
			return nil, ctx.Err()
		}
	}
}

func (j *Jobs) watch(ctx context.Context, w jetstream.KeyWatcher) {
	defer close(j.done)
	defer w.Stop() //nolint:errcheck
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				j.apply(e)
			}
		case <-ctx.Done():
			return
		}
	}
}

// Close stops watching.
func (j *Jobs) Close() {
	j.stop()
	<-j.done
}

func (j *Jobs) apply(e jetstream.KeyValueEntry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	id := strings.TrimPrefix(e.Key(), "job.")
	if e.Revision() <= j.revs[id] {
		return
	}
	j.revs[id] = e.Revision()
	if e.Operation() != jetstream.KeyValuePut {
		delete(j.jobs, id)
		return
	}
	var job Job
	if err := json.Unmarshal(e.Value(), &job); err != nil {
		j.log.Error("deletion: bad job entry", "key", e.Key(), "err", err)
		return
	}
	job.rev = e.Revision()
	j.jobs[id] = &job
	select {
	case j.notify <- struct{}{}:
	default:
	}
}

// Schedule records a new job, pending from notBefore on.
func (j *Jobs) Schedule(ctx context.Context, job Job, notBefore time.Time) (*Job, error) {
	switch job.Kind {
	case KindIssue:
		if len(job.ProjectIDs) != 1 || job.GroupID == 0 {
			return nil, errors.New("deletion: an issue job needs a project and an issue")
		}
	case KindUserData:
		if len(job.ProjectIDs) != 1 || job.User == nil || job.User.Empty() {
			return nil, errors.New("deletion: a user data job needs a project and a user")
		}
	case KindProject, KindOrganization:
	case KindMerge:
		if len(job.ProjectIDs) != 1 || job.GroupID == 0 || len(job.FromGroupIDs) == 0 || slices.Contains(job.FromGroupIDs, job.GroupID) {
			return nil, errors.New("deletion: a merge job needs a project, a survivor and other issues")
		}
	case KindUnmerge:
		if len(job.ProjectIDs) != 1 || job.GroupID == 0 || job.ToGroupID == 0 || job.ToGroupID == job.GroupID || len(job.Hashes) == 0 {
			return nil, errors.New("deletion: an unmerge job needs a project, two issues and hashes")
		}
	default:
		return nil, fmt.Errorf("deletion: unknown kind %q", job.Kind)
	}
	b := make([]byte, 8)
	rand.Read(b) //nolint:errcheck // never fails on Linux
	job.ID = hex.EncodeToString(b)
	now := time.Now().UTC().Truncate(time.Millisecond)
	job.Status, job.DateCreated, job.NotBefore = StatusPending, now, notBefore.UTC().Truncate(time.Millisecond)
	data, err := json.Marshal(&job)
	if err != nil {
		return nil, err
	}
	rev, err := j.kv.Create(ctx, "job."+job.ID, data)
	if err != nil {
		return nil, fmt.Errorf("deletion: record job: %w", err)
	}
	j.mu.Lock()
	job.rev = rev
	if rev > j.revs[job.ID] {
		j.revs[job.ID] = rev
		cp := job
		j.jobs[job.ID] = &cp
	}
	j.mu.Unlock()
	select {
	case j.notify <- struct{}{}:
	default:
	}
	return &job, nil
}

// Get returns a copy of a job.
func (j *Jobs) Get(id string) (*Job, bool) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	job, ok := j.jobs[id]
	if !ok {
		return nil, false
	}
	cp := *job
	return &cp, true
}

// List returns copies of an organization's jobs, newest first.
func (j *Jobs) List(orgID uint64) []*Job {
	j.mu.RLock()
	defer j.mu.RUnlock()
	var out []*Job
	for _, job := range j.jobs {
		if job.OrgID == orgID {
			cp := *job
			out = append(out, &cp)
		}
	}
	slices.SortFunc(out, func(a, b *Job) int { return b.DateCreated.Compare(a.DateCreated) })
	return out
}

// runnable returns the jobs a runner may take at now: pending and due, or
// in progress under a lapsed lease.
func (j *Jobs) runnable(now time.Time) []*Job {
	j.mu.RLock()
	defer j.mu.RUnlock()
	var out []*Job
	for _, job := range j.jobs {
		due := job.Status == StatusPending && !job.NotBefore.After(now)
		lapsed := job.Status == StatusInProgress && job.LeaseUntil.Before(now)
		if due || lapsed {
			cp := *job
			out = append(out, &cp)
		}
	}
	slices.SortFunc(out, func(a, b *Job) int { return a.DateCreated.Compare(b.DateCreated) })
	return out
}

// Cancel cancels a job that has not started deleting, by compare-and-set
// on its entry, read afresh from the bucket: either a runner that claimed
// the job sees the cancellation when it checks the job's revision before
// its first mutation, and stops, or the runner marked the job mutating
// first and Cancel answers ErrTooLate (with the job as it is). Cancelling
// a cancelled job returns it unchanged.
func (j *Jobs) Cancel(ctx context.Context, id string, by uint64) (*Job, error) {
	for range 20 {
		job, err := j.load(ctx, id)
		if err != nil {
			return nil, err
		}
		if job.Status == StatusCancelled {
			return job, nil
		}
		if !job.Cancellable() {
			return job, ErrTooLate
		}
		job.Status, job.CancelledBy, job.DateFinished = StatusCancelled, by, time.Now().UTC()
		job.Owner, job.LeaseUntil = "", time.Time{}
		if err := j.update(ctx, job); errors.Is(err, errLost) {
			continue // a runner renewed or marked it: look again
		} else if err != nil {
			return nil, err
		}
		j.log.Info("deletion cancelled", "job", id, "kind", job.Kind, "by", by)
		return job, nil
	}
	return nil, fmt.Errorf("deletion: cancel job %s: too much contention", id)
}

// load reads a job from the bucket, not from the cache.
func (j *Jobs) load(ctx context.Context, id string) (*Job, error) {
	e, err := j.kv.Get(ctx, "job."+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("deletion: read job %s: %w", id, err)
	}
	var job Job
	if err := json.Unmarshal(e.Value(), &job); err != nil {
		return nil, fmt.Errorf("deletion: job %s: %w", id, err)
	}
	job.rev = e.Revision()
	return &job, nil
}

// errLost means another runner changed the job first.
var errLost = errors.New("deletion: job changed by another runner")

// update writes job if it is still at the revision job was read at
// (compare-and-set), so that two runners never both hold a job, and a
// decision made on a stale copy is never written. On success job carries
// its new revision.
func (j *Jobs) update(ctx context.Context, job *Job) error {
	data, err := json.Marshal(job)
	if err != nil {
		return err
	}
	newRev, err := j.kv.Update(ctx, "job."+job.ID, data, job.rev)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			return errLost
		}
		return fmt.Errorf("deletion: update job %s: %w", job.ID, err)
	}
	job.rev = newRev
	j.mu.Lock()
	if newRev > j.revs[job.ID] {
		j.revs[job.ID] = newRev
		cp := *job
		j.jobs[job.ID] = &cp
	}
	j.mu.Unlock()
	return nil
}
