package queue_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/queue"
)

func open(t *testing.T, cfg queue.Config) *queue.Queue {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	q, err := queue.Open(context.Background(), cfg, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return q
}

func TestPublishDeduplicatesAndRoundTrips(t *testing.T) {
	ctx := context.Background()
	q := open(t, queue.Config{})
	m := &queue.Message{ProjectID: 42, EventID: "0123456789abcdef0123456789abcdef", Kind: queue.KindEnvelope,
		Encoding: "gzip", Received: time.UnixMilli(1_700_000_000_123), ClientIP: "10.0.0.1", Client: "sentry.go/0.46.2",
		KeyID: "0123456789abcdef0123456789abcdef",
		Attachments: []queue.AttachmentRef{
			{ID: 1, Key: "42/0123456789abcdef0123456789abcdef/1", Name: "crash\n\"log\".txt", ContentType: "text/plain", Type: "event.attachment", Size: 9, SHA1: "ab"},
			{ID: 2, Key: "42/0123456789abcdef0123456789abcdef/2", Name: "Minidump", Type: "event.minidump", Size: 1 << 30},
		},
		Body: []byte{0x1f, 0x8b, 0, '\n', '\n', 1}}
	for i := 0; i < 3; i++ { // an SDK retrying the same event
		if err := q.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	b, err := q.Backlog(ctx)
	if err != nil || b.Messages != 1 {
		t.Fatalf("backlog = %+v, %v; want one message", b, err)
	}
	cons, err := q.Consumer(ctx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []queue.Message
	for msg := range batch.Messages() {
		d, err := queue.Decode(msg)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
		msg.Ack()
	}
	if len(got) != 1 {
		t.Fatalf("got %d messages", len(got))
	}
	g := got[0]
	if g.ProjectID != 42 || g.EventID != m.EventID || g.Kind != m.Kind || g.Encoding != "gzip" ||
		!g.Received.Equal(m.Received) || g.ClientIP != m.ClientIP || g.Client != m.Client || !bytes.Equal(g.Body, m.Body) ||
		g.KeyID != m.KeyID || !reflect.DeepEqual(g.Attachments, m.Attachments) {
		t.Fatalf("round trip: %+v", g)
	}
}

func TestFullQueueRefuses(t *testing.T) {
	ctx := context.Background()
	q := open(t, queue.Config{MaxMsgs: 3})
	for i := 0; i < 3; i++ {
		if err := q.Publish(ctx, &queue.Message{ProjectID: 1, EventID: string(rune('a' + i)), Kind: queue.KindStore, Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	err := q.Publish(ctx, &queue.Message{ProjectID: 1, EventID: "z", Kind: queue.KindStore, Body: []byte("{}")})
	if !errors.Is(err, queue.ErrQueueFull) {
		t.Fatalf("publish to a full queue: %v", err)
	}
}

func TestSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	q, err := queue.Open(ctx, queue.Config{DataDir: dir, SyncAlways: true}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := q.Publish(ctx, &queue.Message{ProjectID: 1, EventID: string(rune('a' + i)), Kind: queue.KindStore, Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	q2 := open(t, queue.Config{DataDir: dir})
	if b, err := q2.Backlog(ctx); err != nil || b.Messages != 10 {
		t.Fatalf("after restart: %+v, %v", b, err)
	}
}
