package envelope

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// This file holds a small validating JSON scanner. The ingest path must look
// at every event (to learn its id and type and to reject garbage with a 400
// instead of failing later in a worker), and unmarshalling an 11 KB event into
// a map costs tens of microseconds and many allocations. The scanner validates
// RFC 8259 grammar, UTF-8 inside strings (as Relay's serde_json does) and a
// nesting bound in one pass, without recursion and without allocating, and
// lets callers pick out a few top-level members.

// EventInfo is what the ingest path needs to know about an event before it
// is queued: its id (to answer the SDK and deduplicate) and its type (to
// route transactions apart from errors).
type EventInfo struct{ EventID, Type string }

// isSpace marks JSON insignificant whitespace. It is a constant table.
var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// strSafe marks bytes that can appear verbatim in a JSON string and need no
// further checks: printable ASCII except the quote and the backslash.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// hexVal maps a hex digit to its value and anything else to 0xff.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
		t[c-'a'+'A'] = byte(c - 'a' + 10)
	}
	return t
}()

func jsonErr(i int, msg string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrInvalidJSON, msg, i)
}

func skipWS(data []byte, i int) int {
	// The '<= ' test first: compact JSON, the common case, exits on it.
	for i < len(data) && data[i] <= ' ' && isSpace[data[i]] {
		i++
	}
	return i
}

const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

// stringSpecial returns a mask whose lowest set bit marks the first byte of
// x (little endian) that the string fast path cannot take verbatim: a control
// character, a quote, a backslash or a non-ASCII byte. Subtraction borrows
// only propagate upwards from a byte that is itself flagged, so the lowest
// flagged byte is always exact, which is all we use; scanning 8 bytes per
// step stays correct. (The usual "&^ x" terms are unnecessary because any
// byte they would exclude has its high bit set and is flagged anyway.)
func stringSpecial(x uint64) uint64 {
	return ((x - swarLo*0x20) | ((x ^ swarLo*'"') - swarLo) | ((x ^ swarLo*'\\') - swarLo) | x) & swarHi
}

// stringEnd finds the closing quote of the string starting at data[i] ==
// '"' when the string is plain printable ASCII, the common case, and
// returns the index just past it; otherwise it returns -1 and the caller
// falls back to scanString. It is kept tiny so the hot loops can use it
// without a call to the full validator.
func stringEnd(data []byte, i int) int {
	i++
	for i+8 <= len(data) {
		x := binary.LittleEndian.Uint64(data[i:])
		if m := stringSpecial(x); m != 0 {
			tz := bits.TrailingZeros64(m)
			// Take the byte from x rather than reloading it from data.
			if byte(x>>(tz&^7)) == '"' {
				return i + tz>>3 + 1
			}
			return -1
		}
		i += 8
	}
	for i < len(data) && strSafe[data[i]] {
		i++
	}
	if i < len(data) && data[i] == '"' {
		return i + 1
	}
	return -1
}

// scanString validates the string starting at data[i] == '"' and returns the
// index just past its closing quote and whether it contains escapes.
func scanString(data []byte, i int) (int, bool, error) {
	start := i
	i++
	escaped := false
	for {
		for i+8 <= len(data) {
			if m := stringSpecial(binary.LittleEndian.Uint64(data[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto special
			}
			i += 8
		}
		for i < len(data) && strSafe[data[i]] {
			i++
		}
		if i >= len(data) {
			return i, false, jsonErr(start, "unterminated string")
		}
	special:
		switch c := data[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(data) {
				return i, false, jsonErr(i, "unterminated escape")
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) ||
					hexVal[data[i+2]]|hexVal[data[i+3]]|hexVal[data[i+4]]|hexVal[data[i+5]] == 0xff {
					return i, false, jsonErr(i, "invalid \\u escape")
				}
				i += 6
			default:
				return i, false, jsonErr(i, "invalid escape")
			}
		case c < 0x20:
			return i, false, jsonErr(i, "control character in string")
		case c < 0x80:
			i++ // only reachable from the byte loop's end check; kept for safety
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				return i, false, jsonErr(i, "invalid UTF-8 in string")
			}
			i += size
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber validates the number starting at data[i] and returns the index
// just past it.
func scanNumber(data []byte, i int) (int, error) {
	start := i
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i++
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	default:
		return i, jsonErr(start, "invalid number")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || !isDigit(data[i]) {
			return i, jsonErr(start, "invalid number")
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return i, jsonErr(start, "invalid number")
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	return i, nil
}

// skipValue validates the JSON value at data[i] (after optional whitespace)
// and returns the index just past it. depth is the number of containers that
// already enclose the value; containers opened inside it may bring the total
// to at most maxDepth. It is iterative (a bit per open container records
// whether it is an object), so adversarial nesting cannot grow the goroutine
// stack, and the bit stack itself is bounded by maxDepth and by the input.
func skipValue(data []byte, i, depth, maxDepth int) (int, error) {
	var (
		stackBuf [4]uint64 // 256 levels without allocating
		stack    = stackBuf[:]
		n        int // open containers since entry
		err      error
	)
	i = skipWS(data, i)

value:
	if i >= len(data) {
		return i, jsonErr(i, "unexpected end of input")
	}
	switch c := data[i]; c {
	case '{', '[':
		depth++
		if depth > maxDepth {
			return i, jsonErr(i, "nesting too deep")
		}
		if n>>6 >= len(stack) {
			stack = append(stack, 0)
		}
		if c == '{' {
			stack[n>>6] |= 1 << (n & 63)
		} else {
			stack[n>>6] &^= 1 << (n & 63)
		}
		n++
		i = skipWS(data, i+1)
		if i < len(data) && (data[i] == '}' && c == '{' || data[i] == ']' && c == '[') {
			i++
			n--
			depth--
			goto after
		}
		if c == '{' {
			goto key
		}
		goto value
	case '"':
		if j := stringEnd(data, i); j > 0 {
			i = j
		} else if i, _, err = scanString(data, i); err != nil {
			return i, err
		}
	case 't':
		if !bytes.HasPrefix(data[i:], []byte("true")) {
			return i, jsonErr(i, "invalid literal")
		}
		i += 4
	case 'f':
		if !bytes.HasPrefix(data[i:], []byte("false")) {
			return i, jsonErr(i, "invalid literal")
		}
		i += 5
	case 'n':
		if !bytes.HasPrefix(data[i:], []byte("null")) {
			return i, jsonErr(i, "invalid literal")
		}
		i += 4
	default:
		if c != '-' && !isDigit(c) {
			return i, jsonErr(i, "unexpected character")
		}
		if i, err = scanNumber(data, i); err != nil {
			return i, err
		}
	}
	goto after

key:
	if i >= len(data) || data[i] != '"' {
		return i, jsonErr(i, "expected object key")
	}
	if j := stringEnd(data, i); j > 0 {
		i = j
	} else if i, _, err = scanString(data, i); err != nil {
		return i, err
	}
	i = skipWS(data, i)
	if i >= len(data) || data[i] != ':' {
		return i, jsonErr(i, "expected ':'")
	}
	i = skipWS(data, i+1)
	goto value

after:
	if n == 0 {
		return i, nil
	}
	i = skipWS(data, i)
	if i >= len(data) {
		return i, jsonErr(i, "unexpected end of input")
	}
	if stack[(n-1)>>6]&(1<<((n-1)&63)) != 0 {
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
			goto key
		case '}':
			i++
			n--
			depth--
			goto after
		}
		return i, jsonErr(i, "expected ',' or '}'")
	}
	switch data[i] {
	case ',':
		i = skipWS(data, i+1)
		goto value
	case ']':
		i++
		n--
		depth--
		goto after
	}
	return i, jsonErr(i, "expected ',' or ']'")
}

// objIter walks the members of one JSON object, validating as it goes, so a
// caller can look at the few members it cares about and skip the rest.
// After next reports a member the caller must consume its value with value.
type objIter struct {
	data     []byte
	i        int
	maxDepth int
	first    bool
}

// newObjIter starts an object at data[i] (after optional whitespace). The
// object itself counts as one level of maxDepth.
func newObjIter(data []byte, i, maxDepth int) (objIter, error) {
	i = skipWS(data, i)
	if i >= len(data) || data[i] != '{' {
		return objIter{}, jsonErr(i, "expected a JSON object")
	}
	if maxDepth < 1 {
		return objIter{}, jsonErr(i, "nesting too deep")
	}
	return objIter{data: data, i: i + 1, maxDepth: maxDepth, first: true}, nil
}

// next returns the raw bytes of the next key (without quotes, escapes not
// decoded) and whether it contains escapes; ok is false after the closing
// brace, and it.i then points just past it.
func (it *objIter) next() (key []byte, escaped, ok bool, err error) {
	data := it.data
	i := skipWS(data, it.i)
	if i >= len(data) {
		return nil, false, false, jsonErr(i, "unexpected end of input")
	}
	if it.first {
		it.first = false
		if data[i] == '}' {
			it.i = i + 1
			return nil, false, false, nil
		}
	} else {
		switch data[i] {
		case '}':
			it.i = i + 1
			return nil, false, false, nil
		case ',':
			i = skipWS(data, i+1)
		default:
			return nil, false, false, jsonErr(i, "expected ',' or '}'")
		}
	}
	if i >= len(data) || data[i] != '"' {
		return nil, false, false, jsonErr(i, "expected object key")
	}
	end, esc, err := scanString(data, i)
	if err != nil {
		return nil, false, false, err
	}
	key = data[i+1 : end-1]
	i = skipWS(data, end)
	if i >= len(data) || data[i] != ':' {
		return nil, false, false, jsonErr(i, "expected ':'")
	}
	it.i = skipWS(data, i+1)
	return key, esc, true, nil
}

// value validates the current member's value and returns its raw bytes.
func (it *objIter) value() ([]byte, error) {
	start := it.i
	end, err := skipValue(it.data, start, 1, it.maxDepth)
	if err != nil {
		return nil, err
	}
	it.i = end
	return it.data[start:end:end], nil
}

// keyIs reports whether a raw key equals name, decoding escapes only when
// the key has any (keys like "event\u005fid" are legal JSON and mean the
// same thing to every decoder downstream, so they must match here too).
func keyIs(raw []byte, escaped bool, name string) bool {
	if !escaped {
		return string(raw) == name
	}
	return unescape(nil, raw) == name
}

// decodeString returns the Go string for a validated raw JSON string
// (quotes included).
func decodeString(raw []byte) string {
	content := raw[1 : len(raw)-1]
	if bytes.IndexByte(content, '\\') < 0 {
		return string(content)
	}
	return unescape(make([]byte, 0, len(content)), content)
}

// unescape decodes the escapes of validated string content. Lone or
// mismatched surrogates become U+FFFD, as encoding/json does, so the value we
// extract is the value any later decoder sees.
func unescape(dst, s []byte) string {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			break
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return string(dst)
			}
			i += 6
			if r >= 0xD800 && r < 0xDC00 {
				if r2, ok := hex4(s, i+2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' && r2 >= 0xDC00 && r2 < 0xE000 {
					dst = utf8.AppendRune(dst, 0x10000+(r-0xD800)<<10+(r2-0xDC00))
					i += 6
					continue
				}
				r = utf8.RuneError
			} else if r >= 0xDC00 && r < 0xE000 {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return string(dst)
}

func hex4(s []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		v := hexVal[c]
		if v == 0xff {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// ValidateJSON checks that data is exactly one valid JSON document (any
// type; surrounding whitespace allowed), that strings are valid UTF-8 and
// that arrays and objects nest at most maxDepth deep. It is used for item
// payloads other than events (sessions, client reports, ...) so that nothing
// unparseable or pathologically nested is queued for the workers.
// A non-positive maxDepth means MaxJSONDepth.
func ValidateJSON(data []byte, maxDepth int) error {
	if maxDepth <= 0 {
		maxDepth = MaxJSONDepth
	}
	i, err := skipValue(data, 0, 0, maxDepth)
	if err != nil {
		return err
	}
	if i = skipWS(data, i); i != len(data) {
		return jsonErr(i, "trailing data after JSON value")
	}
	return nil
}

// InspectEvent validates an event or transaction payload and extracts its
// top-level "event_id" (normalized) and "type" in a single pass. The payload
// must be a JSON object no larger than MaxEventSize (else ErrTooLarge) and no
// deeper than MaxJSONDepth. A missing or null event_id yields ""; an invalid
// one yields ErrInvalidEventID. A "type" that is not a string is ignored.
// When a key repeats, the last occurrence wins, as in encoding/json and
// serde_json maps, so our answer matches what later decoding sees.
func InspectEvent(data []byte) (EventInfo, error) {
	var info EventInfo
	if len(data) > MaxEventSize {
		return info, fmt.Errorf("%w: event is %d bytes, limit %d", ErrTooLarge, len(data), MaxEventSize)
	}
	it, err := newObjIter(data, 0, MaxJSONDepth)
	if err != nil {
		return info, err
	}
	var idRaw, typeRaw []byte
	for {
		key, esc, ok, err := it.next()
		if err != nil {
			return info, err
		}
		if !ok {
			break
		}
		raw, err := it.value()
		if err != nil {
			return info, err
		}
		// Cheap length test first: almost every key is neither.
		if len(key) == 8 || len(key) == 4 || esc {
			if keyIs(key, esc, "event_id") {
				idRaw = raw
			} else if keyIs(key, esc, "type") {
				typeRaw = raw
			}
		}
	}
	if i := skipWS(data, it.i); i != len(data) {
		return info, jsonErr(i, "trailing data after JSON value")
	}
	if len(typeRaw) > 0 && typeRaw[0] == '"' {
		info.Type = decodeString(typeRaw)
	}
	if len(idRaw) > 0 {
		switch idRaw[0] {
		case '"':
			if info.EventID, err = NormalizeEventID(decodeString(idRaw)); err != nil {
				return EventInfo{Type: info.Type}, err
			}
		case 'n': // null: absent
		default:
			return EventInfo{Type: info.Type}, fmt.Errorf("%w: event_id is not a string", ErrInvalidEventID)
		}
	}
	return info, nil
}
