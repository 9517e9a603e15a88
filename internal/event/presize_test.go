package event

import (
	"bytes"
	"encoding/json"
	"testing"
)

func checkCount(t *testing.T, b []byte) {
	b = bytes.TrimSpace(b)
	var list []json.RawMessage
	if len(b) == 0 || b[0] != '[' || json.Unmarshal(b, &list) != nil {
		return
	}
	if got := countElements(b); got != len(list) {
		t.Errorf("countElements(%q) = %d, want %d", b, got, len(list))
	}
}

func TestCountElements(t *testing.T) {
	for _, s := range []string{`[]`, `[ ]`, `[1]`, `[1,2]`, `[{"a":[1,2]},"x,y",[]]`, `["\"]",","]`, `[[]]`, `[{}]`, `[null, true]`} {
		checkCount(t, []byte(s))
	}
}

func FuzzCountElements(f *testing.F) {
	for _, s := range []string{`[]`, `[1,{"a":"],"}]`, `["\\",2]`, `[[],[[]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkCount(t, b) })
}

// Frames and lists decode into slices of their exact length, nil for
// null and empty (not nil) for [], as before they were presized.
func TestPresizedShapes(t *testing.T) {
	for _, c := range []struct {
		in     string
		frames int
		isNil  bool
	}{{`{"frames":null}`, 0, true}, {`{}`, 0, true}, {`{"frames":[]}`, 0, false}, {`{"frames":[{},{"function":"f"}]}`, 2, false}} {
		var st Stacktrace
		if err := json.Unmarshal([]byte(c.in), &st); err != nil {
			t.Fatal(err)
		}
		var gst Stacktrace
		e, err := Decode([]byte(`{"stacktrace":` + c.in + `}`))
		if err != nil {
			t.Fatal(err)
		}
		gst = *e.Stacktrace
		if len(gst.Frames) != c.frames || (gst.Frames == nil) != c.isNil || cap(gst.Frames) != len(gst.Frames) {
			t.Errorf("%s: frames %d (nil %v, cap %d), want %d (nil %v)", c.in, len(gst.Frames), gst.Frames == nil, cap(gst.Frames), c.frames, c.isNil)
		}
		out, _ := Encode(&Event{Stacktrace: &gst})
		want, _ := json.Marshal(&Event{Stacktrace: &st})
		if !bytes.Equal(out, want) {
			t.Errorf("%s: encodes as %s, want %s", c.in, out, want)
		}
	}
}
