package ingest_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/ingest"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// metricValue reads one unlabelled series from the server's /metrics.
func metricValue(t *testing.T, f *testserver.Faultline, name string) float64 {
	t.Helper()
	resp, err := http.Get(f.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return n
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// TestByteBudgetHoldsUnderSlowBodies: many clients send ~100 KB envelopes
// and stall half-way, so that their bodies stay in flight. The bytes the
// server holds for them never exceed --ingest-max-inflight-bytes (1 MiB
// here, room for about eight of them), the requests that find it exhausted
// get 503 with Retry-After after a short wait, the metrics count them, and
// every event is stored once its client has retried as Sentry's SDKs do:
// nothing accepted is lost, nothing refused is half-kept.
func TestByteBudgetHoldsUnderSlowBodies(t *testing.T) {
	const limit = 1 << 20
	f := testserver.Start(t, server.Config{Ingest: ingest.Config{MaxInFlightBytes: limit, AdmitWait: 300 * time.Millisecond}})
	p := f.CreateProject("acme", "slow-bodies", "go")
	addr := strings.TrimPrefix(f.URL, "http://")
	if got := metricValue(t, f, "faultline_ingest_inflight_bytes_limit"); got != limit {
		t.Fatalf("faultline_ingest_inflight_bytes_limit = %v, want %d", got, limit)
	}

	const n = 24
	ids := make([]string, n)
	bodies := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%032x", 0x51000000+i)
		event := fmt.Sprintf(`{"event_id":"%s","message":"slow body %d","level":"error","extra":{"pad":"%s"}}`, ids[i], i, strings.Repeat("x", 100_000))
		bodies[i] = `{"event_id":"` + ids[i] + `"}` + "\n" + `{"type":"event"}` + "\n" + event + "\n"
	}
	path := "/api/" + p.ID + "/envelope/?sentry_key=" + p.PublicKey
	// Each sends 90 KB of its body, and the rest only once the budget was
	// seen held and refusing.
	conns := make([]net.Conn, n)
	half := 90_000
	for i := range n {
		conns[i] = raw(t, addr, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", path, len(bodies[i]), bodies[i][:half]))
		defer conns[i].Close()
	}

	// While the bodies stall, the budget is held (some bytes in flight),
	// never beyond its limit, and the requests that do not fit are refused.
	var peak float64
	deadline := time.Now().Add(20 * time.Second)
	for {
		used := metricValue(t, f, "faultline_ingest_inflight_bytes")
		peak = max(peak, used)
		if used > limit {
			t.Fatalf("%v bytes in flight, over the %d-byte budget", used, limit)
		}
		if metricValue(t, f, "faultline_ingest_budget_refused_total") >= 1 && peak > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the budget did not refuse any of %d stalled bodies (peak %v bytes in flight)", n, peak)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if peak < limit/4 {
		t.Errorf("peak %v bytes in flight: the stalled bodies were not charged", peak)
	}
	if w := metricValue(t, f, "faultline_ingest_budget_waits_total"); w < 1 {
		t.Errorf("faultline_ingest_budget_waits_total = %v", w)
	}
	t.Logf("peak %v of %d bytes in flight", peak, limit)

	// Each client sends the rest and reads its answer; a refused one
	// retries the whole envelope after Retry-After, as an SDK does.
	accepted, refused := 0, 0
	for i := range n {
		conns[i].SetDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck
		io.WriteString(conns[i], bodies[i][half:])             //nolint:errcheck // a refused request's connection may be closed
		resp, err := http.ReadResponse(bufio.NewReader(conns[i]), nil)
		if err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			accepted++
			continue
		case 503:
			if resp.Header.Get("Retry-After") == "" {
				t.Fatalf("body %d: 503 without Retry-After", i)
			}
			refused++
		default:
			t.Fatalf("body %d: %d", i, resp.StatusCode)
		}
		for try := 0; ; try++ {
			r, err := http.Post(f.URL+path, "application/x-sentry-envelope", strings.NewReader(bodies[i]))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, r.Body) //nolint:errcheck
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
			if r.StatusCode != 503 || try == 50 {
				t.Fatalf("body %d, retry %d: %d", i, try, r.StatusCode)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if accepted == 0 || refused == 0 {
		t.Errorf("stalled bodies: %d accepted, %d refused; want both", accepted, refused)
	}
	if got := metricValue(t, f, "faultline_ingest_budget_refused_total"); got < float64(refused) {
		t.Errorf("faultline_ingest_budget_refused_total = %v, want at least %d", got, refused)
	}
	t.Logf("%d accepted while stalled, %d refused and retried", accepted, refused)
	for _, id := range ids {
		f.WaitEvent(t, p, id, nil)
	}
	// Everything was given back.
	if used := metricValue(t, f, "faultline_ingest_inflight_bytes"); used != 0 {
		t.Errorf("%v bytes still in flight after every request ended", used)
	}
}
