// Package retention expires what is past its project's retention, inside
// `faultline serve`: on a schedule it has the store drop the partitions
// whose every row expired (`faultline cleanup` does the same once). Reads
// already hide expired rows; this reclaims their disk.
package retention

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/faultline/faultline/internal/store"
)

// Config tunes the job.
type Config struct {
	// Interval between runs; 0 disables the job.
	Interval time.Duration
	// FirstRun is the delay before the first run (default 1 minute), so
	// that start-up, migrations and the backlog come first.
	FirstRun time.Duration
}

// Store drops expired partitions.
type Store interface {
	Cleanup(ctx context.Context, now time.Time) ([]store.Partition, error)
}

// Job runs the cleanup periodically.
type Job struct {
	cfg   Config
	store Store
	log   *slog.Logger
}

// New returns a job; Run starts it.
func New(cfg Config, s Store, log *slog.Logger) (*Job, error) {
	if s == nil {
		return nil, errors.New("retention: no store")
	}
	if cfg.FirstRun <= 0 {
		cfg.FirstRun = time.Minute
	}
	if log == nil {
		log = slog.Default()
	}
	return &Job{cfg: cfg, store: s, log: log}, nil
}

// Run cleans up every Interval until ctx is done. A failed run is logged
// and tried again at the next tick: expiry is never urgent, since reads
// hide expired rows anyway.
func (j *Job) Run(ctx context.Context) {
	if j.cfg.Interval <= 0 {
		return
	}
	t := time.NewTimer(j.cfg.FirstRun)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		dropped, err := j.store.Cleanup(ctx, start)
		switch {
		case err != nil && ctx.Err() == nil:
			j.log.Warn("retention cleanup failed", "err", err, "dropped", len(dropped))
		case len(dropped) > 0:
			j.log.Info("retention cleanup", "dropped", len(dropped), "took", time.Since(start).Round(time.Millisecond))
		}
		t.Reset(j.cfg.Interval)
	}
}
