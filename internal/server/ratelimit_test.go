package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

type statsResp struct {
	Groups []struct {
		By     map[string]any    `json:"by"`
		Totals map[string]uint64 `json:"totals"`
	} `json:"groups"`
}

// outcomes returns the organization's outcome totals by "outcome/category".
func outcomes(t *testing.T, f *testserver.Faultline, org string) map[string]uint64 {
	t.Helper()
	var s statsResp
	if st, raw := f.Do("GET", "/api/0/organizations/"+org+"/stats_v2/?field=sum(quantity)&groupBy=outcome&groupBy=category&statsPeriod=2h", nil, &s); st != 200 {
		t.Fatalf("stats_v2: %d %s", st, raw)
	}
	out := map[string]uint64{}
	for _, g := range s.Groups {
		out[fmt.Sprint(g.By["outcome"])+"/"+fmt.Sprint(g.By["category"])] += g.Totals["sum(quantity)"]
	}
	return out
}

func waitOutcomes(t *testing.T, f *testserver.Faultline, org string, cond func(map[string]uint64) bool) map[string]uint64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o := outcomes(t, f, org)
		if cond(o) {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("outcomes never matched: %v", o)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestKeyRateLimitWithSentryGo: a key limited to 5 events a minute. The
// real sentry-go SDK gets its 429, reads Retry-After and
// X-Sentry-Rate-Limits, and stops sending errors: the server sees exactly
// one refused request, whatever the application goes on capturing.
func TestKeyRateLimitWithSentryGo(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "limited", "go")
	if st, raw := f.Do("PUT", "/api/0/projects/acme/limited/keys/"+p.PublicKey+"/", map[string]any{"rateLimit": map[string]int{"window": 60, "count": 5}}, nil); st != 200 {
		t.Fatalf("set rate limit: %d %s", st, raw)
	}
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	// The limit counts per clock minute: start early in one, so that the
	// whole test (seconds on a busy machine) stays inside it.
	if s := time.Now().Second(); s > 30 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	for i := 0; i < 20; i++ {
		hub.CaptureException(fmt.Errorf("rate limited error %d", i))
	}
	hub.Flush(5 * time.Second)

	o := waitOutcomes(t, f, "acme", func(o map[string]uint64) bool {
		return o["accepted/error"] == 5 && o["rate_limited/error"] >= 1
	})
	if o["rate_limited/error"] != 1 {
		t.Errorf("the server refused %d requests; sentry-go should have stopped after the first 429: %v", o["rate_limited/error"], o)
	}
	if n := testserver.TotalCount(f.Issues(p)); n != 5 {
		t.Errorf("stored %d events, want 5", n)
	}
	// The refusal itself, as any client sees it.
	req, _ := http.NewRequest("POST", f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey, strings.NewReader(`{"message":"one more"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rl := resp.Header.Get("X-Sentry-Rate-Limits")
	if resp.StatusCode != 429 || !regexp.MustCompile(`^\d+:error;default;security;transaction:key:key_quota$`).MatchString(rl) {
		t.Errorf("status %d, X-Sentry-Rate-Limits %q", resp.StatusCode, rl)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
}

// TestEnvelopeItemLimited: when one category of an envelope is limited,
// that item is dropped, the rest accepted, and the 200 carries
// X-Sentry-Rate-Limits.
func TestEnvelopeItemLimited(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "attach", "node")
	if st, raw := f.Do("PUT", "/api/0/projects/acme/attach/", map[string]any{
		"rateLimits": map[string]any{"attachment": map[string]int{"perMinute": 50}}}, nil); st != 200 {
		t.Fatalf("set project limits: %d %s", st, raw)
	}
	id := "0123456789abcdef0123456789abcdef"
	env := `{"event_id":"` + id + `"}` + "\n" +
		`{"type":"event"}` + "\n" + `{"message":"with a big attachment"}` + "\n" +
		`{"type":"attachment","length":100,"filename":"big.txt"}` + "\n" + strings.Repeat("x", 100) + "\n"
	req, _ := http.NewRequest("POST", f.URL+"/api/"+p.ID+"/envelope/?sentry_key="+p.PublicKey, strings.NewReader(env))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), id) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if rl := resp.Header.Get("X-Sentry-Rate-Limits"); !regexp.MustCompile(`^\d+:attachment:project:project_quota$`).MatchString(rl) {
		t.Errorf("X-Sentry-Rate-Limits %q", rl)
	}
	f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 1 })
	var atts []any
	if st, raw := f.Do("GET", "/api/0/projects/acme/attach/events/"+id+"/attachments/", nil, &atts); st != 200 || len(atts) != 0 {
		t.Errorf("attachments: %d %s", st, raw)
	}
	o := waitOutcomes(t, f, "acme", func(o map[string]uint64) bool { return o["rate_limited/attachment"] > 0 })
	if o["rate_limited/attachment"] != 100 || o["accepted/error"] != 1 {
		t.Errorf("outcomes %v", o)
	}
}

// TestSpikeProtection: with a baseline of a few events per window, a burst
// is capped, and the project's API says so.
func TestSpikeProtection(t *testing.T) {
	const window = 2 * time.Second
	f := testserver.Start(t, server.Config{SpikeWindow: window})
	p := f.CreateProject("acme", "spiky", "node")
	if st, raw := f.Do("PUT", "/api/0/projects/acme/spiky/", map[string]any{
		"spikeProtection": map[string]any{"enabled": true, "multiplier": 3, "floor": 10}}, nil); st != 200 {
		t.Fatalf("enable spike protection: %d %s", st, raw)
	}
	send := func() int {
		resp, err := http.Post(f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey, "application/json", strings.NewReader(`{"message":"spike"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	nextWindow := func() {
		now := time.Now()
		time.Sleep(now.Truncate(window).Add(window).Sub(now) + 20*time.Millisecond)
	}
	nextWindow()
	for w := 0; w < 7; w++ { // a steady baseline of 3 per window
		for i := 0; i < 3; i++ {
			if st := send(); st != 200 {
				t.Fatalf("baseline event refused: %d", st)
			}
		}
		nextWindow()
	}
	accepted, refused := 0, 0
	for i := 0; i < 60; i++ {
		switch send() {
		case 200:
			accepted++
		case 429:
			refused++
		}
	}
	if refused == 0 || accepted < 10 {
		t.Fatalf("burst: %d accepted, %d refused", accepted, refused)
	}
	var proj struct {
		SpikeProtection struct {
			Enabled bool `json:"enabled"`
			Active  bool `json:"active"`
		} `json:"spikeProtection"`
	}
	deadline := time.Now().Add(window)
	for {
		f.Do("GET", "/api/0/projects/acme/spiky/", nil, &proj)
		if proj.SpikeProtection.Active || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !proj.SpikeProtection.Enabled || !proj.SpikeProtection.Active {
		t.Errorf("project API: %+v", proj.SpikeProtection)
	}
}

// TestNATSUnreachable: with the queue's NATS server gone, ingest answers
// 503 within a bounded time and never 200.
func TestNATSUnreachable(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), MaxPayload: queue.MaxPayload, NoLog: true, NoSigs: true,
		JetStreamMaxStore: 1 << 40}) // the buckets' reservations exceed 75% of a small disk
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats did not start")
	}
	defer ns.Shutdown()
	f := testserver.Start(t, server.Config{Queue: queue.Config{URL: ns.ClientURL(), PublishTimeout: 2 * time.Second}})
	p := f.CreateProject("acme", "down", "go")
	post := func() (int, time.Duration) {
		start := time.Now()
		resp, err := http.Post(f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey, "application/json",
			bytes.NewReader([]byte(`{"message":"queue down"}`)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	if st, _ := post(); st != 200 {
		t.Fatalf("with NATS up: %d", st)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	st, took := post()
	if st != http.StatusServiceUnavailable {
		t.Fatalf("with NATS down: %d", st)
	}
	if took > 10*time.Second {
		t.Errorf("the 503 took %s", took)
	}
}
