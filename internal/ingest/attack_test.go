package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/faultline/faultline/internal/ingest"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// The attacks of issue 11 section 3, against a running server in this
// process: the RSS of the process that serves stays within maxGrowth of
// what it was idle (which includes chDB's own baseline), and an SDK's
// event sent during the attack gets 200 and is stored.

// maxGrowth bounds the RSS growth over idle during an attack.
const maxGrowth = 200 << 20

// rss is the process's resident set, from /proc.
func rss(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// rssPeak samples the RSS until stop is called and returns the highest.
func rssPeak(t testing.TB) (stop func() int64) {
	var peak atomic.Int64
	peak.Store(rss(t))
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				if v := rss(t); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	return func() int64 {
		close(done)
		<-finished
		if v := rss(t); v > peak.Load() {
			peak.Store(v)
		}
		return peak.Load()
	}
}

// idleRSS is the RSS once the server has stored an event and the garbage
// is collected.
func idleRSS(t testing.TB) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return rss(t)
}

// victim sends one event with header auth from another loopback address
// (127.0.0.2: another client than the attacker's 127.0.0.1) and checks it
// is accepted with 200 and then stored.
func victim(t *testing.T, f *testserver.Faultline, p testserver.Project, n int) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	id := fmt.Sprintf("%032x", 0xbeef0000+n)
	body := fmt.Sprintf(`{"event_id":"%s","message":"during the attack %d","level":"error"}`, id, n)
	req, _ := http.NewRequest("POST", f.URL+"/api/"+p.ID+"/store/", strings.NewReader(body))
	req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_key="+p.PublicKey)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("the SDK's event during the attack: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the SDK's event during the attack: %d %s", resp.StatusCode, raw)
	}
	f.WaitEvent(t, p, id, nil)
}

// bombs returns a gzip-in-gzip and a zstd frame that inflate to 200 MiB
// of zeros, each a few kilobytes.
func bombs(t testing.TB) (gzgz, zs []byte) {
	zeros := make([]byte, 1<<20)
	var inner bytes.Buffer
	gw, _ := kgzip.NewWriterLevel(&inner, kgzip.BestCompression)
	var zbuf bytes.Buffer
	zw, err := zstd.NewWriter(&zbuf, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithWindowSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		gw.Write(zeros) //nolint:errcheck
		zw.Write(zeros) //nolint:errcheck
	}
	gw.Close()
	zw.Close()
	return gz(inner.Bytes()), zbuf.Bytes()
}

// raw opens a connection from the attacker's address and sends head.
func raw(t testing.TB, addr, head string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, head); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

// status reads the status code the server answered on c (0 if it closed
// the connection without an answer).
func status(c net.Conn) int {
	c.SetReadDeadline(time.Now().Add(60 * time.Second)) //nolint:errcheck
	line, _ := bufio.NewReader(c).ReadString('\n')
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// attackServer starts a server with the default limits, but a short grace
// and a floor rate, so that trickling clients are cut within seconds.
func attackServer(t *testing.T, cfg ingest.Config) (*testserver.Faultline, testserver.Project, string) {
	if cfg.BodyGrace == 0 {
		cfg.BodyGrace = time.Second
	}
	cfg.MinBodyRate = 1 << 10
	f := testserver.Start(t, server.Config{Ingest: cfg})
	p := f.CreateProject("acme", "victim", "go")
	victim(t, f, p, 0) // warm: the first event stored
	return f, p, strings.TrimPrefix(f.URL, "http://")
}

func report(t *testing.T, name string, idle, peak int64) {
	t.Helper()
	growth := peak - idle
	t.Logf("%s: idle RSS %d MiB, peak %d MiB, growth %d MiB (bound %d MiB)", name, idle>>20, peak>>20, growth>>20, maxGrowth>>20)
	if growth > maxGrowth {
		t.Errorf("%s: RSS grew by %d MiB over idle, bound %d MiB", name, growth>>20, maxGrowth>>20)
	}
}

// TestAttackDecompressionBombs: small gzip-in-gzip and zstd bombs, many
// in parallel, with no key, to a project that does not exist and to a
// real one. None is inflated beyond the bounded peek.
func TestAttackDecompressionBombs(t *testing.T) {
	gzgz, zs := bombs(t)
	f, p, _ := attackServer(t, ingest.Config{})
	idle := idleRSS(t)
	stop := rssPeak(t)
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, enc := gzgz, "gzip, gzip"
			if i%2 == 1 {
				body, enc = zs, "zstd"
			}
			pid := "999"
			if i%4 >= 2 {
				pid = p.ID
			}
			for range 4 {
				req, _ := http.NewRequest("POST", f.URL+"/api/"+pid+"/envelope/", bytes.NewReader(body))
				req.Header.Set("Content-Encoding", enc)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body) //nolint:errcheck
				resp.Body.Close()
				if resp.StatusCode == 200 {
					accepted.Add(1)
				}
			}
		}()
	}
	victim(t, f, p, 1)
	wg.Wait()
	report(t, "bombs without a key", idle, stop())
	if accepted.Load() != 0 {
		t.Errorf("%d bombs were accepted", accepted.Load())
	}
}

// TestAttackAuthenticatedBombs: with the (public) key, bombs are inflated,
// but all of them together within the in-flight byte budget: each is
// refused (413 at the per-request limit, or 503 while the budget is
// exhausted), and the SDK's event still gets through.
func TestAttackAuthenticatedBombs(t *testing.T) {
	gzgz, zs := bombs(t)
	f, p, _ := attackServer(t, ingest.Config{MaxInFlightBytes: 32 << 20})
	idle := idleRSS(t)
	stop := rssPeak(t)
	var wg sync.WaitGroup
	codes := sync.Map{}
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, enc := gzgz, "gzip, gzip"
			if i%2 == 1 {
				body, enc = zs, "zstd"
			}
			for range 2 {
				req, _ := http.NewRequest("POST", f.URL+"/api/"+p.ID+"/envelope/?sentry_key="+p.PublicKey, bytes.NewReader(body))
				req.Header.Set("Content-Encoding", enc)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body) //nolint:errcheck
				resp.Body.Close()
				n, _ := codes.LoadOrStore(resp.StatusCode, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		}()
	}
	for i := range 3 {
		time.Sleep(100 * time.Millisecond)
		victimRetrying(t, f, p, 10+i)
	}
	wg.Wait()
	report(t, "bombs with the key, 32 MiB budget", idle, stop())
	codes.Range(func(k, v any) bool {
		t.Logf("bombs answered %d: %d", k, v.(*atomic.Int64).Load())
		if k.(int) != 413 && k.(int) != 503 {
			t.Errorf("a bomb was answered %d", k)
		}
		return true
	})
}

// victimRetrying is victim for an SDK that honours 503 + Retry-After,
// which the byte budget answers while it is exhausted.
func victimRetrying(t *testing.T, f *testserver.Faultline, p testserver.Project, n int) {
	t.Helper()
	id := fmt.Sprintf("%032x", 0xbeef0000+n)
	body := fmt.Sprintf(`{"event_id":"%s","message":"during the attack %d","level":"error"}`, id, n)
	for try := 0; ; try++ {
		req, _ := http.NewRequest("POST", f.URL+"/api/"+p.ID+"/store/", strings.NewReader(body))
		req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_key="+p.PublicKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || try == 20 {
			t.Fatalf("the SDK's event: %d %s", resp.StatusCode, raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.WaitEvent(t, p, id, nil)
}

// TestAttackClaimedContentLength: 256 connections claim 16 MiB bodies and
// send one byte, with and without the key: nothing is allocated from the
// claim, and each is cut at the floor rate.
func TestAttackClaimedContentLength(t *testing.T) {
	f, p, addr := attackServer(t, ingest.Config{})
	idle := idleRSS(t)
	stop := rssPeak(t)
	conns := make([]net.Conn, 0, 256)
	for i := range 256 {
		target := "/api/999/envelope/"
		switch i % 4 {
		case 1:
			target = "/api/" + p.ID + "/envelope/"
		case 2:
			target = "/api/" + p.ID + "/envelope/?sentry_key=" + p.PublicKey
		case 3:
			// Over /store/'s limit: refused from the claim alone.
			target = "/api/" + p.ID + "/store/?sentry_key=" + p.PublicKey
		}
		conns = append(conns, raw(t, addr, "POST "+target+" HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\n{"))
	}
	victim(t, f, p, 2)
	got := map[int]int{}
	for _, c := range conns {
		got[status(c)]++
		c.Close()
	}
	report(t, "256 claimed 16 MiB bodies", idle, stop())
	t.Logf("answers: %v", got)
	for code, n := range got {
		// 408 cut at the floor rate, 401 without a key, 413 over the
		// endpoint's limit: never accepted, never left hanging.
		if code != 408 && code != 401 && code != 413 {
			t.Errorf("%d connections were answered %d", n, code)
		}
	}
	if got[408] == 0 {
		t.Error("no slow body was cut with 408")
	}
}

// TestAttackTrickle: more connections than there are slots trickle
// unauthenticated bodies from one address: the per-client cap refuses
// what is over it, the floor rate cuts the rest, and another client's
// event gets through meanwhile.
func TestAttackTrickle(t *testing.T) {
	// The default grace: every connection is open and held before the
	// first is cut, so the per-client cap is reached.
	f, p, addr := attackServer(t, ingest.Config{BodyGrace: 5 * time.Second})
	idle := idleRSS(t)
	stop := rssPeak(t)
	const n = 1100
	conns := make([]net.Conn, 0, n)
	for i := range n {
		target := "/api/" + p.ID + "/envelope/"
		if i%8 == 0 {
			target = "/api/" + p.ID + "/store/"
		}
		conns = append(conns, raw(t, addr, "POST "+target+" HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := `{"dsn":"http://` + p.PublicKey + `@h/` + p.ID + `"` + strings.Repeat(" ", 1000)
			for i := 0; i < len(body); i++ {
				select {
				case <-ctx.Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
				if _, err := c.Write([]byte{body[i]}); err != nil {
					return
				}
			}
		}()
	}
	victim(t, f, p, 3)
	got := map[int]int{}
	for _, c := range conns {
		got[status(c)]++
	}
	cancel()
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	report(t, fmt.Sprintf("%d trickling connections", n), idle, stop())
	t.Logf("answers: %v", got)
	for code, k := range got {
		if code != 408 && code != 401 && code != 429 {
			t.Errorf("%d connections were answered %d", k, code)
		}
	}
	if got[429] == 0 || got[408] == 0 {
		t.Errorf("want both the per-client cap (429) and the floor rate (408) to act: %v", got)
	}
	victim(t, f, p, 4) // and after the attack, from the attacker's address too
}

// TestByteBudgetAnswers: with a 1 MiB budget, a request that could never
// fit is refused with 413, one that finds the budget held by another body
// gets 503 with Retry-After, and once that body is gone the same request
// is accepted; each refusal in Sentry's shape.
func TestByteBudgetAnswers(t *testing.T) {
	f := testserver.Start(t, server.Config{Ingest: ingest.Config{MaxInFlightBytes: 1 << 20, AdmitWait: 200 * time.Millisecond}})
	p := f.CreateProject("acme", "budget", "go")
	addr := strings.TrimPrefix(f.URL, "http://")
	post := func(body []byte) (int, http.Header, string) {
		req, _ := http.NewRequest("POST", f.URL+"/api/"+p.ID+"/envelope/?sentry_key="+p.PublicKey, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header, string(raw)
	}
	id := "0123456789abcdef0123456789abcd01"
	small := []byte(`{"event_id":"` + id + `"}` + "\n" + `{"type":"event"}` + "\n" + `{"message":"fits"}` + "\n")
	big := []byte(`{}` + "\n" + `{"type":"attachment","filename":"a.bin"}` + "\n" + strings.Repeat("a", 1536<<10) + "\n")

	if st, _, body := post(big); st != 413 || !strings.Contains(body, `"detail":`) || !strings.Contains(body, "budget") {
		t.Fatalf("a body larger than the budget: %d %s", st, body)
	}
	// Another body holds the budget: 700 KB sent of 900 KB, then silence.
	c := raw(t, addr, "POST /api/"+p.ID+"/envelope/?sentry_key="+p.PublicKey+" HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n"+
		`{}`+"\n"+`{"type":"attachment","filename":"b.bin","length":899000}`+"\n"+strings.Repeat("b", 700_000))
	var st int
	var hdr http.Header
	var body string
	for range 100 {
		if st, hdr, body = post(small); st == 503 {
			break
		}
		time.Sleep(20 * time.Millisecond) // until the server has read what was sent
	}
	if st != 503 || hdr.Get("Retry-After") == "" || !strings.Contains(body, `"detail":`) {
		t.Fatalf("with the budget held: %d %v %s", st, hdr, body)
	}
	c.Close()
	for range 100 {
		if st, _, body = post(small); st != 503 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st != 200 {
		t.Fatalf("once the budget is free: %d %s", st, body)
	}
	f.WaitEvent(t, p, id, nil)
}

// TestRefusedBeforeTheBody: a missing or wrong key is answered from the
// headers alone, while the client has not sent a byte of its body.
func TestRefusedBeforeTheBody(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "early", "go")
	other := f.CreateProject("acme", "other", "go")
	addr := strings.TrimPrefix(f.URL, "http://")
	cases := []struct {
		name, target string
		status       int
	}{
		{"no key", "/api/" + p.ID + "/store/", 401},
		{"unknown key", "/api/" + p.ID + "/envelope/?sentry_key=0123456789abcdef0123456789abcdef", 403},
		{"key of another project", "/api/" + p.ID + "/minidump/?sentry_key=" + other.PublicKey, 403},
		{"project that does not exist", "/api/999/envelope/?sentry_key=" + p.PublicKey, 403},
		{"wrong secret", "/api/" + p.ID + "/store/?sentry_key=" + p.PublicKey + "&sentry_secret=wrong", 403},
		{"Airbrake without a key", "/api/v3/projects/" + p.ID + "/notices", 401},
		{"Airbrake with a wrong key", "/api/v3/projects/" + p.ID + "/notices?key=nope", 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := raw(t, addr, "POST "+c.target+" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
			defer conn.Close()
			if got := status(conn); got != c.status {
				t.Fatalf("status %d, want %d", got, c.status)
			}
		})
	}
}
