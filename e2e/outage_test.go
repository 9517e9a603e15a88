package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// chQuery runs a query on a ClickHouse server's HTTP interface and returns
// its TabSeparated lines.
func chQuery(t *testing.T, srv *testenv.ClickHouseServer, q string) []string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/?query=%s", srv.HTTPPort, url.QueryEscape(q)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", q, resp.StatusCode, b)
	}
	out := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(out) == 1 && out[0] == "" {
		return nil
	}
	return out
}

// TestClickHouseOutage stops Faultline's ClickHouse server for 30 seconds
// while a client keeps sending events, then starts it again. Ingest keeps
// answering 200 throughout (the events wait in JetStream), /readyz says
// what is wrong meanwhile, and once the server is back every event that
// got a 200 is stored exactly once, and counted once in the aggregates.
func TestClickHouseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about a minute")
	}
	srv := testenv.StartClickHouseServer(t, testenv.ServerOptions{})
	const db = "faultline_outage"
	p := startProc(t, t.TempDir(), freeAddr(t), "--clickhouse-url", srv.URL(), "--clickhouse-database", db,
		"--clickhouse-dial-timeout", "1s", "--clickhouse-query-timeout", "10s")
	pr := p.createProject("acme", "api", "python")

	var (
		mu       sync.Mutex
		accepted = map[string]bool{}
		refused  int
	)
	ctx, stopSending := context.WithCancel(context.Background())
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for i := 1; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			id := fmt.Sprintf("%032x", i)
			body := fmt.Sprintf(`{"event_id":"%s","message":"outage %d","user":{"id":"u%d"},"exception":{"values":[{"type":"E%d","value":"v"}]}}`, id, i, i%7, i%5)
			req, _ := http.NewRequestWithContext(ctx, "POST", p.url+"/api/"+pr.id+"/store/?sentry_key="+pr.key, strings.NewReader(body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			resp.Body.Close()
			mu.Lock()
			if resp.StatusCode == 200 {
				accepted[id] = true
			} else {
				refused++
			}
			mu.Unlock()
		}
	}()
	acceptedNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted)
	}

	time.Sleep(3 * time.Second)
	before := acceptedNow()
	srv.Stop()
	t.Logf("clickhouse-server stopped after %d accepted events", before)
	outageEnd := time.Now().Add(30 * time.Second)

	// /readyz stays 200 (ingest works) but says ClickHouse is down.
	var ready struct {
		Status     string `json:"status"`
		ClickHouse struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"clickhouse"`
		Worker struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"worker"`
	}
	sawDown := false
	for time.Now().Before(outageEnd) {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("/readyz during the outage: %d %s", resp.StatusCode, raw)
			}
			if json.Unmarshal(raw, &ready) == nil && !ready.ClickHouse.OK && ready.ClickHouse.Error != "" &&
				!ready.Worker.OK && strings.Contains(ready.Worker.Error, "backlog waits in the queue") {
				sawDown = true
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !sawDown {
		t.Errorf("/readyz never reported ClickHouse down; last body %+v", ready)
	}
	during := acceptedNow() - before
	srv.Start()
	t.Logf("clickhouse-server started again; %d events accepted during the outage", during)
	time.Sleep(3 * time.Second)
	stopSending()
	<-sent
	total := acceptedNow()
	if during < 100 {
		t.Fatalf("only %d events accepted during the outage: ingest must keep accepting", during)
	}
	if refused > 0 {
		t.Errorf("%d events refused", refused)
	}

	// The backlog drains: every accepted event, once.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rows := chQuery(t, srv, "SELECT count() FROM "+db+".events")
		if len(rows) == 1 && rows[0] == fmt.Sprint(total) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored %v events, want %d\n%s", rows, total, p.log)
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // nothing more arrives
	stored := chQuery(t, srv, "SELECT event_id FROM "+db+".events ORDER BY event_id")
	if len(stored) != total {
		t.Fatalf("%d rows stored for %d accepted events", len(stored), total)
	}
	var want []string
	for id := range accepted {
		want = append(want, id)
	}
	sort.Strings(want)
	for i := range want {
		if stored[i] != want[i] {
			t.Fatalf("stored event %s where %s was accepted", stored[i], want[i])
		}
	}
	if dup := chQuery(t, srv, "SELECT event_id FROM "+db+".events GROUP BY event_id HAVING count() > 1"); len(dup) > 0 {
		t.Fatalf("events stored twice: %v", dup)
	}
	if got := p.count(pr); got != total {
		t.Errorf("issue counts sum to %d, want %d", got, total)
	}
	resp, err := http.Get(p.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(raw, &ready); err != nil || !ready.ClickHouse.OK || !ready.Worker.OK {
		t.Errorf("/readyz after recovery: %s", raw)
	}
	p.stop()
}
