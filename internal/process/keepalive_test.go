package process_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/queue"
)

// TestSlowBatchIsNotRedelivered: a batch whose decoding and whose insert
// each take longer than the ack wait (a worker starved of CPU) stays the
// worker's: JetStream redelivers none of it, so no other worker stores it
// a second time or counts a finished attempt as a crash.
func TestSlowBatchIsNotRedelivered(t *testing.T) {
	r := newRig(t)
	dl, at := openDeadLetters(t, r.q.JetStream())
	const n = 10
	r.publish(t, n)
	var slowDecode, slowInsert atomic.Bool
	cfg := process.Config{BatchSize: 50, BatchWait: 100 * time.Millisecond, AckWait: time.Second,
		StageHook: func(s string, _ jetstream.Msg) {
			if s == "decode" && slowDecode.CompareAndSwap(false, true) ||
				s == "insert" && slowInsert.CompareAndSwap(false, true) {
				time.Sleep(2500 * time.Millisecond)
			}
		}}
	r.runWorker(t, cfg, r.s, dl, at, func() bool { return r.total(t) == n && r.drained(t)() })
	if !slowDecode.Load() || !slowInsert.Load() {
		t.Fatal("the slow stages were not reached")
	}
	if got := r.total(t); got != n {
		t.Fatalf("stored %d, want %d", got, n)
	}
	c, err := r.q.JetStream().Consumer(context.Background(), queue.StreamName, queue.ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumRedelivered != 0 || ci.Delivered.Consumer != n {
		t.Fatalf("%d messages redelivered, %d deliveries for %d messages: the slow batch was handed to JetStream again", ci.NumRedelivered, ci.Delivered.Consumer, n)
	}
	if ls := letters(t, dl); len(ls) != 0 {
		t.Fatalf("%d messages dead-lettered", len(ls))
	}
}
