package grouping_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/scrub"
)

var (
	update   = flag.Bool("update", false, "rewrite testdata/corpus.golden")
	generate = flag.Bool("generate", false, "regenerate testdata/corpus/go.jsonl with sentry-go")
)

// corpusLine is one event of a corpus: what a real SDK sent, with the
// issue it must land in. Events with the same Group must share a hash;
// events of different groups must not.
type corpusLine struct {
	Label string          `json:"label"`
	Group string          `json:"group"`
	Event json.RawMessage `json:"event"`
}

type corpusEvent struct {
	file string
	corpusLine
}

func readCorpora(t *testing.T) []corpusEvent {
	t.Helper()
	files, err := filepath.Glob("testdata/corpus/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	var out []corpusEvent
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			var l corpusLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out = append(out, corpusEvent{file: filepath.Base(f), corpusLine: l})
		}
	}
	return out
}

// process runs an event through the worker's stages up to grouping.
func processEvent(t *testing.T, raw []byte) (*event.Event, grouping.Result, event.Derived) {
	t.Helper()
	e, err := event.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	process.Prepare(e, process.Source{EventID: strings.Repeat("0", 32), Received: time.Unix(1.8e9, 0)},
		scrub.New(scrub.Config{DataScrubber: true, Defaults: true}))
	r := grouping.Compute(e)
	e.MainExceptionID = r.MainExceptionID // as the worker does
	return e, r, event.Derive(e)
}

// TestCorpus: every event of the real-SDK corpora lands in its expected
// issue, with the title and culprit recorded in testdata/corpus.golden.
func TestCorpus(t *testing.T) {
	if *generate {
		generateGoCorpus(t, "testdata/corpus/go.jsonl")
	}
	events := readCorpora(t)
	if len(events) < 60 {
		t.Errorf("corpus has %d events, want at least 60", len(events))
	}
	hashGroup := map[string]string{} // hash -> expected group
	groupHash := map[string]string{} // expected group -> hash
	var golden strings.Builder
	for _, ce := range events {
		name := strings.TrimSuffix(ce.file, ".jsonl") + "/" + ce.Label
		_, r, d := processEvent(t, ce.Event)
		if g, ok := hashGroup[r.Hash]; ok && g != ce.Group {
			t.Errorf("%s: grouped with %s, want its own issue %s (hash %s, %s %v)", name, g, ce.Group, r.Hash, r.Strategy, r.Values)
		}
		if h, ok := groupHash[ce.Group]; ok && h != r.Hash {
			t.Errorf("%s: split from its issue %s (hash %s, want %s; %s %v)", name, ce.Group, r.Hash, h, r.Strategy, r.Values)
		}
		hashGroup[r.Hash], groupHash[ce.Group] = ce.Group, r.Hash
		fmt.Fprintf(&golden, "%s\n\tgroup:    %s\n\tstrategy: %s/%s\n\ttitle:    %q\n\tculprit:  %q\n", name, ce.Group, r.Strategy, r.Variant, d.Title, d.Culprit)
	}
	const goldenPath = "testdata/corpus.golden"
	if *update {
		if err := os.WriteFile(goldenPath, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := golden.String(); got != string(want) {
		diffLines(t, string(want), got)
	}
}

func diffLines(t *testing.T, want, got string) {
	t.Helper()
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			t.Errorf("corpus.golden line %d:\n want %s\n  got %s", i+1, a, b)
			return
		}
	}
}

// TestCorpusSDKs: the corpus covers every platform the issue names.
func TestCorpusSDKs(t *testing.T) {
	platforms := map[string]int{}
	for _, ce := range readCorpora(t) {
		var e struct {
			Platform string `json:"platform"`
		}
		json.Unmarshal(ce.Event, &e) //nolint:errcheck
		platforms[e.Platform]++
	}
	var have []string
	for p := range platforms {
		have = append(have, p)
	}
	sort.Strings(have)
	for _, p := range []string{"go", "java", "javascript", "node", "python", "ruby"} {
		if platforms[p] == 0 {
			t.Errorf("no %s event in the corpus (have %v)", p, have)
		}
	}
}
