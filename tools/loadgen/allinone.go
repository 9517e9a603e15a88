package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// allInOneFlags configure `loadgen allinone`: ingest of `faultline serve`
// (all roles: embedded NATS and chDB, the workers running beside ingest)
// against the bare net/http server, with the same load in the same run.
type allInOneFlags struct {
	bin     string
	out     string
	label   string
	shape   string
	conc    int
	bareDur time.Duration
	fullDur time.Duration
	halfDur time.Duration
	env     string
	args    string
}

// allInOneCmd runs the all-in-one ingest benchmark: the bare server at
// full rate, then Faultline (all roles) at full rate for -full (the
// workers start draining what it accepts), then open-loop at half that
// rate for -half, with latency percentiles, the process's CPU time per
// event and the garbage collector's pauses read from its /metrics.
func allInOneCmd(args []string) error {
	var f allInOneFlags
	fs := flag.NewFlagSet("allinone", flag.ExitOnError)
	fs.StringVar(&f.bin, "bin", "bin/faultline", "faultline binary")
	fs.StringVar(&f.out, "out", "", "file to write the figures into (its allinone section; empty: print only)")
	fs.StringVar(&f.label, "label", "", "name of this run in the report (e.g. main, or the change measured)")
	fs.StringVar(&f.shape, "shape", "large", "event shape: typical, large, deep or small")
	fs.IntVar(&f.conc, "c", 64, "connections for the full-rate runs")
	fs.DurationVar(&f.bareDur, "bare", 15*time.Second, "length of the bare server's run")
	fs.DurationVar(&f.fullDur, "full", time.Minute, "length of Faultline's full-rate run")
	fs.DurationVar(&f.halfDur, "half", time.Minute, "length of the run at half of Faultline's full rate, right after it")
	fs.StringVar(&f.env, "env", "", "extra environment of the faultline process, comma-separated K=V (e.g. GOGC=200)")
	fs.StringVar(&f.args, "args", "", "extra flags of `faultline serve`, space-separated")
	fs.Parse(args) //nolint:errcheck
	s, ok := shapes[f.shape]
	if !ok {
		return fmt.Errorf("unknown shape %q", f.shape)
	}
	g := newGenerator(s, 200)
	logf("== all-in-one, shape %s: %d B raw, %d B gzip per envelope; load %s", s.name, g.rawLen, g.compressedLen(), loadAvg())

	// The bare server, in its own process, with the same connections.
	bareAddr := freeAddr()
	self, _ := os.Executable()
	bare := exec.Command(self, "bare", "-addr", bareAddr)
	if err := bare.Start(); err != nil {
		return err
	}
	if err := waitHTTP("http://" + bareAddr + "/"); err != nil {
		return err
	}
	bcpu0 := procCPU(bare.Process.Pid)
	base := runMax(target{"http://" + bareAddr + "/api/1/envelope/"}, g, f.conc, f.bareDur, 0)
	bcpu := procCPU(bare.Process.Pid) - bcpu0
	bare.Process.Signal(os.Interrupt) //nolint:errcheck
	bare.Wait()                       //nolint:errcheck
	baseLoad := loadAvg()
	logf("bare: %s; load %s", base, baseLoad)

	dir, err := os.MkdirTemp("", "faultline-allinone-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key, pid, err := setupProject(benchFlags{bin: f.bin}, dir)
	if err != nil {
		return err
	}
	p, err := startAllInOne(f, dir)
	if err != nil {
		return err
	}
	defer p.stop()
	t := target{p.url + "/api/" + pid + "/envelope/?sentry_key=" + key + "&sentry_version=7"}
	fpid := p.cmd.Process.Pid
	time.Sleep(3 * time.Second)
	i0 := procCPU(fpid)
	time.Sleep(5 * time.Second)
	idle := procCPU(fpid) - i0
	runMax(t, g, f.conc, 3*time.Second, 0) // warm up

	b0, _ := p.backlog()
	cpu0, l0, g0 := procCPU(fpid), selfCPU(), goThreadsCPU(fpid)
	full := runMax(t, g, f.conc, f.fullDur, 0)
	cpu1, g1 := procCPU(fpid), goThreadsCPU(fpid)
	b1, _ := p.backlog()
	fullLoad := loadAvg()
	logf("faultline full rate: %s; backlog %d; load %s", full, b1, fullLoad)

	m0, err := scrapeMetrics(p.url)
	if err != nil {
		return err
	}
	half := runRate(t, g, full.rate()*0.5, f.halfDur, 512)
	cpu2, l2, g2 := procCPU(fpid), selfCPU(), goThreadsCPU(fpid)
	b2, _ := p.backlog()
	m1, err := scrapeMetrics(p.url)
	if err != nil {
		return err
	}
	halfLoad := loadAvg()
	logf("faultline at 50%%: %s; backlog %d; load %s", half, b2, halfLoad)
	rss := p.peakRSS()

	fullDone := full.ok - (b1 - b0) // processed while accepting
	halfDone := half.ok - (b2 - b1)
	gc := gcPauses(m0, m1)

	var r strings.Builder
	title := "all-in-one"
	if f.label != "" {
		title += ", " + f.label
	}
	extra := strings.TrimSpace(f.env + " " + f.args)
	if extra == "" {
		extra = "defaults"
	}
	fmt.Fprintf(&r, "#### %s (%s events, %d connections, %s: %s)\n\n", title, s.name, f.conc, extra, time.Now().UTC().Format("2006-01-02 15:04"))
	fmt.Fprintf(&r, "Command: `go run ./tools/loadgen allinone -shape %s -c %d -bare %s -full %s -half %s", s.name, f.conc, f.bareDur, f.fullDur, f.halfDur)
	if f.env != "" {
		fmt.Fprintf(&r, " -env %s", f.env)
	}
	if f.args != "" {
		fmt.Fprintf(&r, " -args '%s'", f.args)
	}
	fmt.Fprintf(&r, "` on %s.\n\n", machine())
	fmt.Fprintf(&r, "| measure | figure | load average |\n|---|---|---|\n")
	fmt.Fprintf(&r, "| bare net/http server, read and discard, %s | %.0f req/s, %.1f µs CPU/req | %s |\n", f.bareDur, base.rate(), perEvent(bcpu, base.ok), baseLoad)
	fmt.Fprintf(&r, "| Faultline all-in-one idle, before the load | %.1f%% of a core | |\n", 100*idle.Seconds()/5)
	fmt.Fprintf(&r, "| Faultline all-in-one, full rate for %s | **%.0f events/s = %.0f%% of bare** (target ≥ 50%%); %s refused; %d processed meanwhile; %.0f µs CPU per accepted event (ingest and workers; Go %.0f, chDB %.0f) | %s |\n",
		f.fullDur, full.rate(), 100*full.rate()/base.rate(), refusals(full), fullDone, perEvent(cpu1-cpu0, full.ok), perEvent(g1-g0, full.ok), perEvent(cpu1-cpu0-(g1-g0), full.ok), fullLoad)
	fmt.Fprintf(&r, "| then at half that rate (%.0f/s, open loop) for %s | p50 %s, **p99 %s**, p99.9 %s, max %s (target p99 < 10 ms); %s refused; %d processed meanwhile; %.0f µs CPU per accepted event (Go %.0f, chDB %.0f) | %s |\n",
		full.rate()*0.5, f.halfDur, ms(half.pct(0.5)), ms(half.pct(0.99)), ms(half.pct(0.999)), ms(half.pct(1)), refusals(half), halfDone, perEvent(cpu2-cpu1, half.ok), perEvent(g2-g1, half.ok), perEvent(cpu2-cpu1-(g2-g1), half.ok), halfLoad)
	fmt.Fprintf(&r, "| GC during the half-rate run | %s | |\n", gc)
	fmt.Fprintf(&r, "| the load generator's own CPU over both runs | %.0f µs per request sent | |\n", perEvent(l2-l0, full.sent+half.sent))
	fmt.Fprintf(&r, "| queue backlog after the runs, peak RSS | %d messages, %d MiB | |\n\n", b2, rss>>20)
	fmt.Print(r.String())
	if f.out == "" {
		return nil
	}
	return appendSection(f.out, "allinone", r.String())
}

func refusals(r *result) string {
	n := r.errors
	for st, c := range r.status {
		if st != 200 {
			n += c
		}
	}
	if n == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (%v, %d errors)", n, r.status, r.errors)
}

func perEvent(cpu time.Duration, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(n)
}

// startAllInOne starts `faultline serve --role all` with the run's extra
// environment and flags.
func startAllInOne(f allInOneFlags, dir string) (*proc, error) {
	addr := freeAddr()
	args := []string{"serve", "--data-dir", dir, "--addr", addr, "--role", "all", "--log-level", "warn"}
	args = append(args, strings.Fields(f.args)...)
	cmd := exec.Command(f.bin, args...)
	cmd.Env = append(os.Environ(), "FAULTLINE_ADMIN_TOKEN="+benchToken)
	for _, kv := range strings.Split(f.env, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
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

// goThreadsCPU is the CPU time of pid's threads that carry the process's
// own name: the Go runtime's (chDB names its threads, e.g. BgSchPool or
// QueryPipelineEx). The rest of the process's CPU is chDB's.
func goThreadsCPU(pid int) time.Duration {
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var sum time.Duration
	for _, task := range tasks {
		c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/comm", pid, task.Name()))
		if string(c) != string(comm) {
			continue
		}
		tid, _ := strconv.Atoi(task.Name())
		sum += procTaskCPU(pid, tid)
	}
	return sum
}

func procTaskCPU(pid, tid int) time.Duration {
	return statCPU(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
}

// procCPU is a process's user and system CPU time so far, from
// /proc/PID/stat (all its threads, chDB's included).
func procCPU(pid int) time.Duration { return statCPU(fmt.Sprintf("/proc/%d/stat", pid)) }

func statCPU(path string) time.Duration {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// The command name may hold spaces: the fields start after its ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	fs := strings.Fields(s)
	if len(fs) < 13 {
		return 0
	}
	// utime and stime are fields 14 and 15 of stat, 12 and 13 after ')'.
	ut, _ := strconv.ParseInt(fs[11], 10, 64)
	st, _ := strconv.ParseInt(fs[12], 10, 64)
	const ticks = 100 // sysconf(_SC_CLK_TCK) on Linux
	return time.Duration(ut+st) * time.Second / ticks
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	fs := strings.Fields(string(b))
	if len(fs) < 3 {
		return "?"
	}
	return strings.Join(fs[:3], " ")
}

// scrapeMetrics reads a Prometheus text page into series → value.
func scrapeMetrics(base string) (map[string]float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "go_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// gcPauses describes the collector's stop-the-world pauses between two
// scrapes: from runtime/metrics' /sched/pauses/total/gc:seconds histogram
// when the server exposes it (go_sched_pauses_total_gc_seconds), else the
// cycle count and the longest of the last pauses from MemStats.
func gcPauses(m0, m1 map[string]float64) string {
	cycles := m1["go_gc_duration_seconds_count"] - m0["go_gc_duration_seconds_count"]
	total := m1["go_gc_duration_seconds_sum"] - m0["go_gc_duration_seconds_sum"]
	s := fmt.Sprintf("%.0f cycles, %.1f ms paused in all", cycles, total*1000)
	const prefix = `go_sched_pauses_total_gc_seconds_bucket{le="`
	type bucket struct {
		le float64
		n  float64
	}
	var bs []bucket
	for k, v := range m1 {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(k[len(prefix):], `"}`), 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, v - m0[k]})
	}
	if len(bs) == 0 {
		return s + fmt.Sprintf("; longest of the last 256 pauses %.2f ms (MemStats)", m1[`go_gc_duration_seconds{quantile="1"}`]*1000)
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	n := bs[len(bs)-1].n // cumulative: +Inf holds every pause
	at := func(q float64) string {
		for _, b := range bs {
			if b.n >= q*n {
				if math.IsInf(b.le, 1) {
					return "> last bucket"
				}
				return fmt.Sprintf("≤ %.2f ms", b.le*1000)
			}
		}
		return "?"
	}
	return s + fmt.Sprintf("; %.0f stop-the-world pauses (runtime/metrics): p50 %s, p99 %s, max %s", n, at(0.5), at(0.99), at(1))
}

// appendSection adds text at the end of the <!-- name:begin/end -->
// section of file (made if absent), so that runs accumulate: main's
// figures first, then each change.
func appendSection(file, name, text string) error {
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	old, _ := os.ReadFile(file)
	s := string(old)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		s += "\n" + begin + "\n" + end + "\n"
		j = strings.Index(s, end)
	}
	s = s[:j] + text + s[j:]
	return os.WriteFile(file, []byte(s), 0o644)
}
