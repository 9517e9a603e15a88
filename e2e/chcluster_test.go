package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	osexec "os/exec"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// clusterArgs are the flags of a Faultline on the ClickHouse cluster.
func clusterArgs(c *testenv.ClickHouseCluster) []string {
	return []string{"--clickhouse-url", c.URL(), "--clickhouse-database", "faultline",
		"--clickhouse-cluster", testenv.ClusterName, "--clickhouse-dial-timeout", "1s", "--clickhouse-query-timeout", "20s"}
}

// compareEvent is the i-th event both Faultlines get: 6 issues, several
// environments, releases, levels, users and tags, at fixed times.
func compareEvent(i int, base time.Time) (id, body string) {
	id = fmt.Sprintf("c0ffee%026x", i)
	levels := []string{"error", "warning", "fatal"}
	envs := []string{"prod", "staging"}
	body = fmt.Sprintf(`{"event_id":"%s","timestamp":%d,"level":"%s","environment":"%s","release":"app@1.%d",`+
		`"platform":"python","user":{"id":"u%d","email":"u%d@example.com"},"tags":{"shard":"s%d","color":"%s"},`+
		`"exception":{"values":[{"type":"Error%d","value":"failed %d","stacktrace":{"frames":[{"filename":"app.py","function":"f%d","lineno":%d}]}}]}}`,
		id, base.Add(time.Duration(i)*time.Minute).Unix(), levels[i%3], envs[i%2], i%4, i%9, i%9, i%2,
		[]string{"red", "green", "blue"}[i%3], i%6, i, i%6, 10+i%6)
	return id, body
}

// runBinary runs the faultline binary with args, killed after timeout.
func runBinary(t *testing.T, timeout time.Duration, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := osexec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(os.Environ(), "FAULTLINE_ADMIN_TOKEN="+adminToken)
	return cmd.CombinedOutput()
}

// sendEvent posts a store request and returns the status (0 when the
// request failed).
func sendEvent(url string, pr project, body string) int {
	req, _ := http.NewRequest("POST", url+"/api/"+pr.id+"/store/?sentry_key="+pr.key, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	return resp.StatusCode
}

// volatile are the keys whose values legitimately differ between two
// Faultlines given the same events: ids allocated by each, the times each
// received an event, and the stored body's size (it holds the receipt
// time, whose decimals vary).
var volatile = map[string]bool{"id": true, "groupID": true, "issueId": true, "permalink": true,
	"dateReceived": true, "received": true, "size": true}

// normalize drops the volatile keys of decoded JSON.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if !volatile[k] {
				out[k] = normalize(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// getJSON calls the API and decodes its answer.
func getJSON(t *testing.T, p *proc, path string) any {
	t.Helper()
	var out any
	if st := p.api("GET", path, nil, &out); st != 200 {
		log := p.log.String()
		t.Fatalf("GET %s %s: %d\n%s", p.url, path, st, log[max(0, len(log)-3000):])
	}
	return out
}

// issueIDs maps each issue's title to its id.
func issueIDs(t *testing.T, p *proc, pr project) map[string]string {
	t.Helper()
	var issues []struct{ ID, Title string }
	if st := p.api("GET", "/api/0/projects/"+pr.org+"/"+pr.slug+"/issues/?query=&limit=100", nil, &issues); st != 200 {
		t.Fatalf("issues: %d", st)
	}
	out := map[string]string{}
	for _, is := range issues {
		out[is.Title] = is.ID
	}
	return out
}

// TestClickHouseClusterSameAnswers runs one Faultline on a single
// clickhouse-server and one on a 2 shards × 2 replicas cluster (migrated
// by `faultline migrate --clickhouse-cluster`), sends both the same events
// and compares the API's answers: issue list, searches, issue details,
// events, tags and tag values, and event stats. Then it stops one replica
// of a shard while events keep coming: the API keeps answering, nothing
// is lost, and the replica catches up after its restart.
func TestClickHouseClusterSameAnswers(t *testing.T) {
	c := testenv.StartClickHouseCluster(t, 2, 2)
	single := testenv.StartClickHouseServer(t, testenv.ServerOptions{})

	// The schema, created by the migrate command.
	binary(t)
	start := time.Now()
	migrate := append([]string{"migrate", "--data-dir", t.TempDir(), "--chdb-lib", testenv.CHDBLib(t)}, clusterArgs(c)...)
	if out, err := runBinary(t, 3*time.Minute, migrate...); err != nil {
		t.Fatalf("faultline migrate: %v\n%s", err, out)
	}
	t.Logf("faultline migrate --clickhouse-cluster: %s", time.Since(start).Round(time.Millisecond))

	a := startProc(t, t.TempDir(), freeAddr(t), "--clickhouse-url", single.URL(), "--clickhouse-database", "faultline")
	b := startProc(t, t.TempDir(), freeAddr(t), append(clusterArgs(c), "--no-migrate")...)
	pa, pb := a.createProject("acme", "api", "python"), b.createProject("acme", "api", "python")

	const n = 90
	base := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	for i := range n {
		_, body := compareEvent(i, base)
		if st := sendEvent(a.url, pa, body); st != 200 {
			t.Fatalf("single: event %d: %d", i, st)
		}
		if st := sendEvent(b.url, pb, body); st != 200 {
			t.Fatalf("cluster: event %d: %d", i, st)
		}
	}
	if got := a.waitCount(pa, n, 60*time.Second); got != n {
		t.Fatalf("single: %d events stored, want %d", got, n)
	}
	if got := b.waitCount(pb, n, 60*time.Second); got != n {
		t.Fatalf("cluster: %d events stored, want %d", got, n)
	}

	ia, ib := issueIDs(t, a, pa), issueIDs(t, b, pb)
	if len(ia) != 6 || len(ib) != 6 {
		t.Fatalf("issues: single %d, cluster %d, want 6", len(ia), len(ib))
	}
	titles := make([]string, 0, len(ia))
	for title := range ia {
		titles = append(titles, title)
	}
	sort.Strings(titles)
	compare := func(what, pathA, pathB string) {
		t.Helper()
		ja, jb := normalize(getJSON(t, a, pathA)), normalize(getJSON(t, b, pathB))
		if !reflect.DeepEqual(ja, jb) {
			ra, _ := json.MarshalIndent(ja, "", " ")
			rb, _ := json.MarshalIndent(jb, "", " ")
			t.Errorf("%s differs:\nsingle %s\ncluster %s", what, ra, rb)
		}
	}
	list := "/api/0/projects/acme/api/issues/?limit=100&statsPeriod=24h&sort=freq&query="
	for _, q := range []string{"", "is:unresolved", "level:error", "environment:prod", "color:red", "release:app@1.2",
		"user.email:u3@example.com", "Error3", "times_seen:>14", "!color:blue"} {
		compare("issue list "+q, list+q, list+q)
	}
	compare("issue list by date", "/api/0/organizations/acme/issues/?sort=date&query=&statsPeriod=14d",
		"/api/0/organizations/acme/issues/?sort=date&query=&statsPeriod=14d")
	compare("issue counts", "/api/0/organizations/acme/issues-count/?query=level:error&query=is:unresolved",
		"/api/0/organizations/acme/issues-count/?query=level:error&query=is:unresolved")
	for _, title := range titles {
		for _, sub := range []string{"", "events/?full=true", "events/latest/", "events/oldest/", "tags/",
			"tags/color/values/", "tags/environment/values/", "tags/user/values/", "hashes/"} {
			compare(title+" "+sub, "/api/0/issues/"+ia[title]+"/"+sub, "/api/0/issues/"+ib[title]+"/"+sub)
		}
	}
	id, _ := compareEvent(7, base)
	compare("event", "/api/0/projects/acme/api/events/"+id+"/", "/api/0/projects/acme/api/events/"+id+"/")
	compare("environments", "/api/0/projects/acme/api/environments/", "/api/0/projects/acme/api/environments/")
	stats := "/api/0/organizations/acme/stats_v2/?field=sum(quantity)&groupBy=outcome&groupBy=category&statsPeriod=1d&interval=1d"
	compare("stats", stats, stats)

	replicaOutage(t, c, b, pb, n)
}

// replicaOutage stops one replica of the first shard (the server the
// Faultline's connection goes to first) while events keep coming, then
// starts it again.
func replicaOutage(t *testing.T, c *testenv.ClickHouseCluster, b *proc, pb project, already int) {
	down := c.Shards[0][0]
	down.Stop()
	stopped := time.Now()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	const m = 60
	for i := range m {
		_, body := compareEvent(1000+i, base)
		if st := sendEvent(b.url, pb, body); st != 200 {
			t.Fatalf("event %d during the outage: %d", i, st)
		}
	}
	// Every event lands and the API answers while the replica is down.
	if got := b.waitCount(pb, already+m, 60*time.Second); got != already+m {
		t.Fatalf("during the outage: %d events stored, want %d\n%s", got, already+m, b.log)
	}
	t.Logf("replica %s down: %d events stored and counted in %s", down.URL(), m, time.Since(stopped).Round(time.Millisecond))
	for title, id := range issueIDs(t, b, pb) {
		var events []struct{ EventID string }
		if st := b.api("GET", "/api/0/issues/"+id+"/events/?limit=100", nil, &events); st != 200 || len(events) == 0 {
			t.Errorf("issue %s during the outage: %d, %d events", title, st, len(events))
		}
	}
	// Back: the replica catches up with its peer.
	restarted := time.Now()
	down.Start()
	peer := c.Shards[0][1]
	count := func(srv *testenv.ClickHouseServer) string {
		return strings.Join(chQuery(t, srv, "SELECT count() FROM faultline.events_local"), "")
	}
	deadline := time.Now().Add(60 * time.Second)
	for count(down) != count(peer) {
		if time.Now().After(deadline) {
			t.Fatalf("the restarted replica holds %s events, its peer %s", count(down), count(peer))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the restarted replica caught up (%s events) in %s", count(down), time.Since(restarted).Round(time.Millisecond))
	if got := b.count(pb); got != already+m {
		t.Errorf("after the restart: %d events, want %d", got, already+m)
	}
	if ids := chQuery(t, peer, "SELECT count() FROM faultline.events_local WHERE event_id IN (SELECT event_id FROM faultline.events_local GROUP BY event_id HAVING count() > 1)"); !slices.Equal(ids, []string{"0"}) {
		t.Errorf("events stored twice on shard 1: %v", ids)
	}
}
