package process

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/deadletter"
	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/store"
)

// Stages named in dead letters and offered to Config.StageHook.
const (
	stageDecode    = "decode"
	stageNormalize = "normalize"
	stageInsert    = "insert"
	stageEncode    = "encode" // the events' insert, after claims and outcomes (a test hook's stage)
	// StageStored is offered to the hook once a batch is stored (events,
	// status changes, queued notifications), before its messages are
	// acked: where a crash test kills the worker.
	StageStored = "stored"
	// stageCrash marks a message dead-lettered without processing because
	// attempts at it kept taking the worker down.
	stageCrash = "crash"
)

// ReasonInternal is Relay's outcome reason for a message that broke the
// processing pipeline.
const ReasonInternal = "internal"

// DeadLetters keeps messages that cannot be processed.
type DeadLetters interface {
	Add(ctx context.Context, msg jetstream.Msg, f deadletter.Failure) (dup bool, err error)
}

// Attempts records the processing attempts at redelivered messages that
// started and never finished.
type Attempts interface {
	Begin(ctx context.Context, seq uint64) (unfinished int, err error)
	End(ctx context.Context, seq uint64, done bool) error
	Unfinished(ctx context.Context, seq uint64) (int, error)
}

// unit is one message of a batch and what it decoded to.
type unit struct {
	m jetstream.Msg
	d *decoded
}

// add appends what one message decoded to.
func (b *batch) add(m jetstream.Msg, r *decoded) {
	if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
		for _, it := range r.events {
			b.maybeStored = append(b.maybeStored, store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID})
		}
	}
	origin(r, m)
	b.items = append(b.items, r.events...)
	b.attachments = append(b.attachments, r.attachments...)
	b.attMeta = append(b.attMeta, r.attMeta...)
	b.reports = append(b.reports, r.reports...)
	b.outcomes = append(b.outcomes, r.outcomes...)
}

// panicError is a panic caught while processing a message.
type panicError struct {
	stage string
	value any
	stack string
}

func (e *panicError) Error() string { return fmt.Sprintf("panic in %s: %v", e.stage, e.value) }

// stagePanic carries the stage of a panic raised in a stage hook.
type stagePanic struct {
	stage string
	value any
}

func (w *Worker) hook(stage string, m jetstream.Msg) {
	if w.cfg.StageHook == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			panic(stagePanic{stage: stage, value: v})
		}
	}()
	w.cfg.StageHook(stage, m)
}

// caught turns a recovered panic value into a panicError.
func caught(v any) *panicError {
	stack := string(debug.Stack())
	if sp, ok := v.(stagePanic); ok {
		return &panicError{stage: sp.stage, value: sp.value, stack: stack}
	}
	return &panicError{stage: stageOf(stack), value: v, stack: stack}
}

// safeDecode decodes one message under a recover.
func (w *Worker) safeDecode(ctx context.Context, m jetstream.Msg) (d decoded, err error) {
	defer func() {
		if v := recover(); v != nil {
			d, err = decoded{}, caught(v)
		}
	}()
	return w.decode(ctx, m)
}

// tryStore stores a batch under a recover: a panic is returned apart from
// the (transient) errors.
func (w *Worker) tryStore(ctx context.Context, b *batch) (err error, crash *panicError) {
	defer func() {
		if v := recover(); v != nil {
			err, crash = nil, caught(v)
		}
	}()
	return w.store(ctx, b), nil
}

// stageOf names the stage a panic happened in from its stack: the first
// Faultline package below the panic.
func stageOf(stack string) string {
	_, after, ok := strings.Cut(stack, "panic(")
	if !ok {
		after = stack
	}
	for _, line := range strings.Split(after, "\n") {
		fn, ok := strings.CutPrefix(line, "github.com/faultline/faultline/internal/")
		if !ok {
			continue
		}
		pkg, name, _ := strings.Cut(fn, ".")
		switch pkg {
		case "grouping":
			return "grouping"
		case "scrub":
			return "scrub"
		case "airbrake", "minidump", "security":
			return pkg
		case "sourcemap":
			return "symbolicate"
		case "envelope":
			return stageDecode
		case "store":
			return stageInsert
		case "event":
			switch {
			case strings.HasPrefix(name, "Decode"):
				return stageDecode
			case strings.HasPrefix(name, "Encode"):
				return "encode"
			case strings.HasPrefix(name, "Derive"):
				return "derive"
			}
			return "event"
		case "process":
			for _, f := range []string{"Prepare", "prepare", "normalize", "promoteTags", "correctClockDrift", "formatMessage", "splitExceptionType", "eachStacktrace"} {
				if strings.HasPrefix(name, f) {
					return stageNormalize
				}
			}
		}
	}
	return "process"
}

// fail dead-letters a message that failed in prepare: its outcome goes
// with the batch, and it is acked with the batch.
func (w *Worker) fail(ctx context.Context, p *prepared, m jetstream.Msg, cause error) {
	f := deadletter.Failure{Reason: ReasonInternal, Stage: stageDecode, Error: cause.Error()}
	var pe *panicError
	if errors.As(cause, &pe) {
		f.Stage, f.Error, f.Stack = pe.stage, fmt.Sprint(pe.value), pe.stack
	} else if strings.HasPrefix(cause.Error(), "decode event") {
		f.Reason = outcome.ReasonInvalidJSON
	}
	if w.deps.Metrics != nil {
		w.deps.Metrics.ProcessingError(f.Stage)
	}
	o, ok := w.deadLetter(ctx, m, f)
	if !ok {
		return
	}
	p.done = append(p.done, m)
	p.failed = append(p.failed, m)
	if o != nil {
		p.b.outcomes = append(p.b.outcomes, *o)
		p.failedOutcomes = append(p.failedOutcomes, *o)
	}
}

// deadLetter copies m to the dead letter and logs it. It returns the
// outcome to record (nil when this delivery was dead-lettered before, or
// the message carries no event) and false when m could not be kept, and
// is handed back for later.
func (w *Worker) deadLetter(ctx context.Context, m jetstream.Msg, f deadletter.Failure) (*store.Outcome, bool) {
	h := m.Headers()
	pid, _ := strconv.ParseUint(h.Get("Fl-Project"), 10, 64)
	var delivered uint64
	if md, err := m.Metadata(); err == nil {
		delivered = md.NumDelivered
	}
	dup := false
	if w.deps.DeadLetters != nil {
		var err error
		if dup, err = w.deps.DeadLetters.Add(ctx, m, f); err != nil {
			w.log.Error("cannot dead-letter a message; it will be retried", "project_id", pid,
				"event_id", h.Get("Fl-Event-Id"), "err", err)
			m.Nak() //nolint:errcheck
			return nil, false
		}
	}
	n := w.deadLettered.Add(1)
	// The event's body and headers stay out of the log: they are the
	// client's data.
	w.log.Warn("message dead-lettered", "project_id", pid, "event_id", h.Get("Fl-Event-Id"),
		"kind", h.Get("Fl-Kind"), "stage", f.Stage, "reason", f.Reason, "err", truncateLog(f.Error),
		"deliveries", delivered, "stack", f.Stack, "dead_lettered_total", n, "kept", w.deps.DeadLetters != nil)
	if dup {
		return nil, true
	}
	qm, err := queue.Decode(m)
	if err != nil || qm.Kind == queue.KindOutcomes {
		return nil, true
	}
	o := &store.Outcome{ProjectID: qm.ProjectID, KeyID: qm.KeyID, Timestamp: qm.Received, Kind: outcome.Invalid,
		Reason: f.Reason, Category: outcome.CategoryError, Quantity: 1}
	if p, ok := w.deps.Projects.ProjectByID(qm.ProjectID); ok {
		o.OrgID = p.OrgID
	}
	if qm.Kind == queue.KindAirbrakeDeploy {
		return nil, true
	}
	return o, true
}

func truncateLog(s string) string {
	if len(s) > 512 {
		return s[:512] + "…"
	}
	return s
}

// narrow handles a panic while storing a batch: a batch of one message
// is dead-lettered; a larger one is split in halves, each stored on its
// own, until the guilty message is alone.
func (w *Worker) narrow(ctx context.Context, p *prepared, crash *panicError) {
	if len(p.units) <= 1 {
		sub := &prepared{done: p.failed, tracked: p.tracked}
		if len(p.units) == 1 {
			sub.tracked = trackedOf(p.tracked, append([]jetstream.Msg{p.units[0].m}, p.failed...))
		}
		sub.b.outcomes = append(sub.b.outcomes, p.failedOutcomes...)
		if len(p.units) == 1 {
			u := p.units[0]
			o, ok := w.deadLetter(ctx, u.m, deadletter.Failure{Reason: ReasonInternal, Stage: crash.stage,
				Error: fmt.Sprint(crash.value), Stack: crash.stack})
			if !ok {
				w.endAttempt(ctx, &prepared{tracked: sub.tracked}, false)
				sub.tracked = nil
			} else {
				sub.done = append(sub.done, u.m)
				// An event counted as accepted before the panic stays
				// counted once.
				if o != nil && !countedAny(p.b.counted, u.d) {
					sub.b.outcomes = append(sub.b.outcomes, *o)
				}
			}
		}
		w.commit(ctx, sub)
		return
	}
	w.log.Warn("storing a batch panicked; splitting it to find the message", "stage", crash.stage, "messages", len(p.units))
	if len(p.failed) > 0 {
		sub := &prepared{done: p.failed, tracked: trackedOf(p.tracked, p.failed)}
		sub.b.outcomes = p.failedOutcomes
		w.commit(ctx, sub)
	}
	half := len(p.units) / 2
	for _, part := range [][]unit{p.units[:half], p.units[half:]} {
		sub := &prepared{units: part}
		for _, u := range part {
			sub.done = append(sub.done, u.m)
			sub.b.add(u.m, u.d)
		}
		sub.tracked = trackedOf(p.tracked, sub.done)
		// The failed attempt may have stored some of them; their outcomes
		// were counted if it says so.
		sub.b.maybeStored = sub.b.maybeStored[:0]
		for _, it := range sub.b.items {
			sub.b.maybeStored = append(sub.b.maybeStored, store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID})
		}
		sub.b.counted = map[store.EventKey]bool{}
		for k, v := range p.b.counted {
			sub.b.counted[k] = v
		}
		sub.b.dupCounted = map[msgEvent]bool{}
		for k, v := range p.b.dupCounted {
			sub.b.dupCounted[k] = v
		}
		w.commit(ctx, sub)
	}
}

// split turns a fetched batch into what the committer takes in turn: the
// messages delivered for the first time as one batch, decoded here, and
// each redelivered message on its own, decoded by the committer after it
// recorded the attempt, one at a time.
//
// A redelivered message none of whose attempts is unfinished (the usual
// case: a stopping worker handed it back) is not suspect yet: such
// messages go together, so that a restart does not turn a whole batch
// into one-message inserts.
func (w *Worker) split(ctx context.Context, msgs []jetstream.Msg) []*prepared {
	var fresh, again []jetstream.Msg
	var out []*prepared
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil || md.NumDelivered <= 1 {
			fresh = append(fresh, m)
			continue
		}
		if w.deps.Attempts != nil {
			if n, err := w.deps.Attempts.Unfinished(ctx, md.Sequence.Stream); err == nil && n == 0 {
				again = append(again, m)
				continue
			}
		}
		out = append(out, &prepared{single: m, done: []jetstream.Msg{m}})
	}
	if len(again) > 0 {
		out = append([]*prepared{{again: again, done: again}}, out...)
	}
	if len(fresh) > 0 {
		out = append([]*prepared{w.prepare(ctx, fresh)}, out...)
	}
	return out
}

// processAgain stores redelivered messages with no unfinished attempt
// together, after recording an attempt at each: if the worker dies while
// storing them, each comes back with an unfinished attempt and is then
// processed alone.
func (w *Worker) processAgain(ctx context.Context, p *prepared) {
	var seqs []uint64
	for _, m := range p.again {
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		seq := md.Sequence.Stream
		if _, err := w.deps.Attempts.Begin(ctx, seq); err != nil {
			w.log.Warn("cannot record a processing attempt", "seq", seq, "err", err)
			w.endAttempt(ctx, &prepared{tracked: seqs}, false)
			p.nak()
			return
		}
		seqs = append(seqs, seq)
	}
	q := w.prepare(ctx, p.again)
	q.tracked = seqs
	// Messages prepare dropped (a deleted project's) are finished with.
	kept := append(append([]jetstream.Msg(nil), q.done...), q.failed...)
	var gone []uint64
	for _, s := range seqs {
		if !slices.Contains(trackedOf(seqs, kept), s) {
			gone = append(gone, s)
		}
	}
	w.endAttempt(ctx, &prepared{tracked: gone}, true)
	q.tracked = trackedOf(seqs, kept)
	if len(q.done) == 0 && len(q.failed) == 0 {
		return
	}
	w.commit(ctx, q)
}

// trackedOf keeps the sequences of tracked that belong to msgs.
func trackedOf(tracked []uint64, msgs []jetstream.Msg) []uint64 {
	if len(tracked) == 0 {
		return nil
	}
	var out []uint64
	for _, m := range msgs {
		if md, err := m.Metadata(); err == nil && slices.Contains(tracked, md.Sequence.Stream) {
			out = append(out, md.Sequence.Stream)
		}
	}
	return out
}

// handOver passes each prepared part to the committer, keeping the
// messages still waiting ours meanwhile. It returns false once ctx is
// done, after handing back what was not passed.
func (w *Worker) handOver(ctx context.Context, ready chan<- *prepared, parts []*prepared) bool {
	t := time.NewTicker(max(w.cfg.AckWait/3, 100*time.Millisecond))
	defer t.Stop()
	for i, p := range parts {
		for sent := false; !sent; {
			select {
			case ready <- p:
				sent = true
			case <-ctx.Done():
				for _, q := range parts[i:] {
					q.nak()
				}
				return false
			case <-t.C:
				for _, q := range parts[i:] {
					for _, m := range q.done {
						m.InProgress() //nolint:errcheck
					}
				}
			}
		}
	}
	return true
}

// processRedelivered processes a message delivered again (its worker died,
// or a batch was handed back) on its own. The attempt is recorded first;
// a message whose earlier attempts never finished MaxAttempts times is
// dead-lettered without being processed again.
func (w *Worker) processRedelivered(ctx context.Context, p *prepared) {
	m := p.single
	md, err := m.Metadata()
	if err != nil || w.deps.Attempts == nil {
		w.commit(ctx, w.prepare(ctx, []jetstream.Msg{m}))
		return
	}
	seq := md.Sequence.Stream
	unfinished, err := w.deps.Attempts.Begin(ctx, seq)
	if err != nil {
		w.log.Warn("cannot record a processing attempt", "seq", seq, "err", err)
		m.Nak() //nolint:errcheck
		return
	}
	if unfinished >= w.cfg.MaxAttempts {
		sub := &prepared{tracked: []uint64{seq}}
		o, ok := w.deadLetter(ctx, m, deadletter.Failure{Reason: ReasonInternal, Stage: stageCrash,
			Error: fmt.Sprintf("the worker stopped %d times while processing this message", unfinished)})
		if !ok {
			w.endAttempt(ctx, sub, false)
			return
		}
		sub.done = []jetstream.Msg{m}
		if o != nil {
			sub.b.outcomes = []store.Outcome{*o}
		}
		w.commit(ctx, sub)
		return
	}
	q := w.prepare(ctx, []jetstream.Msg{m})
	q.tracked = []uint64{seq}
	if len(q.done) == 0 {
		// Dropped (a deleted project) or handed back.
		w.endAttempt(ctx, q, true)
		return
	}
	w.commit(ctx, q)
}

// beginAttempt records that an attempt at the tracked messages starts
// again (a retry after a store failure).
func (w *Worker) beginAttempt(ctx context.Context, p *prepared) {
	if w.deps.Attempts == nil {
		return
	}
	for _, seq := range p.tracked {
		if _, err := w.deps.Attempts.Begin(context.WithoutCancel(ctx), seq); err != nil {
			w.log.Warn("cannot record a processing attempt", "seq", seq, "err", err)
		}
	}
}

// endAttempt clears the record of the current attempt at the tracked
// messages: done when they are finished with, or not (a transient
// failure, a shutdown), which does not count against them.
func (w *Worker) endAttempt(ctx context.Context, p *prepared, done bool) {
	if w.deps.Attempts == nil {
		return
	}
	for _, seq := range p.tracked {
		if err := w.deps.Attempts.End(context.WithoutCancel(ctx), seq, done); err != nil {
			w.log.Warn("cannot clear a processing attempt", "seq", seq, "err", err)
		}
	}
}

// DeadLettered returns how many messages this worker dead-lettered.
func (w *Worker) DeadLettered() int64 { return w.deadLettered.Load() }

func countedAny(counted map[store.EventKey]bool, d *decoded) bool {
	for _, it := range d.events {
		if counted[store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID}] {
			return true
		}
	}
	return false
}
