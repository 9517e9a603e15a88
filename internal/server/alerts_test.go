package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/notify"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestAlertsEndToEnd: a real sentry-go event, a running server with its
// workers and sender, and what an operator configures through the API:
// the project's default rule mails the team's members about the new
// issue, and a webhook rule posts Sentry's legacy WebHooks plugin body,
// signed, once per new issue (a second event of the same issue fires
// nothing new).
func TestAlertsEndToEnd(t *testing.T) {
	box, addr := startMailbox(t)
	f := testserver.Start(t, server.Config{Notify: notify.Config{
		SMTP: notify.SMTPConfig{URL: "smtp://" + addr, From: "faultline@example.org"}, WebhookAllowPrivate: true}})
	p := f.CreateProject("acme", "shop", "go")

	// A member of the project's team: the default rule's IssueOwners.
	if st, raw := f.Do("POST", "/api/0/users/", map[string]any{"email": "dev@example.org", "name": "Dev",
		"password": "a long enough password"}, nil); st != 201 {
		t.Fatalf("create user: %d %s", st, raw)
	}
	if st, raw := f.Do("POST", "/api/0/organizations/acme/members/", map[string]any{"email": "dev@example.org",
		"orgRole": "member", "teams": []string{"team"}}, nil); st != 201 {
		t.Fatalf("add member: %d %s", st, raw)
	}

	var mu sync.Mutex
	var hooks []*http.Request
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks, bodies = append(hooks, r), append(bodies, b)
		mu.Unlock()
	}))
	defer rcv.Close()
	base := "/api/0/projects/acme/shop/"
	if st, raw := f.Do("PUT", base+"plugins/webhooks/", map[string]any{"urls": rcv.URL + "/hook", "secret": "s3cret"}, nil); st != 200 {
		t.Fatalf("webhook plugin: %d %s", st, raw)
	}
	if st, raw := f.Do("POST", base+"plugins/webhooks/", nil, nil); st/100 != 2 {
		t.Fatalf("enable webhook plugin: %d %s", st, raw)
	}
	rule := map[string]any{"name": "new issues to the webhook", "actionMatch": "all", "frequency": 30,
		"conditions": []any{map[string]any{"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}},
		"actions":    []any{map[string]any{"id": "sentry.rules.actions.notify_event_service.NotifyEventServiceAction", "service": "webhooks"}}}
	if st, raw := f.Do("POST", base+"rules/", rule, nil); st != 201 && st != 200 {
		t.Fatalf("create rule: %d %s", st, raw)
	}

	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport(), Release: "shop@1.0"})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	for range 2 { // the same issue twice: one new issue
		if hub.CaptureMessage("checkout failed: card declined") == nil {
			t.Fatal("sentry-go sent nothing")
		}
	}
	f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return len(is) == 1 && is[0].Count == "2" })

	waitUntil(t, "the webhook", func() bool { mu.Lock(); defer mu.Unlock(); return len(hooks) >= 1 })
	waitUntil(t, "the mail to the team's member", func() bool { return box.count() >= 1 })
	time.Sleep(2 * time.Second) // anything repeated would have come by now
	mu.Lock()
	defer mu.Unlock()
	if len(hooks) != 1 {
		t.Errorf("%d webhook requests, want 1 (one new issue)", len(hooks))
	}
	var body struct {
		ProjectSlug string `json:"project_slug"`
		Message     string `json:"message"`
		URL         string `json:"url"`
		Level       string `json:"level"`
		Rules       []any  `json:"triggering_rules"`
	}
	if err := json.Unmarshal(bodies[0], &body); err != nil || body.ProjectSlug != "shop" ||
		!strings.Contains(body.Message, "card declined") || !strings.Contains(body.URL, "/organizations/acme/issues/") {
		t.Errorf("webhook body (%v): %s", err, bodies[0])
	}
	h := hooks[0].Header
	if h.Get("Idempotency-Key") == "" || h.Get("Sentry-Hook-Signature") == "" || h.Get("Sentry-Hook-Timestamp") == "" {
		t.Errorf("webhook headers: %v", h)
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.data) != 1 || len(box.to) == 0 || box.to[0] != "dev@example.org" {
		t.Errorf("mails to %v, want one to dev@example.org", box.to)
	}
	decoded, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(box.data[0])))
	if !bytes.Contains(decoded, []byte("card declined")) || !bytes.Contains(decoded, []byte(f.URL+"/organizations/acme/issues/")) {
		t.Errorf("mail:\n%s", decoded)
	}
}
