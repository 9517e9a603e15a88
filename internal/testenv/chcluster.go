package testenv

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ClusterName is the remote_servers cluster StartClickHouseCluster
// configures (`faultline migrate --clickhouse-cluster faultline`).
const ClusterName = "faultline"

// ClickHouseCluster is Debian's clickhouse-server (18.16) as a cluster of
// shards × replicas on loopback, coordinated by a standalone ZooKeeper of
// Debian's zookeeper package: every server has the {shard} and {replica}
// macros, the cluster "faultline" in remote_servers (internal_replication,
// so that a Distributed insert writes one replica and replication copies
// it), the zookeeper section and the distributed DDL queue. Everything is
// stopped when the test ends.
type ClickHouseCluster struct {
	ZooKeeper *ZooKeeper
	// Shards[i][j] is replica j of shard i.
	Shards [][]*ClickHouseServer
}

// StartClickHouseCluster starts ZooKeeper and shards × replicas servers,
// and waits until each answers. Without clickhouse-server, java or
// ZooKeeper the test is skipped (fails under CI=true).
func StartClickHouseCluster(t testing.TB, shards, replicas int) *ClickHouseCluster {
	t.Helper()
	zk := StartZooKeeper(t)
	c := &ClickHouseCluster{ZooKeeper: zk}
	ports := make([][][]int, shards)
	var remote strings.Builder
	fmt.Fprintf(&remote, "<remote_servers><%s>", ClusterName)
	for i := range shards {
		remote.WriteString("<shard><internal_replication>true</internal_replication>")
		ports[i] = make([][]int, replicas)
		for j := range replicas {
			ports[i][j] = freePorts(t, 3)
			fmt.Fprintf(&remote, "<replica><host>127.0.0.1</host><port>%d</port></replica>", ports[i][j][0])
		}
		remote.WriteString("</shard>")
	}
	fmt.Fprintf(&remote, "</%s></remote_servers>", ClusterName)
	c.Shards = make([][]*ClickHouseServer, shards)
	// Started in parallel: each takes about a second.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	for i := range shards {
		c.Shards[i] = make([]*ClickHouseServer, replicas)
		for j := range replicas {
			extra := fmt.Sprintf(`%s
  <zookeeper><node><host>127.0.0.1</host><port>%d</port></node><session_timeout_ms>10000</session_timeout_ms></zookeeper>
  <macros><shard>%02d</shard><replica>s%dr%d</replica></macros>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>`,
				remote.String(), zk.Port, i+1, i+1, j+1)
			s := newClickHouseServer(t, ServerOptions{Ports: ports[i][j], Extra: extra, Users: clusterProfile})
			c.Shards[i][j] = s
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.start(); err != nil {
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("clickhouse cluster:\n%s", strings.Join(failed, "\n"))
	}
	// Every server has its ZooKeeper session before the test's first
	// ON CLUSTER statement.
	deadline := time.Now().Add(60 * time.Second)
	for _, s := range c.Servers() {
		for !s.answers("SELECT count() FROM system.zookeeper WHERE path = '/'") {
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(s.Dir, "log", "server.err.log"))
				t.Fatalf("clickhouse-server %s has no ZooKeeper session after 60 s:\n%s", s.URL(), tail(string(log), 2000))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return c
}

// answers reports whether the server runs q without an error.
func (s *ClickHouseServer) answers(q string) bool {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/?query=%s", s.HTTPPort, url.QueryEscape(q)))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	return resp.StatusCode == 200
}

// URL is a DSN naming every server, the first replica of each shard
// first: clickhouse-go connects to the first that answers, so stopping one
// server leaves the others reachable.
func (c *ClickHouseCluster) URL() string {
	var hosts []string
	for j := range c.Shards[0] {
		for i := range c.Shards {
			hosts = append(hosts, fmt.Sprintf("127.0.0.1:%d", c.Shards[i][j].Port))
		}
	}
	return "clickhouse://" + strings.Join(hosts, ",")
}

// Servers lists every server, shard by shard.
func (c *ClickHouseCluster) Servers() []*ClickHouseServer {
	var out []*ClickHouseServer
	for _, sh := range c.Shards {
		out = append(out, sh...)
	}
	return out
}

// ZooKeeper is a standalone ZooKeeper server of Debian's zookeeper package
// in a temporary directory, stopped when the test ends.
type ZooKeeper struct {
	Dir  string
	Port int
	cmd  *exec.Cmd
	out  *os.File
}

// zookeeperJar is where Debian's zookeeper package puts the server (its
// manifest names the libraries it needs).
const zookeeperJar = "/usr/share/java/zookeeper.jar"

// StartZooKeeper starts ZooKeeper on a free loopback port and waits until
// it serves requests ("srvr" shows its mode: "ruok" answers before the
// server runs, and clients connecting then are dropped).
func StartZooKeeper(t testing.TB) *ZooKeeper {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		Missing(t, "java is not installed (apt-get install zookeeper)")
	}
	if _, err := os.Stat(zookeeperJar); err != nil {
		Missing(t, "ZooKeeper is not installed (apt-get install zookeeper)")
	}
	dir := t.TempDir()
	z := &ZooKeeper{Dir: dir, Port: freePorts(t, 1)[0]}
	cfg := fmt.Sprintf("tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir=%s/data\nclientPort=%d\nclientPortAddress=127.0.0.1\n"+
		"admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\nmaxClientCnxns=0\n", dir, z.Port)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "zookeeper.log"))
	if err != nil {
		t.Fatal(err)
	}
	z.out = out
	z.cmd = exec.Command(java, "-Xmx256m", "-XX:+UseSerialGC", "-Dzookeeper.jmx.log4j.disable=true",
		"-cp", zookeeperJar+":/usr/share/java/slf4j-simple.jar", "org.apache.zookeeper.server.ZooKeeperServerMain", filepath.Join(dir, "zoo.cfg"))
	z.cmd.Dir = dir
	z.cmd.Stdout, z.cmd.Stderr = out, out
	if err := z.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { z.cmd.Wait(); close(exited) }() //nolint:errcheck
	t.Cleanup(func() {
		z.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			z.cmd.Process.Kill() //nolint:errcheck
			<-exited
		}
		out.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for !z.serving() {
		select {
		case <-exited:
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("zookeeper exited: %v\n%s", z.cmd.ProcessState, tail(string(log), 2000))
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("zookeeper did not answer on port %d in 30 s:\n%s", z.Port, tail(string(log), 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return z
}

func (z *ZooKeeper) serving() bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", z.Port), time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck
	if _, err := conn.Write([]byte("srvr")); err != nil {
		return false
	}
	buf, _ := io.ReadAll(io.LimitReader(conn, 4096))
	return strings.Contains(string(buf), "Mode: standalone")
}

// clusterProfile adds to the default profile what ON CLUSTER statements
// need: they run on each server with the profile's settings, not the
// session's, so 18.16 must allow LowCardinality there.
func clusterProfile(users []byte) []byte {
	return []byte(strings.Replace(string(users), "<max_memory_usage>",
		"<allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>\n            <max_memory_usage>", 1))
}
