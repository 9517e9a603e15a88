package process_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/store"
)

// starvedConsumer hands out messages whose InProgress never reaches
// JetStream, as on a worker too starved of CPU to send it in time: its
// messages are redelivered to another worker while it still holds them.
type starvedConsumer struct{ jetstream.Consumer }

func (c starvedConsumer) Fetch(n int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	b, err := c.Consumer.Fetch(n, opts...)
	if err != nil {
		return nil, err
	}
	out := make(chan jetstream.Msg)
	go func() {
		defer close(out)
		for m := range b.Messages() {
			out <- starvedMsg{m}
		}
	}()
	return starvedBatch{b, out}, nil
}

type starvedBatch struct {
	jetstream.MessageBatch
	msgs chan jetstream.Msg
}

func (b starvedBatch) Messages() <-chan jetstream.Msg { return b.msgs }

type starvedMsg struct{ jetstream.Msg }

func (starvedMsg) InProgress() error { return nil }

// stallingStore is worker A's store: its stage hook (stall) holds the
// batch after the claims, before the events' insert, until released; the
// insert then fails (A gives up and stops) or succeeds (A was only slow).
type stallingStore struct {
	*store.Store
	once     sync.Once
	claimed  chan struct{}
	released chan struct{}
	succeed  bool // after the stall, insert after all
}

// stall is worker A's stage hook: at the events' insert (after the
// claims), it waits until released.
func (s *stallingStore) stall(stage string, _ jetstream.Msg) {
	if stage != "encode" {
		return
	}
	s.once.Do(func() { close(s.claimed) })
	<-s.released
}

func (s *stallingStore) InsertEvents(ctx context.Context, evs []store.Event) error {
	if s.succeed {
		return s.Store.InsertEvents(ctx, evs)
	}
	return errors.New("worker A stopped before inserting")
}

// TestRedeliveryWhileClaimantStalls: worker A claims a batch's event ids,
// then stalls before inserting the events, its InProgress never reaching
// JetStream; the messages are redelivered to worker B, which finds its own
// message's claim but not the events, and must store them (a claim is not
// a stored event). Then A either fails and stops before inserting (B's
// copy must be the one stored: nothing lost), or wakes up and reaches the
// insert (it must not store the events a second time). Every event ends
// stored exactly once, none dropped as a duplicate.
func TestRedeliveryWhileClaimantStalls(t *testing.T) {
	for _, tc := range []struct {
		name    string
		succeed bool
	}{{"claimant fails", false}, {"claimant inserts late", true}} {
		t.Run(tc.name, func(t *testing.T) { testRedeliveryWhileClaimantStalls(t, tc.succeed) })
	}
}

func testRedeliveryWhileClaimantStalls(t *testing.T, succeed bool) {
	r := newRig(t)
	const n = 20
	r.publish(t, n)
	const ackWait = 2 * time.Second

	// Worker A: fetches everything, claims, stalls before the insert.
	st := &stallingStore{Store: r.s, claimed: make(chan struct{}), released: make(chan struct{}), succeed: succeed}
	consA, err := r.q.Consumer(context.Background(), ackWait)
	if err != nil {
		t.Fatal(err)
	}
	wa, err := process.New(process.Config{BatchSize: 50, BatchWait: 300 * time.Millisecond, AckWait: ackWait, StageHook: st.stall},
		process.Deps{Consumer: starvedConsumer{consA}, Store: st, Groups: r.g, Projects: r.m, Log: r.log})
	if err != nil {
		t.Fatal(err)
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() { defer close(doneA); wa.Run(ctxA) }() //nolint:errcheck
	select {
	case <-st.claimed:
	case <-time.After(time.Minute):
		t.Fatal("worker A never reached the insert")
	}
	claims, err := r.s.EventClaims(context.Background(), []store.EventKey{{ProjectID: r.project.ID, EventID: "00000000000000000000000000000001"}})
	if err != nil || len(claims) != 1 {
		t.Fatalf("worker A's claim: %v, %v", claims, err)
	}

	// Worker B: gets the redelivery while A still holds the batch.
	r.run(t, r.s, ackWait, func() bool { return r.total(t) == n && r.drained(t)() })

	// A gives up and stops, or inserts late.
	close(st.released)
	if succeed {
		time.Sleep(3 * time.Second)
	}
	cancelA()
	<-doneA
	// Whatever A handed back is taken again.
	r.run(t, r.s, ackWait, r.drained(t))

	if a, d, got := r.accepted(t), r.duplicates(t), r.total(t); got != n || d != 0 {
		t.Fatalf("stored %d, accepted %d, duplicates %d; want %d stored, none a duplicate", got, a, d, n)
	}
	ids, err := r.s.ExistingEvents(context.Background(), []store.EventKey{{ProjectID: r.project.ID, EventID: "00000000000000000000000000000001"}})
	if err != nil || len(ids) != 1 {
		t.Fatalf("event 1 stored: %v, %v", ids, err)
	}
}
