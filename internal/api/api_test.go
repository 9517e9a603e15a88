package api_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// call sends a request with a raw body and token ("" for none) and returns
// the status, the headers and the body.
func call(t *testing.T, f *testserver.Faultline, method, path, body, token string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

// sendEvent sends one event to ingest (the worker then processes it).
func sendEvent(t *testing.T, f *testserver.Faultline, p testserver.Project, body string) {
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

var dateRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$`)

// volatileKeys hold values that change from run to run.
var volatileKeys = map[string]bool{"stats": true, "size": true}

// normalize replaces what changes between runs (dates, the server's
// address, keys) with placeholders, so that the rest can be compared.
func normalize(v any, replace map[string]string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if volatileKeys[k] {
				t[k] = "<volatile>"
				continue
			}
			t[k] = normalize(val, replace)
		}
	case []any:
		for i := range t {
			t[i] = normalize(t[i], replace)
		}
	case string:
		if dateRE.MatchString(t) {
			return "<date>"
		}
		for old, new := range replace {
			t = strings.ReplaceAll(t, old, new)
		}
		return t
	}
	return v
}

// golden compares a JSON answer with testdata/name.json, after
// normalize; -update rewrites the file.
func golden(t *testing.T, name string, raw []byte, replace map[string]string) {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, raw)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(normalize(v, replace)); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/api/ -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (rerun with -update if the change is intended):\n%s", name, path, got)
	}
}

func detail(t *testing.T, raw []byte) string {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("error body is not JSON: %v\n%s", err, raw)
	}
	s, ok := d["detail"].(string)
	if !ok || s == "" || len(d) != 1 {
		t.Fatalf(`error body is not {"detail": "..."}: %s`, raw)
	}
	return s
}

const eventID = "0123456789abcdef0123456789abcdef"

// sampleEvent carries what the serialization, the scrubbing and the
// normalization of non-finite numbers are checked on.
var sampleEvent = `{
 "event_id": "` + eventID + `",
 "timestamp": "2026-01-02T03:04:05.678Z",
 "platform": "python", "level": "error", "environment": "production", "release": "shop@1.2.3",
 "logger": "shop.db", "server_name": "web-1", "transaction": "/checkout",
 "exception": {"values": [{"type": "OperationalError", "value": "could not connect to postgres://shop:hunter2@db:5432/shop",
   "module": "psycopg2", "mechanism": {"type": "generic", "handled": false},
   "stacktrace": {"frames": [
     {"filename": "shop/db.py", "function": "connect", "lineno": 10, "in_app": true, "context_line": "conn = connect(url)",
      "pre_context": ["def connect():"], "post_context": ["return conn"], "vars": {"url": "'postgres://shop:hunter2@db:5432/shop'", "retries": 3}}]}}]},
 "breadcrumbs": {"values": [{"timestamp": "2026-01-02T03:04:00Z", "type": "http", "category": "httplib",
   "data": {"url": "https://api.example.com/v1/charge?amount=5&api_key=sk_live_1", "method": "POST", "status_code": 500}}]},
 "request": {"url": "https://shop.example.com/login?user=bob&password=hunter2", "method": "POST",
   "headers": [["User-Agent", "curl/8"], ["Authorization", "Bearer abc"]]},
 "user": {"id": "42", "email": "bob@example.com"},
 "tags": {"browser": "Firefox", "region": "eu"},
 "contexts": {"runtime": {"name": "CPython", "version": "3.12.1"}, "gpu": {"memory": 1e400}},
 "extra": {"big": 1e400, "small": -1e400, "fine": 1.5, "digits": 1` + strings.Repeat("0", 400) + `},
 "sdk": {"name": "sentry.python", "version": "2.0.0"}
}`

// TestAPI runs one real server (embedded NATS and chDB, the worker and the
// API) and checks what the API serializes and what it refuses.
func TestAPI(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "api", "python")
	sendEvent(t, f, p, sampleEvent)
	var stored map[string]any
	f.WaitEvent(t, p, eventID, &stored)
	issues := f.Issues(p)
	if len(issues) != 1 {
		t.Fatalf("issues: %+v", issues)
	}
	issueID := issues[0].ID
	tok := testserver.AdminToken

	var keys []map[string]any
	if st, raw := f.Do("GET", "/api/0/projects/acme/api/keys/", nil, &keys); st != 200 || len(keys) != 1 {
		t.Fatalf("keys: %d %s", st, raw)
	}
	replace := map[string]string{
		f.URL:                                "http://faultline.test",
		strings.TrimPrefix(f.URL, "http://"): "faultline.test",
		keys[0]["public"].(string):           "<public>",
		keys[0]["secret"].(string):           "<secret>",
	}

	t.Run("serialization", func(t *testing.T) {
		for _, c := range []struct{ name, path string }{
			{"organization", "/api/0/organizations/acme/"},
			{"teams", "/api/0/organizations/acme/teams/"},
			{"project", "/api/0/projects/acme/api/"},
			{"keys", "/api/0/projects/acme/api/keys/"},
			{"issue", "/api/0/issues/" + issueID + "/"},
			{"event", "/api/0/projects/acme/api/events/" + eventID + "/"},
		} {
			st, _, raw := call(t, f, "GET", c.path, "", tok)
			if st != 200 {
				t.Fatalf("%s: %d %s", c.path, st, raw)
			}
			golden(t, c.name, raw, replace)
		}
	})

	t.Run("event is scrubbed and finite", func(t *testing.T) {
		_, _, raw := call(t, f, "GET", "/api/0/issues/"+issueID+"/events/latest/", "", tok)
		var ev struct {
			Context  map[string]any            `json:"context"`
			Contexts map[string]map[string]any `json:"contexts"`
			Entries  []struct {
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			} `json:"entries"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("Go cannot decode the served event: %v", err)
		}
		for _, k := range []string{"big", "small", "digits"} {
			if v, ok := ev.Context[k]; !ok || v != nil {
				t.Errorf("extra.%s = %v (present %v), want null", k, v, ok)
			}
		}
		if ev.Context["fine"] != 1.5 {
			t.Errorf("extra.fine = %v", ev.Context["fine"])
		}
		if v, ok := ev.Contexts["gpu"]["memory"]; !ok || v != nil {
			t.Errorf("contexts.gpu.memory = %v", v)
		}
		for _, secret := range []string{"hunter2", "sk_live_1"} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("%q served:\n%s", secret, raw)
			}
		}
		for _, kept := range []string{"postgres://shop:[Filtered]@db:5432/shop", "https://shop.example.com/login?user=bob\u0026password=[Filtered]",
			"https://api.example.com/v1/charge?amount=5\u0026api_key=[Filtered]"} {
			if !strings.Contains(strings.ReplaceAll(string(raw), `\u0026`, "&"), kept) {
				t.Errorf("%q not in the served event", kept)
			}
		}
	})

	t.Run("refusals", func(t *testing.T) {
		big := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
		tests := []struct {
			name, method, path, body, token string
			status                          int
		}{
			{"no token", "GET", "/api/0/organizations/", "", "", 401},
			{"wrong token", "GET", "/api/0/organizations/", "", "not-the-token-0123456789abcdef0123", 401},
			{"no token, with a body", "POST", "/api/0/organizations/", `{"name":"x"}`, "", 401},
			{"syntax error", "POST", "/api/0/organizations/", `{"name": "x",`, tok, 400},
			{"wrong type", "POST", "/api/0/organizations/", `{"name": 5}`, tok, 400},
			{"wrong type in a list", "PUT", "/api/0/projects/acme/api/", `{"allowedDomains": "x"}`, tok, 400},
			{"wrong nested type", "PUT", "/api/0/projects/acme/api/", `{"spikeProtection": {"enabled": "yes"}}`, tok, 400},
			{"empty body", "POST", "/api/0/organizations/", "", tok, 400},
			{"bad cursor", "GET", "/api/0/projects/acme/api/issues/?cursor=nonsense", "", tok, 400},
			{"bad event cursor", "GET", "/api/0/issues/" + issueID + "/events/?cursor=12:nope", "", tok, 400},
			{"statsPeriod overflow", "GET", "/api/0/organizations/acme/stats_v2/?field=sum(quantity)&statsPeriod=99999999999999d", "", tok, 400},
			{"statsPeriod unit", "GET", "/api/0/organizations/acme/stats_v2/?field=sum(quantity)&statsPeriod=5y", "", tok, 400},
			{"issues statsPeriod", "GET", "/api/0/projects/acme/api/issues/?statsPeriod=99999999999999d", "", tok, 400},
			{"unbalanced search", "GET", "/api/0/issues/" + issueID + `/events/?query="x`, "", tok, 400},
			{"unknown organization", "GET", "/api/0/organizations/nope/", "", tok, 404},
			{"unknown project", "GET", "/api/0/projects/acme/nope/", "", tok, 404},
			{"unknown issue", "GET", "/api/0/issues/999999/", "", tok, 404},
			{"issue id not a number", "GET", "/api/0/issues/abc/", "", tok, 404},
			{"unknown event", "GET", "/api/0/projects/acme/api/events/ffffffffffffffffffffffffffffffff/", "", tok, 404},
			{"unknown key", "GET", "/api/0/projects/acme/api/keys/nope/", "", tok, 404},
			{"body too large", "POST", "/api/0/organizations/", big, tok, 413},
		}
		for _, tc := range tests {
			st, _, raw := call(t, f, tc.method, tc.path, tc.body, tc.token)
			if st != tc.status {
				t.Errorf("%s: %d, want %d: %.200s", tc.name, st, tc.status, raw)
				continue
			}
			d := detail(t, raw)
			// Nothing of Go's: types, struct and field names, packages.
			for _, leak := range []string{"Go ", "struct", "api.", "meta.", "json:", "unmarshal", "int64", "float64", "[]string"} {
				if strings.Contains(d, leak) {
					t.Errorf("%s: detail %q names %q", tc.name, d, leak)
				}
			}
		}
		// The wrong-type answers name the field, in the client's words.
		_, _, raw := call(t, f, "POST", "/api/0/organizations/", `{"name": 5}`, tok)
		if d := detail(t, raw); d != `Invalid value for "name": expected a string.` {
			t.Errorf("wrong type: %q", d)
		}
	})

	t.Run("keys are never cached", func(t *testing.T) {
		pub := keys[0]["public"].(string)
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/api/0/projects/acme/api/keys/", ""},
			{"GET", "/api/0/projects/acme/api/keys/" + pub + "/", ""},
			{"PUT", "/api/0/projects/acme/api/keys/" + pub + "/", `{"name":"Default"}`},
			{"POST", "/api/0/projects/acme/api/keys/", `{"name":"second"}`},
		} {
			st, h, raw := call(t, f, c.method, c.path, c.body, tok)
			if st >= 300 {
				t.Fatalf("%s %s: %d %s", c.method, c.path, st, raw)
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s: Cache-Control %q", c.method, c.path, h.Get("Cache-Control"))
			}
		}
	})

	t.Run("Link cursors", func(t *testing.T) {
		for _, path := range []string{
			"/api/0/projects/acme/api/issues/?query=&limit=1",
			"/api/0/issues/" + issueID + "/events/?limit=1",
			"/api/0/organizations/acme/issues/" + issueID + "/events/",
		} {
			st, h, raw := call(t, f, "GET", path, "", tok)
			if st != 200 {
				t.Fatalf("%s: %d %s", path, st, raw)
			}
			links := linkURLs(t, h.Get("Link"))
			if len(links) != 2 {
				t.Fatalf("%s: Link %q", path, h.Get("Link"))
			}
			for rel, u := range links {
				st, _, raw := call(t, f, "GET", strings.TrimPrefix(u, f.URL), "", tok)
				if st != 200 {
					t.Errorf("%s: the %s cursor of its Link header: %d %s", path, rel, st, raw)
				}
			}
		}
	})
}

var linkRE = regexp.MustCompile(`<([^>]+)>; rel="(\w+)"`)

func linkURLs(t *testing.T, h string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range linkRE.FindAllStringSubmatch(h, -1) {
		if _, err := url.Parse(m[1]); err != nil {
			t.Fatalf("Link URL %q: %v", m[1], err)
		}
		out[m[2]] = m[1]
	}
	return out
}

// TestIssueEventsFilters: the issue-events lists (project and
// organization routes) honour environment and query.
func TestIssueEventsFilters(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "api", "python")
	type sent struct{ env, browser, msg string }
	all := []sent{
		{"production", "Firefox", "payment failed: card declined"},
		{"production", "Chrome", "payment failed: gateway timeout"},
		{"staging", "Firefox", "payment failed: card declined"},
		{"staging", "Safari", "payment failed: gateway timeout"},
	}
	ids := make([]string, len(all))
	for i, s := range all {
		ids[i] = fmt.Sprintf("%032x", i+1)
		// One fingerprint, so that every event is in one issue.
		sendEvent(t, f, p, fmt.Sprintf(`{"event_id":%q,"timestamp":%q,"environment":%q,"tags":{"browser":%q},"message":%q,"fingerprint":["payments"]}`,
			ids[i], time.Now().Add(time.Duration(i-10)*time.Second).UTC().Format(time.RFC3339), s.env, s.browser, s.msg))
	}
	issues := f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == len(all) })
	if len(issues) != 1 {
		t.Fatalf("%d issues", len(issues))
	}
	tests := []struct {
		name, query string
		want        []int
	}{
		{"all", "", []int{3, 2, 1, 0}},
		{"environment", "environment=production", []int{1, 0}},
		{"two environments", "environment=production&environment=staging", []int{3, 2, 1, 0}},
		{"tag", "query=browser:Firefox", []int{2, 0}},
		{"negated tag", "query=" + url.QueryEscape("!browser:Firefox"), []int{3, 1}},
		{"environment in the query", "query=environment:staging", []int{3, 2}},
		{"environment and tag", "environment=staging&query=browser:Safari", []int{3}},
		{"free text", "query=" + url.QueryEscape(`"gateway timeout"`), []int{3, 1}},
		{"free text and environment", "environment=production&query=declined", []int{0}},
		{"nothing", "query=browser:Lynx", nil},
	}
	for _, base := range []string{"/api/0/issues/" + issues[0].ID + "/events/", "/api/0/organizations/acme/issues/" + issues[0].ID + "/events/"} {
		for _, tc := range tests {
			var got []struct {
				EventID string `json:"eventID"`
			}
			if st, raw := f.Do("GET", base+"?"+tc.query, nil, &got); st != 200 {
				t.Fatalf("%s: %d %s", tc.name, st, raw)
			}
			var gotIDs, want []string
			for _, e := range got {
				gotIDs = append(gotIDs, e.EventID)
			}
			for _, n := range tc.want {
				want = append(want, ids[n])
			}
			if strings.Join(gotIDs, ",") != strings.Join(want, ",") {
				t.Errorf("%s %s: %v, want %v", base, tc.name, gotIDs, want)
			}
		}
	}
	// Paging keeps the filter: one event per page, production only.
	var seen []string
	path := "/api/0/issues/" + issues[0].ID + "/events/?environment=production&limit=1"
	for range 5 {
		st, h, raw := call(t, f, "GET", path, "", testserver.AdminToken)
		if st != 200 {
			t.Fatalf("%s: %d %s", path, st, raw)
		}
		var page []struct {
			EventID string `json:"eventID"`
		}
		json.Unmarshal(raw, &page) //nolint:errcheck
		for _, e := range page {
			seen = append(seen, e.EventID)
		}
		if !strings.Contains(h.Get("Link"), `rel="next"; results="true"`) {
			break
		}
		path = strings.TrimPrefix(linkURLs(t, h.Get("Link"))["next"], f.URL)
	}
	if strings.Join(seen, ",") != ids[1]+","+ids[0] {
		t.Errorf("paged production events: %v", seen)
	}
}
