package deletion

import (
	"context"
	"fmt"

	"github.com/faultline/faultline/internal/store"
)

// DeadLetters removes the dead letters (queued messages the workers could
// not process, which hold event data) of a deleted project, or those that
// mention a user whose data is erased.
type DeadLetters interface {
	Purge(ctx context.Context, projectID uint64, user *store.UserFilter) (uint64, error)
}

// purgeDeadLetters purges what a job deletes from the dead letter; an
// issue's job has nothing there (dead letters were never grouped), and a
// move deletes nothing.
func (r *Runner) purgeDeadLetters(ctx context.Context, job *Job) error {
	if r.cfg.DeadLetters == nil || job.Kind == KindIssue || job.IsMove() {
		return nil
	}
	for _, pid := range job.ProjectIDs {
		n, err := r.cfg.DeadLetters.Purge(ctx, pid, job.User)
		if err != nil {
			return fmt.Errorf("purge dead letters of project %d: %w", pid, err)
		}
		if n > 0 {
			r.log.Info("dead letters purged", "job", job.ID, "project_id", pid, "count", n)
		}
	}
	return nil
}
