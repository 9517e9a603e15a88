package sourcemap

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

const testProject = 42

// symbolicated is what a golden file records of one symbolicated event.
type symbolicated struct {
	Case   string                 `json:"case"`
	Frames []event.Frame          `json:"frames"`
	Raw    []event.Frame          `json:"raw_frames"`
	Errors []event.ProcessingNote `json:"errors,omitempty"`
}

func newTestSymbolicator(t testing.TB, arts Artifacts) *Symbolicator {
	t.Helper()
	s, err := New(Config{}, arts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGolden maps the stack traces V8 reported for esbuild bundles (a
// regular map, an index map, a map without sourcesContent with and
// without the sources uploaded, debug ids injected by sentry-cli) and
// compares the frames with golden files. Run with -update after
// regenerating the fixtures, and read the diff.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name, fixture, release string
		sources                bool
	}{
		{name: "normal", fixture: "normal", release: "1.0"},
		{name: "index", fixture: "index", release: "1.0"},
		{name: "nocontent", fixture: "nocontent", release: "1.0", sources: true},
		{name: "nocontent-nosources", fixture: "nocontent", release: "1.0"},
		{name: "debugid", fixture: "debugid"},
		{name: "rebuilt", fixture: "rebuilt", release: "2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", tc.fixture)
			arts := &memArtifacts{}
			arts.upload(t, testProject, dir, tc.release, "")
			if tc.sources {
				arts.uploadSources(t, testProject, tc.release, "")
			}
			s := newTestSymbolicator(t, arts)
			var out []symbolicated
			for _, c := range loadStacks(t, dir) {
				e := browserEvent(c, tc.release)
				if !s.Symbolicate(context.Background(), testProject, e) {
					t.Fatalf("%s: nothing symbolicated", c.Case)
				}
				ex := e.Exception.Values[0]
				if ex.RawStack == nil || len(ex.RawStack.Frames) != len(c.Frames) {
					t.Fatalf("%s: raw stack trace %+v", c.Case, ex.RawStack)
				}
				out = append(out, symbolicated{Case: c.Case, Frames: ex.Stacktrace.Frames, Raw: ex.RawStack.Frames, Errors: e.Errors})
			}
			got, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", tc.name+".json")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755) //nolint:errcheck
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file; got:\n%s", golden, got)
			}
		})
	}
}

// TestOriginalFrames checks the facts the golden files hold, by hand: the
// original file, line, column, function, context and in-app flag.
func TestOriginalFrames(t *testing.T) {
	for _, fixture := range []string{"normal", "index", "debugid"} {
		t.Run(fixture, func(t *testing.T) {
			dir := filepath.Join("testdata", fixture)
			arts := &memArtifacts{}
			release := "1.0"
			if fixture == "debugid" {
				release = ""
			}
			arts.upload(t, testProject, dir, release, "")
			s := newTestSymbolicator(t, arts)
			cs := loadStacks(t, dir)
			want := map[string][]struct {
				filename, function, context string
				line                        int64
				inApp                       bool
			}{
				"no-widgets": {
					{"/src/main.js", "", "  const cfg = parseConfig(input);", 6, true},
					{"/src/config.js", "parseConfig", "  return validateConfig(parsed);", 4, true},
					{"/src/config.js", "validateConfig", "    throw new Error('config has no widgets');", 9, true},
				},
				"broken-widget": {
					{"/src/main.js", "", "  return render(cfg, (widget) => {", 7, true},
					{"/node_modules/fake-widgets/index.js", "render", "  return cfg.widgets.map(function renderOne(widget) {", 3, false},
					{"/node_modules/fake-widgets/index.js", "", "    return each(widget);", 4, false},
					{"/src/main.js", "", "      throw new TypeError('widget ' + widget.name + ' is broken');", 9, true},
				},
			}
			for _, c := range cs {
				e := browserEvent(c, release)
				s.Symbolicate(context.Background(), testProject, e)
				frames := e.Exception.Values[0].Stacktrace.Frames
				w := want[c.Case]
				if len(frames) != len(w) {
					t.Fatalf("%s: %d frames, want %d", c.Case, len(frames), len(w))
				}
				for i, f := range frames {
					if f.Filename != w[i].filename || f.Lineno.Int() != w[i].line || f.ContextLine != w[i].context ||
						f.IsInApp() != w[i].inApp || (w[i].function != "" && f.Function != w[i].function) {
						t.Errorf("%s frame %d: %s:%d %q in %q (in app %v), want %+v", c.Case, i, f.Filename, f.Lineno.Int(),
							f.ContextLine, f.Function, f.IsInApp(), w[i])
					}
					if f.ContextLine != "" && (len(f.PreContext) == 0 || len(f.PreContext) > 5 || len(f.PostContext) > 5) {
						t.Errorf("%s frame %d: context %d+%d lines", c.Case, i, len(f.PreContext), len(f.PostContext))
					}
				}
				if len(e.Errors) != 0 {
					t.Errorf("%s: errors %+v", c.Case, e.Errors)
				}
			}
		})
	}
}

// TestGroupingAcrossBuilds: two builds of the same code, with different
// minified names, group together once symbolicated (and would not
// without their maps).
func TestGroupingAcrossBuilds(t *testing.T) {
	hashes := map[string][2]string{}
	for _, b := range []struct{ fixture, release string }{{"normal", "1.0"}, {"rebuilt", "2.0"}} {
		dir := filepath.Join("testdata", b.fixture)
		arts := &memArtifacts{}
		arts.upload(t, testProject, dir, b.release, "")
		s := newTestSymbolicator(t, arts)
		for _, c := range loadStacks(t, dir) {
			raw := browserEvent(c, b.release)
			grouping.FillJSModules(raw)
			e := browserEvent(c, b.release)
			grouping.FillJSModules(e)
			s.Symbolicate(context.Background(), testProject, e)
			h := hashes[c.Case]
			if b.fixture == "normal" {
				hashes[c.Case] = [2]string{grouping.Compute(e).Hash, grouping.Compute(raw).Hash}
				continue
			}
			if got := grouping.Compute(e).Hash; got != h[0] {
				t.Errorf("%s: the rebuilt bundle groups as %s, the first as %s", c.Case, got, h[0])
			}
			if got := grouping.Compute(raw).Hash; got == h[1] {
				t.Errorf("%s: the minified frames of both builds group together (%s): the fixture proves nothing", c.Case, got)
			}
		}
	}
}

// TestMapOnly: a release with only the map uploaded (as the legacy
// release files often are), under the script's URL plus ".map", still
// maps the frames; without the minified file, names come from the
// callers' call sites only.
func TestMapOnly(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "normal", "static", "app.min.js.map"))
	if err != nil {
		t.Fatal(err)
	}
	arts := &memArtifacts{}
	arts.Add(testProject, "1.0", "", Artifact{URL: "~/static/app.min.js.map", Kind: "source_map", Body: body})
	s := newTestSymbolicator(t, arts)
	c := loadStacks(t, filepath.Join("testdata", "normal"))[0]
	e := browserEvent(c, "1.0")
	if !s.Symbolicate(context.Background(), testProject, e) {
		t.Fatalf("not symbolicated: %+v", e.Errors)
	}
	frames := e.Exception.Values[0].Stacktrace.Frames
	crash := frames[len(frames)-1]
	if crash.Filename != "/src/config.js" || crash.Lineno.Int() != 9 || crash.Function != "validateConfig" || len(e.Errors) != 0 {
		t.Errorf("crash frame %+v, errors %+v", crash, e.Errors)
	}
}
