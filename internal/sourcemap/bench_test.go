package sourcemap

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/event"
)

// benchBundle is a realistic bundle: @sentry/browser with all its
// integrations, bundled and minified by the real esbuild (about 430 KB of
// code and a 5 MB map with sourcesContent), built once per run.
var benchBundle = sync.OnceValues(func() (string, error) {
	clients, err := filepath.Abs(filepath.Join("..", "..", "e2e", "clients"))
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "faultline-sourcemap-bench-")
	if err != nil {
		return "", err
	}
	benchDir = dir
	entry := filepath.Join(dir, "entry.js")
	if err := os.WriteFile(entry, []byte("import * as Sentry from '@sentry/browser';\nSentry.init({dsn: 'http://k@example.com/1'});\nexport {Sentry};\n"), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(clients, "node_modules", ".bin", "esbuild"), entry, "--bundle", "--minify", "--sourcemap",
		"--format=iife", "--global-name=B", "--outfile="+filepath.Join(dir, "static", "bundle.min.js"), "--log-level=error")
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(clients, "node_modules"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &exec.ExitError{Stderr: out}
	}
	return dir, nil
})

// benchDir is the bundle's directory once built, removed by TestMain.
var benchDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchEvent is a browser event with 25 frames at named positions spread
// over the bundle, as a deep stack through a library looks.
func benchEvent(b *testing.B, m *Map) *event.Event {
	var frames []event.Frame
	step := len(m.mappings) / 25
	for i := 0; len(frames) < 25 && i < len(m.mappings); i += step {
		mp := m.mappings[i]
		ln, cn := event.FlexInt(mp.genLine+1), event.FlexInt(mp.genCol+1)
		frames = append(frames, event.Frame{AbsPath: "http://example.com/static/bundle.min.js", Filename: "/static/bundle.min.js",
			Function: "t", Lineno: &ln, Colno: &cn})
	}
	if len(frames) != 25 {
		b.Fatalf("%d frames", len(frames))
	}
	return &event.Event{Platform: "javascript", Release: "1.0",
		Exception: &event.ExceptionList{Values: []event.Exception{{Type: "TypeError", Stacktrace: &event.Stacktrace{Frames: frames}}}}}
}

func benchSetup(b *testing.B) (*Memory, *Map, []byte) {
	dir, err := benchBundle()
	if err != nil {
		b.Fatalf("building the bundle with esbuild (run make clients): %v", err)
	}
	arts := &Memory{}
	if err := arts.AddDir(testProject, "1.0", "", filepath.Join(dir, "static"), "~/static"); err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "static", "bundle.min.js.map"))
	if err != nil {
		b.Fatal(err)
	}
	m, err := Decode(raw)
	if err != nil {
		b.Fatal(err)
	}
	return arts, m, raw
}

// cpuTime is the process's CPU time (user and system): on a shared
// machine, wall time per operation says more about the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU µs per operation and per frame since start.
func reportCPU(b *testing.B, start time.Duration, frames int) {
	us := float64((cpuTime() - start).Microseconds()) / float64(b.N)
	b.ReportMetric(us, "cpu-µs/op")
	if frames > 0 {
		b.ReportMetric(us/float64(frames), "cpu-µs/frame")
	}
}

func cloneEvent(e *event.Event) *event.Event {
	c := *e
	ex := e.Exception.Values[0]
	ex.Stacktrace = cloneStacktrace(ex.Stacktrace)
	c.Exception = &event.ExceptionList{Values: []event.Exception{ex}}
	return &c
}

// BenchmarkDecode is the cost of parsing the realistic map (a cache miss
// pays it once per map).
func BenchmarkDecode(b *testing.B) {
	_, _, raw := benchSetup(b)
	b.SetBytes(int64(len(raw)))
	start := cpuTime()
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start, 0)
}

// BenchmarkSymbolicateHit is the per-event cost with the map cached: 25
// frames mapped, named from the scopes, with context lines.
func BenchmarkSymbolicateHit(b *testing.B) {
	arts, m, _ := benchSetup(b)
	s, err := New(Config{}, arts)
	if err != nil {
		b.Fatal(err)
	}
	e := benchEvent(b, m)
	if !s.Symbolicate(context.Background(), testProject, cloneEvent(e)) {
		b.Fatal("nothing symbolicated")
	}
	start := cpuTime()
	for b.Loop() {
		s.Symbolicate(context.Background(), testProject, cloneEvent(e))
	}
	reportCPU(b, start, 25)
	b.ReportMetric(float64(s.Stats().Bytes), "cached-bytes")
}

// BenchmarkSymbolicateMiss is the per-event cost when the cache cannot
// keep the map: lookups, parsing the map and indexing the minified
// file's scopes, every event.
func BenchmarkSymbolicateMiss(b *testing.B) {
	arts, m, _ := benchSetup(b)
	s, err := New(Config{CacheBytes: 1 << 10}, arts)
	if err != nil {
		b.Fatal(err)
	}
	e := benchEvent(b, m)
	start := cpuTime()
	for b.Loop() {
		if !s.Symbolicate(context.Background(), testProject, cloneEvent(e)) {
			b.Fatal("nothing symbolicated")
		}
	}
	reportCPU(b, start, 25)
}

// BenchmarkScopes is the cost of indexing the minified bundle's functions
// (part of a miss).
func BenchmarkScopes(b *testing.B) {
	dir, err := benchBundle()
	if err != nil {
		b.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(dir, "static", "bundle.min.js"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	start := cpuTime()
	for b.Loop() {
		buildScopes(string(src))
	}
	reportCPU(b, start, 0)
}
