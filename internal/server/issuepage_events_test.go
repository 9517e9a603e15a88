package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestIssuePageEventsAndFilters drives the rest of the issue page on a
// real server, as a member: the events tab (55 events of one issue, paged
// with the keyset cursor, searched by tag, a bad search explained), the
// organization header, the threads of an event (the crashed one first and
// open), the breadcrumb filters through query parameters, the 30-day chart
// and the grouping config.
func TestIssuePageEventsAndFilters(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "web", "python")
	newUser(t, f, "member@example.com", "acme", authz.Member, "team")
	newUser(t, f, "loner@example.com", "acme", authz.Member)
	b := sessionLogin(t, f, "member@example.com")

	const n = 55
	start := time.Now().Add(-time.Hour)
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%032x", 0xabc000+i)
		env := "prod"
		if i%11 == 0 {
			env = "staging" // 0, 11, 22, 33, 44
		}
		ev := map[string]any{"event_id": ids[i], "platform": "python", "level": "error", "environment": env,
			"timestamp": start.Add(time.Duration(i) * time.Second).Unix(), "fingerprint": []string{"events-tab"},
			"message": fmt.Sprintf("job %d failed", i)}
		if i == n-1 { // the latest: threads and breadcrumbs
			ev["threads"] = map[string]any{"values": []any{
				map[string]any{"id": 1, "name": "main", "current": true, "stacktrace": map[string]any{"frames": []any{
					map[string]any{"filename": "main.py", "function": "serve", "lineno": 7, "in_app": true}}}},
				map[string]any{"id": 2, "name": "worker " + xssPayload, "crashed": true, "stacktrace": map[string]any{"frames": []any{
					map[string]any{"filename": "worker.py", "function": "run_job", "lineno": 3, "in_app": true}}}},
			}}
			ev["breadcrumbs"] = []any{
				map[string]any{"timestamp": start.Unix(), "category": "http", "level": "info", "message": "GET /a"},
				map[string]any{"timestamp": start.Unix(), "category": "ui.click", "level": "info", "message": "clicked"},
				map[string]any{"timestamp": start.Unix(), "category": "http", "level": "error", "message": "POST /b failed"},
			}
		}
		raw, _ := json.Marshal(ev)
		storePageEvent(t, f, p, string(raw))
	}
	var last struct {
		GroupID string `json:"groupID"`
	}
	f.WaitEvent(t, p, ids[n-1], &last)
	issue := "/organizations/acme/issues/" + last.GroupID + "/"
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var is struct{ Count string }
		if st, raw := f.Do("GET", "/api/0/issues/"+last.GroupID+"/", nil, &is); st != 200 {
			t.Fatalf("issue: %d %s", st, raw)
		}
		if is.Count == fmt.Sprint(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the issue has %s events, want %d", is.Count, n)
		}
	}
	get := func(path string, want int) string {
		t.Helper()
		st, raw, _ := b.do(t, "GET", path, "")
		if st != want {
			t.Fatalf("%s: %d, want %d: %.500s", path, st, want, raw)
		}
		return string(raw)
	}
	rowIDs := regexp.MustCompile(`<tr class="event-row"><td><a href="` + regexp.QuoteMeta(issue) + `events/([0-9a-f]{32})/"`)
	rows := func(body string) []string {
		var out []string
		for _, m := range rowIDs.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next" id="next-page">`)

	// The events tab: newest first, 50 a page, then the rest.
	body := get(issue+"events/", 200)
	if !strings.Contains(body, `class="switcher"`) {
		t.Error("the events tab has no organization header")
	}
	page1 := rows(body)
	if len(page1) != 50 || page1[0] != ids[n-1] || page1[49] != ids[n-50] {
		t.Fatalf("first page: %d events, from %v", len(page1), page1[:min(2, len(page1))])
	}
	m := next.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no link to the older events")
	}
	body = get(strings.ReplaceAll(m[1], "&amp;", "&"), 200)
	page2 := rows(body)
	if len(page2) != 5 || page2[0] != ids[4] || page2[4] != ids[0] || next.MatchString(body) || !strings.Contains(body, `rel="first"`) {
		t.Errorf("second page: %v (next link %v)", page2, next.MatchString(body))
	}
	// Searched by tag: the staging events only.
	staging := rows(get(issue+"events/?query=environment%3Astaging", 200))
	if strings.Join(staging, ",") != strings.Join([]string{ids[44], ids[33], ids[22], ids[11], ids[0]}, ",") {
		t.Errorf("environment:staging: %v", staging)
	}
	if got := rows(get(issue+"events/?query=%21environment%3Aprod", 200)); len(got) != 5 {
		t.Errorf("!environment:prod: %d events, want 5", len(got))
	}
	if body := get(issue+"events/?query=browser%3A%3E5", http.StatusBadRequest); !strings.Contains(body, `role="alert"`) {
		t.Errorf("a bad search has no message")
	}

	// The issue page with the latest event: header, threads, filters.
	body = get(issue, 200)
	for name, re := range map[string]*regexp.Regexp{
		"organization header": regexp.MustCompile(`<details class="switcher">`),
		"events tab link":     regexp.MustCompile(`<a href="` + regexp.QuoteMeta(issue) + `events/">Events</a>`),
		"crashed thread first, open": regexp.MustCompile(`(?s)<section id="threads">\s*<h2>Threads</h2>\s*<details class="thread" open>\s*<summary><span class="thread-name">worker &lt;script&gt;` +
			`.*<span class="unhandled">crashed</span>.*run_job.*<details class="thread">\s*<summary><span class="thread-name">main</span>`),
		"all breadcrumbs":  regexp.MustCompile(`<span class="muted" id="crumb-count">3 of 3</span>`),
		"24h chart":        regexp.MustCompile(`Events per hour, last 24 hours`),
		"grouping config":  regexp.MustCompile(`grouping config <code>newstyle:2023-01-11</code>`),
		"30-day link":      regexp.MustCompile(`<a href="` + regexp.QuoteMeta(issue) + `events/` + ids[n-1] + `/\?chart=30d#chart">30 days</a>`),
		"category options": regexp.MustCompile(`<option value="http">http</option><option value="ui.click">ui.click</option>`),
	} {
		if !re.MatchString(body) {
			t.Errorf("issue page: %s: not on the page", name)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("the thread name is markup")
	}
	crumbs := regexp.MustCompile(`<tr class="crumb [^"]*" data-category="([^"]*)" data-level="([^"]*)">`)
	filtered := get(issue+"?crumbCategory=http&crumbLevel=error", 200)
	got := crumbs.FindAllStringSubmatch(filtered, -1)
	if len(got) != 1 || got[0][1] != "http" || got[0][2] != "error" ||
		!strings.Contains(filtered, `<option value="http" selected>http</option>`) || !strings.Contains(filtered, "1 of 3") {
		t.Errorf("breadcrumbs filtered by http and error: %v", got)
	}
	if got := crumbs.FindAllStringSubmatch(get(issue+"?crumbCategory=http", 200), -1); len(got) != 2 {
		t.Errorf("breadcrumbs filtered by http: %d rows, want 2", len(got))
	}
	month := get(issue+"?chart=30d", 200)
	bars := regexp.MustCompile(`(?s)<figure class="chart" id="chart">.*?</figure>`).FindString(month)
	if !strings.Contains(bars, "Events per day, last 30 days") || strings.Count(bars, "<rect ") != 30 || !strings.Contains(bars, `class="current"`) {
		t.Errorf("30-day chart: %s", bars)
	}
	// The oldest event and the navigation from it.
	oldest := get(issue+"events/oldest/", 200)
	if !strings.Contains(oldest, "<code>"+ids[0]+"</code>") || !strings.Contains(oldest, `<a href="`+issue+"events/"+ids[1]+`/" rel="nofollow">Newer</a>`) {
		t.Error("the oldest event's page does not show it, or has no link to the newer one")
	}

	// What the visitor may not see: the 404 page.
	if st, _, _ := b.do(t, "GET", "/organizations/acme/issues/987654321/events/", ""); st != 404 {
		t.Errorf("an unknown issue's events: %d", st)
	}
	if st, _, _ := sessionLogin(t, f, "loner@example.com").do(t, "GET", issue+"events/", ""); st != 404 {
		t.Errorf("a member on no team: %d, want the 404 page", st)
	}
}
