package airbrake

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenInput is a notice and the name of its golden event.
type goldenInput struct {
	name string
	body []byte
	xml  bool
}

// goldenInputs are Airbrake's documented examples and notices shaped as the
// notifiers send them (testdata/notices), and the exact bytes the real
// @airbrake/node notifier sent (e2e/clients/captures/airbrake-node).
func goldenInputs(t *testing.T) []goldenInput {
	t.Helper()
	var out []goldenInput
	files, err := filepath.Glob("testdata/notices/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ext := filepath.Ext(f)
		out = append(out, goldenInput{name: strings.TrimSuffix(filepath.Base(f), ext), body: b, xml: ext == ".xml"})
	}
	captures, err := filepath.Glob("../../e2e/clients/captures/airbrake-node/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range captures {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			URL      string `json:"url"`
			BodyText string `json:"body_text"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if strings.Contains(c.URL, "/notices") {
			out = append(out, goldenInput{name: "capture-airbrake-node-" + strings.TrimSuffix(filepath.Base(f), ".json"), body: []byte(c.BodyText)})
		}
	}
	if len(out) < 8 {
		t.Fatalf("only %d golden inputs found", len(out))
	}
	return out
}

// TestGoldenEvents converts each input to an event and compares it with
// testdata/golden/<name>.json. Run with -update to rewrite the goldens,
// then review the diff.
func TestGoldenEvents(t *testing.T) {
	for _, in := range goldenInputs(t) {
		t.Run(in.name, func(t *testing.T) {
			parse := ParseNotice
			if in.xml {
				parse = ParseNoticeXML
			}
			n, err := parse(in.body)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(n.Event(), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", in.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("event differs from %s (run with -update and review the diff):\n%s", path, got)
			}
		})
	}
}
