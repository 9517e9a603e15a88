package deletion

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

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
	// DeadLetters, if set, is purged of what a job deletes.
	DeadLetters DeadLetters
}

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

// Meta removes deleted projects and organizations from the metadata.
type Meta interface {
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

// runOne claims job and runs it under a renewed lease.
func (r *Runner) runOne(ctx context.Context, job *Job) {
	now := time.Now().UTC()
	job.Status, job.Owner, job.LeaseUntil = StatusInProgress, r.id, now.Add(r.cfg.Lease)
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
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// While it runs, execute reads a copy and renew alone writes job
	// (its lease and revision); the outcome is written after both end.
	spec := *job
	renewed := make(chan struct{})
	var lost bool
	go func() {
		defer close(renewed)
		lost = r.renew(jctx, cancel, job)
	}()
	deleted, err := r.execute(jctx, &spec)
	cancel()
	<-renewed
	job.EventsDeleted += deleted
	if lost || (err != nil && ctx.Err() != nil) {
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

// renew extends the job's lease until ctx ends. If another runner took
// the job, it cancels the run and reports it.
func (r *Runner) renew(ctx context.Context, cancel context.CancelFunc, job *Job) (lost bool) {
	t := time.NewTicker(r.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		cp := *job
		cp.LeaseUntil = time.Now().UTC().Add(r.cfg.Lease)
		if err := r.jobs.update(ctx, &cp); err != nil {
			if errors.Is(err, errLost) {
				cancel()
				return true
			}
			r.log.Warn("deletion: renew lease", "job", job.ID, "err", err)
			continue
		}
		*job = cp
	}
}

// execute does the deletion and returns how many events it deleted, where
// that is counted (user data). Every step is idempotent.
func (r *Runner) execute(ctx context.Context, job *Job) (uint64, error) {
	wait := r.cfg.StepTimeout
	if err := r.purgeDeadLetters(ctx, job); err != nil {
		return 0, err
	}
	switch job.Kind {
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
