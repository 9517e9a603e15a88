package envelope

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestRepairPythonJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":NaN}`, `{"a":0  }`},
		{`{"a":[Infinity,-Infinity,1]}`, `{"a":[0       ,0        ,1]}`},
		{`{"NaN":"Infinity -Infinity","b":NaN}`, `{"NaN":"Infinity -Infinity","b":0  }`},
		{`{"s":"\"NaN\\","x":NaN}`, `{"s":"\"NaN\\","x":0  }`},
		{`{"a":-1,"b":-Inf}`, `{"a":-1,"b":-Inf}`},
		{`{"a":Na`, `{"a":Na`},
		{``, ``},
	}
	for _, tt := range tests {
		b := []byte(tt.in)
		RepairPythonJSON(b)
		if string(b) != tt.want {
			t.Errorf("RepairPythonJSON(%s) = %s, want %s", tt.in, b, tt.want)
		}
	}
	for _, c := range []struct {
		client string
		legacy bool
	}{{"raven-python/6.10.0", true}, {"sentry-python/0.3", true}, {"sentry.python/1.9.10", false}, {"raven-node/2.6.4", false}, {"", false}} {
		if IsLegacyPythonClient(c.client) != c.legacy {
			t.Errorf("IsLegacyPythonClient(%q) = %v", c.client, !c.legacy)
		}
	}
}

// FuzzRepairPythonJSON checks that the repair keeps the length, never
// touches valid JSON, and turns "valid JSON but for the Python tokens" into
// valid JSON.
func FuzzRepairPythonJSON(f *testing.F) {
	for _, s := range []string{`{"a":NaN,"b":[Infinity,-Infinity]}`, `{"s":"NaN\"Infinity"}`, `[1,2,"\\"]`, `-Infinity`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := bytes.Clone(data)
		RepairPythonJSON(b)
		if len(b) != len(data) {
			t.Fatalf("length changed: %d -> %d", len(data), len(b))
		}
		if json.Valid(data) && !bytes.Equal(b, data) {
			t.Fatalf("valid JSON changed: %q -> %q", data, b)
		}
		// Each change is a whole token, NaN, Infinity or -Infinity turned
		// into "0" and spaces.
		for i := 0; i < len(b); {
			if b[i] == data[i] {
				i++
				continue
			}
			n := 0
			for _, tok := range []string{"NaN", "Infinity", "-Infinity"} {
				if bytes.HasPrefix(data[i:], []byte(tok)) {
					n = len(tok)
				}
			}
			if n == 0 || b[i] != '0' || strings.Trim(string(b[i+1:i+n]), " ") != "" {
				t.Fatalf("unexpected change at %d: %q -> %q", i, data, b)
			}
			i += n
		}
	})
}
