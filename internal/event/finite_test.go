package event_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/event"
)

func TestNullNonFinite(t *testing.T) {
	big := "1" + strings.Repeat("0", 400)
	tests := []struct{ in, want string }{
		{`{"extra":{"x":1e400}}`, `{"extra":{"x":null }}`},
		{`{"extra":{"x":-1e400,"y":1E+999}}`, `{"extra":{"x":null  ,"y":null  }}`},
		{`[1.5e308, 2e308, 1e-400, 12, -0.5, 1e3]`, `[1.5e308, null , 1e-400, 12, -0.5, 1e3]`},
		{`{"s":"1e400","k\"1e400":1}`, `{"s":"1e400","k\"1e400":1}`},
		{`{"n":` + big + `}`, `{"n":null` + strings.Repeat(" ", len(big)-4) + `}`},
		{`{"n":-` + big + `.5}`, `{"n":null` + strings.Repeat(" ", len(big)-1) + `}`},
		{`{"bad":1e400`, `{"bad":null `},
		{``, ``},
	}
	for _, tc := range tests {
		in := []byte(tc.in)
		got := event.NullNonFinite(in)
		if string(got) != tc.want {
			t.Errorf("NullNonFinite(%.60s)\n got %.80s\nwant %.80s", tc.in, got, tc.want)
		}
		if string(in) != tc.in {
			t.Errorf("input modified: %.60s", in)
		}
		if json.Valid([]byte(tc.want)) {
			var v any
			if err := json.Unmarshal(got, &v); err != nil {
				t.Errorf("Go cannot decode the result of %.60s: %v", tc.in, err)
			}
		}
	}
}

// FuzzNullNonFinite: the result has the input's length, leaves valid JSON
// valid, and always decodes with Go's decoder when the input was valid.
func FuzzNullNonFinite(f *testing.F) {
	for _, s := range []string{`{"a":1e400}`, `[-1e999,"1e400\"",2]`, `{"a":"\\"}`, `1e`, `-`, `[1e400e5]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := string(b)
		got := event.NullNonFinite(b)
		if len(got) != len(b) || string(b) != orig {
			t.Fatalf("length changed or input modified")
		}
		if json.Valid(b) {
			var v any
			if err := json.Unmarshal(got, &v); err != nil {
				t.Fatalf("%q → %q: %v", orig, got, err)
			}
		}
	})
}

// BenchmarkNullNonFinite is the scan's cost per event on the realistic
// 11 KB event, which has no number to replace.
func BenchmarkNullNonFinite(b *testing.B) {
	raw, err := os.ReadFile("../envelope/testdata/event_11k.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if out := event.NullNonFinite(raw); &out[0] != &raw[0] {
			b.Fatal("copied")
		}
	}
}
