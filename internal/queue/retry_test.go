package queue_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/queue"
)

// publishes records what the queue reports of its publishes.
type publishes struct {
	mu       sync.Mutex
	attempts []int
	errs     []error
}

func (p *publishes) ObservePublish(_ time.Duration, attempts int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempts, p.errs = append(p.attempts, attempts), append(p.errs, err)
}

// TestPublishWaitsForTheStream: while the stream cannot answer (here it
// is gone, as it is unanswered during a leader election), a publish is
// tried again until PublishTimeout; the stream back in time, the publish
// succeeds and the message is stored once; past the timeout, it fails as
// unavailable.
func TestPublishWaitsForTheStream(t *testing.T) {
	ctx := context.Background()
	obs := &publishes{}
	q := open(t, queue.Config{PublishTimeout: 3 * time.Second, AttemptTimeout: 200 * time.Millisecond, Metrics: obs})
	js := q.JetStream()
	st, err := js.Stream(ctx, queue.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if err := js.DeleteStream(ctx, queue.StreamName); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(700 * time.Millisecond)
		if _, err := queue.EnsureStream(ctx, js, cfg); err != nil {
			t.Error(err)
		}
	}()
	m := &queue.Message{ProjectID: 1, EventID: "0123456789abcdef0123456789abcdef", Kind: queue.KindStore, Body: []byte(`{}`), Received: time.Now()}
	if err := q.Publish(ctx, m); err != nil {
		t.Fatalf("publish while the stream was away: %v", err)
	}
	if err := q.Publish(ctx, m); err != nil { // the same event again: deduplicated
		t.Fatal(err)
	}
	info, err := js.Stream(ctx, queue.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
	obs.mu.Lock()
	if len(obs.attempts) < 1 || obs.attempts[0] < 2 || obs.errs[0] != nil {
		t.Errorf("first publish: attempts %v, errors %v", obs.attempts, obs.errs)
	}
	obs.mu.Unlock()

	if err := js.DeleteStream(ctx, queue.StreamName); err != nil {
		t.Fatal(err)
	}
	m.EventID = "fedcba9876543210fedcba9876543210"
	start := time.Now()
	err = q.Publish(ctx, m)
	if !errors.Is(err, queue.ErrUnavailable) {
		t.Fatalf("publish with no stream: %v, want unavailable", err)
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("gave up after %s, before the publish timeout", d)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  queue.Config
		err  string
	}{
		{"embedded", queue.Config{DataDir: "/tmp/x"}, ""},
		{"cluster", queue.Config{URL: "nats://a:4222,nats://b:4222", CredsFile: "c.creds", TLSCAFile: "ca.pem"}, ""},
		{"creds without a cluster", queue.Config{DataDir: "/tmp/x", CredsFile: "c.creds"}, "need an external NATS"},
		{"creds and nkey", queue.Config{URL: "nats://a:4222", CredsFile: "c", NKeyFile: "k"}, "not both"},
		{"cert without key", queue.Config{URL: "nats://a:4222", TLSCertFile: "c.pem"}, "both"},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
	c := queue.Config{DataDir: "/tmp/x"}
	c.Validate() //nolint:errcheck
	if c.PublishTimeout != 10*time.Second {
		t.Errorf("default publish timeout %s", c.PublishTimeout)
	}
}
