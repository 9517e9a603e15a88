// Package process is the worker side of the write path: it consumes what
// ingest queued, decodes and normalizes each event, computes its grouping
// fingerprint and issue, and writes batches to the store. A message is
// acknowledged only after its batch is stored, so a crash loses nothing;
// a redelivered message is recognised and not stored or counted twice.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/alert"
	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/sourcemap"
	"github.com/faultline/faultline/internal/store"
)

// Config tunes the worker.
type Config struct {
	// BatchSize is the most events written at once (default 1000) while
	// the queue keeps up; batches grow past it while the queue is deep,
	// within MaxBatchBytes (batchsize.go).
	BatchSize int
	// MaxBatchBytes bounds the decoded events of one batch
	// (--worker-max-batch-bytes; default DefaultMaxBatchBytes). Two
	// batches are in memory at once: one decoded while the one before is
	// written.
	MaxBatchBytes int64
	// MaxBatchSize is the most events a batch grows to while the queue is
	// deep (--batch-max-size); 0, or no more than BatchSize, keeps every
	// batch at BatchSize.
	MaxBatchSize int
	// BatchWait is the longest a partial batch waits (default 1s).
	BatchWait time.Duration
	// AckWait is how long JetStream waits for an ack before redelivering.
	AckWait time.Duration
	// Concurrency is the number of goroutines decoding events.
	Concurrency int
	// MaxAttempts dead-letters a redelivered message, without processing
	// it, once this many attempts at it started and never finished (the
	// worker died; default 5).
	MaxAttempts int
	// SourcemapCacheBytes bounds the memory of parsed source maps
	// (--sourcemap-cache-bytes; default sourcemap.DefaultCacheBytes).
	SourcemapCacheBytes int64
	// Artifacts are the files uploaded for source maps (the upload side's
	// store); nil symbolicates nothing.
	Artifacts sourcemap.Artifacts
	// PublicURL is how users reach Faultline: alert notifications link
	// to the issue's page under it ("" for no link).
	PublicURL string
	// StageHook, for tests only, is called with each message at the start
	// of the stages "decode" and "normalize", and of the batch's "insert".
	StageHook func(stage string, m jetstream.Msg)
}

// Validate fills defaults.
func (c *Config) Validate() error {
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.BatchWait <= 0 {
		c.BatchWait = time.Second
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.MaxBatchBytes < 1<<20 {
		return fmt.Errorf("process: the batch byte budget (--worker-max-batch-bytes) must be at least 1 MiB, not %d", c.MaxBatchBytes)
	}
	if c.AckWait <= 0 {
		// After a crash, the messages in flight wait this long before they
		// are delivered again. Batches take about a second; a store retry
		// loop keeps its messages with InProgress.
		c.AckWait = 30 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = runtime.GOMAXPROCS(0)
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	return nil
}

// errProjectDeleted marks events of a project that is gone or being
// deleted: they are dropped, not stored after its data was deleted.
var errProjectDeleted = errors.New("the project is deleted")

// Store is what the worker writes to.
type Store interface {
	InsertEvents(ctx context.Context, events []store.Event) error
	ExistingEvents(ctx context.Context, keys []store.EventKey) (map[store.EventKey]bool, error)
	UpsertGroups(ctx context.Context, groups []store.Group) error
	InsertDeploys(ctx context.Context, deploys []store.Deploy) error
	EventGroups(ctx context.Context, projectID uint64, eventIDs []string) (map[string]uint64, error)
	InsertAttachments(ctx context.Context, atts []store.Attachment) error
	StoredAttachmentKeys(ctx context.Context, keys []store.AttachmentKey) (map[store.AttachmentKey]string, error)
	EventClaims(ctx context.Context, keys []store.EventKey) (map[store.EventKey][]uint64, error)
	ClaimEvents(ctx context.Context, claims []store.EventClaim) error
	InsertUserReports(ctx context.Context, reports []store.UserReport) error
	RecordOutcomes(ctx context.Context, outcomes []store.Outcome) error
	GroupStates(ctx context.Context, projectIDs, ids []uint64) (map[uint64]store.GroupState, error)
	SetStatus(ctx context.Context, changes []store.StatusChange) error
	ActivitySince(ctx context.Context, projectID, groupID uint64, since time.Time, userLimit int) (store.GroupActivity, error)
	ReleasesFirstSeen(ctx context.Context, projectID uint64, versions []string) (map[string]time.Time, error)
	InsertReleases(ctx context.Context, rels []store.Release) error
	ReleasesAfter(ctx context.Context, projectID uint64, base string, versions []string) (map[string]bool, error)
}

// Groups resolves fingerprints to issue ids.
type Groups interface {
	ResolveEvent(ctx context.Context, projectID uint64, config, hash, eventID string) (meta.GroupRef, bool, error)
}

// Projects looks up project settings.
type Projects interface {
	ProjectByID(id uint64) (*meta.Project, bool)
}

// Deps are the worker's collaborators.
type Deps struct {
	Consumer jetstream.Consumer
	Store    Store
	Groups   Groups
	Projects Projects
	Log      *slog.Logger
	// DeadLetters keeps the messages that cannot be processed; nil drops
	// them (with a log).
	DeadLetters DeadLetters
	// Attempts counts unfinished attempts at redelivered messages; nil
	// never dead-letters a message for taking the worker down.
	Attempts Attempts
	// Alerts and Notifier evaluate the alert rules and queue what fires;
	// either nil evaluates nothing.
	Alerts   Alerts
	Notifier Notifier
	// Metrics counts batches and failures; nil counts nothing.
	Metrics Metrics
	// Subscribers mails an issue's subscribers when it regresses
	// (notify.SubscriberMailer); nil mails nothing.
	Subscribers SubscriberMailer
}

// SubscriberMailer queues mails to an issue's subscribers, one per
// subscriber under key: what is the mail's line.
type SubscriberMailer interface {
	MailSubscribers(ctx context.Context, projectID, groupID, shortID uint64, title, what, key string) (int, error)
}

// Metrics receives the worker's batch sizes and failures by stage.
type Metrics interface {
	ObserveBatch(events int)
	ProcessingError(stage string)
}

// Worker consumes the ingest stream.
type Worker struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	mu        sync.Mutex // guards lastError
	lastError error

	releaseCache releaseCache
	scrubbers    scrubberCache
	symbolicator *sourcemap.Symbolicator // nil without Deps.Artifacts

	deadLettered atomic.Int64 // messages dead-lettered by this worker
}

// New returns a worker.
func New(cfg Config, deps Deps) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Consumer == nil || deps.Store == nil || deps.Groups == nil || deps.Projects == nil {
		return nil, errors.New("process: missing dependency")
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	w := &Worker{cfg: cfg, deps: deps, log: deps.Log}
	if cfg.Artifacts != nil {
		sym, err := sourcemap.New(sourcemap.Config{CacheBytes: cfg.SourcemapCacheBytes}, cfg.Artifacts)
		if err != nil {
			return nil, err
		}
		w.symbolicator = sym
	}
	return w, nil
}

// LastError returns the error of the last failed store attempt, or nil once
// a batch has been stored since.
func (w *Worker) LastError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastError
}

func (w *Worker) setError(err error) {
	w.mu.Lock()
	w.lastError = err
	w.mu.Unlock()
}

// Run consumes until ctx is done.
//
// Two stages overlap: while one batch is being written to ClickHouse (the
// engine's CPU), the next is fetched and decoded (Go's). A batch is acked
// only after its write, so a crash anywhere loses nothing.
func (w *Worker) Run(ctx context.Context) error { return w.RunDrain(ctx, ctx) }

// RunDrain is Run for a graceful shutdown: when stop ends, the worker
// fetches no more, but writes and acks the batches it already fetched, so
// that nothing is delivered again; only when ctx ends too (the shutdown's
// deadline) are the batches left handed back.
func (w *Worker) RunDrain(stop, ctx context.Context) error {
	ready := make(chan *prepared, 1)
	go func() {
		defer close(ready)
		sizer := newBatchSizer(w.cfg.BatchSize, max(w.cfg.MaxBatchSize, w.cfg.BatchSize), w.cfg.MaxBatchBytes)
		for stop.Err() == nil && ctx.Err() == nil {
			asked := sizer.next()
			msgs := w.fetch(stop, asked)
			if len(msgs) == 0 {
				sizer.observe(asked, 0, 0)
				continue
			}
			// The messages stay ours from the fetch to their ack: on a
			// starved machine a batch can take longer than AckWait to
			// decode, to wait for its turn or to write, and JetStream would
			// otherwise hand it to another worker meanwhile (loadgen scale,
			// 4 workers at a load average of 57 on 2 cores: 958 of 40,063
			// events stored twice).
			alive := w.keepInProgress(msgs)
			parts := w.split(ctx, msgs)
			sizer.observe(asked, len(msgs), preparedBytes(parts))
			if len(parts) == 0 {
				alive()
				continue
			}
			parts[len(parts)-1].release = alive
			if !w.handOver(ctx, ready, parts) {
				alive()
				return
			}
		}
	}()
	for p := range ready {
		switch {
		case ctx.Err() != nil:
			if p.release != nil {
				p.release()
				p.release = nil
			}
			p.nak()
		case p.single != nil:
			w.processRedelivered(ctx, p)
		case p.again != nil:
			w.processAgain(ctx, p)
		default:
			w.commit(ctx, p)
		}
		if p.release != nil {
			p.release()
		}
	}
	return nil
}

// fetch takes up to n messages, waiting at most BatchWait.
func (w *Worker) fetch(ctx context.Context, n int) []jetstream.Msg {
	batch, err := w.deps.Consumer.Fetch(n, jetstream.FetchMaxWait(w.cfg.BatchWait))
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("fetch failed", "err", err)
			sleep(ctx, time.Second)
		}
		return nil
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
		w.log.Debug("fetch ended", "err", err)
	}
	return msgs
}

// prepared is a decoded batch waiting to be written, with the messages to
// ack once it is.
type prepared struct {
	b    batch
	done []jetstream.Msg
	// units are the messages of b with what each decoded to, so that a
	// panic while storing b can be narrowed down to one of them.
	units []unit
	// single is a redelivered message, decoded and stored on its own.
	single jetstream.Msg
	// again are redelivered messages with no unfinished attempt (handed
	// back by a stopping worker, or in a batch whose worker died before
	// any attempt was recorded): decoded and stored together, each attempt
	// recorded, so that a crash now sends each of them on alone next time.
	again []jetstream.Msg
	// tracked are the stream sequences of the messages whose attempt is
	// recorded.
	tracked []uint64
	// failed are dead-lettered messages, acked with the batch, and the
	// outcomes recorded for them.
	failed         []jetstream.Msg
	failedOutcomes []store.Outcome
	// bytes estimates the memory of b's decoded events (decodedBytes).
	bytes int64
	// release, on the last part of a fetch, stops marking the fetch's
	// messages in progress once that part is done.
	release func()
}

// nak hands the batch back for redelivery, as when the worker stops.
func (p *prepared) nak() {
	for _, m := range p.done {
		m.Nak() //nolint:errcheck
	}
}

// item is one decoded event, ready to store, or a deploy.
type item struct {
	msg      jetstream.Msg
	row      store.Event
	group    store.Group
	hash     string
	orgID    uint64
	keyID    string
	category outcome.Category // what the event counts as in outcomes
	deploy   *store.Deploy    // set for a deploy; row then holds only its key
	logger   string           // the event's logger, for alerts
	frames   []alert.Frame    // the top in-app frames, for alerts

	// Where it came from, for the duplicate check (dedup.go): the message's
	// stream sequence and whether it is delivered again. A move inside
	// Faultline (merge, unmerge) sets move and skips the check.
	seq         uint64
	redelivered bool
	move        bool
}

// prepare decodes a batch of messages in parallel, each under a recover.
// Messages that cannot be processed are dead-lettered here.
func (w *Worker) prepare(ctx context.Context, msgs []jetstream.Msg) *prepared {
	fetched := time.Now()
	results := make([]decoded, len(msgs))
	bad := make([]error, len(msgs))
	var wg sync.WaitGroup
	next := make(chan int)
	for g := 0; g < w.cfg.Concurrency; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], bad[i] = w.safeDecode(ctx, msgs[i])
				// Yield between events: beside ingest (the all-in-one), a
				// request's goroutine then waits for a P at most one
				// event's work, not a whole preemption slice (10 ms).
				runtime.Gosched()
			}
		}()
	}
	for i := range msgs {
		next <- i
	}
	close(next)
	wg.Wait()

	p := &prepared{}
	b := &p.b
	b.fetched = fetched
	for i, m := range msgs {
		if errors.Is(bad[i], errProjectDeleted) {
			w.log.Info("dropping an event of a deleted project", "err", bad[i])
			m.Term() //nolint:errcheck
			continue
		}
		if bad[i] != nil {
			// Ingest validated it, so this is a bug or a corrupt message;
			// retrying would not help: it goes to the dead letter.
			w.fail(ctx, p, m, bad[i])
			continue
		}
		p.done = append(p.done, m)
		p.units = append(p.units, unit{m: m, d: &results[i]})
		p.bytes += decodedBytes(&results[i])
		b.add(m, &results[i])
	}
	return p
}

// commit writes a prepared batch, retrying with backoff while the store
// fails (the messages stay ours meanwhile), then acks it.
func (w *Worker) commit(ctx context.Context, p *prepared) {
	b, done := &p.b, p.done
	for attempt := 0; ; attempt++ {
		err, crash := w.tryStore(ctx, b)
		if crash != nil {
			w.narrow(ctx, p, crash)
			return
		}
		if err == nil {
			w.setError(nil)
			if w.deps.Metrics != nil {
				w.deps.Metrics.ObserveBatch(len(b.items))
			}
			break
		}
		w.setError(err)
		if w.deps.Metrics != nil {
			w.deps.Metrics.ProcessingError("store")
		}
		w.endAttempt(ctx, p, false) // a store failure is not the message's
		if ctx.Err() != nil {
			for _, m := range done {
				m.Nak() //nolint:errcheck // redelivered to another worker
			}
			return
		}
		wait := min(time.Duration(1<<min(attempt, 4))*500*time.Millisecond, 10*time.Second)
		w.log.Warn("store failed; retrying", "err", err, "events", len(b.items), "retry_in", wait)
		for _, m := range done {
			m.InProgress() //nolint:errcheck // keep the messages ours while we wait
		}
		sleep(ctx, wait)
		w.beginAttempt(ctx, p)
		// Part of the batch may have been stored before the failure.
		b.maybeStored = b.maybeStored[:0]
		for _, it := range b.items {
			b.maybeStored = append(b.maybeStored, store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID})
		}
	}
	for _, m := range done {
		m.Ack() //nolint:errcheck // a lost ack means a redelivery, which is deduplicated
	}
	w.endAttempt(ctx, p, true)
}

// batch is what one fetch of messages writes.
type batch struct {
	// fetched is when its messages were taken from the queue (zero:
	// unknown), from which JetStream may redeliver them after AckWait.
	fetched     time.Time
	items       []item
	maybeStored []store.EventKey // events that a previous attempt may have stored
	attachments []store.Attachment
	attMeta     []attMeta // one per attachment
	reports     []store.UserReport
	// outcomes of the other items, recorded once everything else is
	// stored.
	outcomes []store.Outcome
	// counted are the events whose outcome is recorded, so that a retry of
	// the batch does not count them again.
	counted map[store.EventKey]bool
	// dupCounted are the duplicates whose outcome is recorded, by event
	// and message, so that a retry or a split batch does not count them
	// again.
	dupCounted map[msgEvent]bool
}

// store resolves issues and writes the events not stored yet, then what
// came with them: attachments linked to their event's issue, user reports
// and the other items' outcomes.
//
// An event is counted in the outcomes table before it is written, once per
// batch: a store that fails after writing (or a crash before the ack)
// leaves the event stored and counted, and the retry or redelivery finds it
// stored and skips both. Only a crash between the two writes counts an
// event twice. The other items' outcomes are at least once: a redelivered
// message counts them again.
func (w *Worker) store(ctx context.Context, b *batch) error {
	verdicts, claims, err := w.checkEvents(ctx, b)
	if err != nil {
		return err
	}
	alerting := w.alerting()
	res, err := w.resolveIssues(ctx, b, verdicts, alerting)
	if err != nil {
		return err
	}
	return w.write(ctx, b, planStore(b, verdicts, res, alerting), verdicts, claims, alerting)
}

// write does a batch's writes, in an order that makes a failure or a crash
// at any point safe: the retry (or the redelivery, after a crash) finds
// what was written and does not decide or count anything twice.
//
//  1. deploys: writing one again is harmless;
//  2. the outcomes of the events (accepted, discarded, duplicates): counted
//     before anything is stored, and remembered by the batch, so that a
//     retry does not count them again (only a crash between this write
//     and the events' counts an event twice);
//  3. the event id claims: before the events, so that a crash in between
//     leaves the ids to this message, whose redelivery stores them;
//  4. the issues' metadata: an issue listed from its events always has a
//     title;
//  5. releases first seen, then the alerts of new, regressed and
//     reappeared issues, then the status changes: a crash before the
//     status changes leaves nothing decided, and the redelivery decides
//     (and queues) again; a crash after finds the issues reopened;
//  6. the events (and, through the materialized views, their counters);
//  7. the frequency alerts, whose counters now include the batch;
//  8. attachments (linked to their events' issues), user reports, and the
//     other items' outcomes (at least once: a redelivered message counts
//     them again).
//
// The messages are acked only after all of it (Worker.commit).
func (w *Worker) write(ctx context.Context, b *batch, p *storePlan, verdicts []verdict, claims []store.EventClaim, alerting bool) error {
	now := time.Now().UTC()
	var cands []alert.Candidate
	for _, e := range p.newIssues {
		c := w.candidate(e.it, &e.row, alert.TriggerNewIssue, "", now)
		c.Again = e.again
		cands = append(cands, c)
	}
	freq := w.newFrequencyTracker()
	for _, e := range p.frequency {
		freq.add(e.it, &e.row, e.again)
	}
	for i := range b.items {
		w.hook(stageInsert, b.items[i].msg)
	}
	if err := w.deps.Store.InsertDeploys(ctx, p.deploys); err != nil {
		return fmt.Errorf("store deploys: %w", err)
	}
	if err := w.deps.Store.RecordOutcomes(ctx, p.outcomes); err != nil {
		return fmt.Errorf("record event outcomes: %w", err)
	}
	// Counted now: a retry after any later failure must not count again.
	b.markDuplicatesCounted(verdicts)
	if b.counted == nil {
		b.counted = map[store.EventKey]bool{}
	}
	for _, k := range p.counted {
		b.counted[k] = true
	}
	if err := w.deps.Store.ClaimEvents(ctx, claims); err != nil {
		return fmt.Errorf("claim event ids: %w", err)
	}
	if len(p.events) > 0 {
		if err := w.deps.Store.UpsertGroups(ctx, p.groups); err != nil {
			return fmt.Errorf("store groups: %w", err)
		}
		firstSeen, err := w.releases(ctx, p.events)
		if err != nil {
			return err
		}
		changes, causes, err := w.lifecycle(ctx, p.events, p.created, firstSeen)
		if err != nil {
			return err
		}
		if alerting {
			for _, c := range changes {
				cause, ok := causes[c.GroupID]
				if !ok {
					continue
				}
				r := cause.event
				it := p.itemOf[store.EventKey{ProjectID: r.ProjectID, EventID: r.EventID}]
				if it == nil {
					continue
				}
				trigger := alert.TriggerReappeared
				if c.Substatus == SubstatusRegressed {
					trigger = alert.TriggerRegression
				}
				c := w.candidate(it, r, trigger, strconv.FormatUint(cause.endedMS, 10), now)
				c.Again = it.redelivered || len(b.maybeStored) > 0
				cands = append(cands, c)
			}
		}
		if err := w.alert(ctx, cands); err != nil {
			return err
		}
		cands = nil
		if err := w.mailRegressions(ctx, changes, causes, p.groups); err != nil {
			return err
		}
		if err := w.deps.Store.SetStatus(ctx, changes); err != nil {
			return fmt.Errorf("store status: %w", err)
		}
		for _, c := range changes {
			w.log.Info("issue reopened", "project_id", c.ProjectID, "group_id", c.GroupID, "substatus", c.Substatus)
		}
		// Where encoding the insert would panic: after the claims and the
		// outcomes.
		for i := range b.items {
			w.hook(stageEncode, b.items[i].msg)
		}
		events, err := w.notStoredMeanwhile(ctx, b, p.events)
		if err != nil {
			return err
		}
		if err := w.deps.Store.InsertEvents(ctx, events); err != nil {
			return fmt.Errorf("store events: %w", err)
		}
	}
	// Left here: a redelivery's new issues (no row to store), and the
	// frequency candidates, whose counters now include the batch.
	if alerting {
		cands = append(cands, freq.candidates(now)...)
	}
	if err := w.alert(ctx, cands); err != nil {
		return err
	}
	attOutcomes, err := w.writeAttachments(ctx, b, p.groupOf, p.dropped)
	if err != nil {
		return err
	}
	if err := w.deps.Store.InsertUserReports(ctx, b.reports); err != nil {
		return fmt.Errorf("store user reports: %w", err)
	}
	if err := w.deps.Store.RecordOutcomes(ctx, append(attOutcomes, b.outcomes...)); err != nil {
		return fmt.Errorf("record outcomes: %w", err)
	}
	for i := range b.items {
		w.hook(StageStored, b.items[i].msg)
	}
	return nil
}

// notStoredMeanwhile drops from events those stored since the batch's
// duplicate check, when its messages may have been redelivered meanwhile.
//
// A claim is not a stored event: a batch that takes longer than AckWait
// (a CPU-starved worker whose InProgress came too late) can have its
// messages redelivered to another worker, which finds its own message's
// claim, not the event, and stores it, as it must: this worker may yet
// fail or stop before inserting. If this worker then gets here, it must
// not store the events a second time. Only such a slow batch pays for the
// read.
func (w *Worker) notStoredMeanwhile(ctx context.Context, b *batch, events []store.Event) ([]store.Event, error) {
	if len(events) == 0 || (!b.fetched.IsZero() && time.Since(b.fetched) < w.cfg.AckWait*3/4) {
		return events, nil
	}
	keys := make([]store.EventKey, len(events))
	for i := range events {
		keys[i] = store.EventKey{ProjectID: events[i].ProjectID, EventID: events[i].EventID}
	}
	stored, err := w.deps.Store.ExistingEvents(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("check events stored meanwhile: %w", err)
	}
	if len(stored) == 0 {
		return events, nil
	}
	out := make([]store.Event, 0, len(events))
	for i := range events {
		if !stored[keys[i]] {
			out = append(out, events[i])
		}
	}
	w.log.Warn("events of a slow batch were stored meanwhile by a redelivery; skipped", "events", len(events)-len(out))
	return out, nil
}

// linkAttachments sets each attachment's issue: the one its event was just
// given, or, for an event stored before (a redelivery), the stored one.
func (w *Worker) linkAttachments(ctx context.Context, atts []store.Attachment, groupOf map[store.EventKey]uint64) error {
	missing := map[uint64][]string{}
	for i := range atts {
		a := &atts[i]
		if gid, ok := groupOf[store.EventKey{ProjectID: a.ProjectID, EventID: a.EventID}]; ok {
			a.GroupID = gid
		} else {
			missing[a.ProjectID] = append(missing[a.ProjectID], a.EventID)
		}
	}
	for pid, ids := range missing {
		found, err := w.deps.Store.EventGroups(ctx, pid, ids)
		if err != nil {
			return fmt.Errorf("find attachments' events: %w", err)
		}
		for i := range atts {
			if atts[i].ProjectID == pid && atts[i].GroupID == 0 {
				atts[i].GroupID = found[atts[i].EventID]
			}
		}
	}
	return nil
}

// build processes one event in Sentry's order: normalize, symbolicate
// JavaScript frames from uploaded source maps, scrub (nothing sensitive
// reaches the body, the tags or the user columns), promote tags, group,
// derive the issue fields; then it computes the row and the issue
// metadata.
func (w *Worker) build(ctx context.Context, e *event.Event, src Source, p *meta.Project) (item, error) {
	prepare(ctx, e, src, w.scrubbers.get(p), w.symbolicator, p.ID)
	fp := grouping.Compute(e)
	e.Grouping = fp.Info()
	e.MainExceptionID = fp.MainExceptionID
	d := event.Derive(e)
	if securityTypes[e.Type] {
		// Security reports keep the type and culprit Relay gives them.
		d.Type = e.Type
		if e.Culprit != "" {
			d.Culprit = event.Truncate(e.Culprit, 200)
		}
	}
	e.Metadata = &d.Metadata
	body, err := event.EncodeString(e)
	if err != nil {
		return item{}, fmt.Errorf("encode event: %w", err)
	}
	md, err := event.EncodeMetadata(&d.Metadata)
	if err != nil {
		return item{}, err
	}
	row := store.Event{
		ProjectID:     p.ID,
		Timestamp:     e.Timestamp.Time,
		EventID:       e.EventID,
		PrimaryHash:   fp.Hash,
		Received:      e.Received.Time,
		Type:          d.Type,
		Level:         e.Level,
		Platform:      e.Platform,
		Environment:   e.Environment,
		Release:       string(e.Release),
		Dist:          string(e.Dist),
		Transaction:   e.Transaction,
		Message:       messageOf(e),
		Title:         d.Title,
		Culprit:       d.Culprit,
		RetentionDays: uint16(p.RetentionDays),
		Body:          body,
	}
	if ex := e.MainException(); ex != nil {
		row.ExceptionType, row.ExceptionValue = ex.Type, string(ex.Value)
	}
	for _, t := range e.Tags {
		row.TagKeys = append(row.TagKeys, t[0])
		row.TagValues = append(row.TagValues, t[1])
	}
	if u := e.User; u != nil {
		row.UserID, row.UserEmail, row.UserName, row.IPAddress = string(u.ID), u.Email, string(u.Username), u.IPAddress
		row.UserKey = u.Key()
	}
	if e.SDK != nil {
		row.SDKName, row.SDKVersion = e.SDK.Name, e.SDK.Version
	}
	if row.RetentionDays == 0 {
		row.RetentionDays = meta.DefaultRetentionDays
	}
	group := store.Group{
		ProjectID: p.ID, PrimaryHash: fp.Hash, GroupingConfig: fp.Config, Title: d.Title,
		Culprit: d.Culprit, Level: e.Level, Type: d.Type, Platform: e.Platform, Metadata: string(md),
		Version: uint64(e.Received.UnixMilli()), LastSeen: row.Timestamp, RetentionDays: row.RetentionDays,
	}
	return item{row: row, group: group, hash: fp.Hash, category: eventCategory(e.Type),
		logger: e.Logger, frames: alertFrames(e)}, nil
}

func messageOf(e *event.Event) string {
	if t := e.LogEntry.Text(); t != "" {
		return t
	}
	if ex := e.MainException(); ex != nil {
		return string(ex.Value)
	}
	return ""
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
