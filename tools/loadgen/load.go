package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is where load goes: an ingest URL with its auth query.
type target struct {
	url string // full envelope URL including ?sentry_key=...
}

func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
			DisableCompression: true, IdleConnTimeout: time.Minute,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		},
	}
}

func send(c *http.Client, t target, body []byte) (int, error) {
	req, _ := http.NewRequest("POST", t.url, bytes.NewReader(body))
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Content-Type", "application/x-sentry-envelope")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	return resp.StatusCode, nil
}

// result summarises a load run.
type result struct {
	sent, ok int64
	status   map[int]int64
	errors   int64
	elapsed  time.Duration
	lat      []time.Duration // sorted; only for rate runs
}

func (r *result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(p * float64(len(r.lat)-1))
	return r.lat[i]
}

func (r *result) String() string {
	s := fmt.Sprintf("%d sent, %d ok (%.0f/s) in %s, status %v, errors %d", r.sent, r.ok, r.rate(), r.elapsed.Round(time.Millisecond), r.status, r.errors)
	if len(r.lat) > 0 {
		s += fmt.Sprintf(", latency p50 %s p99 %s p99.9 %s", r.pct(0.5), r.pct(0.99), r.pct(0.999))
	}
	return s
}

// runMax sends as fast as conc connections allow, for dur or until limit
// requests were accepted (limit 0: no limit).
func runMax(t target, g *generator, conc int, dur time.Duration, limit int64) *result {
	c := newClient(conc)
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var sent, ok, errs atomic.Int64
	var mu sync.Mutex
	status := map[int]int64{}
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil && (limit == 0 || ok.Load() < limit) {
				body := g.next(r)
				sent.Add(1)
				st, err := send(c, t, body)
				switch {
				case err != nil:
					errs.Add(1)
				case st == 200:
					ok.Add(1)
				default:
					mu.Lock()
					status[st]++
					mu.Unlock()
					if st == 429 || st == 503 {
						time.Sleep(10 * time.Millisecond)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	return &result{sent: sent.Load(), ok: ok.Load(), status: status, errors: errs.Load(), elapsed: time.Since(start)}
}

// runRate sends at a fixed rate (open loop) for dur, and measures each
// request's latency from the moment it was due, so that a server that
// falls behind is charged for the queueing it causes.
func runRate(t target, g *generator, rate float64, dur time.Duration, workers int) *result {
	c := newClient(workers)
	due := make(chan time.Time, 100_000)
	var sent, ok, errs atomic.Int64
	var mu sync.Mutex
	status := map[int]int64{}
	lats := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for d := range due {
				body := g.next(r)
				sent.Add(1)
				st, err := send(c, t, body)
				lats[w] = append(lats[w], time.Since(d))
				switch {
				case err != nil:
					errs.Add(1)
				case st == 200:
					ok.Add(1)
				default:
					mu.Lock()
					status[st]++
					mu.Unlock()
				}
			}
		}(w)
	}
	interval := time.Duration(float64(time.Second) / rate)
	n := int(rate * dur.Seconds())
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		due <- at
	}
	close(due)
	wg.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	return &result{sent: sent.Load(), ok: ok.Load(), status: status, errors: errs.Load(), elapsed: time.Since(start), lat: all}
}

// bareServer is the baseline: Go's net/http reading and discarding the
// body and answering like Sentry, nothing else.
func bareServer(addr string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) //nolint:errcheck
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"00000000000000000000000000000000"}`)) //nolint:errcheck
	})}
	go srv.Serve(ln) //nolint:errcheck
	return srv, nil
}
