package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/process"
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

type smEvent struct {
	EventID string `json:"eventID"`
	GroupID string `json:"groupID"`
	Entries []struct {
		Type string `json:"type"`
		Data struct {
			Values []struct {
				Type          string                      `json:"type"`
				Stacktrace    *struct{ Frames []smFrame } `json:"stacktrace"`
				RawStacktrace *struct{ Frames []smFrame } `json:"rawStacktrace"`
			} `json:"values"`
		} `json:"data"`
	} `json:"entries"`
	Errors []map[string]any `json:"errors"`
}

// node runs a script of clients/ and returns its summary line.
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
// esbuild (with @sentry/browser in the bundle), debug ids injected by the
// real `sentry-cli sourcemaps inject`, its files uploaded, then served to
// headless Chromium where @sentry/browser reports its error. The issue's
// latest event, through the API, has the original file, line, column,
// function and context lines, and keeps the minified frames as
// rawStacktrace. A second build whose minified names differ, uploaded
// without a release, groups with the first.
//
// The upload side (chunk upload and assemble) is not on this branch: the
// files are put in sourcemap.Memory as `sentry-cli sourcemaps upload
// --url-prefix '~/static'` uploads them (with --release for the first
// build, without for the second). Once the upload side is merged, the
// upload becomes that command against the server.
func TestSourceMaps(t *testing.T) {
	need(t, "node", "apt-get install nodejs")
	need(t, "/usr/bin/chromium", "apt-get install chromium")
	needModules(t)
	cli, err := filepath.Abs("clients/node_modules/.bin/sentry-cli")
	if err != nil {
		t.Fatal(err)
	}
	arts := &sourcemap.Memory{}
	f := testserver.Start(t, server.Config{Worker: process.Config{Artifacts: arts}})
	p := f.CreateProject("acme", "web", "javascript")
	pid, err := strconv.ParseUint(p.ID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}

	const release = "web@1.0.0"
	builds := []struct{ variant, release string }{{"1", release}, {"2", ""}}
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
		inject := exec.Command(cli, "sourcemaps", "inject", filepath.Join(abs, "static"))
		inject.Env = append(os.Environ(), "SENTRY_DISABLE_UPDATE_CHECK=true")
		if out, err := inject.CombinedOutput(); err != nil {
			t.Fatalf("sentry-cli sourcemaps inject: %v\n%s", err, out)
		}
		if err := arts.AddDir(pid, b.release, "", filepath.Join(abs, "static"), "~/static"); err != nil {
			t.Fatal(err)
		}
		sum := runNode(t, []string{"FAULTLINE_DSN=" + p.DSN, "FAULTLINE_RELEASE=" + b.release}, "sourcemap-browser.mjs", "browse", abs)
		id := strings.ReplaceAll(sum["eventID"].(string), "-", "")
		f.WaitEvent(t, p, id, &events[i])
		// The latest event, as a user opens it.
		if st, raw := f.Do("GET", "/api/0/issues/"+events[i].GroupID+"/events/latest/", nil, &events[i]); st != 200 {
			t.Fatalf("latest event: %d %s", st, raw)
		}
		if events[i].EventID != id {
			t.Fatalf("build %s: the latest event is %s, want %s", b.variant, events[i].EventID, id)
		}
		ev := events[i]
		var ex *struct {
			Type          string                      `json:"type"`
			Stacktrace    *struct{ Frames []smFrame } `json:"stacktrace"`
			RawStacktrace *struct{ Frames []smFrame } `json:"rawStacktrace"`
		}
		for _, en := range ev.Entries {
			if en.Type == "exception" && len(en.Data.Values) > 0 {
				ex = &en.Data.Values[len(en.Data.Values)-1]
			}
		}
		if ex == nil || ex.Stacktrace == nil || ex.RawStacktrace == nil {
			t.Fatalf("build %s: no exception with both stack traces: %+v", b.variant, ev)
		}
		if len(ev.Errors) != 0 {
			t.Errorf("build %s: event errors %v", b.variant, ev.Errors)
		}
		frames := ex.Stacktrace.Frames
		crash := frames[len(frames)-1]
		want := "    throw new TypeError(`price of ${item.sku} is not a number`);"
		if !strings.HasSuffix(crash.AbsPath, "/cart.js") || crash.Filename != "/cart.js" || crash.Function != "priceOf" ||
			crash.LineNo != 9 || crash.ColNo != 11 || !crash.InApp || crash.Data["resolved_with"] != "debug-id" {
			t.Errorf("build %s: crash frame %+v", b.variant, crash)
		}
		ctx := map[int]string{}
		for _, c := range crash.Context {
			n, _ := c[0].(float64)
			s, _ := c[1].(string)
			ctx[int(n)] = s
		}
		// 5 lines either side (the file ends 4 lines after).
		if ctx[9] != want || ctx[4] != "  return { total, count: items.length };" || ctx[13] != "" || len(crash.Context) != 10 {
			t.Errorf("build %s: context %v", b.variant, crash.Context)
		}
		var callers []string
		for _, fr := range frames {
			if strings.HasSuffix(fr.Filename, "cart.js") || strings.HasSuffix(fr.Filename, "main.js") {
				callers = append(callers, fr.Function)
			}
		}
		if got := strings.Join(callers, " "); !strings.Contains(got, "main checkout") {
			t.Errorf("build %s: the application's frames are %q, want main, checkout, ..., priceOf", b.variant, got)
		}
		rawCrash := ex.RawStacktrace.Frames[len(ex.RawStacktrace.Frames)-1]
		if !strings.HasSuffix(rawCrash.AbsPath, "/static/app.min.js") || rawCrash.ColNo == crash.ColNo && rawCrash.LineNo == crash.LineNo {
			t.Errorf("build %s: raw crash frame %+v", b.variant, rawCrash)
		}
		minified[rawCrash.Function] = true
	}
	if events[0].GroupID != events[1].GroupID {
		t.Errorf("the two builds are in issues %s and %s", events[0].GroupID, events[1].GroupID)
		for _, ev := range events {
			for _, en := range ev.Entries {
				for _, v := range en.Data.Values {
					for _, fr := range v.Stacktrace.Frames {
						t.Logf("%s %s %s:%d:%d in_app=%v", ev.EventID, fr.Function, fr.AbsPath, fr.LineNo, fr.ColNo, fr.InApp)
					}
				}
			}
		}
	}
	if len(minified) != 2 {
		t.Errorf("the builds' minified names %v do not differ: the grouping check proves nothing", minified)
	}
}
