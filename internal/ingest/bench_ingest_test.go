package ingest_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// largeEnvelope is a gzip'd envelope with an event like loadgen's large
// shape: ~11 KB of JSON, 25 frames, 20 breadcrumbs, tags and contexts.
func largeEnvelope(b testing.TB, i int) []byte {
	id := fmt.Sprintf("%032x", 0xbe000000+i)
	var ev strings.Builder
	fmt.Fprintf(&ev, `{"event_id":"%s","platform":"node","level":"error","release":"app@1.2.%d","environment":"production",`, id, i%7)
	ev.WriteString(`"tags":{"route":"/api/orders","region":"eu-west-1","customer_tier":"gold"},`)
	ev.WriteString(`"user":{"id":"42","email":"someone@example.com","ip_address":"203.0.113.7"},`)
	ev.WriteString(`"contexts":{"os":{"name":"Linux","version":"6.1"},"runtime":{"name":"node","version":"22.3.0"}},`)
	ev.WriteString(`"breadcrumbs":{"values":[`)
	for j := range 20 {
		if j > 0 {
			ev.WriteByte(',')
		}
		fmt.Fprintf(&ev, `{"timestamp":1733000000.%03d,"category":"http","message":"GET /api/items/%d returned 200 after a while","data":{"status_code":200,"url":"/api/items/%d"}}`, j, j, j)
	}
	ev.WriteString(`]},"exception":{"values":[{"type":"TypeError","value":"Cannot read properties of undefined (reading 'total') in order ` + fmt.Sprint(i%50) + `","stacktrace":{"frames":[`)
	for j := range 25 {
		if j > 0 {
			ev.WriteByte(',')
		}
		fmt.Fprintf(&ev, `{"filename":"/srv/app/src/module%d/handler.js","function":"handle%d","lineno":%d,"colno":%d,"in_app":%t,"context_line":"    const total = order.items.reduce((a, b) => a + b.price, 0);","pre_context":["function f() {","  // compute"],"post_context":["  return total;","}"]}`, j, j, 10+j, 4+j, j > 15)
	}
	ev.WriteString(`]}}]}}`)
	env := `{"event_id":"` + id + `","sent_at":"2026-12-07T12:00:00Z"}` + "\n" + `{"type":"event"}` + "\n" + ev.String() + "\n"
	var out bytes.Buffer
	zw := kgzip.NewWriter(&out)
	zw.Write([]byte(env)) //nolint:errcheck
	zw.Close()
	return out.Bytes()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngestEnvelope posts large gzip'd envelopes one after the
// other to a server in this process: "ingest" runs ingest alone (the
// workers' role off, so every event stays queued), "all" the all-in-one
// with the workers processing beside it. Besides ns/op (wall time, which
// the machine's load inflates) it reports the process's CPU time per
// request (cpu-µs/op: server, client and, for "all", the workers and chDB)
// and allocations per request. Compare with
//
//	go test -run '^$' -bench IngestEnvelope -benchtime 3000x -count 5 -cpu 2 ./internal/ingest/
func BenchmarkIngestEnvelope(b *testing.B) {
	for _, tc := range []struct {
		name  string
		roles []string
	}{
		{"ingest", []string{server.RoleIngest, server.RoleAPI}},
		{"all", nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := testserver.Start(b, server.Config{Roles: tc.roles})
			p := f.CreateProject("acme", "bench", "node")
			url := f.URL + "/api/" + p.ID + "/envelope/?sentry_key=" + p.PublicKey + "&sentry_version=7"
			bodies := make([][]byte, 200)
			for i := range bodies {
				bodies[i] = largeEnvelope(b, i)
			}
			c := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}
			post := func(i int) {
				req, _ := http.NewRequest("POST", url, bytes.NewReader(bodies[i%len(bodies)]))
				req.Header.Set("Content-Encoding", "gzip")
				req.Header.Set("Content-Type", "application/x-sentry-envelope")
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body) //nolint:errcheck
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			for i := range 50 { // warm up
				post(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				post(i)
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
