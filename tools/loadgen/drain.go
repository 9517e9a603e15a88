package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"
)

// fillCmd prepares a data directory whose queue holds a backlog, for
// profiling the workers alone: loadgen fill -dir D -events N, then copy D
// and run loadgen drain -dir COPY as often as needed.
func fillCmd(args []string) error {
	var f benchFlags
	fs := flag.NewFlagSet("fill", flag.ExitOnError)
	fs.StringVar(&f.bin, "bin", "bin/faultline", "faultline binary")
	dir := fs.String("dir", "", "data directory to create and fill")
	n := fs.Int64("events", 100_000, "events to queue")
	sh := fs.String("shape", "typical", "typical, large, deep or small")
	fs.IntVar(&f.conc, "c", 64, "connections")
	fs.Parse(args) //nolint:errcheck
	s, ok := shapes[*sh]
	if *dir == "" || !ok {
		return fmt.Errorf("fill needs -dir and a known -shape")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	key, pid, err := setupProject(f, *dir)
	if err != nil {
		return err
	}
	p, err := startFaultline(f, *dir, "ingest")
	if err != nil {
		return err
	}
	defer p.stop()
	t := target{p.url + "/api/" + pid + "/envelope/?sentry_key=" + key + "&sentry_version=7"}
	r := runMax(t, newGenerator(s, 200), f.conc, time.Hour, *n)
	logf("filled: %s", r)
	return nil
}

// drainCmd runs the workers alone on a filled data directory and reports
// how fast they empty the queue.
func drainCmd(args []string) error {
	var f benchFlags
	fs := flag.NewFlagSet("drain", flag.ExitOnError)
	fs.StringVar(&f.bin, "bin", "bin/faultline", "faultline binary")
	dir := fs.String("dir", "", "filled data directory (it is consumed)")
	fs.Parse(args) //nolint:errcheck
	// Arguments after the flags go to `faultline serve` (e.g.
	// --clickhouse-url, --worker-max-batch-bytes).
	w, err := startFaultline(f, *dir, "worker", fs.Args()...)
	if err != nil {
		return err
	}
	defer w.stop()
	start := time.Now()
	first := int64(-1)
	var anon, file int64 // peaks of the anonymous and file-backed resident memory
	for {
		anon = max(anon, procStatus(w.cmd.Process.Pid, "RssAnon:"))
		file = max(file, procStatus(w.cmd.Process.Pid, "RssFile:"))
		n, err := w.backlog()
		if err != nil {
			return err
		}
		if n == 0 && !w.ready() {
			// A busy worker's /readyz can time out (503) and then
			// reports no queue: not a drained one.
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if first < 0 {
			first = n
		}
		if n == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	d := time.Since(start)
	cpu := w.cpuTime()
	logf("drained %d events in %s: %.0f/s, peak RSS %d MiB, worker CPU %s (%.0f µs/event), load average %s",
		first, d.Round(time.Millisecond), float64(first)/d.Seconds(), w.peakRSS()>>20,
		cpu.Round(time.Millisecond), float64(cpu.Microseconds())/float64(max(first, 1)), loadAverage())
	// The anonymous memory is the Go heap (GODEBUG=gctrace=1 prints it)
	// and chDB's allocations; the file-backed part is mostly libchdb's
	// code.
	logf("peak RssAnon %d MiB, peak RssFile %d MiB (sampled every 200 ms)", anon>>20, file>>20)
	return nil
}

// ready reports whether /readyz answers 200.
func (p *proc) ready() bool {
	resp, err := http.Get(p.url + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
