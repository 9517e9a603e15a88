package deadletter_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/deadletter"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/store"
)

func openQueue(t *testing.T) *queue.Queue {
	t.Helper()
	q, err := queue.Open(context.Background(), queue.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return q
}

// TestOpenIsIdempotent: opening again updates the limits and keeps the
// dead letters.
func TestOpenIsIdempotent(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	dl, err := deadletter.Open(ctx, q.JetStream(), deadletter.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addLetters(t, q, dl, map[string]string{"1": `{"user":{"email":"a@x.org"}}`})
	if _, err := deadletter.Open(ctx, q.JetStream(), deadletter.Config{MaxBytes: 1 << 20, MaxAge: time.Hour}, nil); err != nil {
		t.Fatal(err)
	}
	st, err := q.JetStream().Stream(ctx, deadletter.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	c := st.CachedInfo()
	if c.Config.MaxBytes != 1<<20 || c.Config.MaxAge != time.Hour || c.State.Msgs != 1 {
		t.Fatalf("config %+v, state %+v", c.Config, c.State)
	}
}

// addLetters queues one message per event id and body, takes them off the
// ingest stream as a worker would and dead-letters them.
func addLetters(t *testing.T, q *queue.Queue, dl *deadletter.Stream, bodies map[string]string) {
	t.Helper()
	ctx := context.Background()
	for id, body := range bodies {
		if err := q.Publish(ctx, &queue.Message{ProjectID: 7, EventID: id, Kind: queue.KindStore, Received: time.Now(),
			Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := q.Consumer(ctx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cons.Fetch(len(bodies), jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range b.Messages() {
		if dup, err := dl.Add(ctx, m, deadletter.Failure{Reason: "internal", Stage: "grouping", Stack: "goroutine 1\nline"}); err != nil || dup {
			t.Fatalf("add: %v %v", dup, err)
		}
		// The same delivery again (a lost ack) is a duplicate.
		if dup, err := dl.Add(ctx, m, deadletter.Failure{Reason: "internal", Stage: "grouping"}); err != nil || !dup {
			t.Fatalf("second add: %v %v", dup, err)
		}
		m.Ack() //nolint:errcheck
		n++
	}
	if n != len(bodies) {
		t.Fatalf("fetched %d of %d", n, len(bodies))
	}
}

// TestPurgeUser: a user's erasure removes the project's dead letters that
// mention the user, and only those; a project purge removes the rest.
func TestPurgeUser(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	dl, err := deadletter.Open(ctx, q.JetStream(), deadletter.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addLetters(t, q, dl, map[string]string{
		"1": `{"user":{"email":"a@x.org"}}`,
		"2": `{"user":{"id":42}}`,
		"3": `{"user":{"email":"b@x.org","id":"420"}}`,
	})
	ls, _, err := dl.List(ctx, 0, 10)
	if err != nil || len(ls) != 3 || ls[0].ID < ls[1].ID || ls[0].Stage != "grouping" || ls[0].Stack != "goroutine 1\nline" {
		t.Fatalf("list: %v %+v", err, ls)
	}
	for _, c := range []struct {
		f    store.UserFilter
		want uint64
	}{
		{store.UserFilter{Email: "a@x.org"}, 1},
		{store.UserFilter{ID: "42"}, 1},
		{store.UserFilter{Email: "nobody@x.org"}, 0},
	} {
		n, err := dl.Purge(ctx, 7, &c.f)
		if err != nil || n != c.want {
			t.Fatalf("purge %+v: %d %v, want %d", c.f, n, err, c.want)
		}
	}
	ls, _, _ = dl.List(ctx, 0, 10)
	if len(ls) != 1 || ls[0].EventID != "3" {
		t.Fatalf("left %+v, want event 3", ls)
	}
	if n, err := dl.Purge(ctx, 7, nil); err != nil || n != 1 {
		t.Fatalf("project purge: %d %v", n, err)
	}
	if st, _ := dl.Stats(ctx); st.Count != 0 {
		t.Fatalf("%d left", st.Count)
	}
}

// TestAttempts: only attempts that began and never ended count.
func TestAttempts(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	at, err := deadletter.OpenAttempts(ctx, q.JetStream(), 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		op   string // begin, fail (ended, not done), done
		want int    // unfinished before a begin; after the step otherwise
	}{
		{"begin", 0}, {"begin", 1}, {"fail", 1}, {"begin", 1}, {"fail", 1}, {"begin", 1}, {"begin", 2}, {"done", 0}, {"begin", 0},
	}
	for i, s := range steps {
		switch s.op {
		case "begin":
			n, err := at.Begin(ctx, 9)
			if err != nil || n != s.want {
				t.Fatalf("step %d: begin = %d %v, want %d", i, n, err, s.want)
			}
			continue
		case "fail":
			err = at.End(ctx, 9, false)
		case "done":
			err = at.End(ctx, 9, true)
		}
		n, err2 := at.Unfinished(ctx, 9)
		if err != nil || err2 != nil || n != s.want {
			t.Fatalf("step %d (%s): %d unfinished (%v %v), want %d", i, s.op, n, err, err2, s.want)
		}
	}
	if _, err := deadletter.OpenAttempts(ctx, q.JetStream(), 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, _ := at.Unfinished(ctx, 9); n != 1 {
		t.Fatalf("reopening lost the count: %d", n)
	}
}
