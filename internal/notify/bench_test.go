package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/alert"
)

// BenchmarkEnqueueToWebhook measures the queue's share of the alert
// latency: from Enqueue (which the workers call before their ack) to the
// webhook request arriving at a local receiver, on the embedded NATS.
// It reports the p50 and p95 in milliseconds.
func BenchmarkEnqueueToWebhook(b *testing.B) {
	arrived := make(chan time.Time, 1024)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- time.Now()
	}))
	defer rcv.Close()
	env := newEnv(b, Config{WebhookAllowPrivate: true})
	env.start()
	e := env.nq
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := alert.Fired{Key: "bench-" + strconv.Itoa(i), Trigger: "new_issue", RuleID: "1", ProjectID: 1, OrgID: 1,
			Actions: []json.RawMessage{json.RawMessage(`{"id":"faultline.actions.slack","webhookUrl":"` + rcv.URL + `"}`)}}
		start := time.Now()
		if err := e.Enqueue(ctx, []alert.Fired{f}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-arrived).Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
}
