// Package process is the worker side of the write path: it consumes what
// ingest queued, decodes and normalizes each event, computes its grouping
// fingerprint and issue, and writes batches to the store. A message is
// acknowledged only after its batch is stored, so a crash loses nothing;
// a redelivered message is recognised and not stored or counted twice.
package process

import (
	"context"
	"encoding/json"
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
	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/sourcemap"
	"github.com/faultline/faultline/internal/store"
)

// Config tunes the worker.
type Config struct {
	// BatchSize is the most events written at once (default 1000).
	BatchSize int
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
		for stop.Err() == nil && ctx.Err() == nil {
			msgs := w.fetch(stop)
			if len(msgs) == 0 {
				continue
			}
			alive := w.keepAlive(msgs)
			parts := w.split(ctx, msgs)
			alive()
			if !w.handOver(ctx, ready, parts) {
				return
			}
		}
	}()
	for p := range ready {
		if ctx.Err() != nil {
			p.nak()
			continue
		}
		alive := w.keepAlive(p.msgs())
		switch {
		case p.single != nil:
			w.processRedelivered(ctx, p)
		case p.again != nil:
			w.processAgain(ctx, p)
		default:
			w.commit(ctx, p)
		}
		alive()
	}
	return nil
}

// keepAlive marks msgs in progress every AckWait/3 until the returned
// function is called, so that JetStream does not hand them to another
// worker while this one still decodes or stores them: on a starved
// machine a batch can take longer than AckWait, and two workers then both
// stored it (loadgen scale, 4 workers at a load average of 57 on 2 cores:
// 958 of 40,063 events stored twice). A message acked meanwhile is left
// alone (InProgress then fails without sending anything).
func (w *Worker) keepAlive(msgs []jetstream.Msg) (stop func()) {
	if len(msgs) == 0 {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(max(w.cfg.AckWait/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, m := range msgs {
					m.InProgress() //nolint:errcheck // acked meanwhile, or NATS away: redelivery stays the fallback
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// fetch takes up to a batch of messages, waiting at most BatchWait.
func (w *Worker) fetch(ctx context.Context) []jetstream.Msg {
	batch, err := w.deps.Consumer.Fetch(w.cfg.BatchSize, jetstream.FetchMaxWait(w.cfg.BatchWait))
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
}

// msgs are every message p holds until it is written.
func (p *prepared) msgs() []jetstream.Msg {
	out := make([]jetstream.Msg, 0, len(p.done)+len(p.again)+len(p.failed)+1)
	out = append(out, p.done...)
	out = append(out, p.again...)
	out = append(out, p.failed...)
	if p.single != nil {
		out = append(out, p.single)
	}
	return out
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
	rows := make([]store.Event, 0, len(b.items))
	groups := map[uint64]store.Group{}
	created := map[uint64]bool{}
	groupOf := map[store.EventKey]uint64{}
	alerting := w.alerting()
	newIssues := map[uint64]bool{}
	itemOf := map[store.EventKey]*item{}
	var cands []alert.Candidate
	now := time.Now().UTC()
	freq := w.newFrequencyTracker()
	// again: the item's message was delivered before, or this batch's
	// store failed before: what it fires may be queued already.
	again := func(it *item) bool { return it.redelivered || len(b.maybeStored) > 0 }
	var outcomes []store.Outcome
	var deploys []store.Deploy
	discarded := map[msgEvent]bool{}
	var discardedKeys []store.EventKey
	for i := range b.items {
		it := &b.items[i]
		if it.deploy != nil {
			deploys = append(deploys, *it.deploy)
			continue
		}
		key := store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID}
		if verdicts[i] == alreadyStored && alerting {
			// Stored by this message before a crash (or by this batch's
			// failed attempt): its issue may be new, and the alert must
			// be queued again, with its key.
			ref, _, err := w.deps.Groups.ResolveEvent(ctx, it.row.ProjectID, grouping.Config, it.hash, it.row.EventID)
			if errors.Is(err, meta.ErrDiscarded) {
				continue // stored before its issue was discarded: no alert
			}
			if err != nil {
				return fmt.Errorf("resolve issue: %w", err)
			}
			if it.row.GroupID != 0 && it.row.GroupID != ref.ID {
				ref = meta.GroupRef{ID: it.row.GroupID} // moved inside Faultline: not new
			}
			r := it.row
			r.GroupID = ref.ID
			if it.row.GroupID == 0 {
				it.group.GroupID, it.group.ShortID = ref.ID, ref.ShortID
			}
			if ref.FirstEvent == it.row.EventID && !newIssues[ref.ID] {
				newIssues[ref.ID] = true
				c := w.candidate(it, &r, alert.TriggerNewIssue, "", now)
				c.Again = true
				cands = append(cands, c)
			}
			freq.add(it, &r, true)
		}
		if verdicts[i] != toStore {
			continue // stored by this message before, or a duplicate
		}
		if it.row.GroupID == 0 {
			ref, isNew, err := w.deps.Groups.ResolveEvent(ctx, it.row.ProjectID, grouping.Config, it.hash, it.row.EventID)
			if errors.Is(err, meta.ErrDiscarded) {
				// Its issue was deleted and discarded: dropped, with its
				// attachments, and counted as filtered (once per batch).
				discarded[msgEvent{key, it.seq}] = true
				if !b.counted[key] {
					outcomes = append(outcomes, store.Outcome{OrgID: it.orgID, ProjectID: it.row.ProjectID, KeyID: it.keyID,
						Timestamp: it.row.Received, Kind: outcome.Filtered, Reason: outcome.ReasonDiscardedHash,
						Category: it.category, Quantity: 1})
					discardedKeys = append(discardedKeys, key)
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("resolve issue: %w", err)
			}
			if isNew {
				created[ref.ID] = true
			}
			it.row.GroupID = ref.ID
			it.group.GroupID, it.group.ShortID = ref.ID, ref.ShortID
			// A new issue, or one whose allocation this event made
			// before a crash (a redelivery, not stored yet).
			if alerting && (isNew || ref.FirstEvent == it.row.EventID) && !newIssues[ref.ID] {
				newIssues[ref.ID] = true
				c := w.candidate(it, &it.row, alert.TriggerNewIssue, "", now)
				c.Again = !isNew || again(it)
				cands = append(cands, c)
			}
		}
		itemOf[key] = it
		if alerting {
			freq.add(it, &it.row, again(it))
		}
		groupOf[key] = it.row.GroupID
		rows = append(rows, it.row)
		g, ok := groups[it.row.GroupID]
		if !ok || it.group.Version >= g.Version {
			last := it.group.LastSeen
			if ok && g.LastSeen.After(last) {
				last = g.LastSeen
			}
			g = it.group
			g.LastSeen = last
		} else if it.group.LastSeen.After(g.LastSeen) {
			// The row must live as long as the batch's newest event of the
			// issue, whichever event carried the latest metadata.
			g.LastSeen = it.group.LastSeen
		}
		groups[it.row.GroupID] = g
		if !b.counted[key] {
			outcomes = append(outcomes, store.Outcome{OrgID: it.orgID, ProjectID: it.row.ProjectID, KeyID: it.keyID,
				Timestamp: it.row.Received, Kind: outcome.Accepted, Category: it.category, Quantity: 1})
		}
	}
	for i := range b.items {
		w.hook(stageInsert, b.items[i].msg)
	}
	// Inserting a deploy again is harmless, so deploys need no check.
	if err := w.deps.Store.InsertDeploys(ctx, deploys); err != nil {
		return fmt.Errorf("store deploys: %w", err)
	}
	dupOutcomes, dropped := b.duplicateOutcomes(verdicts)
	if err := w.deps.Store.RecordOutcomes(ctx, append(outcomes, dupOutcomes...)); err != nil {
		return fmt.Errorf("record event outcomes: %w", err)
	}
	b.markDuplicatesCounted(verdicts)
	for me := range discarded {
		dropped[me] = true
	}
	// Counted now: a retry after any later failure must not count again.
	if b.counted == nil {
		b.counted = map[store.EventKey]bool{}
	}
	for _, r := range rows {
		b.counted[store.EventKey{ProjectID: r.ProjectID, EventID: r.EventID}] = true
	}
	for _, k := range discardedKeys {
		b.counted[k] = true
	}
	// Claims go before the events: a crash in between leaves the id to
	// this message, whose redelivery then stores it.
	if err := w.deps.Store.ClaimEvents(ctx, claims); err != nil {
		return fmt.Errorf("claim event ids: %w", err)
	}
	if len(rows) > 0 {
		// Metadata first: an issue listed from its events always has a title.
		gl := make([]store.Group, 0, len(groups))
		for _, g := range groups {
			gl = append(gl, g)
		}
		if err := w.deps.Store.UpsertGroups(ctx, gl); err != nil {
			return fmt.Errorf("store groups: %w", err)
		}
		// Releases and status changes go before the events: if the events
		// then fail, the retry finds the releases recorded and the issues
		// already reopened, and nothing is decided twice.
		firstSeen, err := w.releases(ctx, rows)
		if err != nil {
			return err
		}
		changes, causes, err := w.lifecycle(ctx, rows, created, firstSeen)
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
				it := itemOf[store.EventKey{ProjectID: r.ProjectID, EventID: r.EventID}]
				if it == nil {
					continue
				}
				trigger := alert.TriggerReappeared
				if c.Substatus == SubstatusRegressed {
					trigger = alert.TriggerRegression
				}
				c := w.candidate(it, r, trigger, strconv.FormatUint(cause.endedMS, 10), now)
				c.Again = again(it)
				cands = append(cands, c)
			}
		}
		// The alerts are queued before the status changes and the events
		// are written: a crash before this point leaves nothing decided,
		// and the redelivery decides (and queues) again.
		if err := w.alert(ctx, cands); err != nil {
			return err
		}
		cands = nil
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
		if err := w.deps.Store.InsertEvents(ctx, rows); err != nil {
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
	attOutcomes, err := w.writeAttachments(ctx, b, groupOf, dropped)
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

// decode turns one queue message into the events and other items it
// carries.
func (w *Worker) decode(ctx context.Context, m jetstream.Msg) (decoded, error) {
	var d decoded
	w.hook(stageDecode, m)
	qm, err := queue.Decode(m)
	if err != nil {
		return d, err
	}
	if qm.Kind == queue.KindOutcomes {
		return d, decodeOutcomeSums(&d, qm.Body)
	}
	project, ok := w.deps.Projects.ProjectByID(qm.ProjectID)
	if !ok || project.Status == meta.StatusPendingDeletion {
		return d, fmt.Errorf("%w: project %d", errProjectDeleted, qm.ProjectID)
	}
	body, err := envelope.Decode(qm.Body, qm.Encoding, envelope.MaxEnvelopeSize)
	if err != nil {
		return d, err
	}
	c := &msgContext{project: project, qm: &qm,
		src: Source{EventID: qm.EventID, Received: qm.Received, ClientIP: qm.ClientIP, Client: qm.Client}}
	var payloads [][]byte
	switch qm.Kind {
	case queue.KindStore:
		body, err = envelope.DecodeLegacyStore(body, envelope.MaxEventSize)
		if err != nil {
			return d, err
		}
		// Old SDKs sent transactions to /store/ too.
		if info, err := envelope.InspectEvent(body); err == nil && info.Type == "transaction" {
			w.transaction(c, &d, body)
		} else {
			payloads = append(payloads, body)
		}
	case queue.KindEnvelope:
		env, err := envelope.Parse(body)
		if err != nil {
			return d, err
		}
		c.src.SentAt = parseSentAt(env.Header.SentAt)
		if c.src.EventID == "" {
			c.src.EventID = env.Header.EventID
		}
		for i := range env.Items {
			it := &env.Items[i]
			if it.Type == "event" {
				payloads = append(payloads, it.Payload)
				continue
			}
			w.handleItem(c, &d, it)
		}
	case queue.KindAirbrake, queue.KindAirbrakeXML, queue.KindAirbrakeDeploy:
		items, err := w.decodeAirbrake(ctx, m, qm, body, project, c.src)
		if err != nil {
			return d, err
		}
		for i := range items {
			items[i].orgID, items[i].keyID = project.OrgID, qm.KeyID
		}
		d.events = items
		return d, nil
	default:
		return d, fmt.Errorf("unknown message kind %q", qm.Kind)
	}
	for _, p := range payloads {
		e, err := event.Decode(p)
		if err != nil {
			return d, fmt.Errorf("decode event: %w", err)
		}
		w.hook(stageNormalize, m)
		it, err := w.build(ctx, e, c.src, project)
		if err != nil {
			return d, err
		}
		it.msg, it.orgID, it.keyID = m, project.OrgID, qm.KeyID
		d.events = append(d.events, it)
	}
	if len(qm.Attachments) > 0 {
		w.attachments(c, &d, c.src.EventID)
	}
	return d, nil
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
	body, err := event.Encode(e)
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
		Body:          string(body),
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

// decodeOutcomeSums reads the outcomes ingest decided (rate limited,
// invalid) and queued in sums.
func decodeOutcomeSums(d *decoded, body []byte) error {
	var sums []outcome.Sum
	if err := json.Unmarshal(body, &sums); err != nil {
		return fmt.Errorf("outcome sums: %w", err)
	}
	for _, s := range sums {
		d.outcomes = append(d.outcomes, store.Outcome{OrgID: s.OrgID, ProjectID: s.ProjectID, KeyID: s.KeyID,
			Timestamp: time.Unix(s.Hour, 0).UTC(), Kind: s.Kind, Reason: s.Reason, Category: s.Category, Quantity: s.Quantity})
	}
	return nil
}
