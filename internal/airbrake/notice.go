// Package airbrake reads what Airbrake's notifier libraries send (v3 JSON
// notices, legacy v2 XML notices and v4 deploys) and turns a notice into a
// Sentry event, so that an Airbrake error is normalized, grouped, stored and
// shown exactly like one sent by a Sentry SDK.
//
// Parsing is lenient where notifiers differ (a line number sent as a string,
// a context value of an unexpected type) and strict where it protects the
// server: a notice is bounded in size and nesting, must be valid JSON (or
// XML) and must carry at least one error. Ingest runs the same parser the
// worker runs, so anything ingest accepts, the worker can convert.
package airbrake

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	gojson "github.com/goccy/go-json"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/event"
)

// Limits on what a notice may hold. Airbrake itself refuses notices over
// 64 KiB, and its notifiers truncate to fit; Faultline accepts up to the
// size of a Sentry event so that a notice is never refused here that a
// Sentry SDK could have sent.
const (
	// MaxNoticeSize bounds a decompressed notice (JSON or XML).
	MaxNoticeSize = envelope.MaxEventSize
	// MaxDepth bounds the nesting of a notice's JSON (or XML).
	MaxDepth = envelope.MaxJSONDepth
	// maxErrors bounds the exception chain kept from one notice.
	maxErrors = 64
)

// Errors returned by the parsers. Each wraps exactly one of these; ingest
// maps ErrTooLarge to 413 and the others to 400.
var (
	// ErrTooLarge means the notice exceeds MaxNoticeSize.
	ErrTooLarge = errors.New("notice too large")
	// ErrInvalid means the body is not a notice: malformed JSON or XML, too
	// deep, not an object, or without errors.
	ErrInvalid = errors.New("invalid notice")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Notice is an Airbrake notice as Faultline reads it, whichever API version
// carried it.
type Notice struct {
	// Errors is the exception chain as Airbrake orders it: the error that
	// was reported first, then its cause, and so on.
	Errors []Error
	// Context holds the notice's context object, member by member, as sent.
	Context map[string]event.Raw
	// Environment, Session and Params are kept as sent (objects, usually).
	Environment, Session, Params event.Raw
	// APIKey is the project key a v2 XML notice carries in its body.
	APIKey string
	// Version is the v2 notice's version attribute ("2.3"); empty for v3.
	Version string
}

// Error is one error of a notice.
type Error struct {
	Type      string
	Message   string
	Backtrace []Frame // innermost call first, as notifiers send it
}

// Frame is one backtrace line.
type Frame struct {
	File     string
	Function string
	Line     int64 // 0 when unknown
	Column   int64 // 0 when unknown
	// Code is the source around Line, by line number.
	Code map[int64]string
}

// rawNotice is the v3 document's top level. Members are read leniently, so
// that one of an unexpected shape costs only itself.
type rawNotice struct {
	Errors      errorList `json:"errors"`
	Context     event.Raw `json:"context"`
	Environment event.Raw `json:"environment"`
	Session     event.Raw `json:"session"`
	Params      event.Raw `json:"params"`
	// Notifier sat at the top level in early v3 notifiers; it moved into
	// the context later.
	Notifier event.Raw `json:"notifier"`
}

// ParseNotice parses a v3 JSON notice.
func ParseNotice(b []byte) (*Notice, error) {
	if len(b) > MaxNoticeSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxNoticeSize)
	}
	if err := envelope.ValidateJSON(b, MaxDepth); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, invalid("the notice is not a JSON object")
	}
	var raw rawNotice
	if !decodeTyped(b, &raw) {
		if err := gojson.Unmarshal(b, &raw); err != nil {
			return nil, invalid("%v", err)
		}
	}
	n := &Notice{Environment: raw.Environment, Session: raw.Session, Params: raw.Params}
	n.Context = object(raw.Context)
	if _, ok := n.Context["notifier"]; !ok && len(raw.Notifier) > 0 {
		if n.Context == nil {
			n.Context = map[string]event.Raw{}
		}
		n.Context["notifier"] = raw.Notifier
	}
	for _, e := range raw.Errors {
		if e.ok {
			n.Errors = append(n.Errors, e.Error)
			if len(n.Errors) == maxErrors {
				break
			}
		}
	}
	if len(n.Errors) == 0 {
		return nil, invalid("the notice has no errors")
	}
	return n, nil
}

// decodeTyped decodes a notice of the usual shape (errors and frames as
// objects) in one pass, which is several times cheaper than the lenient
// decoding below; it reports false for any other shape.
func decodeTyped(b []byte, raw *rawNotice) bool {
	var v struct {
		Errors []struct {
			Type      scalar `json:"type"`
			Message   scalar `json:"message"`
			Backtrace []struct {
				File     scalar   `json:"file"`
				Function scalar   `json:"function"`
				Line     scalar   `json:"line"`
				Column   scalar   `json:"column"`
				Code     codeHunk `json:"code"`
			} `json:"backtrace"`
		} `json:"errors"`
		Context     event.Raw `json:"context"`
		Environment event.Raw `json:"environment"`
		Session     event.Raw `json:"session"`
		Params      event.Raw `json:"params"`
		Notifier    event.Raw `json:"notifier"`
	}
	if gojson.Unmarshal(b, &v) != nil {
		return false
	}
	*raw = rawNotice{Context: v.Context, Environment: v.Environment, Session: v.Session, Params: v.Params, Notifier: v.Notifier}
	for _, e := range v.Errors {
		ev := errorValue{Error: Error{Type: string(e.Type), Message: string(e.Message)}, ok: true}
		for _, f := range e.Backtrace {
			fr := Frame{File: string(f.File), Function: string(f.Function), Code: f.Code,
				Line: integer(string(f.Line)), Column: integer(string(f.Column))}
			if fr.File != "" || fr.Function != "" {
				ev.Backtrace = append(ev.Backtrace, fr)
			}
		}
		raw.Errors = append(raw.Errors, ev)
	}
	return true
}

// The types below decode without ever failing on a value of an unexpected
// type: the value is skipped, or read as well as it can be.

// scalar is a JSON value as text: a string's value, a number or a boolean
// as written; anything else is "".
type scalar string

func (s *scalar) UnmarshalJSON(b []byte) error { *s = scalar(text(b)); return nil }

// errorList is "errors": a list, or a lone error object.
type errorList []errorValue

func (l *errorList) UnmarshalJSON(b []byte) error { return decodeList(b, (*[]errorValue)(l)) }

type errorValue struct {
	Error
	ok bool // an object: an error
}

func (e *errorValue) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var f struct {
		Type      scalar    `json:"type"`
		Message   scalar    `json:"message"`
		Backtrace frameList `json:"backtrace"`
	}
	if gojson.Unmarshal(b, &f) != nil {
		return nil
	}
	e.Type, e.Message, e.ok = string(f.Type), string(f.Message), true
	for _, fr := range f.Backtrace {
		if fr.ok {
			e.Backtrace = append(e.Backtrace, fr.Frame)
		}
	}
	return nil
}

// frameList is "backtrace": a list, or a lone frame object.
type frameList []frameValue

func (l *frameList) UnmarshalJSON(b []byte) error { return decodeList(b, (*[]frameValue)(l)) }

type frameValue struct {
	Frame
	ok bool // a frame with a file or a function
}

func (f *frameValue) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
	case b[0] == '"':
		// Some notifiers send a backtrace line as text.
		f.File = text(b)
	case b[0] == '{':
		var v struct {
			File     scalar   `json:"file"`
			Function scalar   `json:"function"`
			Line     scalar   `json:"line"`
			Column   scalar   `json:"column"`
			Code     codeHunk `json:"code"`
		}
		if gojson.Unmarshal(b, &v) != nil {
			return nil
		}
		f.File, f.Function, f.Code = string(v.File), string(v.Function), v.Code
		f.Line, f.Column = integer(string(v.Line)), integer(string(v.Column))
	}
	f.ok = f.File != "" || f.Function != ""
	return nil
}

// codeHunk is a frame's "code": source lines by line number.
type codeHunk map[int64]string

func (c *codeHunk) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var m map[string]event.Raw
	if gojson.Unmarshal(b, &m) != nil {
		return nil
	}
	for k, v := range m {
		ln, err := strconv.ParseInt(strings.TrimSpace(k), 10, 64)
		if err != nil || ln <= 0 {
			continue
		}
		if s, ok := str(v); ok {
			if *c == nil {
				*c = codeHunk{}
			}
			(*c)[ln] = s
		}
	}
	return nil
}

// decodeList decodes a JSON array into dst; a lone object is a list of
// one, as some notifiers send a single error that way; anything else is an
// empty list.
func decodeList[T any](b []byte, dst *[]T) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '[':
		if gojson.Unmarshal(b, dst) != nil {
			*dst = nil
		}
	case '{':
		var one T
		if gojson.Unmarshal(b, &one) == nil {
			*dst = []T{one}
		}
	}
	return nil
}

// object decodes a JSON object member by member; anything else gives nil.
func object(r event.Raw) map[string]event.Raw {
	r = bytes.TrimSpace(r)
	if len(r) == 0 || r[0] != '{' {
		return nil
	}
	var m map[string]event.Raw
	if gojson.Unmarshal(r, &m) != nil {
		return nil
	}
	return m
}

// str returns a JSON string's value.
func str(r event.Raw) (string, bool) {
	r = bytes.TrimSpace(r)
	if len(r) < 2 || r[0] != '"' {
		return "", false
	}
	// Input was validated: a string without escapes is its own value.
	if inner := r[1 : len(r)-1]; bytes.IndexByte(inner, '\\') < 0 && bytes.IndexByte(inner, '"') < 0 {
		return string(inner), true
	}
	var s string
	if gojson.Unmarshal(r, &s) != nil {
		return "", false
	}
	return s, true
}

// text returns a scalar as text: a string's value, a number or a boolean as
// written. Objects, arrays and null give "".
func text(r event.Raw) string {
	if s, ok := str(r); ok {
		return s
	}
	r = bytes.TrimSpace(r)
	if len(r) == 0 {
		return ""
	}
	switch c := r[0]; {
	case c == '-' || (c >= '0' && c <= '9'), string(r) == "true", string(r) == "false":
		return string(r)
	}
	return ""
}

// integer reads a line or column number sent as a number or a string;
// anything unusable is 0 (unknown).
func integer(s string) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return max(v, 0)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e15 {
		return 0
	}
	return int64(f)
}

// empty reports whether r carries nothing worth showing: absent, null, an
// empty object, array or string.
func empty(r event.Raw) bool {
	r = bytes.TrimSpace(r)
	switch string(r) {
	case "", "null", "{}", "[]", `""`:
		return true
	}
	if r[0] == '{' || r[0] == '[' {
		// "{ }" and the like.
		inner := bytes.TrimSpace(r[1 : len(r)-1])
		return len(inner) == 0
	}
	return false
}

// sortedKeys returns m's keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
