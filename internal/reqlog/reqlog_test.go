package reqlog

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestStart(t *testing.T) {
	for _, tc := range []struct {
		in   string
		keep bool
	}{
		{"abc-123", true},
		{"4bf92f3577b34da6a3ce929d0e0e4736", true},
		{"", false},
		{"has space", false},
		{"new\nline", false},
		{"quote\"", false},
		{"ünicode", false},
		{strings.Repeat("x", maxIDLen), true},
		{strings.Repeat("x", maxIDLen+1), false},
	} {
		ctx, id := Start(context.Background(), tc.in)
		if (id == tc.in) != tc.keep {
			t.Errorf("%q: id %q", tc.in, id)
		}
		if ID(ctx) != id || !sane(id) {
			t.Errorf("%q: ctx id %q, returned %q", tc.in, ID(ctx), id)
		}
	}
}

// TestHandler: records logged with a request's context carry its id and
// the attributes added on the way (the last value of a key, at most
// maxAttrs of them); records without one are left alone.
func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewTextHandler(&buf, nil))).With("component", "ingest")
	ctx, _ := Start(context.Background(), "rid-1")
	Add(ctx, slog.Uint64("project_id", 7))
	Add(ctx, slog.String("event_id", "a"), slog.String("event_id", "b"))
	for i := range 2 * maxAttrs {
		Add(ctx, slog.Int(fmt.Sprint("k", i), i))
	}
	log.InfoContext(ctx, "queued")
	log.Info("no request")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines: %q", lines)
	}
	if !strings.Contains(lines[0], "component=ingest request_id=rid-1 project_id=7 event_id=b") {
		t.Errorf("request line: %s", lines[0])
	}
	if n := len(Attrs(ctx)); n != 1+maxAttrs {
		t.Errorf("%d attributes kept, want %d", n, 1+maxAttrs)
	}
	if strings.Contains(lines[1], "request_id") {
		t.Errorf("line outside a request: %s", lines[1])
	}
	Add(context.Background(), slog.String("k", "v")) // no request: nothing happens
}

// FuzzStart: whatever a client sends as X-Request-Id, the id kept is sane
// (safe in a header and a log line) and bounded.
func FuzzStart(f *testing.F) {
	for _, s := range []string{"", "abc", "a b", "\x00", strings.Repeat("z", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		_, id := Start(context.Background(), in)
		if !sane(id) || len(id) > maxIDLen || strings.ContainsAny(id, " \r\n\"\\") {
			t.Fatalf("id %q from %q", id, in)
		}
	})
}
