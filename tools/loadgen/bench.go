package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const benchToken = "loadgen-admin-token-0123456789abcdef012345"

type benchFlags struct {
	bin      string
	out      string
	dur      time.Duration
	conc     int
	burst    int64
	shapes   string
	keepData bool
	// extra flags for every faultline process started (e.g. a ClickHouse
	// server's URL).
	extra []string
}

func benchCmd(args []string) error {
	var f benchFlags
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&f.bin, "bin", "bin/faultline", "faultline binary")
	fs.StringVar(&f.out, "out", "BENCHMARKS.md", "file to write the figures into (its loadgen section)")
	fs.DurationVar(&f.dur, "duration", 15*time.Second, "length of each throughput and latency run")
	fs.IntVar(&f.conc, "c", 64, "connections for throughput runs")
	fs.Int64Var(&f.burst, "burst", 1_000_000, "events in the burst drained by the workers (typical shape)")
	fs.StringVar(&f.shapes, "shapes", "large,typical", "event shapes to measure")
	fs.Parse(args) //nolint:errcheck

	var report strings.Builder
	start := time.Now()
	fmt.Fprintf(&report, "Measured %s on %s. Command: `make bench` (`go run ./tools/loadgen bench -duration %s -c %d -burst %d`).\n\n",
		time.Now().UTC().Format("2006-01-02"), machine(), f.dur, f.conc, f.burst)

	// Idle RSS first, on a quiet machine.
	idle, err := idleRSS(f)
	if err != nil {
		return err
	}
	fmt.Fprintf(&report, "- **Idle RSS** of `faultline serve` (all roles, embedded NATS and chDB), 10 s after start on an empty data directory: **%d MiB** (target < 300 MiB).\n\n", idle>>20)

	for _, name := range strings.Split(f.shapes, ",") {
		s, ok := shapes[name]
		if !ok {
			return fmt.Errorf("unknown shape %q", name)
		}
		if err := benchShape(f, s, &report); err != nil {
			return err
		}
	}
	fmt.Fprintf(&report, "Whole benchmark: %s.\n", time.Since(start).Round(time.Second))
	fmt.Print(report.String())
	return writeSection(f.out, "loadgen", report.String())
}

func benchShape(f benchFlags, s shape, report *strings.Builder) error {
	g := newGenerator(s, 200)
	logf("== shape %s: %d B raw, %d B gzip per envelope", s.name, g.rawLen, g.compressedLen())

	// Baseline: a bare net/http server in its own process.
	bareAddr := freeAddr()
	self, _ := os.Executable()
	bare := exec.Command(self, "bare", "-addr", bareAddr)
	if err := bare.Start(); err != nil {
		return err
	}
	waitHTTP("http://" + bareAddr + "/")
	base := runMax(target{"http://" + bareAddr + "/api/1/envelope/"}, g, f.conc, f.dur, 0)
	bare.Process.Signal(os.Interrupt) //nolint:errcheck
	bare.Wait()                       //nolint:errcheck
	logf("baseline: %s", base)

	dir, err := os.MkdirTemp("", "faultline-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key, pid, err := setupProject(f, dir)
	if err != nil {
		return err
	}

	// Ingest alone (workers paused): everything lands in the queue.
	p, err := startFaultline(f, dir, "ingest")
	if err != nil {
		return err
	}
	t := target{p.url + "/api/" + pid + "/envelope/?sentry_key=" + key + "&sentry_version=7"}
	runMax(t, g, f.conc, 3*time.Second, 0) // warm up
	max := runMax(t, g, f.conc, f.dur, 0)
	logf("faultline max: %s", max)
	half := runRate(t, g, max.rate()*0.5, f.dur, 512)
	logf("faultline at 50%%: %s", half)
	ninety := runRate(t, g, max.rate()*0.9, f.dur, 512)
	logf("faultline at 90%%: %s", ninety)
	queued := max.ok + half.ok + ninety.ok
	var burstTime time.Duration
	if s.name == "typical" && f.burst > queued {
		b := runMax(t, g, f.conc, time.Hour, f.burst-queued)
		queued += b.ok
		burstTime = b.elapsed
		logf("burst fill: %s", b)
	}
	ingestRSS := p.peakRSS()
	backlog, err := p.backlog()
	if err != nil {
		return err
	}
	p.stop()

	// The price of --sync-always (an fsync per acknowledged publish), on
	// the same queue.
	var syncMax, syncHalf *result
	if s.name == "large" {
		ps, err := startFaultline(f, dir, "ingest", "--sync-always")
		if err != nil {
			return err
		}
		t := target{ps.url + "/api/" + pid + "/envelope/?sentry_key=" + key + "&sentry_version=7"}
		syncMax = runMax(t, g, f.conc, f.dur, 0)
		logf("faultline --sync-always max: %s", syncMax)
		syncHalf = runRate(t, g, syncMax.rate()*0.5, f.dur, 512)
		logf("faultline --sync-always at 50%%: %s", syncHalf)
		if backlog, err = ps.backlog(); err != nil {
			return err
		}
		ps.stop()
	}

	// Workers alone, from the pre-filled queue.
	w, err := startFaultline(f, dir, "worker")
	if err != nil {
		return err
	}
	drainStart := time.Now()
	for {
		n, err := w.backlog()
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	drain := time.Since(drainStart)
	workerRSS := w.peakRSS()
	w.stop()
	processed := float64(backlog) / drain.Seconds()
	logf("drained ~%d events in %s: %.0f/s", backlog, drain, processed)

	fmt.Fprintf(report, "### %s events (%d B JSON, %d B gzip'd envelope, %d frames, %d breadcrumbs)\n\n", s.name, g.rawLen, g.compressedLen(), s.frames, s.breadcrumbs)
	fmt.Fprintf(report, "| measure | figure |\n|---|---|\n")
	fmt.Fprintf(report, "| bare net/http server, read and discard (baseline) | %.0f req/s |\n", base.rate())
	fmt.Fprintf(report, "| Faultline ingest, accepted (workers paused), %d connections | **%.0f events/s = %.0f%% of baseline** (target ≥ 50%%) |\n", f.conc, max.rate(), 100*max.rate()/base.rate())
	fmt.Fprintf(report, "| latency at 50%% of that rate (%.0f/s, open loop) | p50 %s, **p99 %s**, p99.9 %s (target p99 < 10 ms) |\n", max.rate()*0.5, ms(half.pct(0.5)), ms(half.pct(0.99)), ms(half.pct(0.999)))
	fmt.Fprintf(report, "| latency at 90%% (%.0f/s) | p50 %s, p99 %s, p99.9 %s |\n", max.rate()*0.9, ms(ninety.pct(0.5)), ms(ninety.pct(0.99)), ms(ninety.pct(0.999)))
	if burstTime > 0 {
		fmt.Fprintf(report, "| burst of %d events accepted into the queue | %s (%.0f/s) |\n", queued, burstTime.Round(time.Second), float64(queued-max.ok-half.ok-ninety.ok)/burstTime.Seconds())
	}
	fmt.Fprintf(report, "| processed into chDB from the pre-filled queue (ingest idle) | **%.0f events/s**; %d events drained in %s (target ≥ 6,000/s) |\n", processed, backlog, drain.Round(time.Second))
	if syncMax != nil {
		fmt.Fprintf(report, "| with `--sync-always` (fsync before each 200) | %.0f events/s (%.0f%% of the default), p99 at half that rate %s |\n",
			syncMax.rate(), 100*syncMax.rate()/max.rate(), ms(syncHalf.pct(0.99)))
	}
	fmt.Fprintf(report, "| peak RSS | ingest %d MiB, worker %d MiB |\n\n", ingestRSS>>20, workerRSS>>20)
	if n := half.status[429] + half.status[503] + half.errors; n > 0 {
		fmt.Fprintf(report, "At 50%%, %d requests were refused or failed.\n\n", n)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// proc is a faultline child process.
type proc struct {
	cmd *exec.Cmd
	url string
}

func startFaultline(f benchFlags, dir, role string, extra ...string) (*proc, error) {
	addr := freeAddr()
	args := append([]string{"serve", "--data-dir", dir, "--addr", addr, "--role", role, "--log-level", "warn"}, f.extra...)
	args = append(args, extra...)
	cmd := exec.Command(f.bin, args...)
	cmd.Env = append(os.Environ(), "FAULTLINE_ADMIN_TOKEN="+benchToken)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, url: "http://" + addr}
	if err := waitHTTP(p.url + "/readyz"); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }() //nolint:errcheck
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill() //nolint:errcheck
		<-done
	}
}

// peakRSS reads VmHWM, the process's peak resident set.
func (p *proc) peakRSS() int64 { return procStatus(p.cmd.Process.Pid, "VmHWM:") }

func (p *proc) backlog() (int64, error) {
	resp, err := http.Get(p.url + "/readyz")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Queue struct {
			Messages int64 `json:"messages"`
		} `json:"queue"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	return body.Queue.Messages, nil
}

func procStatus(pid int, field string) int64 {
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), field) {
			fs := strings.Fields(sc.Text())
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func idleRSS(f benchFlags) (int64, error) {
	dir, err := os.MkdirTemp("", "faultline-idle-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	p, err := startFaultline(f, dir, "all")
	if err != nil {
		return 0, err
	}
	defer p.stop()
	time.Sleep(10 * time.Second)
	return procStatus(p.cmd.Process.Pid, "VmRSS:"), nil
}

// setupProject creates an organization, team and project with a full
// process, and returns the DSN key and project id.
func setupProject(f benchFlags, dir string) (key, pid string, err error) {
	p, err := startFaultline(f, dir, "all")
	if err != nil {
		return "", "", err
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
	if err := call("POST", "/api/0/organizations/", `{"slug":"bench"}`, nil); err != nil {
		return "", "", err
	}
	if err := call("POST", "/api/0/organizations/bench/teams/", `{"slug":"team"}`, nil); err != nil {
		return "", "", err
	}
	var proj struct{ ID string }
	if err := call("POST", "/api/0/teams/bench/team/projects/", `{"slug":"load","platform":"node"}`, &proj); err != nil {
		return "", "", err
	}
	var keys []struct{ Public string }
	if err := call("GET", "/api/0/projects/bench/load/keys/", "", &keys); err != nil {
		return "", "", err
	}
	return keys[0].Public, proj.ID, nil
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHTTP(url string) error {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer", url)
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := procMeminfo()
	return fmt.Sprintf("%d cores (%s), %d GiB RAM, %s", runtime.NumCPU(), model, mem>>30, runtime.Version())
}

func procMeminfo() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// writeSection replaces the text between <!-- name:begin --> and
// <!-- name:end --> in file (appending the section if absent), so that
// several benchmarks share BENCHMARKS.md.
func writeSection(file, name, text string) error {
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	old, _ := os.ReadFile(file)
	block := begin + "\n" + text + end
	var out []byte
	if i, j := bytes.Index(old, []byte(begin)), bytes.Index(old, []byte(end)); i >= 0 && j > i {
		out = append(append(append([]byte{}, old[:i]...), block...), old[j+len(end):]...)
	} else {
		if len(old) == 0 {
			old = []byte("# Benchmarks\n\nFigures written by `make bench`. Each section says how it was measured.\n")
		}
		out = append(old, []byte("\n## Ingest and processing under load\n\n"+block+"\n")...)
	}
	return os.WriteFile(filepath.Clean(file), out, 0o644)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
