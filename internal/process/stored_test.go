package process

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/meta"
)

var updateStored = flag.Bool("update-stored", false, "rewrite testdata/stored.golden from the current build")

// storedCorpus is every event the stored-body check runs: the grouping
// corpus of real SDK events, the benchmark's loadgen events, and events
// made to exercise each scrubbing rule and each shape SDKs send
// (testdata/stored_corpus.jsonl).
func storedCorpus(t *testing.T) (labels []string, raws [][]byte) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "grouping", "testdata", "corpus", "*.jsonl"))
	files = append(files, filepath.Join("testdata", "stored_corpus.jsonl"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line struct {
				Label string          `json:"label"`
				Event json.RawMessage `json:"event"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			labels = append(labels, strings.TrimSuffix(filepath.Base(f), ".jsonl")+"/"+line.Label)
			raws = append(raws, line.Event)
		}
	}
	for _, name := range []string{"large", "typical"} {
		b, err := os.ReadFile(filepath.Join("testdata", "bench_"+name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		labels, raws = append(labels, "loadgen/"+name), append(raws, b)
	}
	return labels, raws
}

// canonical is JSON with its keys sorted and its numbers as written, so
// that two encodings of the same value compare equal.
func canonical(t *testing.T, b []byte) json.RawMessage {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	// The notes of a field-by-field decode come in map order.
	if m, ok := v.(map[string]any); ok {
		if errs, ok := m["errors"].([]any); ok {
			slices.SortStableFunc(errs, func(a, b any) int {
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				return bytes.Compare(ja, jb)
			})
		}
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStoredUnchanged: what build stores for each event of the corpus
// (the body the API serves, the row's columns and the metadata)
// is, semantically, what the worker stored before its stages were made
// faster: testdata/stored.golden was written by that code (main at
// 848e8bb), under Sentry's default scrubbing and under the strictest
// settings (IP addresses, sensitive and safe fields).
func TestStoredUnchanged(t *testing.T) {
	labels, raws := storedCorpus(t)
	received := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	projects := map[string]*meta.Project{
		"defaults": {ID: 1, RetentionDays: 90},
		"strict": {ID: 2, RetentionDays: 30, ScrubIPAddresses: true, SensitiveFields: []string{"card", "Region"},
			SafeFields: []string{"api_key"}},
	}
	var got bytes.Buffer
	w := &Worker{}
	for _, pname := range []string{"defaults", "strict"} {
		p := projects[pname]
		for i, raw := range raws {
			src := Source{EventID: "0123456789abcdef0123456789abcdef", Received: received, ClientIP: "198.51.100.4",
				Client: "sentry.python/2.0.0", SentAt: received.Add(-time.Second)}
			e, err := event.Decode(raw)
			if err != nil {
				t.Fatalf("%s: %v", labels[i], err)
			}
			it, err := w.build(context.Background(), e, src, p)
			if err != nil {
				t.Fatalf("%s: %v", labels[i], err)
			}
			row := it.row
			body := canonical(t, []byte(row.Body))
			row.Body = ""
			rowJSON, _ := json.Marshal(row)
			groupJSON, _ := json.Marshal(it.group)
			line, _ := json.Marshal(map[string]any{"label": pname + ":" + labels[i], "body": body,
				"row": json.RawMessage(rowJSON), "group": json.RawMessage(groupJSON), "hash": it.hash, "category": it.category,
				"logger": it.logger, "frames": it.frames})
			got.Write(line)
			got.WriteByte('\n')
		}
	}
	golden := filepath.Join("testdata", "stored.golden")
	if *updateStored {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	gl, wl := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
	if len(gl) != len(wl) {
		t.Fatalf("%d events, the golden file has %d", len(gl), len(wl))
	}
	for i := range gl {
		if gl[i] != wl[i] {
			t.Errorf("stored differently:\n got %s\nwant %s", gl[i], wl[i])
		}
	}
}
