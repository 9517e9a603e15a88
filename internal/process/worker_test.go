package process_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/sourcemap"
	"github.com/faultline/faultline/internal/store"
	"github.com/faultline/faultline/internal/testenv"
)

// rig is a real queue, metadata store and chDB store in a temp directory.
type rig struct {
	q       *queue.Queue
	m       *meta.Store
	g       *meta.Groups
	s       *store.Store
	project *meta.Project
	log     *slog.Logger
	// alerts and notifier, when set (alerts_test.go), evaluate the rules.
	alerts   process.Alerts
	notifier process.Notifier
	// artifacts, when set (sourcemap_test.go), are the uploaded source maps.
	artifacts sourcemap.Artifacts
}

func newRig(t *testing.T) *rig { t.Helper(); return newRigAt(t, 1<<30) }

// newRigAt is newRig with the store's schema migrated up to version upTo
// only.
func newRigAt(t *testing.T, upTo int) *rig {
	t.Helper()
	ctx := context.Background()
	log := newRigLog()
	dir := t.TempDir()
	q, err := queue.Open(ctx, queue.Config{DataDir: dir + "/nats"}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	m, err := meta.Open(ctx, q.JetStream(), meta.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	g, err := meta.OpenGroups(ctx, q.JetStream(), 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, store.Config{Path: dir + "/ch", CHDBLib: testenv.CHDBLib(t)}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.MigrateTo(ctx, upTo); err != nil {
		t.Fatal(err)
	}
	org, _ := m.CreateOrganization(ctx, "Acme", "acme", 0)
	team, _ := m.CreateTeam(ctx, org, "T", "t")
	p, _, err := m.CreateProject(ctx, team, "P", "p", "python")
	if err != nil {
		t.Fatal(err)
	}
	return &rig{q: q, m: m, g: g, s: s, project: p, log: log}
}

func newRigLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func (r *rig) publish(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%032x", i+1)
		body := fmt.Sprintf(`{"event_id":"%s","exception":{"values":[{"type":"Err%d","value":"boom"}]}}`, id, i%3)
		if err := r.q.Publish(context.Background(), &queue.Message{ProjectID: r.project.ID, EventID: id,
			Kind: queue.KindStore, Received: time.Now(), Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *rig) total(t *testing.T) int {
	t.Helper()
	page, err := r.s.ListIssues(context.Background(), store.IssueQuery{ProjectIDs: []uint64{r.project.ID}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, is := range page.Issues {
		n += int(is.TimesSeen)
	}
	return n
}

func (r *rig) run(t *testing.T, st process.Store, ackWait time.Duration, until func() bool) {
	t.Helper()
	cons, err := r.q.Consumer(context.Background(), ackWait)
	if err != nil {
		t.Fatal(err)
	}
	w, err := process.New(process.Config{BatchSize: 50, BatchWait: 100 * time.Millisecond, AckWait: ackWait,
		Artifacts: r.artifacts},
		process.Deps{Consumer: cons, Store: st, Groups: r.g, Projects: r.m, Log: r.log, Alerts: r.alerts, Notifier: r.notifier})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }() //nolint:errcheck
	deadline := time.Now().Add(2 * time.Minute)   // a loaded machine; drained ends it sooner
	for !until() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
}

// crashAfterFirstInsert runs a worker that stores its first batch and
// then dies before acknowledging it, as a crash would.
func (r *rig) crashAfterFirstInsert(t *testing.T) {
	t.Helper()
	crashed := make(chan struct{})
	fs := &faultyStore{Store: r.s, after: func() error {
		close(crashed)
		return context.Canceled
	}}
	cons, err := r.q.Consumer(context.Background(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w, err := process.New(process.Config{BatchSize: 50, BatchWait: 100 * time.Millisecond},
		process.Deps{Consumer: cons, Store: fs, Groups: r.g, Projects: r.m, Log: r.log, Alerts: r.alerts, Notifier: r.notifier})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }() //nolint:errcheck
	<-crashed
	cancel()
	<-done
}

func (r *rig) drained(t *testing.T) func() bool {
	return func() bool {
		b, err := r.q.Backlog(context.Background())
		return err == nil && b.Messages == 0
	}
}

// faultyStore is the real store with one injected failure: the first
// insert reaches ClickHouse, then reports an error (as when the connection
// drops before the answer), or cancels the worker (as when it crashes
// between storing and acknowledging).
type faultyStore struct {
	*store.Store
	mu     sync.Mutex
	failed bool
	after  func() error
}

func (f *faultyStore) InsertEvents(ctx context.Context, evs []store.Event) error {
	if err := f.Store.InsertEvents(ctx, evs); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.failed {
		f.failed = true
		return f.after()
	}
	return nil
}

// TestRetryAfterStoredBatchDoesNotDuplicate: an insert that succeeded but
// reported failure is retried without storing or counting events twice.
func TestRetryAfterStoredBatchDoesNotDuplicate(t *testing.T) {
	r := newRig(t)
	r.publish(t, 120)
	fs := &faultyStore{Store: r.s, after: func() error { return errors.New("connection reset after insert") }}
	r.run(t, fs, 5*time.Second, r.drained(t))
	if !fs.failed {
		t.Fatal("the fault was not injected")
	}
	if n := r.total(t); n != 120 {
		t.Fatalf("stored %d events, want 120", n)
	}
	if n := r.accepted(t); n != 120 {
		t.Fatalf("counted %d events as accepted, want 120", n)
	}
}

// accepted sums the events counted as accepted in the outcomes table.
func (r *rig) accepted(t *testing.T) uint64 {
	t.Helper()
	totals, err := r.s.OutcomeTotals(context.Background(), store.OutcomeQuery{ProjectIDs: []uint64{r.project.ID}})
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, o := range totals {
		if o.Kind == outcome.Accepted && o.Category == outcome.CategoryError {
			n += o.Quantity
		}
	}
	return n
}

// TestRedeliveryAfterCrashDoesNotDuplicate: a worker that stored a batch
// and died before acknowledging it leaves the messages to be redelivered;
// the next worker recognises them and stores nothing twice.
func TestRedeliveryAfterCrashDoesNotDuplicate(t *testing.T) {
	r := newRig(t)
	r.publish(t, 90)
	// First worker: dies right after its first insert.
	r.crashAfterFirstInsert(t)
	if n := r.total(t); n == 0 || n >= 90 {
		t.Fatalf("after the crash %d events are stored; want part of a batch", n)
	}
	// Second worker: takes the redelivered messages and the rest.
	r.run(t, r.s, 2*time.Second, r.drained(t))
	if n := r.total(t); n != 90 {
		t.Fatalf("stored %d events, want 90", n)
	}
}

// TestDropsEventsOfDeletedProjects: events queued for a project that is
// then marked for deletion are dropped, not stored after its data was
// deleted.
func TestDropsEventsOfDeletedProjects(t *testing.T) {
	r := newRig(t)
	r.publish(t, 20)
	if _, err := r.m.MarkProjectForDeletion(context.Background(), r.project.ID); err != nil {
		t.Fatal(err)
	}
	r.run(t, r.s, 5*time.Second, r.drained(t))
	if !r.drained(t)() {
		t.Fatal("the queue was not drained")
	}
	if n := r.total(t); n != 0 {
		t.Fatalf("%d events of a deleted project stored", n)
	}
}

// batchRecorder is the real store, recording the size of each insert.
type batchRecorder struct {
	*store.Store
	mu    sync.Mutex
	sizes []int
}

func (b *batchRecorder) InsertEvents(ctx context.Context, evs []store.Event) error {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(evs))
	b.mu.Unlock()
	return b.Store.InsertEvents(ctx, evs)
}

// TestBatchSize: a batch is written once it holds BatchSize events; the
// rest go in a partial batch once BatchWait has passed.
func TestBatchSize(t *testing.T) {
	r := newRig(t)
	r.publish(t, 25)
	rec := &batchRecorder{Store: r.s}
	cons, err := r.q.Consumer(context.Background(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w, err := process.New(process.Config{BatchSize: 10, BatchWait: 200 * time.Millisecond},
		process.Deps{Consumer: cons, Store: rec, Groups: r.g, Projects: r.m, Log: r.log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }() //nolint:errcheck
	deadline := time.Now().Add(30 * time.Second)
	for r.total(t) < 25 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	rec.mu.Lock()
	defer rec.mu.Unlock()
	full, sum := 0, 0
	for _, n := range rec.sizes {
		if n > 10 {
			t.Errorf("a batch of %d events; the limit is 10", n)
		}
		if n == 10 {
			full++
		}
		sum += n
	}
	if sum != 25 || full < 2 {
		t.Errorf("batches %v, want two full batches of 10 and the rest", rec.sizes)
	}
}

// TestOutcomesSurviveRedelivery: events are counted in the outcomes table
// exactly once, even when a worker dies between storing and acknowledging
// them and the messages come again.
func TestOutcomesSurviveRedelivery(t *testing.T) {
	r := newRig(t)
	r.publish(t, 90)
	r.crashAfterFirstInsert(t)
	r.run(t, r.s, 2*time.Second, r.drained(t))
	if accepted := r.accepted(t); accepted != 90 || r.total(t) != 90 {
		t.Fatalf("%d events counted as accepted, %d stored; want 90 of each", r.accepted(t), r.total(t))
	}
}
