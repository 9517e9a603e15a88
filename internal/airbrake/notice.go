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

// rawNotice is the v3 document's top level. Members stay raw so that one of
// an unexpected shape costs only itself.
type rawNotice struct {
	Errors      event.Raw `json:"errors"`
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
	if err := gojson.Unmarshal(b, &raw); err != nil {
		return nil, invalid("%v", err)
	}
	n := &Notice{Environment: raw.Environment, Session: raw.Session, Params: raw.Params}
	n.Context = object(raw.Context)
	if _, ok := n.Context["notifier"]; !ok && len(raw.Notifier) > 0 {
		if n.Context == nil {
			n.Context = map[string]event.Raw{}
		}
		n.Context["notifier"] = raw.Notifier
	}
	for _, r := range list(raw.Errors) {
		fields := object(r)
		if fields == nil {
			continue
		}
		e := Error{Type: text(fields["type"]), Message: text(fields["message"])}
		for _, fr := range list(fields["backtrace"]) {
			if f, ok := parseFrame(fr); ok {
				e.Backtrace = append(e.Backtrace, f)
			}
		}
		n.Errors = append(n.Errors, e)
		if len(n.Errors) == maxErrors {
			break
		}
	}
	if len(n.Errors) == 0 {
		return nil, invalid("the notice has no errors")
	}
	return n, nil
}

func parseFrame(r event.Raw) (Frame, bool) {
	if s, ok := str(r); ok {
		// Some notifiers send a backtrace line as text.
		return Frame{File: s}, s != ""
	}
	fields := object(r)
	if fields == nil {
		return Frame{}, false
	}
	f := Frame{
		File:     text(fields["file"]),
		Function: text(fields["function"]),
		Line:     integer(fields["line"]),
		Column:   integer(fields["column"]),
	}
	for k, v := range object(fields["code"]) {
		ln, err := strconv.ParseInt(strings.TrimSpace(k), 10, 64)
		if err != nil || ln <= 0 {
			continue
		}
		if s, ok := str(v); ok {
			if f.Code == nil {
				f.Code = map[int64]string{}
			}
			f.Code[ln] = s
		}
	}
	return f, f.File != "" || f.Function != ""
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

// list decodes a JSON array; a lone object is a list of one, as some
// notifiers send a single error that way.
func list(r event.Raw) []event.Raw {
	r = bytes.TrimSpace(r)
	if len(r) == 0 {
		return nil
	}
	switch r[0] {
	case '{':
		return []event.Raw{r}
	case '[':
		var l []event.Raw
		if gojson.Unmarshal(r, &l) != nil {
			return nil
		}
		return l
	}
	return nil
}

// str returns a JSON string's value.
func str(r event.Raw) (string, bool) {
	r = bytes.TrimSpace(r)
	if len(r) == 0 || r[0] != '"' {
		return "", false
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
func integer(r event.Raw) int64 {
	s := strings.TrimSpace(text(r))
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
