package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookReceiver is the test's webhook receiver: it answers 503 while
// failing is set, 200 otherwise, and records every request's
// Idempotency-Key and answer.
type hookReceiver struct {
	mu      sync.Mutex
	failing bool
	got     []hookHit
	srv     *httptest.Server
}

type hookHit struct {
	key    string
	status int
}

func newHookReceiver(t *testing.T, failing bool) *hookReceiver {
	h := &hookReceiver{failing: failing}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)) //nolint:errcheck
		h.mu.Lock()
		st := http.StatusOK
		if h.failing {
			st = http.StatusServiceUnavailable
		}
		h.got = append(h.got, hookHit{key: r.Header.Get("Idempotency-Key"), status: st})
		h.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) hits() []hookHit {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookHit(nil), h.got...)
}

func (h *hookReceiver) setFailing(v bool) {
	h.mu.Lock()
	h.failing = v
	h.mu.Unlock()
}

// waitHits waits until cond holds for the receiver's requests.
func (h *hookReceiver) waitHits(t *testing.T, what string, timeout time.Duration, cond func([]hookHit) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(h.hits()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, h.hits())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alertProject makes a project whose new issues post to the receiver
// through the WebHooks plugin.
func alertProject(t *testing.T, p *proc, h *hookReceiver) project {
	t.Helper()
	pr := p.createProject("acme", "shop", "python")
	base := "/api/0/projects/acme/shop/"
	if st := p.api("PUT", base+"plugins/webhooks/", map[string]any{"urls": h.srv.URL + "/hook"}, nil); st != 200 {
		t.Fatalf("webhook plugin: %d", st)
	}
	if st := p.api("POST", base+"plugins/webhooks/", nil, nil); st != 200 {
		t.Fatalf("enable the webhook plugin: %d", st)
	}
	rule := map[string]any{"name": "new issues to the webhook",
		"conditions": []any{map[string]any{"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}},
		"actions":    []any{map[string]any{"id": "sentry.rules.actions.notify_event_service.NotifyEventServiceAction", "service": "webhooks"}}}
	if st := p.api("POST", base+"rules/", rule, nil); st != 201 {
		t.Fatalf("create rule: %d", st)
	}
	return pr
}

func sendAlertEvent(t *testing.T, p *proc, pr project, msg string) {
	t.Helper()
	body := fmt.Sprintf(`{"event_id":"%032x","message":%q,"level":"error"}`, time.Now().UnixNano(), msg)
	resp, err := http.Post(p.url+"/api/"+pr.id+"/store/?sentry_key="+pr.key+"&sentry_version=7", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("store: %d", resp.StatusCode)
	}
}

// checkOnce checks that the receiver accepted the notification once and
// that every request carried the same rule firing's key.
func checkOnce(t *testing.T, hits []hookHit) {
	t.Helper()
	ok := 0
	for _, h := range hits {
		if h.status == 200 {
			ok++
		}
		if h.key != hits[0].key || !strings.HasPrefix(h.key, "rule:") || !strings.HasSuffix(h.key, ":new_issue:") {
			t.Errorf("idempotency keys differ or are not the firing's: %+v", hits)
			break
		}
	}
	if ok != 1 {
		t.Errorf("the notification was delivered %d times, want once: %+v", ok, hits)
	}
}

// TestAlertSIGKILLBeforeDelivery: a rule fires and its notification is
// queued, but its receiver is down; the process is killed (SIGKILL)
// before any delivery succeeded. After a restart the notification is
// delivered, once, with the same idempotency key.
func TestAlertSIGKILLBeforeDelivery(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	h := newHookReceiver(t, true)
	p := startProc(t, dir, addr, "--webhook-allow-private")
	pr := alertProject(t, p, h)
	sendAlertEvent(t, p, pr, "payment declined before delivery")
	start := time.Now()
	h.waitHits(t, "a first, failed attempt", 60*time.Second, func(hs []hookHit) bool { return len(hs) >= 1 })
	t.Logf("first attempt after %s", time.Since(start).Round(time.Millisecond))
	p.kill()
	h.setFailing(false)

	p2 := startProc(t, dir, addr, "--webhook-allow-private")
	restarted := time.Now()
	h.waitHits(t, "the delivery after the restart", 90*time.Second, func(hs []hookHit) bool {
		return len(hs) > 0 && hs[len(hs)-1].status == 200
	})
	t.Logf("delivered %s after the restart", time.Since(restarted).Round(time.Millisecond))
	time.Sleep(3 * time.Second) // anything repeated would have come by now
	checkOnce(t, h.hits())
	p2.stop()
}

// TestAlertSIGKILLAfterInsert: the worker is killed (SIGKILL, by the
// FAULTLINE_TEST_KILL_AT hook) once the batch that created the issue is
// stored, before it is acked. After a restart the redelivered batch finds
// its event stored and its issue allocated, evaluates the rule again with
// the same key, and the notification is delivered once.
func TestAlertSIGKILLAfterInsert(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	h := newHookReceiver(t, false)
	t.Setenv("FAULTLINE_TEST_KILL_AT", "stored")
	p := startProc(t, dir, addr, "--webhook-allow-private", "--ack-wait", "3s")
	pr := alertProject(t, p, h)
	sendAlertEvent(t, p, pr, "payment declined after insert")
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the worker did not kill itself at the stored stage:\n%s", p.log)
	}
	os.Unsetenv("FAULTLINE_TEST_KILL_AT")

	p2 := startProc(t, dir, addr, "--webhook-allow-private", "--ack-wait", "3s")
	h.waitHits(t, "the delivery", 90*time.Second, func(hs []hookHit) bool { return len(hs) >= 1 })
	if n := p2.waitCount(pr, 1, 30*time.Second); n != 1 {
		t.Errorf("%d events stored, want 1", n)
	}
	time.Sleep(3 * time.Second)
	checkOnce(t, h.hits())
	if n := p2.count(pr); n != 1 {
		t.Errorf("%d events stored after the redelivery, want 1", n)
	}
	p2.stop()
}
