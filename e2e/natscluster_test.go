package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/testenv"
)

var (
	natsBuildOnce sync.Once
	natsBin       string
	natsBuildErr  error
)

// natsServerBinary builds nats-server from the module version go.mod
// requires (the one Faultline embeds), once per test run.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	natsBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "faultline-e2e-nats")
		if err != nil {
			natsBuildErr = err
			return
		}
		natsBin = filepath.Join(dir, "nats-server")
		cmd := exec.Command("go", "build", "-o", natsBin, "github.com/nats-io/nats-server/v2")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			natsBuildErr = fmt.Errorf("go build nats-server: %v\n%s", err, out)
		}
	})
	if natsBuildErr != nil {
		t.Fatal(natsBuildErr)
	}
	return natsBin
}

// natsNode is one nats-server process of a test cluster.
type natsNode struct {
	name, conf, url string
	cmd             *exec.Cmd
	log             *bytes.Buffer
	done            chan struct{}
}

// natsCluster is a JetStream cluster of nats-server processes on loopback.
type natsCluster struct {
	t     *testing.T
	nodes []*natsNode
}

// startNATSCluster starts n nats-server processes in one JetStream
// cluster, without waiting for it to elect its leaders.
func startNATSCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	natsServerBinary(t) // build before the clock starts
	dir := t.TempDir()
	clients, routes := make([]string, n), make([]string, n)
	for i := range n {
		clients[i], routes[i] = freeAddr(t), freeAddr(t)
	}
	c := &natsCluster{t: t}
	for i := range n {
		nd := &natsNode{name: fmt.Sprintf("n%d", i+1), url: "nats://" + clients[i]}
		var rs []string
		for j := range n {
			if j != i {
				rs = append(rs, "nats-route://"+routes[j])
			}
		}
		nd.conf = filepath.Join(dir, nd.name+".conf")
		conf := fmt.Sprintf(`server_name: %s
listen: %s
max_payload: 8388608
jetstream { store_dir: %q, max_memory_store: 256MB, max_file_store: 1099511627776 }
cluster { name: faultline, listen: %s, routes: [%s] }
lame_duck_duration: 30s
lame_duck_grace_period: 1s
`, nd.name, clients[i], filepath.Join(dir, nd.name), routes[i], strings.Join(rs, ", "))
		if err := os.WriteFile(nd.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, nd)
		c.start(nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			c.kill(nd)
		}
	})
	return c
}

func (c *natsCluster) start(nd *natsNode) {
	c.t.Helper()
	nd.log, nd.done = &bytes.Buffer{}, make(chan struct{})
	nd.cmd = exec.Command(natsServerBinary(c.t), "-c", nd.conf)
	nd.cmd.Stdout, nd.cmd.Stderr = nd.log, nd.log
	if err := nd.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { nd.cmd.Wait(); close(nd.done) }() //nolint:errcheck
}

// kill sends SIGKILL and waits for the node to be gone.
func (c *natsCluster) kill(nd *natsNode) {
	if nd.cmd != nil && nd.cmd.Process != nil {
		nd.cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck
		<-nd.done
	}
}

// urls is the --nats-url of the cluster.
func (c *natsCluster) urls() string {
	var us []string
	for _, nd := range c.nodes {
		us = append(us, nd.url)
	}
	return strings.Join(us, ",")
}

func (c *natsCluster) node(name string) *natsNode {
	for _, nd := range c.nodes {
		if nd.name == name {
			return nd
		}
	}
	return nil
}

// jetStream connects a client to the cluster.
func (c *natsCluster) jetStream() jetstream.JetStream {
	c.t.Helper()
	nc, err := nats.Connect(c.urls(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	return js
}

// streamLeader returns the name of the stream's leader ("" during an
// election).
func streamLeader(js jetstream.JetStream, stream string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return ""
	}
	info, err := st.Info(ctx)
	if err != nil || info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

// startRoles starts several faultline processes at the same moment and
// waits until each is ready.
func startRoles(t *testing.T, args ...[]string) []*proc {
	t.Helper()
	out := make([]*proc, len(args))
	var wg sync.WaitGroup
	for i, a := range args {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = startProc(t, t.TempDir(), freeAddr(t), a...)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// TestNATSClusterElection runs Faultline's roles against a 3-node
// JetStream cluster of nats-server processes (built from the module
// Faultline embeds): the ingest, worker and API processes, started at the
// same moment on the fresh cluster, all come up; the streams and buckets
// have 3 replicas, and a process with a lower --nats-replicas refuses to
// start. During a load of store requests the ingest stream's leader is
// killed: no request gets a 503 (those sent during the election wait for
// the new leader), and every event answered 200 is stored, read back
// through the API.
func TestNATSClusterElection(t *testing.T) {
	chURL := testenv.ClickHouseURL(t)
	c := startNATSCluster(t, 3)
	db := fmt.Sprintf("faultline_nats_%d", time.Now().UnixNano())
	common := []string{"--nats-url", c.urls(), "--nats-replicas", "3", "--clickhouse-url", chURL, "--clickhouse-database", db}
	start := time.Now()
	procs := startRoles(t,
		append([]string{"--role", "ingest"}, common...),
		append([]string{"--role", "worker"}, common...),
		append([]string{"--role", "api"}, common...),
	)
	t.Logf("ingest, worker and api ready on a fresh 3-node cluster after %s", time.Since(start).Round(time.Millisecond))
	ingest, api := procs[0], procs[2]

	js := c.jetStream()
	ctx := context.Background()
	for _, name := range []string{queue.StreamName, "KV_faultline-meta", "KV_faultline-groups", "OBJ_faultline-attachments", "FAULTLINE_DEAD_LETTERS"} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Errorf("stream %s: %v", name, err)
			continue
		}
		if r := st.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("stream %s has %d replicas, want 3", name, r)
		}
	}

	// A lower --nats-replicas refuses to start and lowers nothing.
	cmd := exec.Command(binary(t), append([]string{"serve", "--role", "ingest", "--addr", freeAddr(t), "--data-dir", t.TempDir()},
		append(common[:2:2], "--nats-replicas", "1")...)...)
	lower, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(lower), "--nats-allow-lower-replicas") {
		t.Errorf("--nats-replicas 1 on 3-replica streams: %v\n%s", err, lower)
	}
	if st, err := js.Stream(ctx, queue.StreamName); err != nil || st.CachedInfo().Config.Replicas != 3 {
		t.Errorf("the refused process changed the stream's replicas: %v", err)
	}

	pr := api.createProject("acme", "cluster", "go")
	// The ingest process learns the project through the metadata bucket.
	time.Sleep(time.Second)

	type result struct {
		id     string
		status int
		took   time.Duration
		at     time.Time
	}
	var (
		mu      sync.Mutex
		results []result
	)
	lctx, stop := context.WithCancel(ctx)
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; lctx.Err() == nil; i++ {
				id := fmt.Sprintf("%08x%024x", w, i+1)
				body := fmt.Sprintf(`{"event_id":"%s","message":"cluster %d","exception":{"values":[{"type":"E%d","value":"v"}]}}`, id, i, i%4)
				req, _ := http.NewRequest("POST", ingest.url+"/api/"+pr.id+"/store/?sentry_key="+pr.key, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				r := result{id: id, took: time.Since(t0), at: t0}
				if err == nil {
					io.Copy(io.Discard, resp.Body) //nolint:errcheck
					resp.Body.Close()
					r.status = resp.StatusCode
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	time.Sleep(2 * time.Second)
	// Two crashes of the leader (SIGKILL), then a planned restart, in
	// lame-duck mode (SIGUSR2: the server hands its leaderships over, then
	// leaves).
	for k, how := range []string{"SIGKILL", "SIGKILL", "lame duck"} {
		leader := streamLeader(js, queue.StreamName)
		nd := c.node(leader)
		if nd == nil {
			t.Fatalf("no leader for %s (%q)", queue.StreamName, leader)
		}
		killedAt := time.Now()
		if how == "lame duck" {
			nd.cmd.Process.Signal(syscall.SIGUSR2) //nolint:errcheck
		} else {
			c.kill(nd)
		}
		var newLeader string
		for time.Since(killedAt) < 30*time.Second {
			if l := streamLeader(js, queue.StreamName); l != "" && l != leader {
				newLeader = l
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		election := time.Since(killedAt)
		time.Sleep(2 * time.Second)
		mu.Lock()
		var waited, failed int
		var worst time.Duration
		for _, r := range results {
			if r.at.After(killedAt.Add(-time.Second)) && r.at.Before(killedAt.Add(election)) {
				if r.took > 500*time.Millisecond {
					waited++
				}
				worst = max(worst, r.took)
			}
			if r.at.After(killedAt.Add(-time.Second)) && r.status != 200 {
				failed++
			}
		}
		mu.Unlock()
		t.Logf("stop %d (%s): leader %s stopped; new leader %s after %s; %d requests waited more than 500 ms (longest %s); %d not 200",
			k+1, how, leader, newLeader, election.Round(time.Millisecond), waited, worst.Round(time.Millisecond), failed)
		if newLeader == "" {
			t.Fatalf("no new leader within 30 s")
		}
		select {
		case <-nd.done:
		case <-time.After(45 * time.Second):
			t.Fatalf("%s did not leave lame-duck mode", nd.name)
		}
		// Bring the node back before the next kill, so that a quorum
		// survives it.
		c.start(nd)
		time.Sleep(3 * time.Second)
	}
	stop()
	wg.Wait()

	var accepted []string
	statuses := map[int]int{}
	for _, r := range results {
		statuses[r.status]++
		if r.status == 200 {
			accepted = append(accepted, r.id)
		}
	}
	t.Logf("%d requests: statuses %v", len(results), statuses)
	if len(statuses) != 1 || statuses[200] == 0 {
		t.Errorf("requests not answered 200 during the elections: %v", statuses)
	}
	if n := api.waitCount(pr, len(accepted), 90*time.Second); n != len(accepted) {
		t.Fatalf("%d events stored, %d answered 200", n, len(accepted))
	}
	slices.Sort(accepted)
	for _, id := range accepted[:min(len(accepted), 30)] {
		if st := api.api("GET", "/api/0/projects/acme/cluster/events/"+id+"/", nil, nil); st != 200 {
			t.Errorf("accepted event %s: %d", id, st)
		}
	}
}
