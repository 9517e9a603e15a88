package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/artifact"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/sourcemap"
	"github.com/faultline/faultline/internal/testserver"
)

// smFrame is a frame of the API's exception entry.
type smFrame struct {
	Filename string         `json:"filename"`
	AbsPath  string         `json:"absPath"`
	Function string         `json:"function"`
	LineNo   int            `json:"lineNo"`
	ColNo    int            `json:"colNo"`
	InApp    bool           `json:"inApp"`
	Context  [][2]any       `json:"context"`
	Data     map[string]any `json:"data"`
}

// smException is an exception of the API's exception entry.
type smException struct {
	Type          string                      `json:"type"`
	Stacktrace    *struct{ Frames []smFrame } `json:"stacktrace"`
	RawStacktrace *struct{ Frames []smFrame } `json:"rawStacktrace"`
}

type smEvent struct {
	EventID string `json:"eventID"`
	GroupID string `json:"groupID"`
	Entries []struct {
		Type string `json:"type"`
		Data struct {
			Values []smException `json:"values"`
		} `json:"data"`
	} `json:"entries"`
	Errors []map[string]any `json:"errors"`
}

// runNode runs a script of clients/ and returns its summary line.
func runNode(t *testing.T, env []string, args ...string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = "clients"
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	line := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	var out map[string]any
	if jerr := json.Unmarshal([]byte(line), &out); jerr != nil || err != nil || out["ok"] != true {
		t.Fatalf("node %v: %v\nstdout: %s\nstderr: %s", args, err, stdout.String(), stderr.String())
	}
	return out
}

// TestSourceMaps: a small application bundled and minified with the real
// esbuild (with @sentry/browser in the bundle), uploaded with the real
// sentry-cli, then served to headless Chromium where @sentry/browser
// reports its error. The latest event, through the API, has the
// original file, line, column, function and context lines, and keeps the
// minified frames as rawStacktrace. Three builds land in one issue:
//   - debug ids injected by `sentry-cli sourcemaps inject`, uploaded with
//     `sourcemaps upload --release` (3.x), found by debug id;
//   - a second build whose minified names differ, injected and uploaded
//     without a release, found by debug id;
//   - the first build without debug ids, uploaded with 2.x's legacy
//     `releases files upload-sourcemaps`, found by release and URL.
func TestSourceMaps(t *testing.T) {
	need(t, "node", "apt-get install nodejs")
	need(t, "/usr/bin/chromium", "apt-get install chromium")
	needModules(t)
	var cli3, cli2 string
	for _, l := range cliLines(t) {
		if l.modern {
			cli3 = l.bin
		} else {
			cli2 = l.bin
		}
	}
	// Small store bounds: JetStream reserves each stream's maximum against
	// the free disk, and the defaults add up to more than a test needs.
	f := testserver.Start(t, server.Config{Artifacts: artifact.Config{MaxBytes: 1 << 30, MaxChunkBytes: 1 << 30}})
	p := f.CreateProject("acme", "web", "javascript")
	pid, err := strconv.ParseUint(p.ID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	var org struct{ Token string }
	if st, raw := f.Do("POST", "/api/0/organizations/acme/org-auth-tokens/", map[string]string{"name": "ci"}, &org); st != 201 {
		t.Fatalf("org token: %d %s", st, raw)
	}
	if st, raw := f.Do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": "web@legacy", "projects": []string{"web"}}, nil); st != 201 {
		t.Fatalf("release: %d %s", st, raw)
	}
	ctx := context.Background()

	builds := []struct {
		name, variant, release, resolvedWith string
		legacy                               bool
	}{
		{name: "injected, with a release", variant: "1", release: "web@1.0.0", resolvedWith: "debug-id"},
		{name: "other minified names, without a release", variant: "2", resolvedWith: "debug-id"},
		{name: "legacy release files", variant: "1", release: "web@legacy", resolvedWith: "release", legacy: true},
	}
	events := make([]smEvent, len(builds))
	minified := map[string]bool{}
	for i, b := range builds {
		dir, err := os.MkdirTemp("clients/sourcemap-app", "dist-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		abs, _ := filepath.Abs(dir)
		runNode(t, nil, "sourcemap-browser.mjs", "build", abs, b.variant)
		static := filepath.Join(abs, "static")
		if b.legacy {
			runCLI(t, f, cli2, org.Token, abs, "releases", "files", b.release, "upload-sourcemaps", "--project", "web",
				"--url-prefix", "~/static", "static")
			waitArtifact(t, b.name, func() (*sourcemap.Artifact, error) {
				return f.Server.Artifacts().ByURL(ctx, pid, b.release, "", "~/static/app.min.js.map")
			})
		} else {
			runCLI(t, f, cli3, "", abs, "sourcemaps", "inject", "static")
			min, err := os.ReadFile(filepath.Join(static, "app.min.js"))
			if err != nil {
				t.Fatal(err)
			}
			id := debugIDComment.FindSubmatch(min)
			if id == nil {
				t.Fatal("sentry-cli inject left no debug id")
			}
			args := []string{"sourcemaps", "upload", "--project", "web", "--url-prefix", "~/static"}
			if b.release != "" {
				args = append(args, "--release", b.release)
			}
			runCLI(t, f, cli3, org.Token, abs, append(args, "static")...)
			waitArtifact(t, b.name, func() (*sourcemap.Artifact, error) {
				return f.Server.Artifacts().ByDebugID(ctx, pid, string(id[1]), "source_map")
			})
		}
		sum := runNode(t, []string{"FAULTLINE_DSN=" + p.DSN, "FAULTLINE_RELEASE=" + b.release}, "sourcemap-browser.mjs", "browse", abs)
		id := strings.ReplaceAll(sum["eventID"].(string), "-", "")
		f.WaitEvent(t, p, id, &events[i])
		// The latest event, as a user opens it.
		if st, raw := f.Do("GET", "/api/0/issues/"+events[i].GroupID+"/events/latest/", nil, &events[i]); st != 200 {
			t.Fatalf("latest event: %d %s", st, raw)
		}
		if events[i].EventID != id {
			t.Fatalf("%s: the latest event is %s, want %s", b.name, events[i].EventID, id)
		}
		ev := events[i]
		var ex *smException
		for _, en := range ev.Entries {
			if en.Type == "exception" && len(en.Data.Values) > 0 {
				ex = &en.Data.Values[len(en.Data.Values)-1]
			}
		}
		if ex == nil || ex.Stacktrace == nil || ex.RawStacktrace == nil {
			t.Fatalf("%s: no exception with both stack traces: %+v", b.name, ev)
		}
		if len(ev.Errors) != 0 {
			t.Errorf("%s: event errors %v", b.name, ev.Errors)
		}
		frames := ex.Stacktrace.Frames
		crash := frames[len(frames)-1]
		want := "    throw new TypeError(`price of ${item.sku} is not a number`);"
		if !strings.HasSuffix(crash.AbsPath, "/cart.js") || crash.Filename != "/cart.js" || crash.Function != "priceOf" ||
			crash.LineNo != 9 || crash.ColNo != 11 || !crash.InApp || crash.Data["resolved_with"] != b.resolvedWith {
			t.Errorf("%s: crash frame %+v", b.name, crash)
		}
		ctxLines := map[int]string{}
		for _, c := range crash.Context {
			n, _ := c[0].(float64)
			s, _ := c[1].(string)
			ctxLines[int(n)] = s
		}
		// 5 lines either side (the file ends 4 lines after).
		if ctxLines[9] != want || ctxLines[4] != "  return { total, count: items.length };" || ctxLines[13] != "" || len(crash.Context) != 10 {
			t.Errorf("%s: context %v", b.name, crash.Context)
		}
		var callers []string
		for _, fr := range frames {
			if strings.HasSuffix(fr.Filename, "cart.js") || strings.HasSuffix(fr.Filename, "main.js") {
				callers = append(callers, fr.Function)
			}
		}
		if got := strings.Join(callers, " "); !strings.Contains(got, "main checkout") {
			t.Errorf("%s: the application's frames are %q, want main, checkout, ..., priceOf", b.name, got)
		}
		rawCrash := ex.RawStacktrace.Frames[len(ex.RawStacktrace.Frames)-1]
		if !strings.HasSuffix(rawCrash.AbsPath, "/static/app.min.js") || rawCrash.ColNo == crash.ColNo && rawCrash.LineNo == crash.LineNo {
			t.Errorf("%s: raw crash frame %+v", b.name, rawCrash)
		}
		minified[rawCrash.Function] = true
	}
	for i := 1; i < len(events); i++ {
		if events[i].GroupID != events[0].GroupID {
			t.Errorf("%s is in issue %s, %s in %s", builds[i].name, events[i].GroupID, builds[0].name, events[0].GroupID)
			for _, ev := range []smEvent{events[0], events[i]} {
				for _, en := range ev.Entries {
					for _, v := range en.Data.Values {
						for _, fr := range v.Stacktrace.Frames {
							t.Logf("%s %s %s:%d:%d in_app=%v", ev.EventID, fr.Function, fr.AbsPath, fr.LineNo, fr.ColNo, fr.InApp)
						}
					}
				}
			}
		}
	}
	if len(minified) < 2 {
		t.Errorf("the builds' minified names %v do not differ: the grouping check proves nothing", minified)
	}
}

var debugIDComment = regexp.MustCompile(`//# debugId=([0-9a-fA-F-]{36})`)
