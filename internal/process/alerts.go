package process

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/alert"
	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

// Alerts evaluates the projects' alert rules (alert.Evaluator).
type Alerts interface {
	Evaluate(ctx context.Context, cands []alert.Candidate) ([]alert.Fired, error)
}

// Notifier queues the notifications of fired rules durably. Enqueue is
// called before the batch is acked, and again with the same keys when the
// batch is processed again after a redelivery: it keeps one per key.
type Notifier interface {
	Enqueue(ctx context.Context, fired []alert.Fired) error
}

// maxAlertFrames bounds the frames a notification shows.
const maxAlertFrames = 5

// alertFrames returns the top in-app frames of the main exception,
// innermost first.
func alertFrames(e *event.Event) []alert.Frame {
	ex := e.MainException()
	if ex == nil || ex.Stacktrace == nil {
		return nil
	}
	var out []alert.Frame
	frames := ex.Stacktrace.Frames
	for i := len(frames) - 1; i >= 0 && len(out) < maxAlertFrames; i-- {
		f := &frames[i]
		if !f.IsInApp() {
			continue
		}
		af := alert.Frame{Filename: f.Filename, Function: f.Function}
		if af.Filename == "" {
			af.Filename = f.AbsPath
		}
		if f.Lineno != nil {
			af.LineNo = int(*f.Lineno)
		}
		out = append(out, af)
	}
	return out
}

// alerting reports whether the worker evaluates rules.
func (w *Worker) alerting() bool { return w.deps.Alerts != nil && w.deps.Notifier != nil }

// candidate describes what happened to an issue with the event that made
// it happen.
func (w *Worker) candidate(it *item, r *store.Event, trigger, window string, now time.Time) alert.Candidate {
	c := alert.Candidate{Trigger: trigger, Window: window, At: now, OrgID: it.orgID, ProjectID: r.ProjectID,
		GroupID: r.GroupID, EventID: r.EventID, Event: json.RawMessage(r.Body),
		Level: r.Level, Environment: r.Environment, Release: r.Release, Platform: r.Platform,
		Message: r.Message, Logger: it.logger, ExceptionType: r.ExceptionType, ExceptionValue: r.ExceptionValue}
	for i := range r.TagKeys {
		c.Tags = append(c.Tags, [2]string{r.TagKeys[i], r.TagValues[i]})
	}
	c.Issue = alert.Issue{Title: it.group.Title, Culprit: it.group.Culprit, Message: r.Message, Level: r.Level,
		Platform: r.Platform, Environment: r.Environment, Release: r.Release, Logger: it.logger, Frames: it.frames}
	if p, ok := w.deps.Projects.ProjectByID(r.ProjectID); ok {
		c.Issue.ShortID = shortID(p.Slug, it.group.ShortID)
		if orgs, ok := w.deps.Projects.(interface {
			OrganizationByID(uint64) (*meta.Organization, bool)
		}); ok && w.cfg.PublicURL != "" {
			if o, ok := orgs.OrganizationByID(p.OrgID); ok {
				c.Issue.URL = w.cfg.PublicURL + "/" + o.Slug + "/" + p.Slug + "/issues/" + strconv.FormatUint(r.GroupID, 10) + "/"
			}
		}
	}
	return c
}

// alert evaluates the rules for the batch's candidates and queues what
// fires; an error fails the batch, which is retried (and evaluated again,
// with the same keys).
func (w *Worker) alert(ctx context.Context, cands []alert.Candidate) error {
	if len(cands) == 0 {
		return nil
	}
	fired, err := w.deps.Alerts.Evaluate(ctx, cands)
	if err != nil {
		return fmt.Errorf("evaluate alert rules: %w", err)
	}
	if len(fired) == 0 {
		return nil
	}
	if err := w.deps.Notifier.Enqueue(ctx, fired); err != nil {
		return fmt.Errorf("queue notifications: %w", err)
	}
	return nil
}

// shortID renders Sentry's short id (as the API does).
func shortID(slug string, n uint64) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	if n == 0 {
		return strings.ToUpper(slug) + "-0"
	}
	var b []byte
	for ; n > 0; n /= 32 {
		b = append([]byte{alphabet[n%32]}, b...)
	}
	return strings.ToUpper(slug) + "-" + string(b)
}
