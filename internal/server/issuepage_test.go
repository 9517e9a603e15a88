package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// xssPayload is in every attacker-controlled field of issuePageEvent.
const xssPayload = `<script>alert(1)</script><img src=x onerror=alert(2)><svg onload=alert(3)>{{.}}{{template "x"}}`

// issuePageEvent is a Python error whose fields carry xssPayload (and a
// javascript: URL), with an in-app frame with context lines and variables,
// library frames, breadcrumbs, a request, a user, tags and a release.
func issuePageEvent(id string) string {
	ev := map[string]any{
		"event_id": id, "platform": "python", "level": "error", "release": "rel-" + xssPayload,
		"environment": "prod", "message": "msg " + xssPayload,
		"tags": map[string]string{"payload": xssPayload, "browser": "Chrome"},
		"user": map[string]any{"id": "u1", "email": "a@example.com", "username": xssPayload},
		"request": map[string]any{"url": "javascript:alert(4)", "method": "POST",
			"headers": map[string]string{"X-Evil": xssPayload}, "data": xssPayload, "query_string": "q=" + url.QueryEscape(xssPayload)},
		"breadcrumbs": map[string]any{"values": []any{
			map[string]any{"timestamp": time.Now().Add(-2 * time.Second).Unix(), "category": "http", "message": "first crumb"},
			map[string]any{"timestamp": time.Now().Add(-time.Second).Unix(), "category": "ui." + xssPayload, "level": "warning",
				"message": "last crumb " + xssPayload, "data": map[string]string{"k": xssPayload}},
		}},
		"contexts": map[string]any{"runtime": map[string]string{"name": "CPython", "version": xssPayload}},
		"extra":    map[string]string{"note": xssPayload},
		"exception": map[string]any{"values": []any{map[string]any{
			"type": "ValueError", "value": "bad " + xssPayload,
			"mechanism": map[string]any{"type": "excepthook", "handled": false},
			"stacktrace": map[string]any{"frames": []any{
				map[string]any{"filename": "lib/site.py", "function": "dispatch", "lineno": 10, "in_app": false},
				map[string]any{"filename": "app/views.py", "function": "checkout_" + "payload", "lineno": 42, "in_app": true,
					"pre_context":  []string{"def checkout(cart):", "    total = sum(cart)"},
					"context_line": "    raise ValueError('bad ' + \"" + xssPayload + "\")",
					"post_context": []string{"# " + xssPayload},
					"vars":         map[string]any{"cart": []int{1, 2}, "evil": xssPayload}},
			}},
		}}},
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

func storePageEvent(t *testing.T, f *testserver.Faultline, p testserver.Project, body string) {
	t.Helper()
	resp, err := http.Post(f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey+"&sentry_version=7", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("store: %d %s", resp.StatusCode, raw)
	}
}

// form posts an HTML form in the session, as the browser does.
func (b *apiSession) form(t *testing.T, path string, v url.Values) (int, []byte, http.Header) {
	t.Helper()
	v.Set("csrfmiddlewaretoken", b.csrf)
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(v.Encode()))
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header
}

// TestIssuePage renders the issue page of a real server for a member, from
// an event full of markup: everything shows as text, the in-app frame is
// open with its crash line marked and highlighted, and the status forms
// change the issue through the API.
func TestIssuePage(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "web", "python")
	newUser(t, f, "member@example.com", "acme", authz.Member, "team")
	newUser(t, f, "loner@example.com", "acme", authz.Member)
	b := sessionLogin(t, f, "member@example.com")
	const eid = "0123456789abcdef0123456789abcdef"
	storePageEvent(t, f, p, issuePageEvent(eid))
	var ev struct {
		GroupID string `json:"groupID"`
	}
	f.WaitEvent(t, p, eid, &ev)
	page := "/organizations/acme/issues/" + ev.GroupID + "/"

	st, raw, h := b.do(t, "GET", page, "")
	if st != 200 {
		t.Fatalf("issue page: %d %s", st, raw)
	}
	body := string(raw)
	if testing.Verbose() {
		t.Logf("the page:\n%s", body)
	}
	if h.Get("Content-Security-Policy") == "" {
		t.Error("no CSP")
	}
	// The first release links to its page (its commits and deploys), the
	// version escaped in the path.
	if want := `href="/organizations/acme/releases/rel-%3Cscript%3Ealert%281%29%3C%2Fscript%3E`; !strings.Contains(body, want) {
		t.Errorf("no link to the first release's page (%s)", want)
	}
	// Nothing of the payload is markup: no tag, no handler attribute.
	for _, bad := range []string{"<script>alert", "<img src=x", "<svg onload", `href="javascript:`} {
		if strings.Contains(body, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	escaped := "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
	for _, where := range []string{"bad " + escaped, "msg " + escaped, "last crumb " + escaped, "rel-" + escaped} {
		if !strings.Contains(body, where) {
			t.Errorf("the page does not show %q as text", where)
		}
	}
	if strings.Contains(body, "ZgotmplZ") {
		t.Error("a value was replaced by html/template's ZgotmplZ")
	}
	if !strings.Contains(body, "<code class=\"url\">javascript:alert(4)</code>") {
		t.Error("the javascript: request URL is not shown as text")
	}
	checks := map[string]*regexp.Regexp{
		"the in-app frame, open":         regexp.MustCompile(`<li class="frame in-app">\s*<details open>\s*<summary><code class="file">app/views.py</code>`),
		"the library frame, collapsed":   regexp.MustCompile(`<li class="frame system">\s*<details>\s*<summary><code class="file">lib/site.py</code>`),
		"the crash line, marked":         regexp.MustCompile(`<tr class="crash"><th scope="row">42</th><td><pre>\s*<span class="hl-k">raise</span>`),
		"Python keywords highlighted":    regexp.MustCompile(`<span class="hl-k">raise</span>`),
		"the escaped payload in context": regexp.MustCompile(`&lt;script&gt;alert\(1\)&lt;/script&gt;`),
		"variables":                      regexp.MustCompile(`<th scope="row"><code>cart</code></th><td><code>\[1,2\]</code>`),
		"the last breadcrumb emphasized": regexp.MustCompile(`<tr class="crumb level-warning last" data-category="ui.&lt;script&gt;`),
		"unhandled":                      regexp.MustCompile(`<span class="unhandled">unhandled</span>`),
		"tag distribution 100%":          regexp.MustCompile(`<span class="dist-value">Chrome</span> <span class="pct">100%</span>`),
		"the resolve form":               regexp.MustCompile(`<input type="hidden" name="action" value="resolve"><button type="submit" class="primary" id="resolve">`),
		"oldest frame first for Python":  regexp.MustCompile(`(?s)lib/site.py.*app/views.py`),
		"chart":                          regexp.MustCompile(`<rect x="\d+" y="\d+" width="\d+" height="\d+" class="current">`),
		"grouping":                       regexp.MustCompile(`<span class="badge">contributes</span> <code class="hash">[0-9a-f]{32}</code>`),
		"activity":                       regexp.MustCompile(`<ol class="activity">`),
	}
	for name, re := range checks {
		if !re.MatchString(body) {
			t.Errorf("%s: not on the page", name)
		}
	}
	// How long the page takes, server side, queries included (a figure for
	// the log, not an assertion).
	var took []time.Duration
	for range 10 {
		start := time.Now()
		if st, _, _ := b.do(t, "GET", page, ""); st != 200 {
			t.Fatalf("issue page: %d", st)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("issue page: median %s, max %s over %d requests (chDB)", took[len(took)/2], took[len(took)-1], len(took))
	// The tags summary the distributions come from: Sentry's shape.
	var tags []struct {
		Key         string `json:"key"`
		TotalValues uint64 `json:"totalValues"`
		TopValues   []struct {
			Value string `json:"value"`
			Count uint64 `json:"count"`
		} `json:"topValues"`
	}
	if st, raw, _ := b.do(t, "GET", "/api/0/organizations/acme/issues/"+ev.GroupID+"/tags/?limit=3", ""); st != 200 || json.Unmarshal(raw, &tags) != nil {
		t.Fatalf("tags: %d %s", st, raw)
	}
	found := false
	for _, k := range tags {
		if k.Key == "payload" && k.TotalValues == 1 && len(k.TopValues) == 1 && k.TopValues[0].Value == xssPayload {
			found = true
		}
	}
	if !found {
		t.Errorf("tags: no payload key with its value: %+v", tags)
	}
	if st, _, _ := b.do(t, "GET", "/api/0/issues/"+ev.GroupID+"/tags/?limit=99", ""); st != 400 {
		t.Errorf("tags ?limit=99: %d, want 400", st)
	}
	// The event's own page and the raw view.
	if st, raw, _ := b.do(t, "GET", page+"events/"+eid+"/?view=raw", ""); st != 200 ||
		!strings.Contains(string(raw), `<pre class="raw">ValueError: bad &lt;script&gt;`) {
		t.Errorf("raw view: %d %s", st, raw)
	}
	// The Airbrake notice url leads to the event within its issue.
	if st, _, h := b.do(t, "GET", "/organizations/acme/projects/web/events/"+eid+"/", ""); st != 302 ||
		h.Get("Location") != page+"events/"+eid+"/" {
		t.Errorf("event redirect: %d %q", st, h.Get("Location"))
	}
	// Unknown issues, events and a member on no team: the 404 page.
	for _, u := range []string{"/organizations/acme/issues/987654321/", page + "events/" + strings.Repeat("f", 32) + "/",
		"/organizations/acme/projects/web/events/" + strings.Repeat("f", 32) + "/"} {
		if st, raw, _ := b.do(t, "GET", u, ""); st != 404 || !strings.Contains(string(raw), "Page not found") {
			t.Errorf("%s: %d", u, st)
		}
	}
	if st, _, _ := sessionLogin(t, f, "loner@example.com").do(t, "GET", page, ""); st != 404 {
		t.Errorf("a member on no team: %d, want the 404 page", st)
	}

	status := func() string {
		var is struct{ Status string }
		if st, raw := f.Do("GET", "/api/0/issues/"+ev.GroupID+"/", nil, &is); st != 200 {
			t.Fatalf("issue: %d %s", st, raw)
		}
		return is.Status
	}
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"action": {"resolve"}}, "resolved"},
		{url.Values{"action": {"unresolve"}}, "unresolved"},
		{url.Values{"action": {"ignore"}, "ignoreDuration": {"30"}}, "ignored"},
		{url.Values{"action": {"unresolve"}}, "unresolved"},
		{url.Values{"action": {"ignore"}, "ignoreCount": {"100"}}, "ignored"},
		{url.Values{"action": {"resolveInNextRelease"}}, "resolved"},
	} {
		st, raw, h := b.form(t, page, c.form)
		if st != 303 || h.Get("Location") != page {
			t.Fatalf("%v: %d %q %s", c.form, st, h.Get("Location"), raw)
		}
		if got := status(); got != c.want {
			t.Errorf("%v: status %s, want %s", c.form, got, c.want)
		}
	}
	_, raw, _ = b.do(t, "GET", page, "")
	if !strings.Contains(string(raw), `id="unresolve"`) || !strings.Contains(string(raw), "Resolved in the next release") {
		t.Errorf("the resolved issue's page has no unresolve form or status")
	}
	// A form without the session's CSRF token changes nothing.
	nb := *b
	nb.csrf = "wrong"
	if st, _, _ := nb.form(t, page, url.Values{"action": {"unresolve"}}); st == 303 || status() != "resolved" {
		t.Errorf("a form with a wrong CSRF token: %d, status %s", st, status())
	}
}
