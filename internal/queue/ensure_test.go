package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/queue"
)

// TestEnsureKeyValue: opening a bucket again keeps what it holds and
// applies the new limits.
func TestEnsureKeyValue(t *testing.T) {
	q := open(t, queue.Config{DataDir: t.TempDir()})
	ctx := context.Background()
	cfg := jetstream.KeyValueConfig{Bucket: "faultline-test-ensure", History: 1, TTL: time.Hour, MaxBytes: 1 << 20,
		Storage: jetstream.FileStorage, Replicas: 1}
	kv, err := queue.EnsureKeyValue(ctx, q.JetStream(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	cfg.MaxBytes = 2 << 20
	kv, err = queue.EnsureKeyValue(ctx, q.JetStream(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("the entry did not survive: %v", err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.MaxBytes; got != 2<<20 {
		t.Fatalf("MaxBytes %d, want the new limit", got)
	}
}

// TestRetryStops: Retry gives up at its timeout with the last error, and
// stops early once the call succeeds.
func TestRetryStops(t *testing.T) {
	calls := 0
	err := queue.Retry(context.Background(), 300*time.Millisecond, func(context.Context) error {
		calls++
		return errors.New("not yet")
	})
	if err == nil || calls < 2 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	calls = 0
	if err := queue.Retry(context.Background(), time.Minute, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

// TestEnsureConsumerWaitsForItsStream: a consumer asked for before its
// stream exists (another role is still creating it on a fresh cluster) is
// created once the stream appears, instead of failing the start.
func TestEnsureConsumerWaitsForItsStream(t *testing.T) {
	q := open(t, queue.Config{DataDir: t.TempDir()})
	ctx := context.Background()
	js := q.JetStream()
	created := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, err := queue.EnsureStream(ctx, js, jetstream.StreamConfig{Name: "FAULTLINE_TEST_LATE", Subjects: []string{"test.late.>"},
			MaxBytes: 1 << 20, Storage: jetstream.FileStorage, Replicas: 1})
		created <- err
	}()
	c, err := queue.EnsureConsumer(ctx, js, "FAULTLINE_TEST_LATE", jetstream.ConsumerConfig{Durable: "late", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "test.late.x", []byte("v")); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range msgs.Messages() {
		n++
		if string(m.Data()) != "v" {
			t.Fatalf("got %q", m.Data())
		}
	}
	if n != 1 {
		t.Fatalf("the consumer delivered %d messages, want 1", n)
	}
}
