package sourcemap

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/internal/event"
)

//go:generate node testdata/gen.mjs

// memArtifacts is Memory with the fixtures' layout: a build's static/
// files uploaded under "~/static", the application's sources under "~/".
type memArtifacts struct{ Memory }

func (m *memArtifacts) upload(t testing.TB, project uint64, dir, release, dist string) {
	t.Helper()
	if err := m.AddDir(project, release, dist, filepath.Join(dir, "static"), "~/static"); err != nil {
		t.Fatal(err)
	}
}

// uploadSources adds the application's original sources as source files
// of the release, as `sourcemaps upload` does for a map without
// sourcesContent when the sources are in the upload directory.
func (m *memArtifacts) uploadSources(t testing.TB, project uint64, release, dist string) {
	t.Helper()
	if err := m.AddDir(project, release, dist, filepath.Join("testdata", "app"), "~"); err != nil {
		t.Fatal(err)
	}
}

// stackCase is one failure the generator recorded from running a bundle.
type stackCase struct {
	Case      string          `json:"case"`
	Type      string          `json:"type"`
	Value     string          `json:"value"`
	Frames    []event.Frame   `json:"frames"`
	DebugMeta json.RawMessage `json:"debug_meta"`
}

func loadStacks(t testing.TB, dir string) []stackCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "stacks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cs []stackCase
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// browserEvent is the event @sentry/browser sends for a recorded failure.
func browserEvent(c stackCase, release string) *event.Event {
	frames := append([]event.Frame(nil), c.Frames...)
	for i := range frames {
		frames[i].Filename = frames[i].AbsPath
	}
	e := &event.Event{Platform: "javascript", Release: event.FlexString(release),
		Exception: &event.ExceptionList{Values: []event.Exception{{Type: c.Type, Value: event.FlexString(c.Value),
			Stacktrace: &event.Stacktrace{Frames: frames}}}}}
	if len(c.DebugMeta) > 0 {
		e.DebugMeta = event.Raw(c.DebugMeta)
	}
	return e
}
