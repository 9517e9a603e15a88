package server_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/metrics"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// scrape GETs /metrics with a token ("" for none) and returns the status
// and body.
func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sample returns the value of the first line of a scrape that starts with
// the metric name and has every label given.
func sample(body, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		var v float64
		fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
		return v, true
	}
	return 0, false
}

// TestMetrics: after events go through ingest and the workers, /metrics
// (Prometheus' text format, no token) counts the store route by its
// pattern, never its raw path, the accepted events by category, the queue,
// the batches, the inserts per table and the issue-id cache, with Go's
// and the process's collectors, and no project label.
func TestMetrics(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "metrics", "go")
	for i := range 3 {
		body := fmt.Sprintf(`{"event_id":"%032x","message":"m","exception":{"values":[{"type":"E","value":"v"}]}}`, i+1)
		resp, err := http.Post(f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("store: %d", resp.StatusCode)
		}
	}
	f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 3 })
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st int
		st, body = scrape(t, f.URL, "")
		if st != 200 {
			t.Fatalf("/metrics: %d %s", st, body)
		}
		if v, _ := sample(body, "faultline_events_total", `outcome="accepted"`, `category="error"`); v >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"faultline_http_requests_total", []string{`route="/api/{project_id}/store/"`, `method="POST"`, `code="200"`}, 3},
		{"faultline_http_request_duration_seconds_count", []string{`route="/api/{project_id}/store/"`}, 3},
		{"faultline_events_total", []string{`outcome="accepted"`, `category="error"`}, 3},
		{"faultline_queue_publish_duration_seconds_count", nil, 3},
		{"faultline_queue_up", nil, 1},
		{"faultline_queue_messages", nil, 0},
		{"faultline_queue_ack_pending_messages", nil, 0},
		{"faultline_worker_batch_events_sum", nil, 3},
		{"faultline_clickhouse_insert_duration_seconds_count", []string{`table="events"`}, 1},
		{"faultline_issue_id_cache_total", []string{`result="miss"`}, 1},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	} {
		v, ok := sample(body, c.name, c.labels...)
		if !ok || v < c.min {
			t.Errorf("%s%v = %v (found %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	if strings.Contains(body, `route="/api/`+p.ID+`/store/"`) {
		t.Error("a raw path is a label")
	}
	if strings.Contains(body, `project="`) {
		t.Error("a project label without --metrics-token or --metrics-addr")
	}
	if regexp.MustCompile(`(?m)^faultline_[a-z_]+\{[^}]*route="unmatched"`).MatchString(body) {
		// Nothing unmatched was requested.
		t.Error("unmatched requests counted")
	}
}

// TestMetricsToken: with --metrics-token, /metrics needs the token and the
// event counts carry the project.
func TestMetricsToken(t *testing.T) {
	const token = "metrics-token-0123456789"
	f := testserver.Start(t, server.Config{Metrics: metrics.Config{Token: token}})
	p := f.CreateProject("acme", "tok", "go")
	resp, err := http.Post(f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey, "application/json",
		strings.NewReader(`{"event_id":"0123456789abcdef0123456789abcdef","message":"m"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if st, _ := scrape(t, f.URL, ""); st != 401 {
		t.Errorf("/metrics without the token: %d", st)
	}
	if st, _ := scrape(t, f.URL, "wrong-token-0123456789"); st != 401 {
		t.Errorf("/metrics with a wrong token: %d", st)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, body := scrape(t, f.URL, token)
		if st != 200 {
			t.Fatalf("/metrics with the token: %d", st)
		}
		if _, ok := sample(body, "faultline_events_total", `project="`+p.ID+`"`); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no project label with the token:\n%s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRequestID: a request's X-Request-Id is returned (a sane one from the
// client, else a new one; never an unsafe one) and the request's log lines
// carry it with the project and event ids.
func TestRequestID(t *testing.T) {
	var logs syncBuffer
	f := testserver.StartWithLog(t, server.Config{}, &logs)
	p := f.CreateProject("acme", "rid", "go")
	post := func(id string) *http.Response {
		req, _ := http.NewRequest("POST", f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey,
			strings.NewReader(`{"event_id":"fedcba9876543210fedcba9876543210","message":"m"}`))
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if got := post("client-chosen-id-42").Header.Get("X-Request-Id"); got != "client-chosen-id-42" {
		t.Errorf("X-Request-Id %q, want the client's", got)
	}
	for _, bad := range []string{"", "has space", strings.Repeat("x", 200)} {
		got := post(bad).Header.Get("X-Request-Id")
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got) {
			t.Errorf("for %q: X-Request-Id %q, want a new one", bad, got)
		}
	}
	want := regexp.MustCompile(`msg=request .*route=/api/\{project_id\}/store/ status=200 .*request_id=client-chosen-id-42 project_id=` +
		p.ID + ` event_id=fedcba9876543210fedcba9876543210`)
	if !want.MatchString(logs.String()) {
		t.Errorf("no request log line with the request, project and event ids:\n%s", logs.String())
	}
}

// TestMetricsAddr: with --metrics-addr, /metrics moves to that address
// (with project labels) and leaves the main listener.
func TestMetricsAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := testserver.Start(t, server.Config{MetricsAddr: addr})
	p := f.CreateProject("acme", "addr", "go")
	resp, err := http.Post(f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey, "application/json",
		strings.NewReader(`{"event_id":"00112233445566778899aabbccddeeff","message":"m"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if st, _ := scrape(t, f.URL, ""); st != 404 {
		t.Errorf("/metrics on the main listener: %d, want 404", st)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, body := scrape(t, "http://"+addr, "")
		if st == 200 {
			if _, ok := sample(body, "faultline_events_total", `project="`+p.ID+`"`); ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics on --metrics-addr: %d\n%s", st, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
