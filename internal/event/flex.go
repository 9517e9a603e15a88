package event

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
)

// unmarshalValues decodes a bare list, {"values": [...]}, or a single
// object into dst.
func unmarshalValues[T any](b []byte, dst *[]T) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '[' {
		*dst = presize[T](b)
		return gojson.Unmarshal(b, dst)
	}
	var wrapped struct {
		Values presized[T] `json:"values"`
	}
	if err := gojson.Unmarshal(b, &wrapped); err != nil {
		return err
	}
	if wrapped.Values != nil {
		*dst = wrapped.Values
		return nil
	}
	// One object without "values": a single entry (old clients).
	var one T
	if err := gojson.Unmarshal(b, &one); err != nil {
		return err
	}
	if !bytes.Equal(b, []byte("{}")) {
		*dst = []T{one}
	}
	return nil
}

// presized is a list decoded into a slice of its exact length.
type presized[T any] []T

// UnmarshalJSON implements json.Unmarshaler.
func (p *presized[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*p = nil
		return nil
	}
	list := presize[T](b)
	if err := gojson.Unmarshal(b, &list); err != nil {
		return err
	}
	*p = list
	return nil
}

// Timestamp is a point in time sent as RFC 3339 (with or without a zone;
// none means UTC, as raven sends it) or as float seconds since the epoch.
// It encodes as float seconds, as Sentry stores it.
type Timestamp struct{ time.Time }

var errBadTimestamp = errors.New("invalid timestamp")

// UnmarshalJSON implements json.Unmarshaler.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := gojson.Unmarshal(b, &s); err != nil {
			return err
		}
		p, err := ParseTime(s)
		if err != nil {
			return err
		}
		t.Time = p
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return errBadTimestamp
	}
	t.Time = FromFloat(f)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(t.UnixMicro())/1e6, 'f', -1, 64), nil
}

// FromFloat converts epoch seconds; values that cannot be a time give zero.
func FromFloat(f float64) time.Time {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC().Round(time.Microsecond)
}

// ParseTime parses the string forms SDKs send.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return FromFloat(f), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errBadTimestamp
}

// FlexString is a string that SDKs sometimes send as a number or a boolean.
type FlexString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '"':
		var v string
		if err := gojson.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = FlexString(v)
	case b[0] == '{' || b[0] == '[':
		// Objects are not strings; keep their JSON text rather than fail.
		*s = FlexString(b)
	default:
		*s = FlexString(b)
	}
	return nil
}

// FlexInt is an integer that SDKs sometimes send as a string or a float.
type FlexInt int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *FlexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	if s == "" || s == "null" {
		return nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = FlexInt(v)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > 1e15 {
		return errors.New("invalid integer")
	}
	*n = FlexInt(f)
	return nil
}

// Int returns the value or 0 for nil.
func (n *FlexInt) Int() int64 {
	if n == nil {
		return 0
	}
	return int64(*n)
}

// Pair is a key and a value.
type Pair [2]string

// Pairs is a list of key/value pairs, sent either as an object or as a list
// of two-element lists. Order is kept.
type Pairs []Pair

// UnmarshalJSON implements json.Unmarshaler.
func (p *Pairs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '[' {
		var list []Raw
		if err := gojson.Unmarshal(b, &list); err != nil {
			return err
		}
		for _, item := range list {
			var kv []FlexString
			if err := gojson.Unmarshal(item, &kv); err != nil || len(kv) != 2 {
				continue // Relay drops malformed pairs
			}
			*p = append(*p, Pair{string(kv[0]), string(kv[1])})
		}
		return nil
	}
	// An object: decode preserving order.
	dec := gojson.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != gojson.Delim('{') {
		return errors.New("pairs: want an object or a list")
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := kt.(string)
		var v FlexString
		if err := dec.Decode(&v); err != nil {
			return err
		}
		*p = append(*p, Pair{k, string(v)})
	}
	return nil
}

// Get returns the first value for key.
func (p Pairs) Get(key string) (string, bool) {
	for _, kv := range p {
		if kv[0] == key {
			return kv[1], true
		}
	}
	return "", false
}

// Tags are the event's tags.
type Tags = Pairs

// mergeField copies the field named by JSON key k from src into dst.
func mergeField(dst, src *Event, k string) {
	dv, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	t := dv.Type()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == k {
			dv.Field(i).Set(sv.Field(i))
			return
		}
	}
}

// maxPresized bounds the elements allocated ahead of decoding a list, so
// that a hostile list of a million empty values allocates only as it is
// decoded.
const maxPresized = 256

// presize returns an empty slice with room for the elements of the JSON
// array b (up to maxPresized), so that the decoder fills it in place
// instead of growing it by doubling (frames and breadcrumbs are most of an
// event's memory). It returns nil for anything but an array.
func presize[T any](b []byte) []T {
	if len(b) == 0 || b[0] != '[' {
		return nil
	}
	return make([]T, 0, min(countElements(b), maxPresized))
}

// countElements counts the elements of the JSON array that b starts with.
// b is valid JSON (the decoder checked it), so brackets and commas outside
// strings are all it needs to see.
func countElements(b []byte) int {
	depth, commas, empty := 0, 0, true
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			empty = false
		case '[', '{':
			if depth > 0 {
				empty = false
			}
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				if empty {
					return 0
				}
				return commas + 1
			}
		case ',':
			if depth == 1 {
				commas++
			}
		case ' ', '\t', '\n', '\r':
		default:
			empty = false
		}
	}
	return commas + 1
}

// Frames are a stack trace's frames, decoded into a slice of their exact
// number.
type Frames []Frame

// UnmarshalJSON implements json.Unmarshaler.
func (f *Frames) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*f = nil
		return nil
	}
	list := presize[Frame](b)
	if err := gojson.Unmarshal(b, &list); err != nil {
		return err
	}
	*f = list
	return nil
}
