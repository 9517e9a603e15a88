package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/queue"
)

// TestGracefulShutdown sends a load of events and a SIGTERM in its middle.
// /readyz must turn 503 first (for --shutdown-grace) while ingest still
// accepts; the process must exit by itself, cleanly, with every batch it
// fetched written and acked (the consumer has nothing unacked and nothing
// to deliver again); and after a restart every event answered 200 is
// stored, once.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	p := startProc(t, dir, freeAddr(t), "--shutdown-grace", "1500ms", "--shutdown-timeout", "30s", "--ack-wait", "60s")
	pr := p.createProject("acme", "drain", "python")

	var (
		mu       sync.Mutex
		accepted []string
		refused  atomic.Int64 // answered, but not 200
		sent     atomic.Int64
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("%08x%024x", w, i+1)
				body := fmt.Sprintf(`{"event_id":"%s","message":"drain %d","exception":{"values":[{"type":"E%d","value":"v"}]}}`, id, i, i%4)
				req, _ := http.NewRequestWithContext(ctx, "POST", p.url+"/api/"+pr.id+"/store/?sentry_key="+pr.key, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					return // the listener closed
				}
				io.Copy(io.Discard, resp.Body) //nolint:errcheck
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					accepted = append(accepted, id)
					mu.Unlock()
				} else {
					refused.Add(1)
				}
			}
		}()
	}
	// Let the load run, then SIGTERM in its middle.
	for sent.Load() < 400 {
		time.Sleep(10 * time.Millisecond)
	}
	termAt := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// /readyz turns 503 while the listener still answers.
	sawDraining := false
	for time.Since(termAt) < 3*time.Second && !sawDraining {
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sawDraining = resp.StatusCode == 503 && strings.Contains(string(b), "draining")
		time.Sleep(50 * time.Millisecond)
	}
	if !sawDraining {
		t.Error("/readyz never answered 503 draining after SIGTERM")
	}
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("faultline did not exit within --shutdown-timeout:\n%s", p.log)
	}
	took := time.Since(termAt)
	cancel()
	wg.Wait()
	if !p.cmd.ProcessState.Success() {
		t.Fatalf("faultline exited with %v:\n%s", p.cmd.ProcessState, p.log)
	}
	t.Logf("SIGTERM after %d requests: %d accepted, %d refused; exit after %s", sent.Load(), len(accepted), refused.Load(), took.Round(time.Millisecond))
	if took < 1500*time.Millisecond {
		t.Errorf("exited %s after SIGTERM, before the grace ended", took)
	}
	if refused.Load() > 0 {
		t.Errorf("%d requests refused during the shutdown", refused.Load())
	}

	// Every batch the worker fetched was acked: nothing waits for an ack
	// or a redelivery.
	q, err := queue.Open(context.Background(), queue.Config{DataDir: filepath.Join(dir, "nats")}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := q.JetStream().Consumer(context.Background(), queue.StreamName, queue.ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	t.Logf("consumer after the shutdown: delivered %d, ack floor %d, ack pending %d, redelivered %d, pending %d",
		ci.Delivered.Consumer, ci.AckFloor.Consumer, ci.NumAckPending, ci.NumRedelivered, ci.NumPending)
	if ci.NumAckPending != 0 || ci.NumRedelivered != 0 || ci.AckFloor.Consumer != ci.Delivered.Consumer {
		t.Errorf("the shutdown left messages unacked or to redeliver: %+v", ci)
	}

	// After a restart, what was answered 200 is stored, once.
	p2 := startProc(t, dir, freeAddr(t))
	if n := p2.waitCount(pr, len(accepted), 60*time.Second); n != len(accepted) {
		t.Fatalf("%d events stored, %d accepted", n, len(accepted))
	}
	time.Sleep(time.Second)
	if n := p2.count(pr); n != len(accepted) {
		t.Fatalf("%d events stored after a second, %d accepted", n, len(accepted))
	}
	for _, id := range accepted[:min(len(accepted), 50)] {
		if st := p2.api("GET", "/api/0/projects/acme/drain/events/"+id+"/", nil, nil); st != 200 {
			t.Errorf("accepted event %s: %d", id, st)
		}
	}
}
