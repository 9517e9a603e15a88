package deletion

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

// Config tunes a runner.
type Config struct {
	// Poll is how often due jobs are looked for, besides being woken by a
	// new job (default 5s).
	Poll time.Duration
	// Lease is how long a job stays with a runner that stopped renewing
	// it, e.g. because it crashed (default 1 minute).
	Lease time.Duration
	// StepTimeout bounds the wait for the engine to finish one step's
	// mutations (default 1 hour).
	StepTimeout time.Duration
	// MaxAttempts is how many times a failing job is tried (default 5).
	MaxAttempts int
	// StepHook, for tests, is called as a job reaches each step of a run:
	// StepClaimed (claimed, not yet checked again before mutating) and
	// StepMutating (checked, about to delete). Nil in production.
	StepHook func(step string, job Job)
	// DeadLetters, if set, is purged of what a job deletes.
	DeadLetters DeadLetters
	// Groups, if set, finishes the hash step of a merge that stopped
	// halfway (meta.Groups).
	Groups GroupMerger
}

// Steps of a run, as StepHook sees them.
const (
	StepClaimed  = "claimed"
	StepMutating = "mutating"
)

func (c *Config) defaults() {
	if c.Poll <= 0 {
		c.Poll = 5 * time.Second
	}
	if c.Lease <= 0 {
		c.Lease = time.Minute
	}
	if c.StepTimeout <= 0 {
		c.StepTimeout = time.Hour
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
}

// Store deletes data in ClickHouse.
type Store interface {
	DeleteIssue(ctx context.Context, projectID, groupID uint64, wait time.Duration) error
	DeleteProject(ctx context.Context, projectID uint64, wait time.Duration) error
	DeleteUserData(ctx context.Context, projectID uint64, user store.UserFilter, wait time.Duration) (uint64, error)
	EventIDs(ctx context.Context, projectID, groupID uint64, user store.UserFilter, f func(ids []string) error) error
}

// Meta removes deleted projects and organizations from the metadata, and
// tells whether they are still pending deletion.
type Meta interface {
	ProjectByID(id uint64) (*meta.Project, bool)
	OrganizationByID(id uint64) (*meta.Organization, bool)
	DeleteProject(ctx context.Context, id uint64) error
	DeleteOrganization(ctx context.Context, id uint64) error
}

// Blobs deletes what is kept outside ClickHouse with events (attachment
// files), before the events go.
type Blobs interface {
	DeleteEvents(ctx context.Context, projectID uint64, eventIDs []string) error
	DeleteProject(ctx context.Context, projectID uint64) error
}

// Runner takes due jobs and runs them, one at a time.
type Runner struct {
	cfg   Config
	jobs  *Jobs
	store Store
	meta  Meta
	blobs Blobs // may be nil
	log   *slog.Logger
	id    string
}

// NewRunner returns a runner; blobs may be nil.
func NewRunner(cfg Config, jobs *Jobs, s Store, m Meta, blobs Blobs, log *slog.Logger) (*Runner, error) {
	if jobs == nil || s == nil || m == nil {
		return nil, errors.New("deletion: runner needs jobs, a store and the metadata")
	}
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	b := make([]byte, 6)
	rand.Read(b) //nolint:errcheck // never fails on Linux
	return &Runner{cfg: cfg, jobs: jobs, store: s, meta: m, blobs: blobs, log: log, id: hex.EncodeToString(b)}, nil
}

// Run runs due jobs until ctx is done.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		for _, job := range r.jobs.runnable(time.Now()) {
			if ctx.Err() != nil {
				return
			}
			r.runOne(ctx, job)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.jobs.notify:
			// A new job may be due later; the ticker catches it then.
		}
	}
}

// errCancelled means the job was cancelled after this runner claimed it.
var errCancelled = errors.New("deletion: job cancelled")

// errRestored means the project or organization a job deletes is active
// again: its deletion was cancelled while the job was being recorded.
var errRestored = errors.New("cancelled: no longer pending deletion")

// runOne claims job and runs it under a renewed lease.
func (r *Runner) runOne(ctx context.Context, job *Job) {
	now := time.Now().UTC()
	job.Status, job.Owner, job.LeaseUntil = StatusInProgress, r.id, now.Add(r.cfg.Lease)
	switch {
	case job.Phase == "" && job.Attempts > 0:
		// Run before by a version without phases: it may have deleted.
		job.Phase = PhaseMutating
	case job.Phase == "":
		job.Phase = PhaseClaimed
	}
	job.Attempts++
	if job.DateStarted.IsZero() {
		job.DateStarted = now
	}
	if err := r.jobs.update(ctx, job); err != nil {
		if !errors.Is(err, errLost) {
			r.log.Warn("deletion: claim failed", "job", job.ID, "err", err)
		}
		return
	}
	log := r.log.With("job", job.ID, "kind", job.Kind, "attempt", job.Attempts)
	log.Info("deletion started")
	r.step(StepClaimed, job)
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// While it runs, execute reads a copy; renew and begin write job
	// (its lease, phase and revision) under l.mu; the outcome is written
	// after both end.
	l := &lease{jobs: r.jobs, job: job}
	spec := *job
	renewed := make(chan struct{})
	var lost bool
	go func() {
		defer close(renewed)
		lost = r.renew(jctx, cancel, l)
	}()
	deleted, err := r.execute(jctx, &spec, func(ctx context.Context) error {
		if err := l.begin(ctx); err != nil {
			return err
		}
		if r.cfg.StepHook != nil {
			l.mu.Lock()
			cp := *l.job
			l.mu.Unlock()
			r.step(StepMutating, &cp)
		}
		return nil
	})
	cancel()
	<-renewed
	if job.IsMove() {
		job.EventsMoved += deleted
	} else {
		job.EventsDeleted += deleted
	}
	if errors.Is(err, errCancelled) {
		// Cancel wrote the job's final state; nothing was deleted.
		log.Info("deletion cancelled before it changed anything")
		return
	}
	if errors.Is(err, errRestored) && !lost {
		job.Status, job.Error, job.DateFinished = StatusCancelled, err.Error(), time.Now().UTC()
		job.LeaseUntil, job.Owner = time.Time{}, ""
		log.Warn("deletion not run: what it deletes is no longer pending deletion")
		if err := r.jobs.update(context.WithoutCancel(ctx), job); err != nil {
			log.Warn("deletion: record outcome", "err", err)
		}
		return
	}
	if lost || errors.Is(err, errLost) || (err != nil && ctx.Err() != nil) {
		// Another runner took over, or we are shutting down: the lease
		// lapses and the job is taken again.
		log.Info("deletion interrupted", "err", err)
		return
	}
	job.LeaseUntil, job.Owner = time.Time{}, ""
	switch {
	case err == nil:
		job.Status, job.Error, job.DateFinished = StatusDone, "", time.Now().UTC()
		job.User = nil // personal data: not kept once erased
		log.Info("deletion done", "events_deleted", job.EventsDeleted, "took", time.Since(job.DateStarted).Round(time.Millisecond))
	case job.Attempts >= r.cfg.MaxAttempts:
		job.Status, job.Error, job.DateFinished = StatusFailed, err.Error(), time.Now().UTC()
		log.Error("deletion failed", "err", err)
	default:
		job.Status, job.Error = StatusPending, err.Error()
		job.NotBefore = time.Now().UTC().Add(time.Duration(job.Attempts) * 30 * time.Second)
		log.Warn("deletion failed; will retry", "err", err, "retry_at", job.NotBefore)
	}
	if err := r.jobs.update(context.WithoutCancel(ctx), job); err != nil {
		log.Warn("deletion: record outcome", "err", err)
	}
}

func (r *Runner) step(name string, job *Job) {
	if r.cfg.StepHook != nil {
		r.cfg.StepHook(name, *job)
	}
}

// lease is the job a runner holds, written by the lease renewal and by
// the check before the first mutation.
type lease struct {
	jobs *Jobs
	mu   sync.Mutex
	job  *Job
}

// begin checks, right before the first mutation, that the job is still
// the one this runner claimed (same revision: not cancelled, not taken
// over) and marks it mutating, after which it can no longer be
// cancelled. It returns errCancelled or errLost when the job changed.
func (l *lease) begin(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cp := *l.job
	cp.Phase = PhaseMutating
	err := l.jobs.update(ctx, &cp)
	if errors.Is(err, errLost) {
		if cur, lerr := l.jobs.load(ctx, cp.ID); lerr == nil && cur.Status == StatusCancelled {
			return errCancelled
		}
		return errLost
	}
	if err != nil {
		return err
	}
	*l.job = cp
	return nil
}

// renew extends the job's lease until ctx ends. If another runner took
// the job (or it was cancelled), it cancels the run and reports it.
func (r *Runner) renew(ctx context.Context, cancel context.CancelFunc, l *lease) (lost bool) {
	t := time.NewTicker(r.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		l.mu.Lock()
		cp := *l.job
		cp.LeaseUntil = time.Now().UTC().Add(r.cfg.Lease)
		err := r.jobs.update(ctx, &cp)
		if err == nil {
			*l.job = cp
		}
		l.mu.Unlock()
		if err != nil {
			if errors.Is(err, errLost) {
				cancel()
				return true
			}
			r.log.Warn("deletion: renew lease", "job", cp.ID, "err", err)
		}
	}
}

// execute does the deletion and returns how many events it deleted, where
// that is counted (user data). Every step is idempotent. begin is called
// before the first change: when it fails, nothing is deleted.
func (r *Runner) execute(ctx context.Context, job *Job, begin func(context.Context) error) (uint64, error) {
	wait := r.cfg.StepTimeout
	if job.Phase != PhaseMutating && !r.stillPending(job) {
		return 0, errRestored
	}
	if err := begin(ctx); err != nil {
		return 0, err
	}
	// The dead letter holds event data too; purged after begin, like any
	// other deletion, so that a cancelled job deletes nothing.
	if err := r.purgeDeadLetters(ctx, job); err != nil {
		return 0, err
	}
	switch job.Kind {
	case KindMerge, KindUnmerge:
		m, ok := r.store.(Mover)
		if !ok {
			return 0, errors.New("deletion: this store cannot move events")
		}
		// The first run of a job recorded for the runners starts from
		// scratch; any later one may follow a run that stopped halfway.
		return RunMove(ctx, m, r.cfg.Groups, job, job.Attempts > 1, wait)
	case KindIssue:
		pid := job.ProjectIDs[0]
		if err := r.deleteBlobs(ctx, pid, job.GroupID, store.UserFilter{}); err != nil {
			return 0, err
		}
		return 0, r.store.DeleteIssue(ctx, pid, job.GroupID, wait)
	case KindUserData:
		pid := job.ProjectIDs[0]
		if err := r.deleteBlobs(ctx, pid, 0, *job.User); err != nil {
			return 0, err
		}
		return r.store.DeleteUserData(ctx, pid, *job.User, wait)
	case KindProject, KindOrganization:
		for _, pid := range job.ProjectIDs {
			if r.blobs != nil {
				if err := r.blobs.DeleteProject(ctx, pid); err != nil {
					return 0, fmt.Errorf("delete attachments of project %d: %w", pid, err)
				}
			}
			if err := r.store.DeleteProject(ctx, pid, wait); err != nil {
				return 0, err
			}
			if err := r.meta.DeleteProject(ctx, pid); err != nil {
				return 0, err
			}
		}
		if job.Kind == KindOrganization {
			return 0, r.meta.DeleteOrganization(ctx, job.OrgID)
		}
		return 0, nil
	}
	return 0, fmt.Errorf("unknown kind %q", job.Kind)
}

// stillPending reports whether what a project or organization job deletes
// is still marked pending deletion (or already gone). A job recorded while
// its deletion was being cancelled must not delete an active object.
func (r *Runner) stillPending(job *Job) bool {
	switch job.Kind {
	case KindOrganization:
		o, ok := r.meta.OrganizationByID(job.OrgID)
		return !ok || o.Status == meta.StatusPendingDeletion
	case KindProject:
		for _, pid := range job.ProjectIDs {
			if p, ok := r.meta.ProjectByID(pid); ok && p.Status != meta.StatusPendingDeletion {
				return false
			}
		}
	}
	return true
}

// deleteBlobs deletes the blobs of the events a job deletes.
func (r *Runner) deleteBlobs(ctx context.Context, projectID, groupID uint64, user store.UserFilter) error {
	if r.blobs == nil {
		return nil
	}
	return r.store.EventIDs(ctx, projectID, groupID, user, func(ids []string) error {
		if err := r.blobs.DeleteEvents(ctx, projectID, ids); err != nil {
			return fmt.Errorf("delete attachments: %w", err)
		}
		return nil
	})
}
