package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// scaleCmd measures how processing scales with worker processes: for each
// count of workers it fills a fresh queue with the same number of events
// (an ingest-only process, whose embedded NATS the workers share), drains
// it with that many `faultline serve --role worker` processes against a
// ClickHouse server, and checks that every event was stored exactly once.
//
//	loadgen scale -events 60000 -workers 1,2,4 -clickhouse clickhouse://127.0.0.1:9000
func scaleCmd(args []string) error {
	var f benchFlags
	fs := flag.NewFlagSet("scale", flag.ExitOnError)
	fs.StringVar(&f.bin, "bin", "bin/faultline", "faultline binary")
	fs.StringVar(&f.out, "out", "", "file to write the figures into (its worker-scaling section); empty: print only")
	fs.IntVar(&f.conc, "c", 64, "connections filling the queue")
	n := fs.Int64("events", 60_000, "events queued for each run")
	counts := fs.String("workers", "1,2,4", "worker process counts to measure")
	sh := fs.String("shape", "typical", "typical, large, deep or small")
	chURL := fs.String("clickhouse", "clickhouse://127.0.0.1:9000", "ClickHouse server (native protocol) the workers write to; a database per run is created and dropped")
	chHTTP := fs.String("clickhouse-http", "http://127.0.0.1:8123", "the same server's HTTP interface, to count what was stored")
	chPID := fs.Int("clickhouse-pid", 0, "PID of the ClickHouse server, for its CPU time (default: the process listening on the native port, found with ss)")
	fs.Parse(args) //nolint:errcheck
	s, ok := shapes[*sh]
	if !ok {
		return fmt.Errorf("unknown shape %q", *sh)
	}
	var ks []int
	for _, c := range strings.Split(*counts, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || k < 1 {
			return fmt.Errorf("bad -workers %q", *counts)
		}
		ks = append(ks, k)
	}
	u, err := url.Parse(*chURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad -clickhouse %q", *chURL)
	}
	if *chPID == 0 {
		*chPID = listenerPID(u.Port())
	}
	g := newGenerator(s, 200)
	var failed error
	var report strings.Builder
	fmt.Fprintf(&report, "Measured %s on %s. Command: `make bench-workers` (`go run ./tools/loadgen scale -events %d -workers %s -shape %s`), against Debian's clickhouse-server %s; NATS embedded in an ingest-only process (`--nats-listen`), every worker a `faultline serve --role worker --nats-url ... --clickhouse-url ...` process.\n\n",
		time.Now().UTC().Format("2006-01-02"), machine(), *n, *counts, s.name, chVersion(*chHTTP))
	fmt.Fprintf(&report, "| workers | events queued | drained in | **events/s** | worker CPU s per 1k events | ClickHouse server CPU s per 1k events | NATS (ingest process) CPU s per 1k events | peak RSS: a worker, the ingest with NATS | load average (1 min) before → after | stored = unique ids = sent |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, k := range ks {
		r, err := scaleRun(f, g, *n, k, u, *chHTTP, *chPID)
		if r.db != "" {
			// Dropped at the end: on a busy server a DROP can take minutes.
			defer func() {
				if _, err := chQuery(*chHTTP, "DROP DATABASE IF EXISTS "+r.db); err != nil {
					logf("dropping %s: %v", r.db, err)
				}
			}()
		}
		if err != nil {
			return err
		}
		logf("%d workers: %+v", k, r)
		check := "yes"
		if r.stored != r.sent || r.unique != r.sent {
			check = fmt.Sprintf("**no**: stored %d, unique %d, sent %d", r.stored, r.unique, r.sent)
		}
		per := func(ticks int64) string {
			if ticks < 0 {
				return "n/a"
			}
			return fmt.Sprintf("%.2f", float64(ticks)/clockTicks/float64(r.drained)*1000)
		}
		fmt.Fprintf(&report, "| %d | %d | %s | **%.0f** | %s | %s | %s | %d MiB, %d MiB | %s → %s | %s |\n", k, r.sent, r.elapsed.Round(10*time.Millisecond),
			float64(r.drained)/r.elapsed.Seconds(), per(r.workerTicks), per(r.chTicks), per(r.natsTicks), r.workerRSS>>20, r.ingestRSS>>20, r.loadBefore, r.loadAfter, check)
		if check != "yes" && failed == nil {
			failed = fmt.Errorf("%d workers: events lost or stored twice", k)
		}
	}
	fmt.Fprintf(&report, "\nThe rate counts the events still queued once every worker was ready, over the time until the queue was empty (workers start at once, so the first ones drain a little before the clock starts). CPU seconds are user+system from /proc over the same window. The machine was shared with other work during the run: compare the load average with its 2 cores.\n")
	fmt.Print(report.String())
	if f.out != "" {
		if err := writeSection(f.out, "workers", report.String()); err != nil {
			return err
		}
	}
	return failed
}

type scaleResult struct {
	sent, drained, stored, unique int64
	elapsed                       time.Duration
	workerTicks, chTicks          int64
	natsTicks                     int64
	loadBefore, loadAfter         string
	db                            string // to drop once reported
	workerRSS, ingestRSS          int64  // peak, of the largest worker
}

func scaleRun(f benchFlags, g *generator, n int64, k int, chURL *url.URL, chHTTP string, chPID int) (r scaleResult, err error) {
	dir, err := os.MkdirTemp("", "faultline-scale-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	db := fmt.Sprintf("loadgen_scale_%d_%d", os.Getpid(), k)
	dsn := *chURL
	dsn.Path = "/" + db
	r.db = db
	f.extra = []string{"--clickhouse-url", dsn.String()}
	key, pid, err := setupProject(f, dir+"/ingest")
	if err != nil {
		return r, err
	}
	natsAddr := freeAddr()
	ing, err := startFaultline(f, dir+"/ingest", "ingest", "--nats-listen", natsAddr)
	if err != nil {
		return r, err
	}
	defer ing.stop()
	t := target{ing.url + "/api/" + pid + "/envelope/?sentry_key=" + key + "&sentry_version=7"}
	fill := runMax(t, g, f.conc, time.Hour, n)
	logf("%d workers: filled %s", k, fill)
	r.sent = fill.ok

	workers := make([]*proc, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			workers[i], errs[i] = startFaultline(f, fmt.Sprintf("%s/worker%d", dir, i), "worker",
				"--nats-url", "nats://"+natsAddr, "--no-migrate")
		}()
	}
	wg.Wait()
	defer func() {
		for _, w := range workers {
			if w != nil {
				w.stop()
			}
		}
	}()
	for _, e := range errs {
		if e != nil {
			return r, e
		}
	}
	cpu := func() (w, ch, nats int64) {
		for _, p := range workers {
			w += procTicks(p.cmd.Process.Pid)
		}
		ch = -1
		if chPID > 0 {
			ch = procTicks(chPID)
		}
		return w, ch, procTicks(ing.cmd.Process.Pid)
	}
	r.loadBefore = loadAvg1()
	w0, ch0, n0 := cpu()
	start := time.Now()
	first := int64(-1)
	for {
		b, err := ing.backlog()
		if err != nil {
			return r, err
		}
		if first < 0 {
			first = b
		}
		if b == 0 {
			break
		}
		if time.Since(start) > 30*time.Minute {
			return r, fmt.Errorf("%d workers: %d events still queued after 30 minutes", k, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.elapsed = time.Since(start)
	w1, ch1, n1 := cpu()
	for _, w := range workers {
		r.workerRSS = max(r.workerRSS, w.peakRSS())
	}
	r.ingestRSS = ing.peakRSS()
	r.loadAfter = loadAvg1()
	r.drained = first
	r.workerTicks, r.natsTicks = w1-w0, n1-n0
	r.chTicks = -1
	if ch0 >= 0 && ch1 >= 0 {
		r.chTicks = ch1 - ch0
	}
	out, err := chQuery(chHTTP, "SELECT count(), uniqExact(event_id) FROM "+db+".events")
	if err != nil {
		return r, err
	}
	if _, err := fmt.Sscan(out, &r.stored, &r.unique); err != nil {
		return r, fmt.Errorf("counting stored events: %q: %w", out, err)
	}
	return r, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times (100 on
// Linux for every architecture Go supports).
const clockTicks = 100

// procTicks is a process's user+system CPU time in clock ticks, -1 when
// it cannot be read.
func procTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	s := string(b)
	fs := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fs) < 13 {
		return -1
	}
	u, _ := strconv.ParseInt(fs[11], 10, 64)
	sy, _ := strconv.ParseInt(fs[12], 10, 64)
	return u + sy
}

func loadAvg1() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if fs := strings.Fields(string(b)); len(fs) > 0 {
		return fs[0]
	}
	return "?"
}

var ssPID = regexp.MustCompile(`pid=(\d+)`)

// listenerPID finds the process listening on a TCP port (0 if unknown).
func listenerPID(port string) int {
	if port == "" {
		port = "9000"
	}
	out, err := exec.Command("ss", "-Hltnp", "sport = :"+port).Output()
	if err != nil {
		return 0
	}
	m := ssPID.FindSubmatch(out)
	if m == nil {
		return 0
	}
	pid, _ := strconv.Atoi(string(m[1]))
	return pid
}

func chQuery(base, q string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/", strings.NewReader(q))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("ClickHouse: %s: %s", q, b)
	}
	return strings.TrimSpace(string(b)), nil
}

func chVersion(base string) string {
	v, err := chQuery(base, "SELECT version()")
	if err != nil {
		return "(version unknown)"
	}
	return v
}
