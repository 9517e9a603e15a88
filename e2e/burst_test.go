package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBurst sends 20,000 events as fast as possible to a key limited to
// 12,000 an hour, into a server whose queue holds 4,000 messages. Every
// event answered 200 must be stored; every other answer must be a 429
// carrying Retry-After and X-Sentry-Rate-Limits (from the key's limit or
// from the full queue); and /healthz must answer throughout.
func TestBurst(t *testing.T) {
	p := startProc(t, t.TempDir(), freeAddr(t), "--queue-max-msgs", "4000", "--batch-size", "500")
	pr := p.createProject("acme", "burst", "node")
	if st := p.api("PUT", "/api/0/projects/acme/burst/keys/"+pr.key+"/", map[string]any{"rateLimit": map[string]int{"window": 3600, "count": 12000}}, nil); st != 200 {
		t.Fatalf("set rate limit: %d", st)
	}

	stop := make(chan struct{})
	var healthFails atomic.Int64
	var healthWorst atomic.Int64
	var hw sync.WaitGroup
	hw.Add(1)
	go func() {
		defer hw.Done()
		c := &http.Client{Timeout: 2 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			start := time.Now()
			resp, err := c.Get(p.url + "/healthz")
			if err != nil || resp.StatusCode != 200 {
				healthFails.Add(1)
			}
			if resp != nil {
				resp.Body.Close()
			}
			if d := time.Since(start); int64(d) > healthWorst.Load() {
				healthWorst.Store(int64(d))
			}
		}
	}()

	const total = 20_000
	var ok, limited, other atomic.Int64
	var badHeaders atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := p.url + "/api/" + pr.id + "/store/?sentry_key=" + pr.key
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				body := fmt.Sprintf(`{"event_id":"%032x","platform":"node","exception":{"values":[{"type":"BurstError%d","value":"spike"}]}}`, i, i%20)
				resp, err := client.Post(url, "application/json", strings.NewReader(body))
				if err != nil {
					other.Add(1)
					continue
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
					if resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-Sentry-Rate-Limits") == "" {
						badHeaders.Add(1)
					}
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	hw.Wait()
	t.Logf("burst: %d accepted, %d refused with 429, %d other; /healthz worst %s", ok.Load(), limited.Load(), other.Load(), time.Duration(healthWorst.Load()))
	if other.Load() != 0 {
		t.Errorf("%d answers were neither 200 nor 429", other.Load())
	}
	if badHeaders.Load() != 0 {
		t.Errorf("%d 429s lacked Retry-After or X-Sentry-Rate-Limits", badHeaders.Load())
	}
	if healthFails.Load() != 0 {
		t.Errorf("/healthz failed %d times during the burst", healthFails.Load())
	}
	if ok.Load() == 0 || ok.Load() > 12000 || limited.Load() < 20000-12000 {
		t.Fatalf("%d accepted and %d refused; the key allows 12,000", ok.Load(), limited.Load())
	}
	got := p.waitCount(pr, int(ok.Load()), 120*time.Second)
	time.Sleep(time.Second)
	if got = p.count(pr); got != int(ok.Load()) {
		t.Fatalf("stored %d events, accepted %d", got, ok.Load())
	}
}
