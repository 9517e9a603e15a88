package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// uiPayload is in every attacker-controlled field of the XSS event: tags,
// an image from another host, event handlers, SVG and template syntax.
const uiPayload = `<script>alert("xss")</script><img src="http://203.0.113.9/x.png" onerror="alert(1)"><svg/onload=alert(2)>{{.}}{{template "content"}}`

func uiXSSEvent() string {
	ev := map[string]any{
		"platform": "javascript", "level": "error", "release": "rel" + uiPayload, "message": "message " + uiPayload,
		"tags":     map[string]string{"evil": "tag" + uiPayload},
		"user":     map[string]any{"id": "u1", "email": "x@example.com", "username": "user" + uiPayload},
		"contexts": map[string]any{"os": map[string]string{"name": "os" + uiPayload}},
		"request": map[string]any{"url": "javascript:alert(3)", "method": "GET",
			"headers": map[string]string{"Referer": "javascript:alert(4)", "X-Evil": "hdr" + uiPayload}, "data": "body" + uiPayload,
			"query_string": "q=" + uiPayload},
		"breadcrumbs": []any{map[string]any{"timestamp": time.Now().Add(-time.Second).Unix(), "category": "ui" + uiPayload,
			"message": "crumb " + uiPayload, "data": map[string]string{"href": "javascript:alert(5)"}}},
		"extra": map[string]string{"extra": "extra" + uiPayload},
		"threads": map[string]any{"values": []any{map[string]any{"id": 1, "name": "thread " + uiPayload, "crashed": true,
			"stacktrace": map[string]any{"frames": []any{map[string]any{"filename": "javascript:alert(8)", "function": "t" + uiPayload, "in_app": true}}}}}},
		"exception": map[string]any{"values": []any{map[string]any{
			"type": "XSSError", "value": "value " + uiPayload,
			"stacktrace": map[string]any{"frames": []any{map[string]any{
				"filename": "https://cdn.example.com/app.js", "function": "fn" + uiPayload, "lineno": 2, "colno": 1, "in_app": true,
				"pre_context": []string{"// " + uiPayload}, "context_line": "document.write('" + uiPayload + "')",
				"post_context": []string{"</script><script>alert(6)</script>"},
				"vars":         map[string]string{"html": "var" + uiPayload},
			}}},
		}}},
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

//go:noinline
func uiCheckoutTotal(items []int) error {
	if len(items) == 0 {
		return errors.New("checkout: the cart is empty")
	}
	return nil
}

// TestIssuePageInBrowser runs a real server with its first admin from
// FAULTLINE_ADMIN_*, sends events with real SDKs (python3-sentry-sdk,
// sentry-go) and one full of markup, and drives Chromium through the login
// form and the issue pages (clients/ui-issue.mjs): the in-app frames, the
// highlighted crash lines, breadcrumbs, tag distributions, axe-core, the
// XSS event shown as text with nothing run, and resolving an issue through
// its form, which the API then reports resolved, then commenting on it
// (the comment's markup as text, its link a link), bookmarking it, and
// editing the comment and deleting a second one through their forms.
func TestIssuePageInBrowser(t *testing.T) {
	node := need(t, "node", "apt-get install nodejs")
	need(t, "/usr/bin/chromium", "apt-get install chromium")
	python := need(t, "/usr/bin/python3", "apt-get install python3")
	needModules(t)
	const email, password = "admin@example.com", "a long enough admin password"
	f := testserver.Start(t, server.Config{AdminEmail: email, AdminPassword: password})
	py := f.CreateProject("acme", "shop", "python")
	goProj := f.CreateProject("acme", "api", "go")

	s := runClient(t, py, python, "python_sdk.py")
	var pyEvent string
	for _, sent := range s.Sent {
		if sent.Label == "charge-card" {
			pyEvent = sent.EventID
		}
	}
	pyIssue := event(t, f, py, strings.ReplaceAll(pyEvent, "-", "")).GroupID

	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: goProj.DSN, Transport: sentry.NewHTTPSyncTransport(), Release: "api@1.0"})
	if err != nil {
		t.Fatal(err)
	}
	scope := sentry.NewScope()
	scope.SetTag("region", "eu")
	scope.AddBreadcrumb(&sentry.Breadcrumb{Category: "db", Message: "loaded the cart", Timestamp: time.Now()}, 10)
	scope.AddBreadcrumb(&sentry.Breadcrumb{Category: "http", Level: sentry.LevelError, Message: "GET /prices: 503", Timestamp: time.Now()}, 10)
	scope.AddBreadcrumb(&sentry.Breadcrumb{Category: "db", Message: "rolled back", Timestamp: time.Now()}, 10)
	goID := client.CaptureException(uiCheckoutTotal(nil), &sentry.EventHint{}, scope)
	if goID == nil {
		t.Fatal("sentry-go sent nothing")
	}
	goIssue := event(t, f, goProj, string(*goID)).GroupID
	// Two more events of the Go issue, in another region: the events tab
	// lists three and finds these two by tag.
	for range 2 {
		other := sentry.NewScope()
		other.SetTag("region", "us")
		other.AddBreadcrumb(&sentry.Breadcrumb{Category: "db", Message: "loaded the cart", Timestamp: time.Now()}, 10)
		if id := client.CaptureException(uiCheckoutTotal(nil), &sentry.EventHint{}, other); id == nil {
			t.Fatal("sentry-go sent nothing")
		} else {
			event(t, f, goProj, string(*id))
		}
	}

	resp, err := http.Post(f.URL+"/api/"+py.ID+"/store/?sentry_key="+py.PublicKey+"&sentry_version=7", "application/json",
		strings.NewReader(uiXSSEvent()))
	if err != nil {
		t.Fatal(err)
	}
	var stored struct {
		ID string `json:"id"`
	}
	json.NewDecoder(resp.Body).Decode(&stored) //nolint:errcheck
	resp.Body.Close()
	if resp.StatusCode != 200 || stored.ID == "" {
		t.Fatalf("store: %d", resp.StatusCode)
	}
	xssIssue := event(t, f, py, stored.ID).GroupID

	page := func(id string) string { return "/organizations/acme/issues/" + id + "/" }
	issues, _ := json.Marshal([]map[string]string{
		{"name": "python", "path": page(pyIssue), "frame": "charge_card", "tag": "checkout 100%"},
		{"name": "go", "path": page(goIssue), "frame": "TestIssuePageInBrowser", "tag": "us 66%"},
	})
	xss, _ := json.Marshal(map[string]any{"path": page(xssIssue), "texts": []string{
		"value " + uiPayload, "message " + uiPayload, "crumb " + uiPayload, "rel" + uiPayload, "fn" + uiPayload,
		"document.write('" + uiPayload + "')", "</script><script>alert(6)</script>", "javascript:alert(3)",
		"thread " + uiPayload, "t" + uiPayload,
		// Each field the issue names, with its own prefix to tell which
		// one is missing: tags, user, contexts, request headers, body and
		// query, extra data, local variables, a context line, breadcrumb
		// data, the frame's file.
		"tag" + uiPayload, "user" + uiPayload, "os" + uiPayload, "hdr" + uiPayload, "body" + uiPayload,
		"extra" + uiPayload, "var" + uiPayload, "// " + uiPayload, "javascript:alert(4)", "javascript:alert(5)",
	}})

	// The Go issue's latest event is one of the us ones, without
	// breadcrumbs: the filters are tried on the first event's page.
	crumbs, _ := json.Marshal(map[string]any{"path": page(goIssue) + "events/" + strings.ReplaceAll(string(*goID), "-", "") + "/",
		"category": "db", "level": "error", "total": 3})
	evs, _ := json.Marshal(map[string]any{"path": page(goIssue), "query": "region:us", "want": 2})
	shots, err := filepath.Abs("screenshots")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "ui-issue.mjs")
	cmd.Dir = "clients"
	cmd.Env = append(os.Environ(), "FAULTLINE_URL="+f.URL, "UI_EMAIL="+email, "UI_PASSWORD="+password,
		"UI_ISSUES="+string(issues), "UI_XSS="+string(xss), "UI_RESOLVE="+page(goIssue),
		"UI_CRUMBS="+string(crumbs), "UI_EVENTS="+string(evs), "FAULTLINE_SCREENSHOTS="+shots)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	t.Logf("browser run: %s", time.Since(start).Round(time.Millisecond))
	var sum struct {
		OK       bool
		Failures []string
		Pages    map[string]json.RawMessage
	}
	line := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if jerr := json.Unmarshal([]byte(line), &sum); jerr != nil || err != nil || !sum.OK {
		t.Fatalf("ui-issue.mjs: %v %v\nstdout: %s\nstderr: %s", err, sum.Failures, stdout.String(), stderr.String())
	}
	for name, p := range sum.Pages {
		t.Logf("%s: %s", name, p)
	}
	// The form changed the issue, as the API sees it.
	var is struct {
		Status      string
		NumComments int
	}
	if st, raw := f.Do("GET", "/api/0/issues/"+goIssue+"/", nil, &is); st != 200 || is.Status != "resolved" || is.NumComments != 1 {
		t.Errorf("the issue resolved and commented in the browser: %d %s", st, raw)
	}
}
