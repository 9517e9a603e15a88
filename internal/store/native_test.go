package store

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// flakyProxy forwards TCP connections to a real ClickHouse server, and can
// drop connections the way a server restart or a network failure does.
type flakyProxy struct {
	ln       net.Listener
	target   string
	refuse   atomic.Int32 // close this many new connections at once
	accepted atomic.Int32
	mu       sync.Mutex
	conns    []net.Conn
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *flakyProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		if p.refuse.Add(-1) >= 0 {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close() }() //nolint:errcheck
		go func() { io.Copy(c, up); c.Close() }()  //nolint:errcheck
	}
}

// cut closes every open connection.
func (p *flakyProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *flakyProxy) url(db string) string { return "clickhouse://" + p.ln.Addr().String() + "/" + db }

func serverAddr(t *testing.T) string {
	u := testenv.ClickHouseURL(t)
	host := strings.TrimPrefix(u, "clickhouse://")
	if i := strings.IndexAny(host, "/?"); i >= 0 {
		host = host[:i]
	}
	if at := strings.LastIndex(host, "@"); at >= 0 {
		host = host[at+1:]
	}
	return host
}

// TestNetworkFailuresAreRetried drops connections between Faultline and a
// real server: with retries, statements go through once the network is
// back; without, the failure surfaces.
func TestNetworkFailuresAreRetried(t *testing.T) {
	p := newFlakyProxy(t, serverAddr(t))
	ctx := context.Background()

	p.refuse.Store(2) // the first two connections fail
	s, err := Open(ctx, Config{URL: p.url("default"), Database: "default", Retries: 3}, quietLog())
	if err != nil {
		t.Fatalf("open with retries: %v", err)
	}
	defer s.Close()
	if n := p.accepted.Load(); n < 3 {
		t.Errorf("%d connection attempts, want at least 3", n)
	}
	// Every pooled connection dies, as in a server restart, and the first
	// new one fails too.
	query := func(s *Store) error {
		var rows []struct {
			N uint64 `ch:"n"`
		}
		return s.t.query(ctx, &rows, "SELECT count() AS n FROM system.one")
	}
	p.cut()
	p.refuse.Store(1)
	if err := query(s); err != nil {
		t.Fatalf("query after the connections died: %v", err)
	}
	if err := s.InsertEvents(ctx, nil); err != nil {
		t.Fatal(err)
	}

	// The same without retries fails.
	p.refuse.Store(1)
	if _, err := Open(ctx, Config{URL: p.url("default"), Database: "default", Retries: -1}, quietLog()); err == nil {
		t.Error("open without retries succeeded through a failing connection")
	}
	s2, err := Open(ctx, Config{URL: p.url("default"), Database: "default", Retries: -1}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	p.cut()
	p.refuse.Store(1)
	if err := query(s2); err == nil {
		t.Error("query without retries succeeded through a failing connection")
	}
}

func TestTransientErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{io.EOF, true},
		{context.Canceled, false},
		{errors.New("code: 60, message: Table x doesn't exist"), false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v", tc.err, got)
		}
	}
}

// TestTLS connects to a server's secure native port: with the authority
// that signed its certificate it works; against the system's authorities
// it is refused; skipping verification works.
func TestTLS(t *testing.T) {
	srv := testenv.StartClickHouseServer(t, testenv.ServerOptions{TLS: true})
	ctx := context.Background()
	url := "clickhouse://127.0.0.1:" + itoa(srv.SecurePort)
	s, err := Open(ctx, Config{URL: url, Database: "faultline", TLS: TLSConfig{CAFile: srv.CAFile}}, quietLog())
	if err != nil {
		t.Fatalf("open over TLS: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEvents(ctx, []Event{ev(1, 1, 0, testNow(), "prod", "u")}); err != nil {
		t.Fatal(err)
	}
	if is, err := s.GetIssue(ctx, 1, 1, nil, ""); err != nil || is == nil {
		t.Fatalf("issue over TLS = %+v, %v", is, err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := Open(short, Config{URL: url, Database: "faultline", TLS: TLSConfig{Enable: true}, Retries: -1}, quietLog()); err == nil {
		t.Error("a certificate from an unknown authority was accepted")
	}
	s2, err := Open(ctx, Config{URL: url, Database: "faultline", TLS: TLSConfig{InsecureSkipVerify: true}}, quietLog())
	if err != nil {
		t.Fatalf("open skipping verification: %v", err)
	}
	s2.Close()
}

func itoa(n int) string { return num(uint64(n)) }
