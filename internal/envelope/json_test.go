package envelope

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateJSON(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deepObj := func(n int) string { return strings.Repeat(`{"a":`, n-1) + "{}" + strings.Repeat("}", n-1) }
	tests := []struct {
		name  string
		in    string
		depth int
		ok    bool
	}{
		{"object", `{"a":1}`, 0, true},
		{"array", `[1,2,3]`, 0, true},
		{"string", `"x"`, 0, true},
		{"number", `-0.5e+10`, 0, true},
		{"literals", `[true,false,null]`, 0, true},
		{"whitespace", " \t\r\n{ \"a\" : [ 1 , 2 ] }\n ", 0, true},
		{"empty object", `{}`, 0, true},
		{"empty array", `[]`, 0, true},
		{"nested empty", `[[],{},[{}]]`, 0, true},
		{"escapes", `"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"`, 0, true},
		{"lone surrogate escape", `"\ud800"`, 0, true},
		{"utf8", `"café 😀"`, 0, true},
		{"depth at limit", deep(128), 0, true},
		{"depth over limit", deep(129), 0, false},
		{"object depth at limit", deepObj(128), 0, true},
		{"object depth over limit", deepObj(129), 0, false},
		{"custom depth ok", `[[1]]`, 2, true},
		{"custom depth over", `[[[1]]]`, 2, false},
		{"deep 1000 under big limit", deep(1000), 5000, true},
		{"empty", ``, 0, false},
		{"only space", `   `, 0, false},
		{"trailing garbage", `{} x`, 0, false},
		{"two values", `{}{}`, 0, false},
		{"trailing comma object", `{"a":1,}`, 0, false},
		{"trailing comma array", `[1,]`, 0, false},
		{"leading comma", `[,1]`, 0, false},
		{"missing colon", `{"a" 1}`, 0, false},
		{"non-string key", `{1:2}`, 0, false},
		{"single quotes", `{'a':1}`, 0, false},
		{"unterminated string", `"abc`, 0, false},
		{"unterminated object", `{"a":1`, 0, false},
		{"unterminated array", `[1,2`, 0, false},
		{"mismatched", `[1}`, 0, false},
		{"mismatched obj", `{"a":1]`, 0, false},
		{"control char", "\"a\x01b\"", 0, false},
		{"raw newline in string", "\"a\nb\"", 0, false},
		{"bad escape", `"\x"`, 0, false},
		{"short unicode escape", `"\u12"`, 0, false},
		{"bad unicode escape", `"\u12g4"`, 0, false},
		{"invalid utf8", "\"\xff\"", 0, false},
		{"utf8 surrogate", "\"\xed\xa0\x80\"", 0, false},
		{"overlong utf8", "\"\xc0\xaf\"", 0, false},
		{"truncated utf8", "\"\xe2\x82\"", 0, false},
		{"leading zero", `01`, 0, false},
		{"bare minus", `-`, 0, false},
		{"dot no digits", `1.`, 0, false},
		{"exp no digits", `1e`, 0, false},
		{"exp sign no digits", `1e+`, 0, false},
		{"plus sign", `+1`, 0, false},
		{"hex", `0x10`, 0, false},
		{"NaN", `NaN`, 0, false},
		{"bad literal", `tru`, 0, false},
		{"literal prefix", `nulll`, 0, false},
		{"BOM", "\xef\xbb\xbf{}", 0, false},
		{"unclosed key", `{"a`, 0, false},
		{"key no value", `{"a":}`, 0, false},
		{"comment", `{/*x*/}`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateJSON([]byte(tt.in), tt.depth)
			if tt.ok && err != nil {
				t.Fatalf("ValidateJSON(%q) = %v, want nil", tt.in, err)
			}
			if !tt.ok {
				if err == nil {
					t.Fatalf("ValidateJSON(%q) = nil, want error", tt.in)
				}
				if !errors.Is(err, ErrInvalidJSON) {
					t.Fatalf("ValidateJSON(%q) = %v, want ErrInvalidJSON", tt.in, err)
				}
			}
		})
	}
}

// TestValidateJSONLongStrings exercises the 8-byte fast path at every
// alignment, with the special byte landing in each lane.
func TestValidateJSONLongStrings(t *testing.T) {
	for n := 0; n < 40; n++ {
		for _, special := range []string{`\n`, `\u0041`, "é", `\"`} {
			s := `"` + strings.Repeat("a", n) + special + strings.Repeat("b", 40-n) + `"`
			if err := ValidateJSON([]byte(s), 0); err != nil {
				t.Fatalf("ValidateJSON(%q) = %v", s, err)
			}
			info, err := InspectEvent([]byte(`{"type":` + s + `}`))
			if err != nil {
				t.Fatal(err)
			}
			var want string
			if err := json.Unmarshal([]byte(s), &want); err != nil {
				t.Fatal(err)
			}
			if info.Type != want {
				t.Fatalf("type = %q, want %q", info.Type, want)
			}
		}
		for _, bad := range []string{"\x00", "\x1f", "\xff", "\n"} {
			s := `"` + strings.Repeat("a", n) + bad + strings.Repeat("b", 40-n) + `"`
			if err := ValidateJSON([]byte(s), 0); err == nil {
				t.Fatalf("ValidateJSON(%q) = nil, want error", s)
			}
		}
		// An unterminated long string must fail, not read past the end.
		s := `"` + strings.Repeat("a", n)
		if err := ValidateJSON([]byte(s), 0); err == nil {
			t.Fatalf("ValidateJSON(%q) = nil, want error", s)
		}
	}
}

func TestInspectEvent(t *testing.T) {
	const id = "9ec79c33ec9942ab8353589fcb2e04dc"
	tests := []struct {
		name    string
		in      string
		want    EventInfo
		wantErr error
	}{
		{"plain", `{"event_id":"` + id + `","message":"x"}`, EventInfo{EventID: id}, nil},
		{"transaction", `{"type":"transaction","event_id":"` + id + `","spans":[{"a":[1,{"b":null}]}]}`, EventInfo{EventID: id, Type: "transaction"}, nil},
		{"uuid upper", `{"event_id":"9EC79C33-EC99-42AB-8353-589FCB2E04DC"}`, EventInfo{EventID: id}, nil},
		{"uuid braces", `{"event_id":"{9ec79c33-ec99-42ab-8353-589fcb2e04dc}"}`, EventInfo{EventID: id}, nil},
		{"escaped value", `{"event_id":"9ec79c33ec9942ab8353589fcb2e04d\u0063"}`, EventInfo{EventID: id}, nil},
		{"escaped key", `{"event\u005fid":"` + id + `","typ\u0065":"csp"}`, EventInfo{EventID: id, Type: "csp"}, nil},
		{"nested ids ignored", `{"contexts":{"event_id":"nope","type":"x"},"extra":[{"event_id":1}]}`, EventInfo{}, nil},
		{"absent", `{"message":"hello"}`, EventInfo{}, nil},
		{"null id", `{"event_id":null,"type":"default"}`, EventInfo{Type: "default"}, nil},
		{"empty object", `{}`, EventInfo{}, nil},
		{"whitespace", " \n{ \"event_id\" : \"" + id + "\" }\n", EventInfo{EventID: id}, nil},
		{"last duplicate wins", `{"event_id":"bad","event_id":"` + id + `"}`, EventInfo{EventID: id}, nil},
		{"type not string", `{"type":5}`, EventInfo{}, nil},
		{"type unicode", `{"type":"\ud83d\ude00\ud800x"}`, EventInfo{Type: "😀\uFFFDx"}, nil},
		{"invalid id", `{"event_id":"xyz"}`, EventInfo{}, ErrInvalidEventID},
		{"id number", `{"event_id":42}`, EventInfo{}, ErrInvalidEventID},
		{"id empty string", `{"event_id":""}`, EventInfo{}, nil},
		{"array", `[{"event_id":"` + id + `"}]`, EventInfo{}, ErrInvalidJSON},
		{"string", `"event"`, EventInfo{}, ErrInvalidJSON},
		{"empty", ``, EventInfo{}, ErrInvalidJSON},
		{"broken", `{"event_id":"` + id + `",}`, EventInfo{}, ErrInvalidJSON},
		{"trailing", `{} {}`, EventInfo{}, ErrInvalidJSON},
		{"too deep", `{"a":` + strings.Repeat("[", 128) + strings.Repeat("]", 128) + `}`, EventInfo{}, ErrInvalidJSON},
		{"deep at limit", `{"a":` + strings.Repeat("[", 127) + strings.Repeat("]", 127) + `}`, EventInfo{}, nil},
		{"invalid json beats bad id", `{"event_id":"xyz",]`, EventInfo{}, ErrInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := InspectEvent([]byte(tt.in))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("InspectEvent(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("InspectEvent(%q) = %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("InspectEvent(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestInspectEventSize(t *testing.T) {
	pad := func(n int) []byte {
		// {"p":"xxxx"} of exactly n bytes
		return []byte(`{"p":"` + strings.Repeat("x", n-8) + `"}`)
	}
	if _, err := InspectEvent(pad(MaxEventSize)); err != nil {
		t.Fatalf("event of exactly MaxEventSize: %v", err)
	}
	if _, err := InspectEvent(pad(MaxEventSize + 1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("event over MaxEventSize: %v, want ErrTooLarge", err)
	}
}

func TestInspectEventRealistic(t *testing.T) {
	data, err := os.ReadFile("testdata/event_11k.json")
	if err != nil {
		t.Fatal(err)
	}
	info, err := InspectEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	if info.EventID != "9ec79c33ec9942ab8353589fcb2e04dc" || info.Type != "" {
		t.Fatalf("got %+v", info)
	}
	checkAgainstStdlib(t, data)
}

func TestNormalizeEventID(t *testing.T) {
	const want = "9ec79c33ec9942ab8353589fcb2e04dc"
	ok := []string{
		"9ec79c33ec9942ab8353589fcb2e04dc",
		"9EC79C33EC9942AB8353589FCB2E04DC",
		"9ec79c33-ec99-42ab-8353-589fcb2e04dc",
		"9EC79C33-ec99-42AB-8353-589fcb2e04DC",
		"{9ec79c33-ec99-42ab-8353-589fcb2e04dc}",
		"{9ec79c33ec9942ab8353589fcb2e04dc}"[:0] + "9ec79c33ec9942ab8353589fcb2e04dc",
	}
	for _, s := range ok {
		got, err := NormalizeEventID(s)
		if err != nil || got != want {
			t.Errorf("NormalizeEventID(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
	if got, err := NormalizeEventID(""); got != "" || err != nil {
		t.Errorf("NormalizeEventID(\"\") = %q, %v", got, err)
	}
	bad := []string{
		"9ec79c33ec9942ab8353589fcb2e04d",     // 31
		"9ec79c33ec9942ab8353589fcb2e04dcc",   // 33
		"9ec79c33ec9942ab8353589fcb2e04dg",    // non-hex
		"9ec79c33-ec99-42ab-8353589fcb2e04dc", // dash missing
		"9ec79c33-ec99-42ab-8353-589fcb2e-4dc",
		"9ec79c33xec99-42ab-8353-589fcb2e04dc",
		"{9ec79c33-ec99-42ab-8353-589fcb2e04dc",
		"(9ec79c33-ec99-42ab-8353-589fcb2e04dc)",
		"urn:uuid:9ec79c33-ec99-42ab-8353-589fcb2e04dc",
		" 9ec79c33ec9942ab8353589fcb2e04dc",
		"9ec79c33ec9942ab8353589fcb2e04d\u00e9",
		strings.Repeat("a", 1000),
	}
	for _, s := range bad {
		if got, err := NormalizeEventID(s); !errors.Is(err, ErrInvalidEventID) {
			t.Errorf("NormalizeEventID(%q) = %q, %v; want ErrInvalidEventID", s, got, err)
		}
	}
}

// checkAgainstStdlib cross-checks ValidateJSON and InspectEvent with
// encoding/json on the same input. It is shared by tests and fuzz targets.
func checkAgainstStdlib(t *testing.T, data []byte) {
	t.Helper()
	verr := ValidateJSON(data, MaxJSONDepth)
	stdValid := json.Valid(data)
	if verr == nil && !stdValid {
		t.Fatalf("ValidateJSON accepted %q, encoding/json rejects it", data)
	}
	if verr != nil && stdValid && utf8.Valid(data) && jsonDepth(data) <= MaxJSONDepth {
		t.Fatalf("ValidateJSON rejected %q (%v), encoding/json accepts it", data, verr)
	}
	if verr != nil && !errors.Is(verr, ErrInvalidJSON) {
		t.Fatalf("ValidateJSON error %v does not wrap ErrInvalidJSON", verr)
	}

	info, err := InspectEvent(data)
	if len(data) > MaxEventSize {
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("InspectEvent on %d bytes: %v, want ErrTooLarge", len(data), err)
		}
		return
	}
	isObject := verr == nil && data[skipWS(data, 0)] == '{'
	if !isObject {
		if !errors.Is(err, ErrInvalidJSON) {
			t.Fatalf("InspectEvent(%q) = %+v, %v; want ErrInvalidJSON", data, info, err)
		}
		return
	}
	var m map[string]json.RawMessage
	if uerr := json.Unmarshal(data, &m); uerr != nil {
		t.Fatalf("encoding/json cannot unmarshal %q: %v", data, uerr)
	}
	var wantType string
	if raw, ok := m["type"]; ok {
		_ = json.Unmarshal(raw, &wantType) // a non-string type is ignored
	}
	var wantID string
	var wantErr error
	if raw, ok := m["event_id"]; ok && string(raw) != "null" {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			wantErr = ErrInvalidEventID
		} else {
			wantID, wantErr = NormalizeEventID(s)
		}
	}
	if wantErr != nil {
		if !errors.Is(err, ErrInvalidEventID) {
			t.Fatalf("InspectEvent(%q) = %+v, %v; want ErrInvalidEventID", data, info, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("InspectEvent(%q) = %v", data, err)
	}
	if info.EventID != wantID || info.Type != wantType {
		t.Fatalf("InspectEvent(%q) = %+v, encoding/json says id=%q type=%q", data, info, wantID, wantType)
	}
}

// jsonDepth is the container nesting of valid JSON, computed naively.
func jsonDepth(data []byte) int {
	depth, maxd := 0, 0
	inStr, esc := false, false
	for _, c := range data {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			maxd = max(maxd, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return maxd
}

func TestCheckAgainstStdlibCorpus(t *testing.T) {
	for _, s := range []string{
		`{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","type":"transaction"}`,
		`{"type":"a","type":"b"}`,
		`{"event_id":null}`,
		`{"type":"\u00e9\ud800"}`,
		`[1,2]`,
		`{"a":[{"b":{"c":[]}}]}`,
		`{"event_id":"zz"}`,
		`{"x":1e400}`,
		`{"x":-0}`,
	} {
		checkAgainstStdlib(t, []byte(s))
	}
}
