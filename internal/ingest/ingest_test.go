package ingest_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/ingest"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zl(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

const event = `{"event_id":"%s","message":"ingest test %s","level":"error","platform":"python"}`

// TestIngestAnswers checks each way a request is accepted or refused, with
// Sentry's statuses, X-Sentry-Error header and {"detail"} body.
func TestIngestAnswers(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "web", "python")
	other := f.CreateProject("acme", "other", "python")
	auth := "Sentry sentry_version=7, sentry_client=test/1.0, sentry_key=" + p.PublicKey
	storeURL := f.URL + "/api/" + p.ID + "/store/"
	envURL := f.URL + "/api/" + p.ID + "/envelope/"
	evt := func(id string) []byte { return []byte(fmt.Sprintf(event, id, id)) }
	envelope := func(header string, items ...string) []byte {
		return []byte(header + "\n" + strings.Join(items, "\n") + "\n")
	}
	bomb := gz(bytes.Repeat([]byte("a"), 300<<20)) // 300 MiB of 'a' in ~300 KB

	cases := []struct {
		name    string
		url     string
		headers map[string]string
		body    []byte
		status  int
		detail  string // substring of the error detail
		id      string
	}{
		{"store with header auth", storeURL, map[string]string{"X-Sentry-Auth": auth}, evt("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01"), 200, "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01"},
		{"store with query auth", storeURL + "?sentry_key=" + p.PublicKey + "&sentry_version=7", nil, evt("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa02"), 200, "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa02"},
		{"store gzip", storeURL, map[string]string{"X-Sentry-Auth": auth, "Content-Encoding": "gzip"}, gz(evt("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa03")), 200, "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa03"},
		{"store deflate", storeURL, map[string]string{"X-Sentry-Auth": auth, "Content-Encoding": "deflate"}, zl(evt("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa04")), 200, "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa04"},
		{"store uuid event id", storeURL, map[string]string{"X-Sentry-Auth": auth}, evt("AAAAAAAA-AAAA-AAAA-AAAA-AAAAAAAAAA05"), 200, "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa05"},
		{"envelope with header dsn", envURL, nil, envelope(`{"event_id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa06","dsn":"`+p.DSN+`"}`, `{"type":"event"}`, string(evt("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa06"))), 200, "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa06"},
		{"envelope gzip, query auth", envURL + "?sentry_key=" + p.PublicKey, map[string]string{"Content-Encoding": "gzip"}, gz(envelope(`{"event_id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa07"}`, `{"type":"event"}`, string(evt("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa07")))), 200, "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa07"},
		{"missing key", storeURL, nil, evt("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb01"), 401, "missing authorization", ""},
		{"unknown key", storeURL + "?sentry_key=0123456789abcdef0123456789abcdef", nil, evt("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb02"), 403, "invalid api key", ""},
		{"key of another project", f.URL + "/api/" + other.ID + "/store/?sentry_key=" + p.PublicKey, nil, evt("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb03"), 403, "does not belong", ""},
		{"header and query at once", storeURL + "?sentry_key=" + p.PublicKey, map[string]string{"X-Sentry-Auth": auth}, evt("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb04"), 401, "MultipleAuth", ""},
		{"malformed json", storeURL, map[string]string{"X-Sentry-Auth": auth}, []byte(`{"event_id": "x`), 400, "", ""},
		{"not an object", storeURL, map[string]string{"X-Sentry-Auth": auth}, []byte(`[1,2,3]`), 400, "", ""},
		{"bad event id", storeURL, map[string]string{"X-Sentry-Auth": auth}, []byte(`{"event_id":"not-an-id"}`), 400, "", ""},
		{"malformed envelope", envURL, map[string]string{"X-Sentry-Auth": auth}, []byte("{\"event_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa08\"}\n{\"type\":\"event\",\"length\":500}\n{}"), 400, "", ""},
		{"corrupt gzip", storeURL, map[string]string{"X-Sentry-Auth": auth, "Content-Encoding": "gzip"}, []byte("not gzip at all"), 400, "", ""},
		{"event over 1 MiB", storeURL, map[string]string{"X-Sentry-Auth": auth}, []byte(`{"message":"` + strings.Repeat("x", 1<<20) + `"}`), 413, "", ""},
		{"gzip bomb", envURL, map[string]string{"X-Sentry-Auth": auth, "Content-Encoding": "gzip"}, bomb, 413, "", ""},
		{"bad project id", f.URL + "/api/abc/store/", map[string]string{"X-Sentry-Auth": auth}, evt("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb05"), 400, "project id", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", c.url, bytes.NewReader(c.body))
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.status == 200 {
				if want := `{"id":"` + c.id + `"}`; string(body) != want {
					t.Errorf("body %s, want %s", body, want)
				}
				return
			}
			if !strings.HasPrefix(string(body), `{"detail":`) {
				t.Errorf("body %s is not Sentry's error shape", body)
			}
			if resp.Header.Get("X-Sentry-Error") == "" {
				t.Error("no X-Sentry-Error header")
			}
			if !strings.Contains(string(body), c.detail) {
				t.Errorf("body %s does not mention %q", body, c.detail)
			}
		})
	}
	// Every accepted event, and nothing else, becomes an issue event; the
	// same event id sent twice is stored once.
	req, _ := http.NewRequest("POST", storeURL, bytes.NewReader(evt("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01")))
	req.Header.Set("X-Sentry-Auth", auth)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("resend: %v %v", resp, err)
	}
	issues := f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) >= 7 })
	time.Sleep(500 * time.Millisecond)
	issues = f.Issues(p)
	if n := testserver.TotalCount(issues); n != 7 {
		t.Errorf("stored %d events, want 7", n)
	}
	if n := testserver.TotalCount(f.Issues(other)); n != 0 {
		t.Errorf("other project has %d events", n)
	}
}

// TestCORSPreflight checks the answer browsers need before they send.
func TestCORSPreflight(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "web", "javascript")
	req, _ := http.NewRequest("OPTIONS", f.URL+"/api/"+p.ID+"/envelope/", nil)
	req.Header.Set("Origin", "http://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example.com" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Sentry-Rate-Limits") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestSlowBodyIsCut: a client that sends its headers and then trickles the
// body cannot hold a request slot past the request timeout.
func TestSlowBodyIsCut(t *testing.T) {
	f := testserver.Start(t, server.Config{Ingest: ingest.Config{Timeout: time.Second}})
	p := f.CreateProject("acme", "slow", "go")
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/%s/store/?sentry_key=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"message\":", p.ID, p.PublicKey)
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, _ := conn.Read(buf) // an error answer, or the connection closed
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the server waited %s for the body (answer %q)", took, buf[:n])
	}
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 408") || !strings.Contains(string(buf[:n]), `{"detail":`) {
		t.Fatalf("a truncated body was not cut with 408 and Sentry's body: %q", buf[:n])
	}
}
