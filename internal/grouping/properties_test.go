package grouping_test

import (
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"testing"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
)

// TestReprocessingKeepsHash: grouping the stored body of an event (already
// normalized and scrubbed, as grouping-info does) gives the hash it was
// stored with, for every corpus event.
func TestReprocessingKeepsHash(t *testing.T) {
	for _, ce := range readCorpora(t) {
		e, r, _ := processEvent(t, ce.Event)
		e.Grouping = r.Info()
		body, err := event.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		_, again, _ := processEvent(t, body)
		if again.Hash != r.Hash {
			t.Errorf("%s/%s: reprocessed hash %s (%v), first %s (%v)", ce.file, ce.Label, again.Hash, again.Values, r.Hash, r.Values)
		}
		stored, err := event.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		if h := grouping.Compute(stored).Hash; h != r.Hash {
			t.Errorf("%s/%s: the stored body groups as %s, stored %s", ce.file, ce.Label, h, r.Hash)
		}
	}
}

var hexAddrRE = regexp.MustCompile(`0x[0-9a-fA-F]+`)

// mutate changes what must never split an issue: every frame's line and
// column (shifted consistently, as when code above moves) and its
// instruction and symbol addresses, and every memory address (0x...) in
// exception values and messages.
func mutate(t *testing.T, raw []byte, rng *rand.Rand) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	dl, dc := float64(1+rng.IntN(500)), float64(1+rng.IntN(80))
	addr := func() string { return "0x" + hexDigits(rng, 4+rng.IntN(12)) }
	var walk func(v any, key string) any
	walk = func(v any, key string) any {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				switch k {
				case "lineno":
					if n, ok := val.(float64); ok {
						x[k] = n + dl
					}
				case "colno":
					if n, ok := val.(float64); ok {
						x[k] = n + dc
					}
				case "instruction_addr", "symbol_addr", "image_addr":
					x[k] = addr()
				default:
					x[k] = walk(val, k)
				}
			}
			return x
		case []any:
			for i := range x {
				x[i] = walk(x[i], key)
			}
			return x
		case string:
			if key == "value" || key == "message" || key == "formatted" {
				return hexAddrRE.ReplaceAllStringFunc(x, func(string) string { return addr() })
			}
		}
		return v
	}
	out, err := json.Marshal(walk(m, ""))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func hexDigits(rng *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[rng.IntN(16)]
	}
	return string(b)
}

// TestLineNumbersAndAddressesNeverSplit: for every corpus event, moving the
// code (other line and column numbers) or running it at other addresses
// gives the same hash.
func TestLineNumbersAndAddressesNeverSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	for _, ce := range readCorpora(t) {
		_, want, _ := processEvent(t, ce.Event)
		for i := 0; i < 5; i++ {
			m := mutate(t, ce.Event, rng)
			if _, got, _ := processEvent(t, m); got.Hash != want.Hash {
				t.Fatalf("%s/%s: mutation %d split the issue: %v, want %v", ce.file, ce.Label, i, got.Values, want.Values)
			}
		}
	}
}

// TestAddressesInFramesNeverSplit covers native-style frames, which the
// corpus lacks: only addresses differ.
func TestAddressesInFramesNeverSplit(t *testing.T) {
	ev := func(addr string) []byte {
		return []byte(`{"platform":"native","exception":{"values":[{"type":"EXC_BAD_ACCESS","value":"crash at ` + addr + `",
"stacktrace":{"frames":[{"function":"main","package":"/usr/bin/app","instruction_addr":"` + addr + `","in_app":true},
{"function":"do_work","package":"/usr/bin/app","instruction_addr":"` + addr + `","symbol_addr":"` + addr + `","in_app":true}]}}]}}`)
	}
	_, a, _ := processEvent(t, ev("0x1000a2f0"))
	_, b, _ := processEvent(t, ev("0x7ffee3c9"))
	if a.Hash != b.Hash {
		t.Fatalf("addresses split: %v vs %v", a.Values, b.Values)
	}
}
