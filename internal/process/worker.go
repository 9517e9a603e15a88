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
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/queue"
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
}

// Groups resolves fingerprints to issue ids.
type Groups interface {
	Resolve(ctx context.Context, projectID uint64, config, hash string) (meta.GroupRef, bool, error)
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
}

// Worker consumes the ingest stream.
type Worker struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	mu        sync.Mutex // guards lastError
	lastError error
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
	return &Worker{cfg: cfg, deps: deps, log: deps.Log}, nil
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
func (w *Worker) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		batch, err := w.deps.Consumer.Fetch(w.cfg.BatchSize, jetstream.FetchMaxWait(w.cfg.BatchWait))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			w.log.Warn("fetch failed", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			w.log.Debug("fetch ended", "err", err)
		}
		if len(msgs) == 0 {
			continue
		}
		w.handle(ctx, msgs)
	}
	return nil
}

// item is one decoded event, ready to store.
type item struct {
	msg   jetstream.Msg
	row   store.Event
	group store.Group
	hash  string
}

// handle processes one batch of messages: decode in parallel, resolve
// issues, store, then ack.
func (w *Worker) handle(ctx context.Context, msgs []jetstream.Msg) {
	results := make([][]item, len(msgs))
	bad := make([]error, len(msgs))
	var wg sync.WaitGroup
	next := make(chan int)
	for g := 0; g < w.cfg.Concurrency; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], bad[i] = w.decode(msgs[i])
			}
		}()
	}
	for i := range msgs {
		next <- i
	}
	close(next)
	wg.Wait()

	var items []item
	var redelivered []store.EventKey
	var done []jetstream.Msg // acked after the store succeeds
	for i, m := range msgs {
		if errors.Is(bad[i], errProjectDeleted) {
			w.log.Info("dropping an event of a deleted project", "err", bad[i])
			m.Term() //nolint:errcheck
			continue
		}
		if bad[i] != nil {
			// Ingest validated it, so this is a bug or a corrupt message;
			// retrying would not help. Keep a trace and drop it.
			w.log.Error("dropping unprocessable message", "err", bad[i], "subject", m.Subject())
			m.Term() //nolint:errcheck
			continue
		}
		done = append(done, m)
		if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
			for _, it := range results[i] {
				redelivered = append(redelivered, store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID})
			}
		}
		items = append(items, results[i]...)
	}
	for attempt := 0; ; attempt++ {
		err := w.store(ctx, items, redelivered)
		if err == nil {
			w.setError(nil)
			break
		}
		w.setError(err)
		if ctx.Err() != nil {
			for _, m := range done {
				m.Nak() //nolint:errcheck // redelivered to another worker
			}
			return
		}
		wait := min(time.Duration(1<<min(attempt, 4))*500*time.Millisecond, 10*time.Second)
		w.log.Warn("store failed; retrying", "err", err, "events", len(items), "retry_in", wait)
		for _, m := range done {
			m.InProgress() //nolint:errcheck // keep the messages ours while we wait
		}
		sleep(ctx, wait)
		// Part of the batch may have been stored before the failure.
		redelivered = redelivered[:0]
		for _, it := range items {
			redelivered = append(redelivered, store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID})
		}
	}
	for _, m := range done {
		m.Ack() //nolint:errcheck // a lost ack means a redelivery, which is deduplicated
	}
}

// store resolves issues and writes the events not stored yet.
func (w *Worker) store(ctx context.Context, items []item, maybeStored []store.EventKey) error {
	skip := map[store.EventKey]bool{}
	if len(maybeStored) > 0 {
		var err error
		if skip, err = w.deps.Store.ExistingEvents(ctx, maybeStored); err != nil {
			return fmt.Errorf("check redelivered events: %w", err)
		}
	}
	rows := make([]store.Event, 0, len(items))
	groups := map[uint64]store.Group{}
	for i := range items {
		it := &items[i]
		key := store.EventKey{ProjectID: it.row.ProjectID, EventID: it.row.EventID}
		if skip[key] {
			continue
		}
		skip[key] = true // also drops a duplicate inside the batch
		if it.row.GroupID == 0 {
			ref, _, err := w.deps.Groups.Resolve(ctx, it.row.ProjectID, grouping.Config, it.hash)
			if err != nil {
				return fmt.Errorf("resolve issue: %w", err)
			}
			it.row.GroupID = ref.ID
			it.group.GroupID, it.group.ShortID = ref.ID, ref.ShortID
		}
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
	}
	if len(rows) == 0 {
		return nil
	}
	// Metadata first: an issue listed from its events always has a title.
	gl := make([]store.Group, 0, len(groups))
	for _, g := range groups {
		gl = append(gl, g)
	}
	if err := w.deps.Store.UpsertGroups(ctx, gl); err != nil {
		return fmt.Errorf("store groups: %w", err)
	}
	if err := w.deps.Store.InsertEvents(ctx, rows); err != nil {
		return fmt.Errorf("store events: %w", err)
	}
	return nil
}

// decode turns one queue message into the events it carries.
func (w *Worker) decode(m jetstream.Msg) ([]item, error) {
	qm, err := queue.Decode(m)
	if err != nil {
		return nil, err
	}
	project, ok := w.deps.Projects.ProjectByID(qm.ProjectID)
	if !ok || project.Status == meta.StatusPendingDeletion {
		return nil, fmt.Errorf("%w: project %d", errProjectDeleted, qm.ProjectID)
	}
	body, err := envelope.Decode(qm.Body, qm.Encoding, envelope.MaxEnvelopeSize)
	if err != nil {
		return nil, err
	}
	src := source{eventID: qm.EventID, received: qm.Received, clientIP: qm.ClientIP}
	var payloads [][]byte
	switch qm.Kind {
	case queue.KindStore:
		body, err = envelope.DecodeLegacyStore(body, envelope.MaxEventSize)
		if err != nil {
			return nil, err
		}
		payloads = append(payloads, body)
	case queue.KindEnvelope:
		env, err := envelope.Parse(body)
		if err != nil {
			return nil, err
		}
		for _, it := range env.Items {
			if it.Type == "event" {
				payloads = append(payloads, it.Payload)
			}
		}
	default:
		return nil, fmt.Errorf("unknown message kind %q", qm.Kind)
	}
	out := make([]item, 0, len(payloads))
	for _, p := range payloads {
		e, err := event.Decode(p)
		if err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		it, err := w.build(e, src, project)
		if err != nil {
			return nil, err
		}
		it.msg = m
		out = append(out, it)
	}
	return out, nil
}

// build normalizes an event and computes its row and issue metadata.
func (w *Worker) build(e *event.Event, src source, p *meta.Project) (item, error) {
	normalize(e, src)
	fp := grouping.Compute(e)
	e.Grouping = fp.Info()
	d := event.Derive(e)
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
	return item{row: row, group: group, hash: fp.Hash}, nil
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
