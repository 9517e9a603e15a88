package process

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/sourcemap"
)

// stageEvent is one event of the stage benchmark: its JSON, the gzip'd
// envelope ingest queues for it, and where it came from.
type stageEvent struct {
	name     string
	raw      []byte
	envelope []byte // gzip'd, as queued
	src      Source
	sym      *sourcemap.Symbolicator
}

// stageEvents are loadgen's large (11.7 KB, 25 frames, 20 breadcrumbs) and
// typical (3.9 KB, 10 frames, 1 breadcrumb) Node events, and a minified
// browser event of a release whose source maps are uploaded (and, after
// the first event, cached).
func stageEvents(tb testing.TB) []stageEvent {
	tb.Helper()
	var out []stageEvent
	for _, name := range []string{"large", "typical"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "bench_"+name+".json"))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, newStageEvent(tb, name, raw, nil))
	}
	arts := &sourcemap.Memory{}
	if err := arts.AddDir(1, "1.0", "", filepath.Join("..", "sourcemap", "testdata", "normal", "static"), "~/static"); err != nil {
		tb.Fatal(err)
	}
	sym, err := sourcemap.New(sourcemap.Config{}, arts)
	if err != nil {
		tb.Fatal(err)
	}
	stacks, err := os.ReadFile(filepath.Join("..", "sourcemap", "testdata", "normal", "stacks.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var fs []struct {
		Type   string          `json:"type"`
		Value  string          `json:"value"`
		Frames json.RawMessage `json:"frames"`
	}
	if err := json.Unmarshal(stacks, &fs); err != nil {
		tb.Fatal(err)
	}
	js, _ := json.Marshal(map[string]any{"platform": "javascript", "release": "1.0", "timestamp": 1795734478.5,
		"exception": map[string]any{"values": []any{map[string]any{"type": fs[0].Type, "value": fs[0].Value,
			"stacktrace": map[string]any{"frames": fs[0].Frames}}}},
		"request": map[string]any{"url": "http://example.com/widgets", "headers": map[string]string{"User-Agent": "Mozilla/5.0"}},
		"sdk":     map[string]any{"name": "sentry.javascript.browser", "version": "11.12.0"}})
	return append(out, newStageEvent(tb, "js_sourcemap", js, sym))
}

func newStageEvent(tb testing.TB, name string, raw []byte, sym *sourcemap.Symbolicator) stageEvent {
	e, err := event.Decode(raw)
	if err != nil {
		tb.Fatal(err)
	}
	// Received just after the event, so that normalization keeps its
	// timestamp as it would for a live event.
	src := Source{EventID: "0123456789abcdef0123456789abcdef", Received: e.Timestamp.Add(time.Second),
		Client: "sentry.javascript.node/11.12.0", ClientIP: "10.1.2.3"}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"event_id":"0123456789abcdef0123456789abcdef","sent_at":"` + src.Received.Format(time.RFC3339Nano) + `"}` + "\n" + `{"type":"event"}` + "\n"))
	zw.Write(raw)
	zw.Close()
	return stageEvent{name: name, raw: raw, envelope: buf.Bytes(), src: src, sym: sym}
}

// cpuTime is the CPU the process used so far, user and system, on all
// threads (the garbage collector's included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter reports CPU µs per operation (cpu-µs/op) beside the wall-clock
// ns/op, which a loaded machine inflates: the process's CPU time over the
// benchmark, minus what the pool's refills used.
type cpuMeter struct {
	b        *testing.B
	start    time.Duration
	excluded time.Duration
}

func meter(b *testing.B) *cpuMeter {
	b.ReportAllocs()
	return &cpuMeter{b: b, start: cpuTime()}
}

func (m *cpuMeter) done() {
	used := cpuTime() - m.start - m.excluded
	m.b.ReportMetric(float64(used.Microseconds())/float64(m.b.N), "cpu-µs/op")
}

// pool hands out fresh copies of an event at a given stage, prepared
// outside the timer (and the CPU meter), for stages that change the event
// in place.
type pool struct {
	m    *cpuMeter
	make func() *event.Event
	buf  []*event.Event
}

func (p *pool) next() *event.Event {
	if len(p.buf) == 0 {
		p.m.b.StopTimer()
		t := cpuTime()
		p.buf = make([]*event.Event, 256)
		for i := range p.buf {
			p.buf[i] = p.make()
		}
		p.m.excluded += cpuTime() - t
		p.m.b.StartTimer()
	}
	e := p.buf[len(p.buf)-1]
	p.buf = p.buf[:len(p.buf)-1]
	return e
}

// BenchmarkStages is the worker's Go CPU per event, stage by stage, as
// Worker.decode and Worker.build run them: inflate and frame the queued
// envelope, decode the event JSON, normalize (with symbolication),
// scrub (with the built-in tags), group (fingerprint and derived fields),
// encode (the stored body, the metadata and the row), and the whole of
// build from the event JSON. Run it single-threaded:
//
//	go test -run '^$' -bench Stages -benchmem -cpu 1 -count 5 ./internal/process/
func BenchmarkStages(b *testing.B) {
	ctx := context.Background()
	p := &meta.Project{ID: 1, RetentionDays: 90}
	for _, se := range stageEvents(b) {
		w := &Worker{symbolicator: se.sym}
		scrubber := w.scrubbers.get(p)
		decoded := func() *event.Event {
			e, err := event.Decode(se.raw)
			if err != nil {
				b.Fatal(err)
			}
			return e
		}
		normalized := func() *event.Event {
			e := decoded()
			normalize(e, se.src)
			if se.sym != nil && se.sym.Symbolicate(ctx, p.ID, e) {
				grouping.FillJSModules(e)
				grouping.ApplyInApp(e)
			}
			return e
		}
		scrubbed := func() *event.Event {
			e := normalized()
			scrubber.Event(e)
			promoteTags(e)
			return e
		}
		grouped := func() *event.Event {
			e := scrubbed()
			fp := grouping.Compute(e)
			e.Grouping = fp.Info()
			e.MainExceptionID = fp.MainExceptionID
			d := event.Derive(e)
			e.Metadata = &d.Metadata
			return e
		}
		b.Run(se.name+"/inflate", func(b *testing.B) {
			defer meter(b).done()
			for b.Loop() {
				body, err := envelope.Decode(se.envelope, "gzip", envelope.MaxEnvelopeSize)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := envelope.Parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(se.name+"/decode", func(b *testing.B) {
			defer meter(b).done()
			for b.Loop() {
				decoded()
			}
		})
		b.Run(se.name+"/normalize", func(b *testing.B) {
			m := meter(b)
			defer m.done()
			pl := &pool{m: m, make: decoded}
			for b.Loop() {
				e := pl.next()
				normalize(e, se.src)
				if se.sym != nil && se.sym.Symbolicate(ctx, p.ID, e) {
					grouping.FillJSModules(e)
					grouping.ApplyInApp(e)
				}
			}
		})
		b.Run(se.name+"/scrub", func(b *testing.B) {
			m := meter(b)
			defer m.done()
			pl := &pool{m: m, make: normalized}
			for b.Loop() {
				e := pl.next()
				scrubber.Event(e)
				promoteTags(e)
			}
		})
		b.Run(se.name+"/group", func(b *testing.B) {
			m := meter(b)
			defer m.done()
			pl := &pool{m: m, make: scrubbed}
			for b.Loop() {
				e := pl.next()
				fp := grouping.Compute(e)
				e.Grouping = fp.Info()
				e.MainExceptionID = fp.MainExceptionID
				d := event.Derive(e)
				e.Metadata = &d.Metadata
			}
		})
		b.Run(se.name+"/encode", func(b *testing.B) {
			defer meter(b).done()
			e := grouped()
			for b.Loop() {
				if _, err := event.EncodeString(e); err != nil {
					b.Fatal(err)
				}
				if _, err := event.EncodeMetadata(e.Metadata); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(se.name+"/build", func(b *testing.B) {
			defer meter(b).done()
			for b.Loop() {
				e := decoded()
				if _, err := w.build(ctx, e, se.src, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
