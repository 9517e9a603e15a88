package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// GitLab's Sentry client (lib/error_tracking/sentry_client/*.rb and the
// ErrorTracking services) as a contract: the calls it makes, with its
// query strings, and every field it reads with the type it expects.
// Contract-tested, not tested with GitLab.

// gitlabReposRouteMerged switches on the one GitLab call whose route
// another part builds. At merge, once GET /api/0/organizations/{org}/repos/
// is in the route table, the lead sets it to true: the contract then
// checks it like the others.
const gitlabReposRouteMerged = true

// gitlabLink is GitLab's PaginationParser: the header split on commas,
// each part read with this pattern, kept only when results="true".
var gitlabLink = regexp.MustCompile(`rel="(?<direction>\w+)";\sresults="(?<results>\w+)";\scursor="(?<cursor>.+)"`)

func gitlabPagination(h http.Header) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(h.Get("Link"), ",") {
		m := gitlabLink.FindStringSubmatch(part)
		if m == nil || m[2] != "true" {
			continue
		}
		out[m[1]] = m[3]
	}
	return out
}

// gitlabJSEvent is a browser error as @sentry/browser sends it: frames
// with filename, abs_path, colno and source context, one without.
const gitlabJSEvent = `{
 "event_id": "6a1b2c3d4e5f60718293a4b5c6d7e8f9",
 "platform": "javascript", "level": "error", "logger": "javascript", "release": "shop@2.0.0",
 "exception": {"values": [{"type": "TypeError", "value": "Cannot read properties of undefined (reading 'total')",
   "mechanism": {"type": "onerror", "handled": false},
   "stacktrace": {"frames": [
     {"filename": "https://shop.example.com/static/vendor.js", "abs_path": "https://shop.example.com/static/vendor.js",
      "function": "invokeGuardedCallback", "lineno": 4164, "colno": 31, "in_app": false},
     {"filename": "/static/js/checkout.js", "abs_path": "https://shop.example.com/static/js/checkout.js",
      "function": "renderTotal", "lineno": 42, "colno": 17, "in_app": true,
      "pre_context": ["function renderTotal(cart) {"], "context_line": "  return cart.summary.total;", "post_context": ["}"]}
   ]}}]},
 "user": {"id": "7"},
 "tags": {"browser": "Firefox"}
}`

const gitlabJSEventID = "6a1b2c3d4e5f60718293a4b5c6d7e8f9"

type gitlabCheckoutError struct{ cart int }

func (e *gitlabCheckoutError) Error() string {
	return fmt.Sprintf("checkout failed for cart %d", e.cart)
}

//go:noinline
func gitlabCheckout(hub *sentry.Hub, cart int) string {
	return string(*hub.CaptureException(&gitlabCheckoutError{cart: cart}))
}

// TestGitLabContract replays every call GitLab's error tracking makes,
// against a real server holding real events (sentry-go's, a browser
// error, and enough issues to page), and checks every field GitLab reads,
// with its type; the shapes of the answers are golden files
// (testdata/gitlab_*.json, -update rewrites them).
func TestGitLabContract(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	// The token GitLab is given: a user token, with the scopes the README
	// names, of a user who owns acme (created through a login session, as
	// a person would) and is no member of other.
	if st, raw := f.Do("POST", "/api/0/users/", map[string]any{"email": "dev@example.com", "password": "dev's long password"}, nil); st != 201 {
		t.Fatalf("create user: %d %s", st, raw)
	}
	dev := sessionLogin(t, f, "dev@example.com", "dev's long password")
	if st, raw := dev("POST", "/api/0/organizations/", `{"name":"acme","slug":"acme"}`); st != 201 {
		t.Fatalf("dev creates acme: %d %s", st, raw)
	}
	st, raw := dev("POST", "/api/0/api-tokens/", `{"name":"gitlab","scopes":["project:read","event:read","event:write","org:read"]}`)
	var tok struct{ Token string }
	if st != 201 || json.Unmarshal(raw, &tok) != nil || tok.Token == "" {
		t.Fatalf("token: %d %s", st, raw)
	}
	p := f.CreateProject("acme", "shop", "javascript")
	other := f.CreateProject("other", "backend", "go")
	// Every answer GitLab reads is checked against the OpenAPI document too.
	check := contractCheck(t, f)
	gitlab := func(method, path, body string) (int, http.Header, []byte) {
		t.Helper()
		st, h, raw := call(t, f, method, path, body, tok.Token)
		check(method, path, body, st, raw)
		if ct := h.Get("Content-Type"); st != 204 && !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
		if st >= 300 && st < 400 {
			t.Errorf("%s %s: a redirect (%d); GitLab does not follow them", method, path, st)
		}
		return st, h, raw
	}

	// Events: sentry-go (3 of one error), a browser error, and 22 more
	// issues so that the 20 a page of GitLab's holds do not hold all.
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport(), Release: "shop@1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	hub.Scope().SetUser(sentry.User{ID: "u1"})
	var goIDs []string
	for i := 0; i < 3; i++ {
		goIDs = append(goIDs, gitlabCheckout(hub, i))
	}
	sendEvent(t, f, p, gitlabJSEvent)
	for i := 0; i < 22; i++ {
		sendEvent(t, f, p, fmt.Sprintf(`{"message": "filler %d", "fingerprint": ["filler-%d"], "level": "warning"}`, i, i))
	}
	sendEvent(t, f, other, `{"message": "other tenant's checkout", "level": "error"}`)
	issues := f.WaitIssues(p, 60*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 26 })
	if len(issues) != 24 {
		t.Fatalf("%d issues, want 24", len(issues))
	}
	var ev struct {
		GroupID string `json:"groupID"`
	}
	f.WaitEvent(t, p, gitlabJSEventID, &ev)
	jsIssue := ev.GroupID
	f.WaitEvent(t, p, goIDs[2], &ev)
	goIssue := ev.GroupID

	// 1. The projects, to pick one (ProjectsController, sentry_client/projects.rb).
	st, _, raw = gitlab("GET", "/api/0/projects/", "")
	if st != 200 {
		t.Fatalf("projects: %d %s", st, raw)
	}
	var projects []map[string]any
	mustJSON(t, raw, &projects)
	if len(projects) != 1 || projects[0]["slug"] != "shop" {
		t.Fatalf("projects: %s, want acme's only", raw)
	}
	for _, pr := range projects {
		c := checker{t: t, what: "project"}
		c.digits(pr, "id")
		c.str(pr, "name")
		c.str(pr, "slug")
		c.str(pr, "status")
		c.digits(pr, "organization", "id")
		c.str(pr, "organization", "name")
		c.str(pr, "organization", "slug")
	}
	gitlabGolden(t, "gitlab_projects", raw)

	// 2. The issue list, as ListIssuesService asks for it: is:<status>
	// and the search box's text, 20 a page, by frequency, by first seen,
	// or (no sort) by last seen.
	base := "/api/0/projects/acme/shop/issues/"
	list := func(query string) ([]map[string]any, http.Header) {
		t.Helper()
		st, h, raw := gitlab("GET", base+"?"+query, "")
		if st != 200 {
			t.Fatalf("issues ?%s: %d %s", query, st, raw)
		}
		var out []map[string]any
		mustJSON(t, raw, &out)
		for _, is := range out {
			checkGitLabIssue(t, is, p.ID)
		}
		return out, h
	}
	ids := func(is []map[string]any) []string {
		var out []string
		for _, i := range is {
			out = append(out, i["id"].(string))
		}
		return out
	}
	page1, h := list("query=is:unresolved&limit=20")
	if len(page1) != 20 {
		t.Fatalf("first page: %d issues", len(page1))
	}
	pg := gitlabPagination(h)
	if pg["next"] == "" || pg["previous"] != "" {
		t.Fatalf("first page: Link %q reads as %v", h.Get("Link"), pg)
	}
	page2, h := list("query=is:unresolved&limit=20&cursor=" + pg["next"])
	if len(page2) != 4 {
		t.Fatalf("second page: %d issues", len(page2))
	}
	if pg := gitlabPagination(h); pg["next"] != "" {
		t.Fatalf("second page: Link %q reads as %v, want no next page", h.Get("Link"), pg)
	}
	all := append(ids(page1), ids(page2)...)
	sort.Strings(all)
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			t.Fatalf("issue %s on both pages", all[i])
		}
	}
	byFreq, _ := list("query=is:unresolved&limit=20&sort=freq")
	if byFreq[0]["id"] != goIssue || byFreq[0]["count"] != "3" {
		t.Errorf("sort=freq: first %v (count %v), want the sentry-go issue %s with 3", byFreq[0]["id"], byFreq[0]["count"], goIssue)
	}
	byNew, _ := list("query=is:unresolved&limit=20&sort=new")
	if byNew[0]["id"] == goIssue {
		t.Errorf("sort=new: the first issue seen comes first")
	}
	// The search box: free text after the status, as GitLab joins them.
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"query=is:unresolved%20reading%20'total'&limit=20", []string{jsIssue}},
		{"query=is:unresolved%20CHECKOUT&limit=20&sort=freq", []string{goIssue, jsIssue}}, // message and culprit
		{"query=is:unresolved%20filler%20nomatch&limit=20&sort=new", nil},                 // every term must match
		{"query=is:unresolved%20%22filler%2021%22&limit=20", []string{"*"}},
		{"query=is:unresolved%20tenant's&limit=20", nil}, // another project's event
	} {
		got, _ := list(c.query)
		switch {
		case len(c.want) == 1 && c.want[0] == "*":
			if len(got) != 1 || !strings.Contains(got[0]["title"].(string), "filler 21") {
				t.Errorf("?%s: %v", c.query, ids(got))
			}
		default:
			g := ids(got)
			sort.Strings(g)
			w := append([]string(nil), c.want...)
			sort.Strings(w)
			if strings.Join(g, ",") != strings.Join(w, ",") {
				t.Errorf("?%s: %v, want %v", c.query, g, w)
			}
		}
	}
	// What GitLab's list shows of the browser error.
	found := false
	for _, is := range append(page1, page2...) {
		if is["id"] == jsIssue {
			if md := is["metadata"].(map[string]any); md["value"] != "Cannot read properties of undefined (reading 'total')" {
				t.Errorf("metadata.value %v", md["value"])
			}
			if is["userCount"] != 1.0 || is["count"] != "1" {
				t.Errorf("browser error: count %v userCount %v", is["count"], is["userCount"])
			}
			var b bytes.Buffer
			json.NewEncoder(&b).Encode(is) //nolint:errcheck
			gitlabGolden(t, "gitlab_issues_item", b.Bytes())
			found = true
		}
	}
	if !found {
		t.Errorf("the browser error %s is on neither page", jsIssue)
	}
	// Searches GitLab's box may send that Faultline can't do: Sentry's 400
	// {"detail"}, saying what is wrong. And release: terms, exact.
	for _, c := range []struct{ query, detail string }{
		{"is:unresolved%20browser.name:>3", `"browser.name:>3": comparisons are supported on timesSeen:`},
		{"is:unresolved%20%22unclosed", "unbalanced quotes"},
		{"is:bogus", "unknown status"},
		{"is:unresolved" + strings.Repeat("%20a", 20), "at most 20 terms"},
	} {
		st, _, raw := gitlab("GET", base+"?query="+c.query+"&limit=20", "")
		if st != 400 || !strings.Contains(detail(t, raw), c.detail) {
			t.Errorf("?query=%s: %d %s, want 400 %q", c.query, st, raw, c.detail)
		}
	}
	if got, _ := list("query=is:unresolved%20release:shop@2.0.0&limit=20"); len(got) != 1 || got[0]["id"] != jsIssue {
		t.Errorf("release:shop@2.0.0: %v", ids(got))
	}
	// release:latest is the project's latest release in its release order
	// (semantic versions here): shop@2.0.0.
	if got, _ := list("query=is:unresolved%20release:latest&limit=20"); len(got) != 1 || got[0]["id"] != jsIssue {
		t.Errorf("release:latest: %v", ids(got))
	}
	if got, _ := list("query=release:shop@1.0.0%20!release:shop@2.0.0&limit=20"); len(got) != 1 || got[0]["id"] != goIssue {
		t.Errorf("release:shop@1.0.0: %v", ids(got))
	}

	// 3. The issue's details (IssueDetailsService, sentry_client/issue.rb).
	for _, id := range []string{jsIssue, goIssue} {
		st, _, raw := gitlab("GET", "/api/0/issues/"+id+"/", "")
		if st != 200 {
			t.Fatalf("issue %s: %d %s", id, st, raw)
		}
		var is map[string]any
		mustJSON(t, raw, &is)
		checkGitLabIssue(t, is, p.ID)
		c := checker{t: t, what: "issue details"}
		c.str(is, "level")
		c.strOrNull(is, "logger")
		for _, k := range []string{"firstRelease", "lastRelease"} {
			r := c.get(is, k)
			if r == nil {
				continue
			}
			c.str(is, k, "version")
			c.str(is, k, "shortVersion")
			c.strOrNull(is, k, "lastCommit")
		}
		if ann, ok := c.get(is, "annotations").([]any); !ok {
			t.Errorf("annotations: %v", is["annotations"])
		} else {
			for _, a := range ann {
				if _, ok := a.(string); !ok {
					t.Errorf("annotation %v is not a string", a)
				}
			}
		}
		if _, ok := c.get(is, "pluginIssues").([]any); !ok {
			t.Errorf("pluginIssues: %v", is["pluginIssues"])
		}
		if id == jsIssue {
			if r, _ := is["firstRelease"].(map[string]any); r == nil || r["version"] != "shop@2.0.0" {
				t.Errorf("firstRelease: %v", is["firstRelease"])
			}
			gitlabGolden(t, "gitlab_issue", raw)
		}
	}

	// 4. The latest event, for the stack trace (IssueLatestEventService,
	// sentry_client/event.rb).
	for _, id := range []string{jsIssue, goIssue} {
		st, _, raw := gitlab("GET", "/api/0/issues/"+id+"/events/latest/", "")
		if st != 200 {
			t.Fatalf("latest event of %s: %d %s", id, st, raw)
		}
		var e map[string]any
		mustJSON(t, raw, &e)
		c := checker{t: t, what: "latest event"}
		if c.digits(e, "projectID") != p.ID {
			t.Errorf("projectID %v, want %s", e["projectID"], p.ID)
		}
		if c.digits(e, "groupID") != id {
			t.Errorf("groupID %v, want %s", e["groupID"], id)
		}
		c.date(e, "dateReceived")
		frames := gitlabFrames(t, e)
		if len(frames) == 0 {
			t.Fatalf("issue %s: no frames GitLab would show", id)
		}
		withContext := 0
		for _, fr := range frames {
			c := checker{t: t, what: "frame"}
			c.strOrNull(fr, "filename")
			c.strOrNull(fr, "absPath")
			c.strOrNull(fr, "function")
			c.numOrNull(fr, "lineNo")
			c.numOrNull(fr, "colNo")
			ctx, ok := c.get(fr, "context").([]any)
			if !ok {
				t.Errorf("frame context %v: want an array, never null", fr["context"])
			}
			for _, l := range ctx {
				pair, ok := l.([]any)
				if !ok || len(pair) != 2 {
					t.Fatalf("context line %v: want [lineNo, code]", l)
				}
				if _, ok := pair[0].(float64); !ok {
					t.Errorf("context line number %v", pair[0])
				}
				if _, ok := pair[1].(string); !ok {
					t.Errorf("context code %v", pair[1])
				}
			}
			if len(ctx) > 0 {
				withContext++
			}
			if fr["filename"] == nil && fr["absPath"] == nil {
				t.Errorf("frame %v: neither filename nor absPath", fr)
			}
		}
		if id == jsIssue {
			if withContext != 1 || frames[1]["colNo"] != 17.0 || frames[1]["lineNo"] != 42.0 {
				t.Errorf("browser frames: %v", frames)
			}
			gitlabGolden(t, "gitlab_latest_event", raw)
		}
		if id == goIssue && frames[len(frames)-1]["function"] != "gitlabCheckout" {
			t.Errorf("sentry-go's innermost frame: %v", frames[len(frames)-1])
		}
	}
	// Sentry's oldest event too.
	if st, _, raw := gitlab("GET", "/api/0/issues/"+goIssue+"/events/oldest/", ""); st != 200 || !bytes.Contains(raw, []byte(goIDs[0])) {
		t.Errorf("oldest event: %d %.200s", st, raw)
	}

	// 5. Resolving, ignoring and reopening from GitLab
	// (IssueUpdateService): 200 with the issue's JSON, and the lists follow.
	for _, status := range []string{"resolved", "ignored", "unresolved"} {
		st, _, raw := gitlab("PUT", "/api/0/issues/"+jsIssue+"/", `{"status":"`+status+`"}`)
		var is map[string]any
		if st != 200 || json.Unmarshal(raw, &is) != nil || is["id"] != jsIssue || is["status"] != status {
			t.Fatalf("PUT status %s: %d %s", status, st, raw)
		}
		checkGitLabIssue(t, is, p.ID)
		for _, q := range []string{"resolved", "ignored", "unresolved"} {
			got, _ := list("query=is:" + q + "%20reading&limit=20")
			if (len(got) == 1) != (q == status) {
				t.Errorf("after %s, is:%s lists %v", status, q, ids(got))
			}
		}
	}

	// Another organization's issue is not found, through every call.
	otherIssue := f.WaitIssues(other, 30*time.Second, func(is []testserver.Issue) bool { return len(is) == 1 })[0].ID
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/0/projects/other/backend/issues/?query=is:unresolved&limit=20", ""},
		{"GET", "/api/0/issues/" + otherIssue + "/", ""},
		{"GET", "/api/0/issues/" + otherIssue + "/events/latest/", ""},
		{"PUT", "/api/0/issues/" + otherIssue + "/", `{"status":"resolved"}`},
	} {
		if st, _, raw := gitlab(c.method, c.path, c.body); st != 404 || detail(t, raw) == "" {
			t.Errorf("%s %s: %d %s, want 404", c.method, c.path, st, raw)
		}
	}
	if is := f.Issues(other); is[0].Status != "unresolved" {
		t.Errorf("another tenant's issue became %s", is[0].Status)
	}

	// 6. The repositories, for the commit links (sentry_client/repo.rb).
	if gitlabReposRouteMerged {
		if st, raw := f.Do("POST", "/api/0/organizations/acme/repos/", map[string]any{"name": "acme/shop"}, nil); st != 201 {
			t.Fatalf("add a repository: %d %s", st, raw)
		}
		st, _, raw := gitlab("GET", "/api/0/organizations/acme/repos/", "")
		var repos []map[string]any
		if st != 200 || json.Unmarshal(raw, &repos) != nil || len(repos) != 1 {
			t.Fatalf("repos: %d %s", st, raw)
		}
		for _, r := range repos {
			c := checker{t: t, what: "repo"}
			c.str(r, "status")
			c.strOrNull(r, "integrationId")
			c.get(r, "externalSlug")
		}
	}

}

// checkGitLabIssue checks what GitLab's map_to_error and
// map_to_detailed_error read of an issue.
func checkGitLabIssue(t *testing.T, is map[string]any, projectID string) {
	t.Helper()
	c := checker{t: t, what: "issue"}
	c.digits(is, "id")
	c.str(is, "title")
	c.str(is, "type")
	c.str(is, "culprit")
	c.str(is, "shortId")
	c.str(is, "status")
	if _, err := strconv.ParseUint(c.str(is, "count"), 10, 64); err != nil {
		t.Errorf("issue count %v: want a string of digits", is["count"])
	}
	if n, ok := c.get(is, "userCount").(float64); !ok || n != float64(int64(n)) {
		t.Errorf("issue userCount %v: want an integer", is["userCount"])
	}
	c.date(is, "firstSeen")
	c.date(is, "lastSeen")
	if md, ok := c.get(is, "metadata").(map[string]any); !ok {
		t.Errorf("metadata %v", is["metadata"])
	} else if v, ok := md["value"]; ok {
		if _, ok := v.(string); !ok && v != nil {
			t.Errorf("metadata.value %v", v)
		}
	}
	if c.digits(is, "project", "id") != projectID {
		t.Errorf("project.id %v, want %s", c.get(is, "project", "id"), projectID)
	}
	c.str(is, "project", "name")
	c.str(is, "project", "slug")
	stats, ok := c.get(is, "stats", "24h").([]any)
	if !ok || len(stats) != 24 {
		t.Fatalf("stats[24h] %v: want 24 hourly buckets", c.get(is, "stats"))
	}
	for _, b := range stats {
		pair, ok := b.([]any)
		if !ok || len(pair) != 2 {
			t.Fatalf("stats bucket %v: want [unix_ts, count]", b)
		}
		for _, n := range pair {
			if f, ok := n.(float64); !ok || f != float64(int64(f)) || f < 0 {
				t.Fatalf("stats bucket %v: want integers", b)
			}
		}
	}
}

// gitlabFrames is GitLab's parse_stack_trace: the frames of the first
// exception value that has a stack trace.
func gitlabFrames(t *testing.T, e map[string]any) []map[string]any {
	t.Helper()
	entries, _ := e["entries"].([]any)
	for _, en := range entries {
		m, _ := en.(map[string]any)
		if m["type"] != "exception" {
			continue
		}
		values, _ := m["data"].(map[string]any)["values"].([]any)
		for _, v := range values {
			st, _ := v.(map[string]any)["stacktrace"].(map[string]any)
			if st == nil {
				continue
			}
			var out []map[string]any
			for _, fr := range st["frames"].([]any) {
				out = append(out, fr.(map[string]any))
			}
			return out
		}
	}
	return nil
}

// checker reads fields as GitLab does (fetch fails on a missing key) and
// reports a missing field or a wrong type.
type checker struct {
	t    *testing.T
	what string
}

func (c checker) lookup(v any, path []string) (any, error) {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s is not an object", k)
		}
		if v, ok = m[k]; !ok {
			return nil, errors.New("missing")
		}
	}
	return v, nil
}

func (c checker) get(v any, path ...string) any {
	c.t.Helper()
	got, err := c.lookup(v, path)
	if err != nil {
		c.t.Errorf("%s.%s: %v", c.what, strings.Join(path, "."), err)
	}
	return got
}

func (c checker) str(v any, path ...string) string {
	c.t.Helper()
	s, ok := c.get(v, path...).(string)
	if !ok {
		c.t.Errorf("%s.%s = %v: want a string", c.what, strings.Join(path, "."), c.get(v, path...))
	}
	return s
}

func (c checker) strOrNull(v any, path ...string) {
	c.t.Helper()
	if got := c.get(v, path...); got != nil {
		if _, ok := got.(string); !ok {
			c.t.Errorf("%s.%s = %v: want a string or null", c.what, strings.Join(path, "."), got)
		}
	}
}

func (c checker) numOrNull(v any, path ...string) {
	c.t.Helper()
	if got := c.get(v, path...); got != nil {
		if _, ok := got.(float64); !ok {
			c.t.Errorf("%s.%s = %v: want a number or null", c.what, strings.Join(path, "."), got)
		}
	}
}

var digitsRE = regexp.MustCompile(`^[0-9]+$`)

func (c checker) digits(v any, path ...string) string {
	c.t.Helper()
	s := c.str(v, path...)
	if !digitsRE.MatchString(s) {
		c.t.Errorf("%s.%s = %q: want digits (GitLab's ensure_numeric!)", c.what, strings.Join(path, "."), s)
	}
	return s
}

func (c checker) date(v any, path ...string) {
	c.t.Helper()
	s := c.str(v, path...)
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		c.t.Errorf("%s.%s = %q: want an ISO 8601 date-time", c.what, strings.Join(path, "."), s)
	}
}

func mustJSON(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
}

// shape is a JSON value's shape: objects keep their keys, arrays the
// distinct shapes of their elements, scalars become their type's name.
func shape(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[k] = shape(val)
		}
		return out
	case []any:
		// The distinct shapes of the elements, in order.
		out, seen := []any{}, map[string]bool{}
		for _, e := range t {
			sh := shape(e)
			k, _ := json.Marshal(sh)
			if !seen[string(k)] {
				seen[string(k)] = true
				out = append(out, sh)
			}
		}
		return out
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// gitlabGolden compares the shape of an answer with testdata/name.json;
// -update rewrites it.
func gitlabGolden(t *testing.T, name string, raw []byte) {
	t.Helper()
	var v any
	mustJSON(t, raw, &v)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(shape(v)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/api/ -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("the shape of %s differs from %s (rerun with -update if intended):\n%s", name, path, buf.Bytes())
	}
}

// sessionLogin logs in through Sentry's login route and returns a client
// that sends the session's cookies and CSRF token.
func sessionLogin(t *testing.T, f *testserver.Faultline, email, password string) func(method, path, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(f.URL+"/api/0/auth/login/", "application/json",
		strings.NewReader(`{"username":"`+email+`","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	var csrf string
	for _, c := range cookies {
		if c.Name == "csrftoken" {
			csrf = c.Value
		}
	}
	if resp.StatusCode != 200 || csrf == "" {
		t.Fatalf("login %s: %d", email, resp.StatusCode)
	}
	return func(method, path, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, f.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		req.Header.Set("X-CSRFToken", csrf)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw
	}
}
