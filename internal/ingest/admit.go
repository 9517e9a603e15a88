package ingest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/internal/envelope"
)

// Admission, in the order a request meets it: a per-client cap on requests
// in flight, authentication (no body byte is read or inflated before the
// key is known to belong to an active project, except a small bounded peek
// for an envelope's own dsn), one of MaxInFlight slots, then a body read
// and inflated under a byte budget shared by all requests, at a floor rate.

// byteBudget bounds the bytes of request bodies being read and inflated
// across all requests.
type byteBudget struct {
	max     int64
	mu      sync.Mutex // guards used, waiters, freed
	used    int64
	waiters int
	freed   chan struct{} // closed when bytes are released while someone waits
	// waited and refused count the acquisitions that had to wait, and
	// those that gave up (for the metrics).
	waited, refused atomic.Uint64
}

func newByteBudget(max int64) *byteBudget {
	return &byteBudget{max: max, freed: make(chan struct{})}
}

var (
	errBudgetBusy  = errors.New("ingest: in-flight byte budget exhausted")
	errBudgetNever = errors.New("ingest: larger than the in-flight byte budget")
)

// acquire takes n bytes, waiting at most wait for other requests to
// release enough.
func (b *byteBudget) acquire(ctx context.Context, n int64, wait time.Duration) error {
	if n > b.max {
		return errBudgetNever
	}
	var timeout <-chan time.Time
	for {
		b.mu.Lock()
		if b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		b.waiters++
		ch := b.freed
		b.mu.Unlock()
		if timeout == nil {
			b.waited.Add(1)
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		var err error
		select {
		case <-ch:
		case <-timeout:
			err = errBudgetBusy
		case <-ctx.Done():
			err = errBudgetBusy
		}
		b.mu.Lock()
		b.waiters--
		b.mu.Unlock()
		if err != nil {
			b.refused.Add(1)
			return err
		}
	}
}

func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.waiters > 0 {
		close(b.freed)
		b.freed = make(chan struct{})
	}
	b.mu.Unlock()
}

// inUse reports the bytes held now.
func (b *byteBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// AdmissionStats reports the in-flight byte budget: the bytes held now,
// the budget, and the requests that waited for it and that were refused
// because it stayed exhausted (metrics.AdmissionSource).
func (h *Handler) AdmissionStats() (inUse, limit int64, waited, refused uint64) {
	return h.bytes.inUse(), h.bytes.max, h.bytes.waited.Load(), h.bytes.refused.Load()
}

// clientSlots caps the requests in flight per client address. The map
// holds only addresses with a request in flight.
type clientSlots struct {
	max int
	mu  sync.Mutex // guards n
	n   map[string]int
}

func (c *clientSlots) acquire(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[addr] >= c.max {
		return false
	}
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[addr]++
	return true
}

func (c *clientSlots) release(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[addr] <= 1 {
		delete(c.n, addr)
		return
	}
	c.n[addr]--
}

// charge takes n bytes of the budget for req (n < 0 gives them back).
// The refusal is 503 with Retry-After when the budget stays exhausted, or
// 413 when this request alone could never fit.
func (h *Handler) charge(ctx context.Context, req *request, n int) error {
	if n <= 0 {
		n = max(n, -int(req.charged))
		h.bytes.release(int64(-n))
		req.charged += int64(n)
		return nil
	}
	if req.charged+int64(n) > h.bytes.max {
		return fail(http.StatusRequestEntityTooLarge, "request body exceeds the server's in-flight byte budget (%d bytes)", h.bytes.max)
	}
	if err := h.bytes.acquire(ctx, int64(n), h.cfg.AdmitWait); err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Detail: "server is overloaded",
			Headers: map[string]string{"Retry-After": "1"}}
	}
	req.charged += int64(n)
	return nil
}

// uncharge gives back everything req holds of the budget.
func (h *Handler) uncharge(req *request) {
	h.bytes.release(req.charged)
	req.charged = 0
}

// bodyChunk is the first buffer a body is read into; it doubles as data
// arrives, never from what Content-Length claims.
const bodyChunk = 8 << 10

// newBodyBuf returns a body buffer of length n and capacity c: the first
// chunk from the handler's pool (most SDK requests fit in it), larger
// ones fresh.
func (h *Handler) newBodyBuf(n, c int) []byte {
	if c == bodyChunk {
		if b, ok := h.bodyBufs.Get().(*[]byte); ok {
			return (*b)[:n]
		}
	}
	return make([]byte, n, c)
}

// releaseBody hands req's body buffer back to the pool once nothing
// refers to it: after the response, when parsing, the attachment store
// and the publish (which copies) are done with it, as for the buffers
// envelope.Release recycles. A grown buffer's first chunk went to the
// garbage collector when it was copied (a peek may still have referred
// to it).
func (h *Handler) releaseBody(req *request) {
	if cap(req.prefix) != bodyChunk {
		return
	}
	b := req.prefix[:0]
	req.prefix, req.raw = nil, nil
	h.bodyBufs.Put(&b)
}

// errSlowBody means the body arrived slower than the floor rate.
var errSlowBody = errors.New("ingest: request body arrived too slowly")

// readBody appends r's body to req.prefix until EOF or until more than
// limit bytes arrived (413). The buffer grows with what arrives and is
// charged to the byte budget; a body slower than MinBodyRate after
// BodyGrace, or not done within Timeout, is cut (408).
func (h *Handler) readBody(ctx context.Context, r *http.Request, req *request, limit int) ([]byte, error) {
	buf, err := h.readUpTo(ctx, r, req, limit+1)
	if err != nil {
		return nil, err
	}
	if len(buf) > limit {
		return nil, fail(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", limit)
	}
	return buf, nil
}

// readUpTo reads the body into req.prefix until EOF or n bytes; the rest
// is left for a later call.
func (h *Handler) readUpTo(ctx context.Context, r *http.Request, req *request, n int) ([]byte, error) {
	buf := req.prefix
	if req.bodyDone || len(buf) >= n {
		return buf, nil
	}
	if req.readStart.IsZero() {
		req.readStart = time.Now()
	}
	for {
		if len(buf) == cap(buf) {
			// Charged by what the buffer grows: the old one is garbage
			// once copied.
			newCap := min(max(2*cap(buf), bodyChunk), n)
			if err := h.charge(ctx, req, newCap-cap(buf)); err != nil {
				return nil, err
			}
			nb := h.newBodyBuf(len(buf), newCap)
			copy(nb, buf)
			buf = nb
			req.prefix = buf
		}
		if req.rc != nil {
			// The client must have sent MinBodyRate bytes a second since
			// BodyGrace, and everything within Timeout.
			d := req.readStart.Add(h.cfg.BodyGrace + time.Duration(float64(len(buf))/float64(h.cfg.MinBodyRate)*float64(time.Second)))
			if end := req.readStart.Add(h.cfg.Timeout); d.After(end) {
				d = end
			}
			req.rc.SetReadDeadline(d) //nolint:errcheck // not every writer supports deadlines
		}
		m, err := r.Body.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		req.prefix = buf
		if err == io.EOF {
			req.bodyDone = true
			if req.rc != nil {
				// The server reads on in the background once the body is
				// done, and a deadline that passes there cancels the
				// request's context: give it the request's own.
				req.rc.SetReadDeadline(req.readStart.Add(h.cfg.Timeout)) //nolint:errcheck
			}
			return buf, nil
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, &Error{Status: http.StatusRequestTimeout, Detail: errSlowBody.Error(),
					Headers: map[string]string{"Connection": "close"}}
			}
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, fail(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", n-1)
			}
			return nil, fail(http.StatusBadRequest, "could not read the request body: %v", err)
		}
		if len(buf) >= n {
			return buf, nil
		}
	}
}

// maxPeekRaw bounds what is read of a body before its credentials are
// known (the envelope's own dsn, an XML notice's api-key).
const maxPeekRaw = 16 << 10

// peek reads at most maxPeekRaw bytes of the body (kept for the full read)
// and returns what they decode to, at most envelope.MaxPeekDecoded bytes,
// and whether that is the whole body.
func (h *Handler) peek(ctx context.Context, r *http.Request, req *request, encoding string) ([]byte, bool, error) {
	raw, err := h.readUpTo(ctx, r, req, maxPeekRaw)
	if err != nil {
		return nil, false, err
	}
	cost := envelope.PeekCost(encoding)
	if err := h.charge(ctx, req, cost); err != nil {
		return nil, false, err
	}
	defer h.charge(ctx, req, -cost) //nolint:errcheck
	head, err := envelope.PeekDecoded(raw, encoding, envelope.MaxPeekDecoded)
	if err != nil {
		return nil, false, err
	}
	// Without an encoding the peek is the whole body once EOF was seen;
	// compressed, completeness is known only if the decoder stopped early.
	complete := req.bodyDone && (encoding == "" || len(head) < envelope.MaxPeekDecoded)
	return head, complete, nil
}

// refuseEarly prepares the answer to a request refused before its body
// was read: the server drains at most a little of the body, for at most a
// second, so that a refused client holds no slot and no goroutine for long.
func refuseEarly(w http.ResponseWriter) {
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Second)) //nolint:errcheck
}
