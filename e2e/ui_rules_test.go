package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/notify"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestRulePagesInBrowser drives the alert rule pages in Chromium
// (clients/ui-rules.mjs): the WebHooks plugin set to the test's own
// receiver (allowed by --webhook-allow-private), a rule created through the
// form, test-fired, then fired by an event, its delivery shown in the list,
// and the default rule deleted through its confirmation; axe-core on every
// page. The receiver checks the requests and their signature, the API what
// the forms stored.
func TestRulePagesInBrowser(t *testing.T) {
	node := need(t, "node", "apt-get install nodejs")
	need(t, "/usr/bin/chromium", "apt-get install chromium")
	needModules(t)
	const email, password = "admin@example.com", "a long enough admin password"
	f := testserver.Start(t, server.Config{AdminEmail: email, AdminPassword: password,
		Notify: notify.Config{WebhookAllowPrivate: true}})
	p := f.CreateProject("acme", "shop", "javascript")

	var mu sync.Mutex
	type hit struct {
		body            []byte
		sig, key, stamp string
	}
	var hits []hit
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		mu.Lock()
		hits = append(hits, hit{b, r.Header.Get("Sentry-Hook-Signature"), r.Header.Get("Idempotency-Key"), r.Header.Get("Sentry-Hook-Timestamp")})
		mu.Unlock()
	}))
	defer rcv.Close()

	rules := "/organizations/acme/projects/shop/alerts/rules/"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "ui-rules.mjs")
	cmd.Dir = "clients"
	cmd.Env = append(os.Environ(), "FAULTLINE_URL="+f.URL, "UI_EMAIL="+email, "UI_PASSWORD="+password,
		"UI_RULES="+rules, "UI_HOOK_URL="+rcv.URL+"/hook",
		"UI_STORE_URL="+f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey+"&sentry_version=7")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("browser run: %s", time.Since(start).Round(time.Millisecond))
	var sum struct {
		OK       bool
		Failures []string
	}
	line := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if jerr := json.Unmarshal([]byte(line), &sum); jerr != nil || err != nil || !sum.OK {
		t.Fatalf("ui-rules.mjs: %v %v\nstdout: %s\nstderr: %s", err, sum.Failures, stdout.String(), stderr.String())
	}
	t.Logf("ui-rules.mjs: %s", line)

	// The receiver: the test-fire and the event's firing, signed with the
	// secret typed in the form.
	mu.Lock()
	defer mu.Unlock()
	if len(hits) < 2 {
		t.Fatalf("%d webhook requests, want the test-fire's and the event's", len(hits))
	}
	var fired bool
	for _, h := range hits {
		if h.sig != notify.Sign("browser-secret", h.body) || h.stamp == "" || h.key == "" {
			t.Errorf("request not signed with the form's secret: %q %q", h.sig, h.key)
		}
		fired = fired || strings.HasPrefix(h.key, "rule:") && bytes.Contains(h.body, []byte("payment declined"))
	}
	if !fired {
		t.Error("no request of the event's firing")
	}
	// What the forms stored, as the API serves it.
	var got []struct {
		Name        string
		FilterMatch string
		Filters     []map[string]any
		Actions     []map[string]any
	}
	if st, raw := f.Do("GET", "/api/0/projects/acme/shop/rules/", nil, &got); st != 200 || len(got) != 1 {
		t.Fatalf("rules after the browser: %d %s", st, raw)
	}
	r := got[0]
	if r.Name != "Webhook on new issues" || len(r.Actions) != 1 || r.Actions[0]["service"] != "webhooks" ||
		len(r.Filters) != 1 || r.Filters[0]["level"] != "40" || r.Filters[0]["match"] != "gte" {
		t.Errorf("the rule the form created: %+v", r)
	}
}
