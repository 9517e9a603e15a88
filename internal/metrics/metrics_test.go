package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scrape serves the metrics once, with auth as the Authorization header.
func scrape(t *testing.T, m *Metrics, auth string) (int, string) {
	t.Helper()
	r := httptest.NewRequest("GET", "/metrics", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(body)
}

func TestMetricsText(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		auth    string
		code    int
		want    []string
		notWant []string
	}{
		{name: "open, no tenant labels", code: http.StatusOK,
			want: []string{
				`faultline_http_requests_total{code="200",method="GET",route="GET /api/0/issues/{issue_id}/"} 1`,
				`faultline_http_requests_total{code="404",method="other",route="unmatched"} 1`,
				`faultline_events_total{category="error",outcome="accepted"} 3`,
				"go_goroutines", "process_", "go_sched_pauses_total_gc_seconds_bucket", "go_sched_latencies_seconds_bucket",
			},
			notWant: []string{`project="`}},
		{name: "token, tenant labels", cfg: Config{Token: "0123456789abcdef", TenantLabels: true},
			auth: "Bearer 0123456789abcdef", code: http.StatusOK,
			want: []string{`faultline_events_total{category="error",outcome="accepted",project="42"} 3`}},
		{name: "token missing", cfg: Config{Token: "0123456789abcdef"}, code: http.StatusUnauthorized,
			notWant: []string{"faultline_"}},
		{name: "token wrong", cfg: Config{Token: "0123456789abcdef"}, auth: "Bearer 0123456789abcdeX",
			code: http.StatusUnauthorized, notWant: []string{"faultline_"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(prometheus.NewRegistry(), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			m.ObserveRequest("GET /api/0/issues/{issue_id}/", "GET", 200, 3*time.Millisecond)
			m.ObserveRequest("", "BREW", 404, time.Millisecond)
			m.CountEvents("Accepted", "Error", 42, 3)
			m.CountEvents("accepted", "error", 42, 0) // nothing
			code, body := scrape(t, m, tc.auth)
			if code != tc.code {
				t.Fatalf("status %d, want %d\n%s", code, tc.code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("metrics lack %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("metrics have %q", w)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(prometheus.NewRegistry(), Config{Token: "short"}); err == nil {
		t.Fatal("a token under 16 characters was accepted")
	}
}

// A nil *Metrics counts nothing and never panics: components without
// metrics pass nil.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("x", "GET", 200, time.Millisecond)
	m.CountEvents("accepted", "error", 1, 1)
	m.ObservePublish(time.Millisecond, 2, nil)
	m.ObserveBatch(10)
	m.ProcessingError("decode")
	m.ObserveInsert("events", time.Millisecond, nil)
	m.IssueCache(true)
	if m.TenantLabels() {
		t.Fatal("nil metrics report tenant labels")
	}
}
