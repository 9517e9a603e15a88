package process

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/faultline/faultline/internal/alert"
	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

// Alerts evaluates the projects' alert rules (alert.Evaluator).
type Alerts interface {
	Evaluate(ctx context.Context, cands []alert.Candidate) ([]alert.Fired, error)
	// Frequency reports whether a project has rules with frequency
	// conditions (then each batch's issues are frequency candidates).
	Frequency(projectID uint64) bool
}

// freqAcc gathers a batch's events of one issue, for its frequency
// candidate.
type freqAcc struct {
	it    *item
	row   store.Event // the issue's newest event of the batch
	again bool        // an event processed before
}

// frequencyTracker collects the frequency candidates of a batch.
type frequencyTracker struct {
	w       *Worker
	wanted  map[uint64]bool // by project: has frequency rules
	byGroup map[uint64]*freqAcc
	order   []uint64
}

func (w *Worker) newFrequencyTracker() *frequencyTracker {
	return &frequencyTracker{w: w, wanted: map[uint64]bool{}, byGroup: map[uint64]*freqAcc{}}
}

// add counts one event of the batch (stored now, or by this message
// before a crash).
func (f *frequencyTracker) add(it *item, r *store.Event, again bool) {
	want, ok := f.wanted[r.ProjectID]
	if !ok {
		want = f.w.deps.Alerts.Frequency(r.ProjectID)
		f.wanted[r.ProjectID] = want
	}
	if !want {
		return
	}
	a := f.byGroup[r.GroupID]
	if a == nil {
		a = &freqAcc{}
		f.byGroup[r.GroupID] = a
		f.order = append(f.order, r.GroupID)
	}
	a.again = a.again || again
	if a.it == nil || !r.Received.Before(a.row.Received) {
		a.it, a.row = it, *r
	}
}

// candidates returns one frequency candidate per issue. Its window is
// the minute its newest event was received: the same when the same
// messages are processed again.
func (f *frequencyTracker) candidates(now time.Time) []alert.Candidate {
	var out []alert.Candidate
	for _, gid := range f.order {
		a := f.byGroup[gid]
		window := strconv.FormatInt(a.row.Received.Truncate(time.Minute).Unix(), 10)
		c := f.w.candidate(a.it, &a.row, alert.TriggerFrequency, window, now)
		c.Again = a.again
		out = append(out, c)
	}
	return out
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
		c.Issue.ShortID = meta.ShortID(p.Slug, it.group.ShortID)
		if orgs, ok := w.deps.Projects.(interface {
			OrganizationByID(uint64) (*meta.Organization, bool)
		}); ok && w.cfg.PublicURL != "" {
			if o, ok := orgs.OrganizationByID(p.OrgID); ok {
				c.Issue.URL = w.cfg.PublicURL + "/organizations/" + o.Slug + "/issues/" + strconv.FormatUint(r.GroupID, 10) + "/"
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
