package sourcemap

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/event"
)

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc string }{
		{"not json", `{`},
		{"version 2", `{"version":2,"sources":[],"mappings":""}`},
		{"not base64", `{"version":3,"sources":["a"],"mappings":"A!AA"}`},
		{"cut short", `{"version":3,"sources":["a"],"mappings":"AAA"}`},
		{"continuation at the end", `{"version":3,"sources":["a"],"mappings":"g"}`},
		{"two fields", `{"version":3,"sources":["a"],"mappings":"AA"}`},
		{"six fields", `{"version":3,"sources":["a"],"names":["n"],"mappings":"AAAAAA"}`},
		{"source out of range", `{"version":3,"sources":["a"],"mappings":"ACAA"}`},
		{"negative source", `{"version":3,"sources":["a"],"mappings":"ADAA"}`},
		{"name out of range", `{"version":3,"sources":["a"],"names":[],"mappings":"AAAAA"}`},
		{"negative column", `{"version":3,"sources":["a"],"mappings":"D"}`},
		{"huge value", `{"version":3,"sources":["a"],"mappings":"gggggggggggggA"}`},
		{"sections and mappings", `{"version":3,"sections":[],"mappings":"A"}`},
		{"section by url", `{"version":3,"sections":[{"offset":{"line":0,"column":0},"url":"x.map"}]}`},
		{"nested index", `{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"version":3,"sections":[]}}]}`},
		{"sections out of order", `{"version":3,"sections":[{"offset":{"line":1,"column":0},"map":{"version":3,"sources":[],"mappings":""}},{"offset":{"line":0,"column":0},"map":{"version":3,"sources":[],"mappings":""}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode([]byte(tc.doc)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestDecodeLookup checks VLQ decoding and lookups on a hand-made map:
// relative fields across lines, a segment without a source, a name, and a
// column inside a token resolving to the token's start.
func TestDecodeLookup(t *testing.T) {
	// Line 0: col 0 -> a.js 0:0; col 4 -> a.js 1:2 named "foo".
	// Line 1: col 2 -> no source; col 10 -> b.js 5:0.
	m, err := Decode([]byte(`)]}'
{"version":3,"sourceRoot":"src","sources":["a.js","b.js"],"names":["foo"],"mappings":"AAAA,IACEA;E,QCIF"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		line, col int
		ok        bool
		src       string
		sl, sc    int
		name      string
	}{
		{0, 0, true, "src/a.js", 0, 0, ""},
		{0, 3, true, "src/a.js", 0, 0, ""},
		{0, 4, true, "src/a.js", 1, 2, "foo"},
		{0, 99, true, "src/a.js", 1, 2, "foo"},
		{1, 0, false, "", 0, 0, ""},
		{1, 5, false, "", 0, 0, ""},
		{1, 10, true, "src/b.js", 5, 0, ""},
		{2, 0, false, "", 0, 0, ""},
		{-1, 0, false, "", 0, 0, ""},
	} {
		tok, ok := m.Lookup(tc.line, tc.col)
		if ok != tc.ok || ok && (tok.Source != tc.src || tok.Line != tc.sl || tok.Col != tc.sc || tok.Name != tc.name) {
			t.Errorf("Lookup(%d, %d) = %+v, %v; want %+v", tc.line, tc.col, tok, ok, tc)
		}
	}
}

func TestDecodeIndexOffsets(t *testing.T) {
	m, err := Decode([]byte(`{"version":3,"sections":[
		{"offset":{"line":0,"column":0},"map":{"version":3,"sources":["a.js"],"mappings":"AAAA"}},
		{"offset":{"line":0,"column":100},"map":{"version":3,"sources":["b.js"],"names":["x"],"mappings":"AAAAA;AACA"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if tok, ok := m.Lookup(0, 50); !ok || tok.Source != "a.js" {
		t.Errorf("Lookup(0, 50) = %+v, %v", tok, ok)
	}
	if tok, ok := m.Lookup(0, 100); !ok || tok.Source != "b.js" || tok.Name != "x" {
		t.Errorf("Lookup(0, 100) = %+v, %v", tok, ok)
	}
	// The column offset applies to the section's first line only.
	if tok, ok := m.Lookup(1, 0); !ok || tok.Source != "b.js" || tok.Line != 1 {
		t.Errorf("Lookup(1, 0) = %+v, %v", tok, ok)
	}
}

// FuzzDecode: no input makes the decoder or a lookup panic, and a decoded
// map's tokens point inside its sources.
func FuzzDecode(f *testing.F) {
	for _, p := range []string{"normal", "nocontent", "index", "debugid"} {
		if b, err := os.ReadFile(filepath.Join("testdata", p, "static", "app.min.js.map")); err == nil {
			f.Add(b, 0, 500)
		}
	}
	f.Add([]byte(`{"version":3,"sources":["a"],"names":["n"],"mappings":"AAAAA,CAAC;;gBAAgB"}`), 0, 1)
	f.Add([]byte(`{"version":3,"sections":[{"offset":{"line":0,"column":5},"map":{"version":3,"sources":["a"],"mappings":"AAAA"}}]}`), 0, 6)
	f.Fuzz(func(t *testing.T, b []byte, line, col int) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		for _, c := range []int{col, 0, col + 1} {
			if tok, ok := m.Lookup(line, c); ok {
				if tok.SrcIdx < 0 || tok.SrcIdx >= len(m.Sources) || tok.Source != m.Sources[tok.SrcIdx] {
					t.Fatalf("token %+v outside the sources", tok)
				}
				if l, ok := m.lines(tok.SrcIdx); ok {
					contextAround(l, tok.Line, tok.Col, 5)
				}
			}
		}
	})
}

// FuzzScopes: the scope tokenizer takes any minified source without
// panicking, and its scopes nest.
func FuzzScopes(f *testing.F) {
	for _, p := range []string{"normal", "index", "debugid", "rebuilt"} {
		if b, err := os.ReadFile(filepath.Join("testdata", p, "static", "app.min.js")); err == nil {
			f.Add(string(b), 600)
		}
	}
	f.Add("a=`x${function b(){return`${()=>{}}`}}`;c=/[/]/g,d=e=>e/2", 10)
	f.Fuzz(func(t *testing.T, src string, off int) {
		x := buildScopes(src)
		for i, s := range x.scopes {
			if s.start > s.end || s.parent >= i || (s.parent >= 0 && (x.scopes[s.parent].start > s.start)) {
				t.Fatalf("scope %d %+v does not nest", i, s)
			}
		}
		if off >= 0 && off < len(src) {
			if s := x.enclosing(off); s != nil && (s.start > off || off >= s.end) {
				t.Fatalf("enclosing(%d) = %+v", off, s)
			}
			l, c := x.position(off)
			if o, ok := x.offset(l, c); !ok || o != off {
				t.Fatalf("position(%d) = %d:%d, back %d", off, l, c, o)
			}
		}
	})
}

// FuzzSymbolicate: any frame positions, paths and debug ids against the
// real fixture leave a valid event: frames mapped into the sources, or
// left as they were.
func FuzzSymbolicate(f *testing.F) {
	f.Add("http://example.com/static/app.min.js", int64(1), int64(662), "d", "")
	f.Add("http://example.com/static/app.min.js?x#y", int64(1), int64(99999), "", "cfd3f61b-7fc2-5406-aea0-7a4083dd156e")
	f.Add("~/static/app.min.js", int64(2), int64(1), "?", "")
	arts := &memArtifacts{}
	arts.upload(f, testProject, filepath.Join("testdata", "normal"), "1.0", "")
	arts.upload(f, testProject, filepath.Join("testdata", "debugid"), "", "")
	s, err := New(Config{}, arts)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, absPath string, line, col int64, fn, debugID string) {
		ln, cn := event.FlexInt(line), event.FlexInt(col)
		frames := []event.Frame{{AbsPath: absPath, Lineno: &ln, Colno: &cn, Function: fn}, {AbsPath: absPath, Lineno: &cn, Colno: &ln}}
		e := &event.Event{Platform: "javascript", Release: "1.0",
			Exception: &event.ExceptionList{Values: []event.Exception{{Stacktrace: &event.Stacktrace{Frames: frames}}}}}
		if debugID != "" {
			b, _ := json.Marshal(map[string]any{"images": []any{map[string]string{"type": "sourcemap", "code_file": absPath, "debug_id": debugID}}})
			e.DebugMeta = b
		}
		changed := s.Symbolicate(context.Background(), testProject, e)
		ex := e.Exception.Values[0]
		if changed != (ex.RawStack != nil) {
			t.Fatalf("changed %v, raw stack %v", changed, ex.RawStack)
		}
		for _, fr := range ex.Stacktrace.Frames {
			if len(fr.Data) > 0 && (fr.Lineno == nil || fr.Lineno.Int() < 1 || !strings.HasSuffix(fr.AbsPath, ".js")) {
				t.Fatalf("mapped frame %+v", fr)
			}
		}
	})
}
