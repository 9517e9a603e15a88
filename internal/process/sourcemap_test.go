package process_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/sourcemap"
)

// jsFailure is a failure recorded by running an esbuild bundle in V8
// (internal/sourcemap/testdata/gen.mjs).
type jsFailure struct {
	Case   string        `json:"case"`
	Type   string        `json:"type"`
	Value  string        `json:"value"`
	Frames []event.Frame `json:"frames"`
}

func loadFailures(t *testing.T, fixture string) []jsFailure {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "sourcemap", "testdata", fixture, "stacks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fs []jsFailure
	if err := json.Unmarshal(b, &fs); err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestWorkerSymbolicates: the worker maps browser events through the
// project's uploaded maps before grouping. Two deploys of the same code
// (different minified names) land in one issue, the stored event has the
// original frames and keeps the minified ones as raw_stacktrace, and an
// event of a release without maps is stored minified with js_no_source.
func TestWorkerSymbolicates(t *testing.T) {
	r := newRig(t)
	arts := &sourcemap.Memory{}
	for _, b := range []struct{ fixture, release string }{{"normal", "1.0"}, {"rebuilt", "2.0"}} {
		if err := arts.AddDir(r.project.ID, b.release, "", filepath.Join("..", "sourcemap", "testdata", b.fixture, "static"), "~/static"); err != nil {
			t.Fatal(err)
		}
	}
	r.artifacts = arts
	ids := map[string]string{}
	n := 0
	for _, b := range []struct{ fixture, release string }{{"normal", "1.0"}, {"rebuilt", "2.0"}, {"normal", "3.0"}} {
		f := loadFailures(t, b.fixture)[0] // no-widgets
		n++
		id := fmt.Sprintf("%032x", 0x5000+n)
		ids[b.fixture+"@"+b.release] = id
		e := map[string]any{"event_id": id, "platform": "javascript", "release": b.release,
			"exception": map[string]any{"values": []any{map[string]any{"type": f.Type, "value": f.Value,
				"stacktrace": map[string]any{"frames": f.Frames}}}}}
		body, _ := json.Marshal(e)
		if err := r.q.Publish(context.Background(), &queue.Message{ProjectID: r.project.ID, EventID: id,
			Kind: queue.KindStore, Received: time.Now(), Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	r.run(t, r.s, 5*time.Second, r.drained(t))

	stored := map[string]*event.Event{}
	groups := map[string]uint64{}
	for k, id := range ids {
		ev, err := r.s.GetEvent(context.Background(), r.project.ID, id)
		if err != nil || ev == nil {
			t.Fatalf("%s: event not stored: %v", k, err)
		}
		e, err := event.Decode([]byte(ev.Body))
		if err != nil {
			t.Fatal(err)
		}
		stored[k], groups[k] = e, ev.GroupID
	}
	if groups["normal@1.0"] != groups["rebuilt@2.0"] {
		t.Errorf("two deploys of the same code are in issues %d and %d", groups["normal@1.0"], groups["rebuilt@2.0"])
	}
	if groups["normal@3.0"] == groups["normal@1.0"] {
		t.Error("an event without maps grouped with the symbolicated ones")
	}
	for _, k := range []string{"normal@1.0", "rebuilt@2.0"} {
		ex := stored[k].Exception.Values[0]
		frames := ex.Stacktrace.Frames
		crash := frames[len(frames)-1]
		if crash.Filename != "/src/config.js" || crash.Lineno.Int() != 9 || crash.Colno.Int() != 11 ||
			crash.Function != "validateConfig" || crash.ContextLine != "    throw new Error('config has no widgets');" || !crash.IsInApp() {
			t.Errorf("%s: crash frame %+v", k, crash)
		}
		if ex.RawStack == nil || ex.RawStack.Frames[len(frames)-1].AbsPath != "http://example.com/static/app.min.js" {
			t.Errorf("%s: raw stack trace %+v", k, ex.RawStack)
		}
		var data map[string]any
		if json.Unmarshal(crash.Data, &data) != nil || data["resolved_with"] != "release" ||
			data["sourcemap"] != "http://example.com/static/app.min.js.map" {
			t.Errorf("%s: frame data %s", k, crash.Data)
		}
		if len(stored[k].Errors) != 0 {
			t.Errorf("%s: errors %+v", k, stored[k].Errors)
		}
	}
	plain := stored["normal@3.0"]
	if plain.Exception.Values[0].RawStack != nil || plain.Exception.Values[0].Stacktrace.Frames[0].AbsPath != "http://example.com/static/app.min.js" {
		t.Errorf("the event without maps changed: %+v", plain.Exception.Values[0])
	}
	if len(plain.Errors) != 1 || plain.Errors[0].Type != "js_no_source" {
		t.Errorf("the event without maps has errors %+v", plain.Errors)
	}
}
