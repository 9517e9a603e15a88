package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/oidc"
	"github.com/faultline/faultline/internal/route"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// routeFixture is a server with one organization, project, issue and event,
// and the values that fill each route's placeholders with real objects.
type routeFixture struct {
	f      *testserver.Faultline
	p      testserver.Project
	issue  string
	event  string
	keyID  string
	values map[string]string
}

func newRouteFixture(t *testing.T) *routeFixture {
	t.Helper()
	// A long deletion delay: a near miss that reached a deletion would leave
	// its object pending, which the snapshots see.
	f := testserver.Start(t, server.Config{DeletionDelay: time.Hour,
		// Sign-on's routes are in the table (its provider is never reached).
		OIDC: oidc.Config{Issuer: "http://127.0.0.1:1", ClientID: "faultline"}})
	p := f.CreateProject("acme", "web", "go")
	f.CreateProject("other", "api", "go")
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	scope := sentry.NewScope()
	scope.AddAttachment(&sentry.Attachment{Filename: "fixture.txt", ContentType: "text/plain", Payload: []byte("fixture")})
	id := client.CaptureMessage("route table fixture", nil, scope)
	if id == nil {
		t.Fatal("sentry-go sent nothing")
	}
	var ev struct {
		GroupID string `json:"groupID"`
	}
	f.WaitEvent(t, p, string(*id), &ev)
	var keys []struct {
		ID string `json:"id"`
	}
	if st, raw := f.Do("GET", "/api/0/projects/acme/web/keys/", nil, &keys); st != 200 || len(keys) == 0 {
		t.Fatalf("keys: %d %s", st, raw)
	}
	var members []struct {
		ID string `json:"id"`
	}
	if st, raw := f.Do("GET", "/api/0/organizations/acme/members/", nil, &members); st != 200 || len(members) == 0 {
		t.Fatalf("members: %d %s", st, raw)
	}
	rf := &routeFixture{f: f, p: p, issue: ev.GroupID, event: string(*id), keyID: keys[0].ID,
		values: map[string]string{"member_id": members[0].ID}}
	rf.values["attachment_id"] = fixtureAttachment(t, f, p, string(*id))
	// The release {version} names, in the project the fixture's routes name.
	if st, raw := f.Do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": "1.0", "projects": []string{"web"}}, nil); st != 201 {
		t.Fatalf("the fixture's release: %d %s", st, raw)
	}
	rf.values["job"] = fixtureJob(t, f)
	rf.values["file_id"] = fixtureReleaseFile(t, f)
	// The {rule_id}: the default rule of the fixture's project.
	var rules []struct {
		ID string `json:"id"`
	}
	if st, raw := f.Do("GET", "/api/0/projects/acme/web/rules/", nil, &rules); st != 200 || len(rules) == 0 {
		t.Fatalf("the fixture's rules: %d %s", st, raw)
	}
	rf.values["rule_id"] = rules[0].ID
	// The {comment_id}: the superuser's comment on the fixture's issue.
	var note struct {
		ID string `json:"id"`
	}
	if st, raw := f.Do("POST", "/api/0/issues/"+ev.GroupID+"/comments/", map[string]any{"text": "fixture"}, &note); st != 201 {
		t.Fatalf("the fixture's comment: %d %s", st, raw)
	}
	rf.values["comment_id"] = note.ID
	return rf
}

// fixtureAttachment waits for the attachment the fixture's event carries
// and returns its id.
func fixtureAttachment(t *testing.T, f *testserver.Faultline, p testserver.Project, event string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var atts []struct {
			ID string `json:"id"`
		}
		st, raw := f.Do("GET", "/api/0/projects/"+p.Org+"/"+p.Slug+"/events/"+event+"/attachments/", nil, &atts)
		if st == 200 && len(atts) > 0 {
			return atts[0].ID
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fixture's attachment: %d %s", st, raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fixtureReleaseFile uploads a file to the fixture's release 1.0 (the
// legacy release files upload) and returns its id.
func fixtureReleaseFile(t *testing.T, f *testserver.Faultline) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("name", "~/fixture.min.js") //nolint:errcheck
	w, _ := mw.CreateFormFile("file", "fixture.min.js")
	w.Write([]byte("function f(){}\n")) //nolint:errcheck
	mw.Close()
	req, err := http.NewRequest("POST", f.URL+"/api/0/projects/acme/web/releases/1.0/files/", &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testserver.AdminToken)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var file struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&file); err != nil || resp.StatusCode != 201 || file.ID == "" {
		t.Fatalf("the fixture's release file: %d %v", resp.StatusCode, err)
	}
	return file.ID
}

// fixtureJob deletes a project of acme made for it and returns the id of
// the deletion job (left pending: the fixture's deletion delay is long).
func fixtureJob(t *testing.T, f *testserver.Faultline) string {
	t.Helper()
	f.CreateProject("acme", "doomed", "go")
	req, err := http.NewRequest("DELETE", f.URL+"/api/0/projects/acme/doomed/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testserver.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 204 || loc == "" {
		t.Fatalf("delete acme/doomed: %d %q", resp.StatusCode, loc)
	}
	return lastSegment(loc)
}

// fill replaces a route's placeholders with the fixture's real objects.
func (rf *routeFixture) fill(r *route.Route) string {
	path := r.Path
	for _, name := range r.Placeholders() {
		var v string
		switch name {
		case "org":
			v = rf.p.Org
		case "project":
			v = rf.p.Slug
		case "team":
			v = "team"
		case "project_id":
			v = rf.p.ID
		case "event_id":
			v = rf.event
		case "attachment_id":
			v = rf.values["attachment_id"]
		case "token_id":
			v = "1"
		case "member_id":
			v = rf.values["member_id"]
		case "comment_id":
			v = rf.values["comment_id"]
		case "token":
			v = strings.Repeat("0", 64) // an invitation token's shape
		case "version":
			v = "1.0"
		case "rule_id":
			v = rf.values["rule_id"]
		case "file_id":
			v = rf.values["file_id"]
		case "key":
			if strings.Contains(path, "/keys/{key}") {
				v = rf.keyID
			} else {
				v = "level"
			}
		case "id":
			if r.Tenant == route.TenantIssue {
				v = rf.issue
			} else if r.Tenant == route.TenantJob {
				v = rf.values["job"]
			} else {
				v = "1"
			}
		default:
			v = "x"
		}
		path = strings.Replace(path, "{"+name+"}", v, 1)
	}
	return path
}

// unknownValue is a value of a placeholder that names nothing stored.
func unknownValue(name string) string {
	switch name {
	case "id", "attachment_id", "project_id", "token_id", "rule_id", "comment_id":
		return "987654321"
	case "event_id":
		return "0123456789abcdef0123456789abcdef"
	}
	return "nosuch" + strings.ReplaceAll(name, "_", "")
}

// extraSegment appends one segment to a path.
func extraSegment(path string) string {
	if strings.HasSuffix(path, "/") {
		return path + "x/"
	}
	return path + "/x"
}

// replaceLast replaces a path's last segment with word.
func replaceLast(path, word string) string {
	slash := strings.HasSuffix(path, "/")
	p := strings.TrimSuffix(path, "/")
	p = p[:strings.LastIndex(p, "/")+1] + word
	if slash {
		p += "/"
	}
	return p
}

func lastSegment(path string) string {
	p := strings.TrimSuffix(path, "/")
	return p[strings.LastIndex(p, "/")+1:]
}

// snapshot is everything a request could change: every metadata bucket
// (but the rate-limit counters, which change on their own) and what the
// API serves of the issues.
func (rf *routeFixture) snapshot(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := rf.f.Server.Queue().JetStream()
	var b strings.Builder
	names := js.KeyValueStoreNames(ctx)
	var buckets []string
	for n := range names.Name() {
		buckets = append(buckets, n)
	}
	sort.Strings(buckets)
	for _, name := range buckets {
		if strings.Contains(name, "limit") || strings.Contains(name, "spike") {
			continue
		}
		if strings.Contains(name, "token-usage") { // last-use times change on their own
			continue
		}
		kv, err := js.KeyValue(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := kv.Keys(ctx)
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e, err := kv.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s/%s=%s\n", name, k, e.Value())
		}
	}
	for _, path := range []string{
		"/api/0/projects/acme/web/issues/?query=",
		"/api/0/issues/" + rf.issue + "/",
		"/api/0/organizations/",
		"/api/0/projects/",
	} {
		st, raw := rf.f.Do("GET", path, nil, nil)
		fmt.Fprintf(&b, "%s %d %s\n", path, st, raw)
	}
	return b.String()
}

// send makes a request with the admin token and a body that would change
// something if a destructive handler took it.
func (rf *routeFixture) send(t *testing.T, method, path string) (int, []byte, http.Header) {
	t.Helper()
	body := `{"name":"near-miss","slug":"near-miss","status":"resolved","isActive":false,"cancelDeletion":true,"email":"x@example.com"}`
	req, err := http.NewRequest(method, rf.f.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testserver.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header
}

// TestRouteTable enumerates every route the all-in-one process serves: a
// path with one more segment, or with its last segment replaced, never
// reaches the route's handler; a placeholder that names nothing is a 404;
// and no near miss of a route that changes data changes anything.
func TestRouteTable(t *testing.T) {
	rf := newRouteFixture(t)
	tab := rf.f.Server.Routes()
	routes := tab.Routes()
	if len(routes) < 50 {
		t.Fatalf("only %d routes in the table", len(routes))
	}
	// The web UI's pages take a session, not a token: their near misses
	// are sent in an owner's session.
	newUser(t, rf.f, "routes@example.com", "acme", authz.Owner, "team")
	browser := sessionLogin(t, rf.f, "routes@example.com")
	before := rf.snapshot(t)
	for _, r := range routes {
		path := rf.fill(r)
		if got, _, _ := tab.Match(r.Method, path); got != r {
			t.Errorf("%s %s: filled path %s does not reach its route", r.Method, r.Path, path)
			continue
		}
		if got, _, _ := tab.Match(r.Method, extraSegment(path)); got == r {
			t.Errorf("%s %s: %s reaches it", r.Method, r.Path, extraSegment(path))
		}
		last := r.Path[strings.LastIndex(strings.TrimSuffix(r.Path, "/"), "/")+1:]
		last = strings.TrimSuffix(last, "/")
		if !strings.HasPrefix(last, "{") {
			if got, _, _ := tab.Match(r.Method, replaceLast(path, "nosuchthing")); got == r {
				t.Errorf("%s %s: %s reaches it", r.Method, r.Path, replaceLast(path, "nosuchthing"))
			}
		}
		if r.Auth&route.Public != 0 && r.Method != http.MethodOptions {
			continue
		}
		// Near misses, for real.
		misses := []string{extraSegment(path)}
		if strings.HasPrefix(last, "{") {
			name := strings.Trim(last, "{}")
			unknown := replaceLast(path, unknownValue(name))
			st, raw, _ := rf.send(t, r.Method, unknown)
			if r.Auth&route.UserToken == 0 && r.Auth&route.Session != 0 {
				st, raw, _ = browser.do(t, r.Method, unknown, "")
			}
			if r.Auth&route.DSNKey == 0 && st != http.StatusNotFound {
				t.Errorf("%s %s: unknown %s: %d %s, want 404", r.Method, r.Path, name, st, raw)
			}
		} else if r.Destructive() {
			misses = append(misses, replaceLast(path, "nosuchthing"))
		}
		if !r.Destructive() {
			continue
		}
		for _, m := range misses {
			st, raw, _ := rf.send(t, r.Method, m)
			if r.Auth&route.UserToken == 0 && r.Auth&route.Session != 0 {
				st, raw, _ = browser.do(t, r.Method, m, "")
			}
			if st < 400 {
				t.Errorf("%s %s: near miss %s answered %d %s", r.Method, r.Path, m, st, raw)
			}
			if route.IsAPI(m) && r.Auth&route.DSNKey == 0 {
				var e struct{ Detail string }
				if json.Unmarshal(raw, &e) != nil || e.Detail == "" {
					t.Errorf("%s %s: near miss %s: body %q is not Sentry's {\"detail\"}", r.Method, r.Path, m, raw)
				}
			}
		}
	}
	if after := rf.snapshot(t); after != before {
		t.Errorf("near misses changed what is stored:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

// TestRoutesReportedInIssue11 replays the requests that reached the wrong
// handler before the route table, as sentry-cli and scripts send them.
func TestRoutesReportedInIssue11(t *testing.T) {
	rf := newRouteFixture(t)
	before := rf.snapshot(t)
	cases := []struct {
		method, path string
		status       int
	}{
		{"DELETE", "/api/0/organizations/acme/releases/9.9-unknown/", 404},
		{"GET", "/api/0/organizations/acme/releases/9.9-unknown/", 404},
		{"DELETE", "/api/0/projects/acme/web/keys/nosuchkey/", 404}, // deleting a key is a route now (Sentry's)
		{"DELETE", "/api/0/issues/" + rf.issue + "/hashes/?id=abc", 404},
		{"POST", "/api/0/projects/acme/web/issues/?id=" + rf.issue, 405},
		{"POST", "/api/0/organizations/acme/invite-requests/", 404},
		{"POST", "/api/0/organizations/acme/repos/x/", 404},
		{"GET", "/api/0/nonexistent/", 404},
		{"OPTIONS", "/api/0/organizations/", 405},
		{"OPTIONS", "/api/0/projects/acme/web/", 405},
	}
	for _, c := range cases {
		st, raw, h := rf.send(t, c.method, c.path)
		if st != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, st, raw, c.status)
		}
		if h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("%s %s: CORS headers on a management route", c.method, c.path)
		}
		var e struct{ Detail string }
		if err := json.Unmarshal(raw, &e); err != nil || e.Detail == "" || h.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: body %q is not Sentry's {\"detail\"}", c.method, c.path, raw)
		}
		if st == 405 && h.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", c.method, c.path)
		}
	}
	if after := rf.snapshot(t); after != before {
		t.Errorf("the requests changed what is stored:\n--- before\n%s\n--- after\n%s", before, after)
	}
	// Ingest still answers its CORS preflight, with and without the slash.
	for _, p := range []string{"/api/" + rf.p.ID + "/envelope/", "/api/" + rf.p.ID + "/store"} {
		req, _ := http.NewRequest("OPTIONS", rf.f.URL+p, nil)
		req.Header.Set("Origin", "https://app.example.com")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("preflight %s: %d %v", p, resp.StatusCode, resp.Header)
		}
	}
	// Outside /api/, an unknown path is the web UI's 404 page.
	resp, err := http.Get(rf.f.URL + "/nosuchpage")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !bytes.Contains(raw, []byte("Page not found")) ||
		resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("/nosuchpage: %d %v %s", resp.StatusCode, resp.Header, raw)
	}
}
