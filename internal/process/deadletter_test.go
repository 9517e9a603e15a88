package process_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/deadletter"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/store"
	"github.com/faultline/faultline/internal/testenv"
)

func eventID(i int) string { return fmt.Sprintf("%032x", i+1) }

// openDeadLetters opens the dead-letter stream and the attempts bucket on
// the rig's queue.
func openDeadLetters(t *testing.T, js jetstream.JetStream) (*deadletter.Stream, *deadletter.Attempts) {
	t.Helper()
	dl, err := deadletter.Open(context.Background(), js, deadletter.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	at, err := deadletter.OpenAttempts(context.Background(), js, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	return dl, at
}

// runWorker runs a worker with dead letters until until() holds (or 60s).
func (r *rig) runWorker(t *testing.T, cfg process.Config, st process.Store, dl *deadletter.Stream, at *deadletter.Attempts, until func() bool) {
	t.Helper()
	cons, err := r.q.Consumer(context.Background(), cfg.AckWait)
	if err != nil {
		t.Fatal(err)
	}
	w, err := process.New(cfg, process.Deps{Consumer: cons, Store: st, Groups: r.g, Projects: r.m, Log: r.log,
		DeadLetters: dl, Attempts: at})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }() //nolint:errcheck
	deadline := time.Now().Add(60 * time.Second)
	for !until() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
}

func letters(t *testing.T, dl *deadletter.Stream) []*deadletter.Letter {
	t.Helper()
	ls, _, err := dl.List(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// invalid sums the events counted as invalid with reason.
func (r *rig) invalid(t *testing.T, reason string) uint64 {
	t.Helper()
	totals, err := r.s.OutcomeTotals(context.Background(), store.OutcomeQuery{ProjectIDs: []uint64{r.project.ID}})
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, o := range totals {
		if o.Kind == outcome.Invalid && o.Reason == reason {
			n += o.Quantity
		}
	}
	return n
}

// TestPoisonMessage: a message that panics in a stage, alone or in a step
// that works on the whole batch, is dead-lettered with its stage and
// stack and counted as invalid; the rest of its batch is stored, and the
// worker goes on.
func TestPoisonMessage(t *testing.T) {
	for _, stage := range []string{"decode", "normalize", "insert", "encode"} {
		t.Run(stage, func(t *testing.T) {
			r := newRig(t)
			dl, at := openDeadLetters(t, r.q.JetStream())
			r.publish(t, 30)
			bad := eventID(7)
			var hits atomic.Int32
			var fixed atomic.Bool
			cfg := process.Config{BatchSize: 50, BatchWait: 300 * time.Millisecond, AckWait: 5 * time.Second,
				StageHook: func(s string, m jetstream.Msg) {
					if s == stage && m.Headers().Get("Fl-Event-Id") == bad && !fixed.Load() {
						hits.Add(1)
						panic("poison in " + s)
					}
				}}
			r.runWorker(t, cfg, r.s, dl, at, func() bool { return r.drained(t)() && r.total(t) == 29 })
			if n := r.total(t); n != 29 {
				t.Fatalf("stored %d events, want the 29 good ones", n)
			}
			// An event is counted before it is written: one whose insert
			// panics stays counted, as after a crash between the two.
			wantAccepted := uint64(29)
			if stage == "encode" {
				wantAccepted = 30
			}
			if n := r.accepted(t); n != wantAccepted {
				t.Fatalf("%d accepted, want %d", n, wantAccepted)
			}
			ls := letters(t, dl)
			if len(ls) != 1 {
				t.Fatalf("%d dead letters, want 1", len(ls))
			}
			l := ls[0]
			if l.EventID != bad || l.Stage != stage || l.Reason != process.ReasonInternal || l.ProjectID != r.project.ID ||
				!strings.Contains(l.Stack, "goroutine") || !strings.Contains(l.Error, "poison in") || l.Kind != queue.KindStore {
				t.Fatalf("dead letter %+v", l)
			}
			// Counted once: as invalid, or as accepted if it was counted
			// before its insert panicked.
			if n := r.invalid(t, process.ReasonInternal); n != 30-wantAccepted {
				t.Fatalf("%d invalid/internal outcomes, want %d", n, 30-wantAccepted)
			}
			// A panic in the batch's insert is narrowed down by halving the
			// batch: the poison takes part in each step.
			if h := hits.Load(); h != 1 && (stage != "insert" && stage != "encode" || h > 7) {
				t.Fatalf("the poison was processed %d times", h)
			}
			// The worker keeps going: more events are stored.
			r.publishFrom(t, 100, 5)
			r.runWorker(t, cfg, r.s, dl, at, func() bool { return r.total(t) == 34 })
			if n := r.total(t); n != 34 {
				t.Fatalf("after the poison, %d events stored, want 34", n)
			}
			// Once the bug is fixed, the replayed message is stored: it is
			// the same message (a claim its first attempt wrote before the
			// insert failed does not make it a duplicate), counted once.
			fixed.Store(true)
			if err := dl.Replay(context.Background(), l.ID, r.q); err != nil {
				t.Fatal(err)
			}
			r.runWorker(t, cfg, r.s, dl, at, func() bool { return r.total(t) == 35 })
			if n := r.total(t); n != 35 {
				t.Fatalf("after the replay, %d events stored, want 35", n)
			}
			if n := r.accepted(t); n != wantAccepted+6 {
				t.Fatalf("%d accepted after the replay, want %d", n, wantAccepted+6)
			}
			if ls := letters(t, dl); len(ls) != 0 {
				t.Fatalf("%d dead letters left after the replay", len(ls))
			}
		})
	}
}

func (r *rig) publishFrom(t *testing.T, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		id := eventID(i)
		body := fmt.Sprintf(`{"event_id":"%s","exception":{"values":[{"type":"Err%d","value":"boom"}]}}`, id, i%3)
		if err := r.q.Publish(context.Background(), &queue.Message{ProjectID: r.project.ID, EventID: id,
			Kind: queue.KindStore, Received: time.Now(), Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
}

// downStore is the real store while ClickHouse "is down": every insert
// fails, as a network error would.
type downStore struct {
	*store.Store
	fails atomic.Int32
}

func (d *downStore) InsertEvents(ctx context.Context, evs []store.Event) error {
	d.fails.Add(1)
	return errors.New("dial tcp 127.0.0.1:9000: connection refused")
}

// TestOutageAndShutdownDoNotCount: messages that went through store
// outages and graceful shutdowns many more times than MaxAttempts are
// stored in the end, none dead-lettered.
func TestOutageAndShutdownDoNotCount(t *testing.T) {
	r := newRig(t)
	dl, at := openDeadLetters(t, r.q.JetStream())
	const n = 10
	r.publish(t, n)
	cfg := process.Config{BatchSize: 50, BatchWait: 100 * time.Millisecond, AckWait: 5 * time.Second, MaxAttempts: 2}
	for round := 0; round < 4; round++ {
		down := &downStore{Store: r.s}
		// Each round: the store fails at least twice, then the worker is
		// stopped gracefully, handing the messages back.
		r.runWorker(t, cfg, down, dl, at, func() bool { return down.fails.Load() >= 2 })
		if down.fails.Load() < 2 {
			t.Fatalf("round %d: the outage was not hit", round)
		}
	}
	for seq := uint64(1); seq <= n; seq++ {
		if u, err := at.Unfinished(context.Background(), seq); err != nil || u != 0 {
			t.Fatalf("message %d has %d unfinished attempts (%v), want 0", seq, u, err)
		}
	}
	counting := &countingStore{Store: r.s}
	r.runWorker(t, cfg, counting, dl, at, func() bool { return r.total(t) == n && r.drained(t)() })
	if got := r.total(t); got != n {
		t.Fatalf("stored %d, want %d", got, n)
	}
	if ls := letters(t, dl); len(ls) != 0 {
		t.Fatalf("%d innocent messages dead-lettered: %+v", len(ls), ls[0])
	}
	// Handed back, not crashed: stored together, not one insert each.
	if c := counting.inserts.Load(); c > 2 {
		t.Fatalf("the %d handed-back messages took %d inserts", n, c)
	}
}

// countingStore counts the events' inserts.
type countingStore struct {
	*store.Store
	inserts atomic.Int32
}

func (c *countingStore) InsertEvents(ctx context.Context, evs []store.Event) error {
	c.inserts.Add(1)
	return c.Store.InsertEvents(ctx, evs)
}

// The worker child: a separate process running a worker against the
// parent's NATS server, which kills itself (SIGKILL) where it is told to,
// as a fatal error or an out-of-memory kill would end it.
const (
	envChild = "FAULTLINE_TEST_WORKER_CHILD" // the NATS URL
	envCHDir = "FAULTLINE_TEST_WORKER_CH"
	envCrash = "FAULTLINE_TEST_WORKER_CRASH" // stage:event id, or stage:* for the first message
	envMax   = "FAULTLINE_TEST_WORKER_MAX_ATTEMPTS"
)

// TestWorkerChild is the child's body; it does nothing in a normal run.
func TestWorkerChild(t *testing.T) {
	url := os.Getenv(envChild)
	if url == "" {
		return
	}
	ctx := context.Background()
	log := newRigLog()
	q, err := queue.Open(ctx, queue.Config{URL: url}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	m, err := meta.Open(ctx, q.JetStream(), meta.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g, err := meta.OpenGroups(ctx, q.JetStream(), 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, store.Config{Path: os.Getenv(envCHDir), CHDBLib: testenv.CHDBLib(t)}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dl, at := openDeadLetters(t, q.JetStream())
	cons, err := q.Consumer(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	maxAttempts, _ := strconv.Atoi(os.Getenv(envMax))
	cfg := process.Config{BatchSize: 50, BatchWait: 200 * time.Millisecond, AckWait: 2 * time.Second, MaxAttempts: maxAttempts}
	if stage, id, ok := strings.Cut(os.Getenv(envCrash), ":"); ok {
		cfg.StageHook = func(s string, msg jetstream.Msg) {
			if s == stage && (id == "*" || msg.Headers().Get("Fl-Event-Id") == id) {
				syscall.Kill(os.Getpid(), syscall.SIGKILL) //nolint:errcheck
				select {}
			}
		}
	}
	w, err := process.New(cfg, process.Deps{Consumer: cons, Store: s, Groups: g, Projects: m, Log: log,
		DeadLetters: dl, Attempts: at})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(wctx) }() //nolint:errcheck
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := q.Backlog(ctx); err == nil && b.Messages == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done
}

// childRig is NATS (listening) and the metadata in the test process; the
// store belongs to the children, then to the test once they are done.
type childRig struct {
	q       *queue.Queue
	m       *meta.Store
	project *meta.Project
	url     string
	chDir   string
}

func newChildRig(t *testing.T) *childRig {
	t.Helper()
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	q, err := queue.Open(ctx, queue.Config{DataDir: dir + "/nats", ListenAddr: addr}, newRigLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	m, err := meta.Open(ctx, q.JetStream(), meta.Config{}, newRigLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	org, _ := m.CreateOrganization(ctx, "Acme", "acme", 0)
	team, _ := m.CreateTeam(ctx, org, "T", "t")
	p, _, err := m.CreateProject(ctx, team, "P", "p", "python")
	if err != nil {
		t.Fatal(err)
	}
	return &childRig{q: q, m: m, project: p, url: "nats://" + addr, chDir: dir + "/ch"}
}

func (c *childRig) publish(t *testing.T, n int) {
	t.Helper()
	r := &rig{q: c.q, project: c.project}
	r.publish(t, n)
}

// child runs a worker process and reports whether it was killed.
func (c *childRig) child(t *testing.T, crash string, maxAttempts int) (killed bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"="+c.url, envCHDir+"="+c.chDir, envCrash+"="+crash,
		envMax+"="+strconv.Itoa(maxAttempts))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() && st.Signal() == syscall.SIGKILL {
			return true
		}
	}
	if err != nil {
		t.Fatalf("worker child: %v\n%s", err, out)
	}
	return false
}

// check opens the store once the children are done and returns a rig to
// read it.
func (c *childRig) check(t *testing.T) *rig {
	t.Helper()
	s, err := store.Open(context.Background(), store.Config{Path: c.chDir, CHDBLib: testenv.CHDBLib(t)}, newRigLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &rig{q: c.q, m: c.m, s: s, project: c.project}
}

// TestKilledMidBatch: a worker process killed while storing a batch (no
// recover can catch it) comes back; the batch's messages are processed one
// at a time, none is dead-lettered, and each is stored exactly once.
func TestKilledMidBatch(t *testing.T) {
	c := newChildRig(t)
	const n = 40
	c.publish(t, n)
	if !c.child(t, "insert:*", 5) {
		t.Fatal("the first worker was not killed")
	}
	if c.child(t, "", 5) {
		t.Fatal("the second worker was killed")
	}
	r := c.check(t)
	dl, _ := openDeadLetters(t, c.q.JetStream())
	if ls := letters(t, dl); len(ls) != 0 {
		t.Fatalf("%d innocent messages dead-lettered, e.g. %+v", len(ls), ls[0])
	}
	if got := r.total(t); got != n {
		t.Fatalf("stored %d events, want exactly %d", got, n)
	}
	if got := r.accepted(t); got != n {
		t.Fatalf("%d accepted, want exactly %d", got, n)
	}
}

// TestCrashLoopIsDeadLettered: a message that kills its worker every time
// is dead-lettered, without being processed again, once MaxAttempts
// attempts at it never finished; its batch's innocent messages are stored.
func TestCrashLoopIsDeadLettered(t *testing.T) {
	c := newChildRig(t)
	const n, maxAttempts = 20, 3
	c.publish(t, n)
	bad := eventID(4)
	kills := 0
	for run := 0; run < maxAttempts+4; run++ {
		if !c.child(t, "normalize:"+bad, maxAttempts) {
			break
		}
		kills++
	}
	// Once in its first batch, then alone maxAttempts times.
	if kills != maxAttempts+1 {
		t.Fatalf("the worker was killed %d times, want %d", kills, maxAttempts+1)
	}
	r := c.check(t)
	dl, _ := openDeadLetters(t, c.q.JetStream())
	ls := letters(t, dl)
	if len(ls) != 1 || ls[0].EventID != bad || ls[0].Stage != "crash" || ls[0].Reason != process.ReasonInternal {
		t.Fatalf("dead letters %+v, want the poison, stage crash", ls)
	}
	if got := r.total(t); got != n-1 {
		t.Fatalf("stored %d events, want the %d innocent ones", got, n-1)
	}
	if got := r.invalid(t, process.ReasonInternal); got != 1 {
		t.Fatalf("%d invalid outcomes, want 1", got)
	}
}

// claimFailStore fails claiming event ids a few times, as ClickHouse does
// when it is briefly unreachable between two writes of a batch.
type claimFailStore struct {
	*store.Store
	left atomic.Int32
}

func (c *claimFailStore) ClaimEvents(ctx context.Context, claims []store.EventClaim) error {
	if c.left.Add(-1) >= 0 {
		return errors.New("dial tcp 127.0.0.1:9000: connection refused")
	}
	return c.Store.ClaimEvents(ctx, claims)
}

// TestRetryAfterCountingCountsOnce: a batch whose outcomes were recorded
// but whose claims then failed is retried; its events are counted once.
func TestRetryAfterCountingCountsOnce(t *testing.T) {
	r := newRig(t)
	dl, at := openDeadLetters(t, r.q.JetStream())
	const n = 10
	r.publish(t, n)
	st := &claimFailStore{Store: r.s}
	st.left.Store(2)
	cfg := process.Config{BatchSize: 50, BatchWait: 100 * time.Millisecond, AckWait: 5 * time.Second}
	r.runWorker(t, cfg, st, dl, at, func() bool { return r.total(t) == n && r.drained(t)() })
	if got := r.total(t); got != n {
		t.Fatalf("stored %d, want %d", got, n)
	}
	if st.left.Load() >= 0 {
		t.Fatal("claiming never failed")
	}
	if got := r.accepted(t); got != n {
		t.Fatalf("%d accepted, want %d: the retry counted again", got, n)
	}
}
