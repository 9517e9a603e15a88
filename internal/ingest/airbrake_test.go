package ingest_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

const notice = `{"errors":[{"type":"ParseError","message":"bad input %s","backtrace":[{"file":"/srv/app/parse.rb","line":3,"function":"parse"}]}],
"context":{"notifier":{"name":"test-notifier","version":"1.0"},"environment":"prod","language":"Ruby 3.3.0","rootDirectory":"/srv/app"}}`

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// post sends a request and returns its status, headers and body.
func abPost(t *testing.T, method, url string, headers map[string]string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestAirbrakeAnswers checks each way an Airbrake request is accepted or
// refused, with Airbrake's statuses and bodies, and that exactly the
// accepted notices become events and the accepted deploy is recorded.
func TestAirbrakeAnswers(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "web", "ruby")
	other := f.CreateProject("acme", "other", "ruby")
	base := f.URL + "/api/v3/projects/" + p.ID
	nb := func(s string) []byte { return []byte(strings.ReplaceAll(notice, "%s", s)) }
	v2, err := os.ReadFile("../airbrake/testdata/notices/docs-v2.3.xml")
	if err != nil {
		t.Fatal(err)
	}
	v2 = bytes.Replace(v2, []byte("76fdb93ab2cf276ec080671a8b3d3866"), []byte(p.PublicKey), 1)
	bearer := map[string]string{"Authorization": "Bearer " + p.PublicKey}
	strict := f.CreateProject("acme", "strict", "ruby")
	if st, raw := f.Do("PUT", "/api/0/projects/acme/strict/", map[string]any{"allowedDomains": []string{"*.example.com"}}, nil); st != 200 {
		t.Fatalf("set allowed domains: %d %s", st, raw)
	}
	strictURL := f.URL + "/api/v3/projects/" + strict.ID + "/notices?key=" + strict.PublicKey

	cases := []struct {
		name    string
		method  string
		url     string
		headers map[string]string
		body    []byte
		status  int
		message string // substring of the error message
	}{
		{"bearer key", "POST", base + "/notices", bearer, nb("1"), 201, ""},
		{"query key", "POST", base + "/notices?key=" + p.PublicKey, nil, nb("2"), 201, ""},
		{"token header", "POST", base + "/notices", map[string]string{"X-Airbrake-Token": p.PublicKey}, nb("3"), 201, ""},
		{"create-notice, all three agreeing", "POST", base + "/create-notice?key=" + p.PublicKey,
			map[string]string{"Authorization": "Bearer " + p.PublicKey, "X-Airbrake-Token": p.PublicKey}, nb("4"), 201, ""},
		{"gzip", "POST", base + "/notices", map[string]string{"Authorization": "Bearer " + p.PublicKey, "Content-Encoding": "gzip"}, gz(nb("5")), 201, ""},
		{"v2 XML", "POST", f.URL + "/notifier_api/v2/notices", map[string]string{"Content-Type": "text/xml"}, v2, 200, ""},
		{"null origin where domains are restricted", "POST", strictURL, map[string]string{"Origin": "null"}, nb("x"), 403, "invalid origin"},
		{"extension origin where domains are restricted", "POST", strictURL, map[string]string{"Origin": "chrome-extension://abcdefghijklmnop"}, nb("x"), 403, "invalid origin"},
		{"other origin where domains are restricted", "POST", strictURL, map[string]string{"Origin": "https://evil.test"}, nb("x"), 403, "invalid origin"},
		{"deploy", "POST", f.URL + "/api/v4/projects/" + p.ID + "/deploys?key=" + p.PublicKey, nil,
			[]byte(`{"environment":"production","username":"john","email":"john@smith.com","repository":"https://github.com/airbrake/airbrake","revision":"38748467ea579e7ae64f7815452307c9d05e05c5","version":"v2.0"}`), 201, ""},

		{"missing key", "POST", base + "/notices", nil, nb("x"), 401, "missing project key"},
		{"unknown key", "POST", base + "/notices?key=0123456789abcdef0123456789abcdef", nil, nb("x"), 401, "invalid project id or key"},
		{"key of another project", "POST", f.URL + "/api/v3/projects/" + other.ID + "/notices", bearer, nb("x"), 401, "invalid project id or key"},
		{"keys that disagree", "POST", base + "/notices?key=" + other.PublicKey, bearer, nb("x"), 401, "different project keys"},
		{"basic auth is no key", "POST", base + "/notices", map[string]string{"Authorization": "Basic " + p.PublicKey}, nb("x"), 401, "missing project key"},
		{"bad project id", "POST", f.URL + "/api/v3/projects/abc/notices", bearer, nb("x"), 400, "project id"},
		{"malformed JSON", "POST", base + "/notices", bearer, []byte(`{"errors":[`), 400, "invalid notice"},
		{"no errors", "POST", base + "/notices", bearer, []byte(`{"context":{}}`), 400, "no errors"},
		{"notice over 1 MiB", "POST", base + "/notices", bearer, []byte(`{"errors":[{"message":"` + strings.Repeat("x", 1<<20) + `"}]}`), 413, ""},
		{"corrupt gzip", "POST", base + "/notices", map[string]string{"Authorization": "Bearer " + p.PublicKey, "Content-Encoding": "gzip"}, []byte("no"), 400, "decode"},
		{"deploy without version", "POST", f.URL + "/api/v4/projects/" + p.ID + "/deploys", bearer, []byte(`{"environment":"production"}`), 400, "neither a version nor a revision"},
		{"stats with bad key", "PUT", f.URL + "/api/v5/projects/" + p.ID + "/routes-stats?key=nope", nil, []byte(`{}`), 401, "invalid project id or key"},
		{"stats not JSON", "POST", f.URL + "/api/v5/projects/" + p.ID + "/queues-stats", bearer, []byte(`queue=1`), 400, "invalid queues-stats"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, hdr, body := abPost(t, c.method, c.url, c.headers, c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, body)
			}
			switch {
			case status == 201 && strings.Contains(c.url, "/deploys"):
				var r struct{ ID string }
				if err := json.Unmarshal(body, &r); err != nil || !hexID.MatchString(r.ID) {
					t.Errorf("body %s, want {\"id\": deploy id}", body)
				}
			case status == 201:
				var r struct{ ID, URL string }
				if err := json.Unmarshal(body, &r); err != nil || !hexID.MatchString(r.ID) {
					t.Fatalf("body %s, want {\"id\", \"url\"}", body)
				}
				if want := f.URL + "/organizations/acme/projects/web/events/" + r.ID + "/"; r.URL != want {
					t.Errorf("url %s, want %s", r.URL, want)
				}
			case status == 200:
				var r struct {
					XMLName xml.Name `xml:"notice"`
					ID      string   `xml:"id"`
					URL     string   `xml:"url"`
				}
				if err := xml.Unmarshal(body, &r); err != nil || !hexID.MatchString(r.ID) || !strings.HasSuffix(r.URL, "/events/"+r.ID+"/") {
					t.Errorf("body %s, want <notice><id/><url/></notice>", body)
				}
			default:
				var r struct{ Message string }
				if err := json.Unmarshal(body, &r); err != nil || !strings.Contains(r.Message, c.message) {
					t.Errorf("body %s, want {\"message\": ...%s...}", body, c.message)
				}
				if ct := hdr.Get("Content-Type"); ct != "application/json" {
					t.Errorf("content type %q", ct)
				}
			}
		})
	}

	// Accepted into the strict project (not counted below, with web's).
	for _, c := range []struct {
		name    string
		url     string
		headers map[string]string
		body    []byte
		status  int
	}{
		{"allowed origin", strictURL, map[string]string{"Origin": "https://shop.example.com"}, nb("6"), 201},
		{"v2 XML gzip, key found by the bounded peek", f.URL + "/notifier_api/v2/notices", map[string]string{"Content-Encoding": "gzip"},
			gz(bytes.Replace(v2, []byte(p.PublicKey), []byte(strict.PublicKey), 1)), 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			if status, _, body := abPost(t, "POST", c.url, c.headers, c.body); status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, body)
			}
		})
	}

	v2cases := []struct {
		name   string
		body   []byte
		status int
		error  string
	}{
		{"unknown api-key", bytes.Replace(v2, []byte(p.PublicKey), []byte("0123456789abcdef0123456789abcdef"), 1), 422, "invalid project id or key"},
		{"no api-key", bytes.Replace(v2, []byte(p.PublicKey), nil, 1), 422, "no api-key"},
		{"not a notice", []byte(`<error/>`), 422, "want &lt;notice&gt;"},
		{"malformed", []byte(`<notice><error>`), 422, "invalid notice"},
	}
	for _, c := range v2cases {
		t.Run("v2 "+c.name, func(t *testing.T) {
			status, hdr, body := abPost(t, "POST", f.URL+"/notifier_api/v2/notices", nil, c.body)
			if status != c.status || hdr.Get("Content-Type") != "application/xml" {
				t.Fatalf("status %d (%s), want %d: %s", status, hdr.Get("Content-Type"), c.status, body)
			}
			if !strings.Contains(string(body), "<errors><error>") || !strings.Contains(string(body), c.error) {
				t.Errorf("body %s, want <errors><error>...%s...", body, c.error)
			}
		})
	}

	t.Run("statistics", func(t *testing.T) {
		before := f.Server.Airbrake().Stats()
		for _, kind := range []string{"routes-stats", "routes-breakdowns", "queries-stats", "queues-stats"} {
			for _, m := range []string{"POST", "PUT"} {
				status, _, body := abPost(t, m, f.URL+"/api/v5/projects/"+p.ID+"/"+kind, bearer, []byte(`{"environment":"prod","routes":[]}`))
				if status != 204 || len(body) != 0 {
					t.Errorf("%s %s: %d %s", m, kind, status, body)
				}
			}
		}
		after := f.Server.Airbrake().Stats()
		for _, kind := range []string{"routes-stats", "routes-breakdowns", "queries-stats", "queues-stats"} {
			if after[kind]-before[kind] != 2 {
				t.Errorf("%s counted %d posts, want 2", kind, after[kind]-before[kind])
			}
		}
	})

	t.Run("preflight", func(t *testing.T) {
		req, _ := http.NewRequest("OPTIONS", base+"/notices", nil)
		req.Header.Set("Origin", "http://app.example.com")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example.com" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-Airbrake-Token") {
			t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
		}
	})

	// The five v3 notices and the v2 notice, and nothing else, are events.
	issues := f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) >= 6 })
	time.Sleep(500 * time.Millisecond)
	issues = f.Issues(p)
	if n := testserver.TotalCount(issues); n != 6 || len(issues) != 2 {
		t.Errorf("stored %d events in %d issues, want 6 in 2: %+v", n, len(issues), issues)
	}
	titles := map[string]string{}
	for _, is := range issues {
		// An issue's title is its latest event's: any of the five.
		title := is.Title
		if strings.HasPrefix(title, "ParseError: bad input ") {
			title = "ParseError: bad input N"
		}
		titles[title] = is.Count
	}
	if titles["ParseError: bad input N"] != "5" {
		t.Errorf("issues %v, want one ParseError issue of 5 events", titles)
	}
	if titles["RuntimeError: I've made a huge mistake"] != "1" {
		t.Errorf("issues %v, want the v2 notice's RuntimeError", titles)
	}
	if n := testserver.TotalCount(f.Issues(other)); n != 0 {
		t.Errorf("other project has %d events", n)
	}
	var deploys []struct {
		Environment, Revision, Username, Project string
		DateFinished                             string `json:"dateFinished"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(deploys) == 0 && time.Now().Before(deadline) {
		if st, raw := f.Do("GET", "/api/0/organizations/acme/releases/v2.0/deploys/", nil, &deploys); st != 200 {
			t.Fatalf("deploys: %d %s", st, raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(deploys) != 1 || deploys[0].Environment != "production" || deploys[0].Username != "john" ||
		deploys[0].Project != "web" || deploys[0].Revision != "38748467ea579e7ae64f7815452307c9d05e05c5" || deploys[0].DateFinished == "" {
		t.Errorf("deploys of v2.0: %+v", deploys)
	}
}

// TestAirbrakeQueueFull checks that a full queue is answered as Airbrake
// rate-limits: 429 with X-RateLimit-Delay in seconds, which the notifiers
// obey.
func TestAirbrakeQueueFull(t *testing.T) {
	// No worker drains the queue, and it holds two messages.
	f := testserver.Start(t, server.Config{Roles: []string{server.RoleIngest, server.RoleAPI}, Queue: queue.Config{MaxMsgs: 2}})
	p := f.CreateProject("acme", "web", "ruby")
	url := f.URL + "/api/v3/projects/" + p.ID + "/notices?key=" + p.PublicKey
	for i, want := range []int{201, 201, 429, 429} {
		status, hdr, body := abPost(t, "POST", url, nil, []byte(strings.ReplaceAll(notice, "%s", "q")))
		if status != want {
			t.Fatalf("notice %d: status %d, want %d: %s", i, status, want, body)
		}
		if status == 429 {
			if hdr.Get("X-RateLimit-Delay") != "10" || !strings.Contains(string(body), `"message"`) {
				t.Errorf("429: X-RateLimit-Delay %q, body %s", hdr.Get("X-RateLimit-Delay"), body)
			}
			if hdr.Get("X-Sentry-Rate-Limits") != "" {
				t.Errorf("Sentry's header on an Airbrake answer: %v", hdr)
			}
		}
	}
}
