package ingest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestByteBudget: bytes are granted up to the bound, a request that finds
// it exhausted waits and gets them once released, or is refused after
// its wait; one that could never fit is refused at once.
func TestByteBudget(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		max     int64
		hold    int64 // taken first
		release bool  // released while the second waits
		ask     int64
		err     error
	}{
		{"fits", 100, 40, false, 60, nil},
		{"exhausted, times out", 100, 50, false, 60, errBudgetBusy},
		{"exhausted, then released", 100, 50, true, 60, nil},
		{"never fits", 100, 0, false, 101, errBudgetNever},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newByteBudget(tt.max)
			if err := b.acquire(ctx, tt.hold, time.Millisecond); err != nil {
				t.Fatal(err)
			}
			wait := 50 * time.Millisecond
			if tt.release {
				wait = time.Minute // released by the goroutine, not by the timer
				go func() {
					for {
						b.mu.Lock()
						w := b.waiters
						b.mu.Unlock()
						if w > 0 {
							b.release(tt.hold)
							return
						}
						time.Sleep(time.Millisecond)
					}
				}()
			}
			err := b.acquire(ctx, tt.ask, wait)
			if !errors.Is(err, tt.err) {
				t.Fatalf("acquire = %v, want %v", err, tt.err)
			}
			want := tt.hold
			if tt.release {
				want = 0
			}
			if err == nil {
				want += tt.ask
			}
			if got := b.inUse(); got != want {
				t.Fatalf("in use %d, want %d", got, want)
			}
		})
	}
}

// TestChargeGivesBack: what a request charged is given back, in part or
// all at once, and never more than it holds.
func TestChargeGivesBack(t *testing.T) {
	h := &Handler{cfg: Config{AdmitWait: time.Millisecond}, bytes: newByteBudget(1 << 20)}
	req := &request{}
	ctx := context.Background()
	if err := h.charge(ctx, req, 1000); err != nil {
		t.Fatal(err)
	}
	h.charge(ctx, req, -400) //nolint:errcheck
	if h.bytes.inUse() != 600 || req.charged != 600 {
		t.Fatalf("in use %d, charged %d", h.bytes.inUse(), req.charged)
	}
	h.charge(ctx, req, -10000) //nolint:errcheck
	if h.bytes.inUse() != 0 || req.charged != 0 {
		t.Fatalf("in use %d, charged %d", h.bytes.inUse(), req.charged)
	}
	var e *Error
	if err := h.charge(ctx, req, 2<<20); !errors.As(err, &e) || e.Status != 413 {
		t.Fatalf("a request larger than the budget: %v", err)
	}
	other := &request{}
	h.charge(ctx, other, 1<<20) //nolint:errcheck
	if err := h.charge(ctx, req, 1); !errors.As(err, &e) || e.Status != 503 || e.Headers["Retry-After"] == "" {
		t.Fatalf("an exhausted budget: %v", err)
	}
	h.uncharge(other)
	if h.bytes.inUse() != 0 {
		t.Fatalf("in use %d after uncharge", h.bytes.inUse())
	}
}

func TestClientSlots(t *testing.T) {
	c := &clientSlots{max: 2}
	if !c.acquire("a") || !c.acquire("a") {
		t.Fatal("refused under the cap")
	}
	if c.acquire("a") {
		t.Fatal("a third request from a was admitted")
	}
	if !c.acquire("b") {
		t.Fatal("another address was refused")
	}
	c.release("a")
	if !c.acquire("a") {
		t.Fatal("refused after a release")
	}
	c.release("a")
	c.release("a")
	c.release("b")
	if len(c.n) != 0 {
		t.Fatalf("addresses kept after their last request: %v", c.n)
	}
}

func TestXMLAPIKey(t *testing.T) {
	tests := []struct{ head, want string }{
		{`<notice version="2.3"><api-key>76fdb93ab2cf276ec080671a8b3d3866</api-key><notifier>`, "76fdb93ab2cf276ec080671a8b3d3866"},
		{"<notice><api-key>\n  abc\n</api-key>", "abc"},
		{"<notice><api-key>abc", ""},
		{"<notice><api-key></api-key>", ""},
		{"<notice><api-key>a b</api-key>", ""},
		{"<notice><api-key>a&amp;b</api-key>", ""},
		{"<notice><api-key>" + strings.Repeat("a", 600) + "</api-key>", ""},
		{"<notice/>", ""},
	}
	for _, tt := range tests {
		if got := xmlAPIKey([]byte(tt.head)); got != tt.want {
			t.Errorf("xmlAPIKey(%.60q) = %q, want %q", tt.head, got, tt.want)
		}
	}
}

// FuzzXMLAPIKey: a key found is printable, bounded and in the input.
func FuzzXMLAPIKey(f *testing.F) {
	f.Add([]byte(`<notice version="2.3"><api-key>76fdb93ab2cf276ec080671a8b3d3866</api-key>`))
	f.Add([]byte(`<api-key><api-key>x</api-key></api-key>`))
	f.Fuzz(func(t *testing.T, head []byte) {
		k := xmlAPIKey(head)
		if k == "" {
			return
		}
		if len(k) > 512 || !strings.Contains(string(head), k) || strings.ContainsAny(k, " <&\n") {
			t.Fatalf("key %q", k)
		}
	})
}

// BenchmarkAdmission is what admission adds to a request: the per-client
// cap and two charges of the byte budget (the body, its inflated copy).
func BenchmarkAdmission(b *testing.B) {
	h := &Handler{cfg: Config{AdmitWait: time.Second}, bytes: newByteBudget(512 << 20), clients: &clientSlots{max: 768}}
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := &request{}
			h.clients.acquire("127.0.0.1")
			h.charge(ctx, req, 8<<10)  //nolint:errcheck
			h.charge(ctx, req, 16<<10) //nolint:errcheck
			h.uncharge(req)
			h.clients.release("127.0.0.1")
		}
	})
}

// TestAdmissionKey: behind a trusted proxy, the per-client cap is keyed by
// the address the proxy appended, so a client that sends its own
// X-Forwarded-For values cannot get a cap per value.
func TestAdmissionKey(t *testing.T) {
	cases := []struct {
		trust      bool
		remote     string
		xff        string
		key, event string
	}{
		{false, "10.0.0.9:1234", "1.1.1.1", "10.0.0.9", "10.0.0.9"},
		{true, "10.0.0.9:1234", "", "10.0.0.9", "10.0.0.9"},
		{true, "10.0.0.9:1234", "203.0.113.7", "203.0.113.7", "203.0.113.7"},
		{true, "10.0.0.9:1234", "1.1.1.1, 203.0.113.7", "203.0.113.7", "1.1.1.1"},
		{true, "10.0.0.9:1234", "9.9.9.9,203.0.113.7", "203.0.113.7", "9.9.9.9"},
		{true, "10.0.0.9:1234", "1.1.1.1, garbage", "10.0.0.9", "1.1.1.1"},
	}
	for _, c := range cases {
		h := &Handler{cfg: Config{TrustForwarded: c.trust}}
		r, _ := http.NewRequest("POST", "http://x/api/1/store/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := h.admissionKey(r); got != c.key {
			t.Errorf("%+v: admission key %q, want %q", c, got, c.key)
		}
		if got := h.clientIP(r); got != c.event {
			t.Errorf("%+v: client IP %q, want %q", c, got, c.event)
		}
	}
}
