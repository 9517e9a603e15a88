package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// alertLatencyCmd measures the alert latency: from the 200 answering an
// event that creates an issue to the webhook request its rule ("a new
// issue → the WebHooks plugin") sends, on the embedded default (one
// `faultline serve`, default batch wait), while idle and while the
// benchmark's typical events load another project.
func alertLatencyCmd(args []string) error {
	fs := flag.NewFlagSet("alertlatency", flag.ExitOnError)
	bin := fs.String("bin", "bin/faultline", "faultline binary")
	out := fs.String("out", "BENCHMARKS.md", "file to write the figures into (its alertlatency section)")
	probes := fs.Int("n", 40, "probe events per run")
	rate := fs.Float64("rate", 1000, "background load, typical events per second")
	fs.Parse(args) //nolint:errcheck

	dir, err := os.MkdirTemp("", "faultline-alertlatency-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The receiver: each probe's message → when its webhook arrived.
	var mu sync.Mutex
	arrived := map[string]chan time.Time{}
	waitFor := func(msg string) chan time.Time {
		mu.Lock()
		defer mu.Unlock()
		if arrived[msg] == nil {
			arrived[msg] = make(chan time.Time, 1)
		}
		return arrived[msg]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rcv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		var body struct {
			Message string `json:"message"`
		}
		json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&body) //nolint:errcheck
		if strings.HasPrefix(body.Message, "alert latency probe ") {
			select {
			case waitFor(body.Message) <- at:
			default:
			}
		}
	})}
	go rcv.Serve(ln) //nolint:errcheck
	defer rcv.Close()

	f := benchFlags{bin: *bin}
	p, err := startFaultline(f, dir, "all", "--webhook-allow-private")
	if err != nil {
		return err
	}
	defer p.stop()
	call := func(method, path, body string, out any) error {
		req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+benchToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
		if out != nil {
			return json.Unmarshal(raw, out)
		}
		return nil
	}
	project := func(slug string) (id, key string, err error) {
		var proj struct{ ID string }
		if err := call("POST", "/api/0/teams/bench/team/projects/", `{"slug":"`+slug+`","platform":"node"}`, &proj); err != nil {
			return "", "", err
		}
		var keys []struct{ Public string }
		if err := call("GET", "/api/0/projects/bench/"+slug+"/keys/", "", &keys); err != nil {
			return "", "", err
		}
		return proj.ID, keys[0].Public, nil
	}
	if err := call("POST", "/api/0/organizations/", `{"slug":"bench"}`, nil); err != nil {
		return err
	}
	if err := call("POST", "/api/0/organizations/bench/teams/", `{"slug":"team"}`, nil); err != nil {
		return err
	}
	pid, pkey, err := project("probe")
	if err != nil {
		return err
	}
	lid, lkey, err := project("load")
	if err != nil {
		return err
	}
	hook := "http://" + ln.Addr().String() + "/hook"
	if err := call("PUT", "/api/0/projects/bench/probe/plugins/webhooks/", `{"urls":"`+hook+`"}`, nil); err != nil {
		return err
	}
	if err := call("POST", "/api/0/projects/bench/probe/plugins/webhooks/", "", nil); err != nil {
		return err
	}
	if err := call("POST", "/api/0/projects/bench/probe/rules/", `{"name":"new issues to the webhook",`+
		`"conditions":[{"id":"sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}],`+
		`"actions":[{"id":"sentry.rules.actions.notify_event_service.NotifyEventServiceAction","service":"webhooks"}]}`, nil); err != nil {
		return err
	}

	storeURL := p.url + "/api/" + pid + "/store/?sentry_key=" + pkey + "&sentry_version=7"
	seq := 0
	measure := func(n int) ([]time.Duration, int, error) {
		var lat []time.Duration
		lost := 0
		for range n {
			seq++
			msg := fmt.Sprintf("alert latency probe %d", seq)
			ch := waitFor(msg)
			// Each probe is a new issue: its own message and fingerprint.
			body := fmt.Sprintf(`{"message":%q,"level":"error","platform":"node","fingerprint":[%q]}`, msg, msg)
			resp, err := http.Post(storeURL, "application/json", strings.NewReader(body))
			if err != nil {
				return nil, 0, err
			}
			io.Copy(io.Discard, resp.Body) //nolint:errcheck
			resp.Body.Close()
			t0 := time.Now()
			if resp.StatusCode != 200 {
				return nil, 0, fmt.Errorf("probe: %d", resp.StatusCode)
			}
			select {
			case at := <-ch:
				lat = append(lat, at.Sub(t0))
			case <-time.After(60 * time.Second):
				lost++
			}
			// Probes fall anywhere in the workers' batch window.
			time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
		}
		slices.Sort(lat)
		return lat, lost, nil
	}
	pct := func(l []time.Duration, q float64) string {
		if len(l) == 0 {
			return "—"
		}
		return fmt.Sprintf("%.0f ms", float64(l[min(len(l)-1, int(q*float64(len(l))))].Microseconds())/1000)
	}

	logf("alert latency: idle, %d probes", *probes)
	idle, idleLost, err := measure(*probes)
	if err != nil {
		return err
	}
	logf("alert latency: under %.0f typical events/s", *rate)
	g := newGenerator(shapes["typical"], 200)
	t := target{p.url + "/api/" + lid + "/envelope/?sentry_key=" + lkey + "&sentry_version=7"}
	loadDur := time.Duration(*probes)*800*time.Millisecond + 20*time.Second
	done := make(chan *result, 1)
	go func() { done <- runRate(t, g, *rate, loadDur, 64) }()
	time.Sleep(5 * time.Second) // the load settles
	busy, busyLost, err := measure(*probes)
	if err != nil {
		return err
	}
	load := <-done

	var report strings.Builder
	fmt.Fprintf(&report, "Measured %s on %s. Command: `make bench` (`go run ./tools/loadgen alertlatency -n %d -rate %.0f`): one `faultline serve` (embedded NATS and chDB, default `--batch-wait` 1 s), a rule \"a new issue → the WebHooks plugin\", %d probe events each making a new issue, sent one at a time 0.2–1 s apart; latency from the probe's 200 to its webhook request arriving at a local receiver.\n\n",
		time.Now().UTC().Format("2006-01-02"), machine(), *probes, *rate, *probes)
	fmt.Fprintf(&report, "| load | p50 | p95 | max | not within 60 s |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&report, "| idle | %s | **%s** | %s | %d |\n", pct(idle, 0.5), pct(idle, 0.95), pct(idle, 1), idleLost)
	fmt.Fprintf(&report, "| %.0f typical events/s to another project (%.0f/s accepted) | %s | **%s** | %s | %d |\n\n",
		*rate, load.rate(), pct(busy, 0.5), pct(busy, 0.95), pct(busy, 1), busyLost)
	fmt.Fprintf(&report, "Target: p95 under 5 s on the embedded default while idle.\n")
	fmt.Print(report.String())
	return writeSection(*out, "alertlatency", report.String())
}
