// Package e2e holds end-to-end tests that run the faultline binary as a
// separate process and drive it with real clients.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

const adminToken = "e2e-admin-token-0123456789abcdef0123456789"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/faultline once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "faultline-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "faultline")
		cmd := exec.Command("go", "build", "-o", binPath, "../cmd/faultline")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a faultline serve process.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	url     string
	dataDir string
	addr    string
	log     *bytes.Buffer
	done    chan struct{}
	extra   []string
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProc starts `faultline serve` on dataDir and waits until it is ready.
func startProc(t *testing.T, dataDir, addr string, extra ...string) *proc {
	t.Helper()
	lib := testenv.CHDBLib(t)
	p := &proc{t: t, dataDir: dataDir, addr: addr, url: "http://" + addr, log: &bytes.Buffer{}, done: make(chan struct{}), extra: extra}
	args := append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--chdb-lib", lib, "--batch-wait", "200ms", "--shutdown-grace", "0s"}, extra...)
	p.cmd = exec.Command(binary(t), args...)
	p.cmd.Env = append(os.Environ(), "FAULTLINE_ADMIN_TOKEN="+adminToken)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }() //nolint:errcheck
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("faultline exited:\n%s", p.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("faultline not ready:\n%s", p.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck
	}
	<-p.done
}

// stop sends SIGTERM and waits for a graceful exit.
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Errorf("faultline did not stop on SIGTERM:\n%s", p.log)
		p.kill()
	}
}

func (p *proc) api(method, path string, body, out any) int {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

type project struct{ org, slug, id, key, dsn string }

func (p *proc) createProject(org, slug, platform string) project {
	p.t.Helper()
	p.api("POST", "/api/0/organizations/", map[string]string{"slug": org, "name": org}, nil)
	p.api("POST", "/api/0/organizations/"+org+"/teams/", map[string]string{"slug": "team"}, nil)
	var pr struct{ ID string }
	if st := p.api("POST", "/api/0/teams/"+org+"/team/projects/", map[string]string{"slug": slug, "platform": platform}, &pr); st != 201 {
		p.t.Fatalf("create project: %d", st)
	}
	var keys []struct {
		Public string
		DSN    struct{ Public string } `json:"dsn"`
	}
	p.api("GET", "/api/0/projects/"+org+"/"+slug+"/keys/", nil, &keys)
	return project{org: org, slug: slug, id: pr.ID, key: keys[0].Public, dsn: keys[0].DSN.Public}
}

// count returns the number of events stored for the project, from the
// issue aggregates.
func (p *proc) count(pr project) int {
	var issues []struct{ Count string }
	if st := p.api("GET", "/api/0/projects/"+pr.org+"/"+pr.slug+"/issues/?query=&limit=100", nil, &issues); st != 200 {
		return -1
	}
	n := 0
	for _, is := range issues {
		var c int
		fmt.Sscan(is.Count, &c)
		n += c
	}
	return n
}

func (p *proc) waitCount(pr project, want int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		n := p.count(pr)
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSurvivesSIGKILL sends events, kills the process with SIGKILL right
// after the last 200, restarts it, and checks that every accepted event is
// stored exactly once.
func TestSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	p := startProc(t, dir, addr, "--ack-wait", "3s")
	pr := p.createProject("acme", "api", "python")

	const n = 300
	accepted := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				body := fmt.Sprintf(`{"event_id":"%032x","message":"durable %d","exception":{"values":[{"type":"E%d","value":"v"}]}}`, i+1, i, i%5)
				req, _ := http.NewRequestWithContext(ctx, "POST", p.url+"/api/"+pr.id+"/store/?sentry_key="+pr.key, strings.NewReader(body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	p.kill() // no chance to flush anything: only what JetStream acked survives
	if accepted != n {
		t.Fatalf("only %d of %d accepted before the kill", accepted, n)
	}

	p2 := startProc(t, dir, addr, "--ack-wait", "3s")
	got := p2.waitCount(pr, n, 60*time.Second)
	time.Sleep(time.Second) // and nothing more arrives
	if got = p2.count(pr); got != n {
		t.Fatalf("after SIGKILL and restart: %d events stored, want exactly %d\n%s", got, n, p2.log)
	}
	p2.stop()
}
