package e2e

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/testenv"
)

// TestFaults is issue 18's fault test: two ingest and two worker
// processes and an API process, on a 3-node NATS cluster and a ClickHouse
// cluster of 2 shards × 2 replicas. A sender pushes events and records
// every 200. During the load: one worker is killed (SIGKILL) and started
// again; one NATS node (the ingest stream's leader) is killed and started
// again; one ClickHouse replica (the first server of the connection
// strings) is stopped for 30 s and started again; one ingest process is
// stopped (SIGTERM). At the end the events stored are exactly the events
// answered 200: none missing, none twice (by event id, in ClickHouse and
// through the API), and the API's issue counts agree. The time to recover
// from each fault is logged: from the fault until every event answered 200
// before it is counted by the API.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about two and a half minutes")
	}
	binary(t)
	chc := testenv.StartClickHouseCluster(t, 2, 2)
	nc := startNATSCluster(t, 3)
	common := append([]string{"--nats-url", nc.urls(), "--nats-replicas", "3"}, clusterArgs(chc)...)
	testStart := time.Now()
	if out, err := runBinary(t, 3*time.Minute, append([]string{"migrate", "--data-dir", t.TempDir(), "--chdb-lib", testenv.CHDBLib(t)}, common...)...); err != nil {
		t.Fatalf("faultline migrate: %v\n%s", err, out)
	}
	t.Logf("migrated the cluster in %s", time.Since(testStart).Round(time.Millisecond))
	common = append(common, "--no-migrate")
	role := func(r string) []string { return append([]string{"--role", r}, common...) }
	procs := startRoles(t, role("ingest"), role("ingest"), role("worker"), role("worker"), role("api"))
	ingests, workers, api := procs[:2], procs[2:4], procs[4]
	pr := api.createProject("acme", "faults", "python")
	// The ingest processes learn the project through the metadata bucket.
	deadline := time.Now().Add(30 * time.Second)
	for _, in := range ingests {
		for sendEvent(in.url, pr, `{"message":"warm-up"}`) != 200 {
			if time.Now().After(deadline) {
				t.Fatalf("ingest does not know the project:\n%s", in.log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	warmUp := 2

	var (
		mu       sync.Mutex
		accepted = map[string]bool{}
		unknown  = map[string]bool{} // no answer: stored or not
		statuses = map[int]int{}
		ingest2  atomic.Bool // false once the second ingest is stopping
		stopping = make(chan struct{})
		wg       sync.WaitGroup
	)
	ingest2.Store(true)
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopping:
					return
				default:
				}
				target := ingests[0]
				if i%2 == 1 && ingest2.Load() {
					target = ingests[1]
				}
				id := fmt.Sprintf("fa%06x%024x", w, i+1)
				body := fmt.Sprintf(`{"event_id":"%s","message":"fault %d","user":{"id":"u%d"},"exception":{"values":[{"type":"E%d","value":"v"}]}}`, id, i, i%11, i%4)
				req, _ := http.NewRequest("POST", target.url+"/api/"+pr.id+"/store/?sentry_key="+pr.key, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				mu.Lock()
				if err != nil {
					unknown[id] = true
					statuses[0]++
				} else {
					io.Copy(io.Discard, resp.Body) //nolint:errcheck
					resp.Body.Close()
					statuses[resp.StatusCode]++
					if resp.StatusCode == 200 {
						accepted[id] = true
					}
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	acceptedNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted)
	}
	// recovered waits until the API counts every event answered 200 before
	// the fault, and returns the time since the fault.
	recovered := func(what string, fault time.Time, before int) {
		t.Helper()
		n := api.waitCount(pr, before+warmUp, 90*time.Second)
		if n < before+warmUp {
			t.Fatalf("%s: %d events counted, %d answered 200 before it", what, n-warmUp, before)
		}
		t.Logf("%s: recovered in %s (%d events answered 200 before it, all counted)", what, time.Since(fault).Round(time.Millisecond), before)
	}

	time.Sleep(3 * time.Second)

	// 1. SIGKILL a worker, then start it again.
	fault := time.Now()
	before := acceptedNow()
	workers[0].kill()
	time.Sleep(2 * time.Second)
	workers[0] = startProc(t, t.TempDir(), freeAddr(t), role("worker")...)
	recovered("worker SIGKILL and restart", fault, before)

	// 2. SIGKILL the ingest stream's leader, then start it again.
	js := nc.jetStream()
	leader := nc.node(streamLeader(js, queue.StreamName))
	if leader == nil {
		t.Fatal("no leader for the ingest stream")
	}
	fault = time.Now()
	before = acceptedNow()
	nc.kill(leader)
	time.Sleep(3 * time.Second)
	nc.start(leader)
	recovered("NATS node "+leader.name+" (stream leader) SIGKILL and restart", fault, before)

	// 3. Stop a ClickHouse replica for 30 s, then start it again.
	down := chc.Shards[0][0]
	fault = time.Now()
	before = acceptedNow()
	down.Stop()
	recovered("ClickHouse replica stopped (while down)", fault, before)
	time.Sleep(time.Until(fault.Add(30 * time.Second)))
	restart := time.Now()
	down.Start()
	before = acceptedNow()
	recovered("ClickHouse replica started again", restart, before)

	// 4. SIGTERM an ingest process (the sender moves to the other one, as
	// a load balancer would once /readyz turns 503).
	fault = time.Now()
	before = acceptedNow()
	ingest2.Store(false)
	ingests[1].stop()
	recovered("ingest SIGTERM", fault, before)

	time.Sleep(2 * time.Second)
	close(stopping)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d requests in %s: statuses %v", len(accepted)+len(unknown)+statuses[503]+statuses[429], time.Since(testStart).Round(time.Second), statuses)
	want := len(accepted) + warmUp
	if n := api.waitCount(pr, want, 90*time.Second); n != want {
		t.Errorf("the API counts %d events, %d were answered 200", n-warmUp, len(accepted))
	}
	// By event id, in ClickHouse (the Distributed table, every shard).
	rows := chQuery(t, chc.Shards[0][1], "SELECT event_id, count() FROM faultline.events WHERE message LIKE 'fault %' GROUP BY event_id")
	stored := map[string]bool{}
	var twice, extra []string
	for _, r := range rows {
		id, n, _ := strings.Cut(r, "\t")
		stored[id] = true
		if n != "1" {
			twice = append(twice, id)
		}
		if !accepted[id] && !unknown[id] {
			extra = append(extra, id)
		}
	}
	var missing []string
	for id := range accepted {
		if !stored[id] {
			missing = append(missing, id)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 || len(twice) > 0 || len(extra) > 0 {
		t.Errorf("%d events answered 200, %d stored: %d missing %v, %d stored twice %v, %d stored though refused %v",
			len(accepted), len(stored), len(missing), head(missing), len(twice), head(twice), len(extra), head(extra))
	}
	// And through the API, by id (a sample).
	ids := make([]string, 0, len(accepted))
	for id := range accepted {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i := 0; i < len(ids); i += max(1, len(ids)/40) {
		if st := api.api("GET", "/api/0/projects/acme/faults/events/"+ids[i]+"/", nil, nil); st != 200 {
			t.Errorf("accepted event %s: %d", ids[i], st)
		}
	}
	t.Logf("%d events answered 200, %d stored once each, %d requests without an answer", len(accepted), len(stored), len(unknown))
}

func head(s []string) []string { return s[:min(len(s), 5)] }
