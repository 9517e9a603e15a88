package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/deadletter"
)

// DeadLetters lists, replays and deletes the messages workers could not
// process.
type DeadLetters interface {
	List(ctx context.Context, before uint64, limit int) ([]*deadletter.Letter, uint64, error)
	Get(ctx context.Context, id uint64) (*deadletter.Letter, error)
	Replay(ctx context.Context, id uint64, to deadletter.Publisher) error
	Delete(ctx context.Context, id uint64) error
}

var errSuperuserOnly = &Error{Status: http.StatusForbidden, Detail: "You do not have permission to perform this action."}

// listDeadLetters is GET /api/0/internal/dead-letters/: newest first, with
// Sentry's Link cursors.
func (a *API) listDeadLetters(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	if !c.user.Superuser {
		return nil, errSuperuserOnly
	}
	q := r.URL.Query()
	limit := 25
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, errorf(http.StatusBadRequest, "Invalid per_page parameter.")
		}
		limit = min(n, 100)
	}
	var before uint64
	if cur := q.Get("cursor"); cur != "" && cur != "0:0:0" && cur != "0:0:1" {
		head, _, _ := strings.Cut(cur, ":")
		n, err := strconv.ParseUint(head, 10, 64)
		if err != nil || n == 0 {
			return nil, errorf(http.StatusBadRequest, "Invalid cursor parameter.")
		}
		before = n
	}
	letters, next, err := a.cfg.DeadLetters.List(ctx, before, limit)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(letters))
	for _, l := range letters {
		out = append(out, serializeDeadLetter(l))
	}
	nextCursor := ""
	if next != 0 {
		nextCursor = strconv.FormatUint(next, 10) + ":0:0"
	}
	resp := &response{status: http.StatusOK, body: out, header: http.Header{}}
	resp.header.Set("Link", a.link(r, q.Get("cursor"), nextCursor))
	return resp, nil
}

func serializeDeadLetter(l *deadletter.Letter) map[string]any {
	return map[string]any{
		"id": strconv.FormatUint(l.ID, 10), "projectId": strconv.FormatUint(l.ProjectID, 10), "eventId": l.EventID,
		"kind": l.Kind, "reason": l.Reason, "stage": l.Stage, "error": l.Error, "stack": l.Stack,
		"failedAt": l.FailedAt.UTC().Format(time.RFC3339Nano), "attempts": l.Deliveries, "size": l.Size,
	}
}

// deadLetterID reads {id}; an id that is not one is unknown.
func deadLetterID(r *http.Request) (uint64, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		return 0, errNotFound
	}
	return id, nil
}

func deadLetterErr(err error) error {
	if errors.Is(err, deadletter.ErrNotFound) {
		return errNotFound
	}
	return err
}

// replayDeadLetter is POST /api/0/internal/dead-letters/{id}/replay/: the
// original message goes back on the ingest queue and leaves the dead
// letter; 202.
func (a *API) replayDeadLetter(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	if !c.user.Superuser {
		return nil, errSuperuserOnly
	}
	id, err := deadLetterID(r)
	if err != nil {
		return nil, err
	}
	if err := a.cfg.DeadLetters.Replay(ctx, id, a.cfg.Requeue); err != nil {
		return nil, deadLetterErr(err)
	}
	a.log.Info("dead letter replayed", "id", id)
	return &response{status: http.StatusAccepted}, nil
}

// deleteDeadLetter is DELETE /api/0/internal/dead-letters/{id}/: 204.
func (a *API) deleteDeadLetter(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	if !c.user.Superuser {
		return nil, errSuperuserOnly
	}
	id, err := deadLetterID(r)
	if err != nil {
		return nil, err
	}
	if err := a.cfg.DeadLetters.Delete(ctx, id); err != nil {
		return nil, deadLetterErr(err)
	}
	return &response{status: http.StatusNoContent}, nil
}
