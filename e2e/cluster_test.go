package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRateLimitAcrossIngestNodes runs two processes: a full one whose
// embedded NATS accepts clients, and an ingest-only one on that NATS. A key
// limited to 100 events an hour is shared by both: however the requests
// are spread, about 100 are accepted in all (each node learns the other's
// count within 200 ms, so the overshoot is bounded by what arrives in that
// time).
func TestRateLimitAcrossIngestNodes(t *testing.T) {
	natsAddr := freeAddr(t)
	a := startProc(t, t.TempDir(), freeAddr(t), "--nats-listen", natsAddr)
	pr := a.createProject("acme", "shared", "go")
	if st := a.api("PUT", "/api/0/projects/acme/shared/keys/"+pr.key+"/", map[string]any{"rateLimit": map[string]int{"window": 3600, "count": 100}}, nil); st != 200 {
		t.Fatalf("set rate limit: %d", st)
	}
	b := startProc(t, t.TempDir(), freeAddr(t), "--role", "ingest", "--nats-url", "nats://"+natsAddr)

	accepted := map[string]int{}
	limited := 0
	for i := 0; i < 300; i++ {
		p := a
		if i%2 == 1 {
			p = b
		}
		body := fmt.Sprintf(`{"event_id":"%032x","message":"shared quota %d"}`, i+1, i)
		resp, err := http.Post(p.url+"/api/"+pr.id+"/store/?sentry_key="+pr.key, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			accepted[p.url]++
		case 429:
			limited++
		default:
			t.Fatalf("status %d from %s", resp.StatusCode, p.url)
		}
		time.Sleep(20 * time.Millisecond) // 10 requests per sync interval: at most ~10 over
	}
	total := accepted[a.url] + accepted[b.url]
	t.Logf("accepted %d (node a %d, node b %d), refused %d", total, accepted[a.url], accepted[b.url], limited)
	if total < 100 || total > 110 {
		t.Fatalf("accepted %d across both nodes, want 100 (at most 10 over)", total)
	}
	if accepted[a.url] == 0 || accepted[b.url] == 0 {
		t.Fatal("one node accepted nothing")
	}
	// Both nodes' events land in the one store.
	if got := a.waitCount(pr, total, 60*time.Second); got != total {
		t.Fatalf("stored %d of %d accepted events", got, total)
	}
}
