package envelope

import (
	"encoding/json"
	"strconv"
)

// Encode serializes an envelope header and items back into envelope bytes.
// Ingest uses it to split a large envelope into one message per item, so the
// output is built to be unambiguous for any reader: every item header carries
// an explicit "length" equal to len(Payload) (replacing any declared one),
// every payload is followed by "\n", and headers are compacted onto one line.
//
// An item's RawHeader is kept (all fields, including ones this package does
// not know) when it is a valid JSON object; otherwise the header is rebuilt
// from the Item fields. A rawHeader that is empty or not a JSON object is
// written as "{}", because a broken header line would make the whole output
// unparseable.
func Encode(rawHeader []byte, items ...Item) []byte {
	size := len(rawHeader) + 1
	for i := range items {
		size += len(items[i].RawHeader) + len(items[i].Payload) + 64
	}
	buf := make([]byte, 0, size)
	if end, err := skipValue(rawHeader, 0, 0, MaxJSONDepth); err == nil &&
		skipWS(rawHeader, end) == len(rawHeader) && rawHeader[skipWS(rawHeader, 0)] == '{' {
		buf = appendCompact(buf, rawHeader)
	} else {
		buf = append(buf, "{}"...)
	}
	buf = append(buf, '\n')
	for i := range items {
		buf = appendItemHeader(buf, &items[i])
		buf = append(buf, '\n')
		buf = append(buf, items[i].Payload...)
		buf = append(buf, '\n')
	}
	return buf
}

// appendItemHeader writes the item's header with "length" set to the
// payload's length.
func appendItemHeader(buf []byte, item *Item) []byte {
	length := strconv.Itoa(len(item.Payload))
	if len(item.RawHeader) > 0 {
		if out, ok := rewriteHeader(buf, item.RawHeader, length); ok {
			return out
		}
	}
	buf = append(buf, `{"type":`...)
	buf = appendJSONString(buf, item.Type)
	buf = append(buf, `,"length":`...)
	buf = append(buf, length...)
	for _, f := range [...]struct{ k, v string }{
		{"content_type", item.ContentType},
		{"filename", item.Filename},
		{"attachment_type", item.AttachmentType},
	} {
		if f.v != "" {
			buf = append(buf, ',')
			buf = appendJSONString(buf, f.k)
			buf = append(buf, ':')
			buf = appendJSONString(buf, f.v)
		}
	}
	return append(buf, '}')
}

// rewriteHeader copies the members of the JSON object raw, compacted, except
// "length", and appends "length":length. It reports false (leaving buf
// unchanged in content) if raw is not a single valid JSON object.
func rewriteHeader(buf, raw []byte, length string) ([]byte, bool) {
	orig := len(buf)
	it, err := newObjIter(raw, 0, MaxJSONDepth)
	if err != nil {
		return buf, false
	}
	buf = append(buf, '{')
	for {
		key, esc, ok, err := it.next()
		if err != nil {
			return buf[:orig], false
		}
		if !ok {
			break
		}
		val, err := it.value()
		if err != nil {
			return buf[:orig], false
		}
		if keyIs(key, esc, "length") {
			continue
		}
		buf = append(buf, '"')
		buf = append(buf, key...)
		buf = append(buf, '"', ':')
		buf = appendCompact(buf, val)
		buf = append(buf, ',')
	}
	if skipWS(raw, it.i) != len(raw) {
		return buf[:orig], false
	}
	buf = append(buf, `"length":`...)
	buf = append(buf, length...)
	return append(buf, '}'), true
}

// appendCompact appends validated JSON with insignificant whitespace
// removed, so that a header that arrived spread over several lines is
// written back on one.
func appendCompact(buf, raw []byte) []byte {
	inStr, esc := false, false
	for _, c := range raw {
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
		case isSpace[c]:
			continue
		}
		buf = append(buf, c)
	}
	return buf
}

// appendJSONString appends s as a JSON string literal. encoding/json's
// escaping is used so that invalid UTF-8 and control characters cannot break
// the header line.
func appendJSONString(buf []byte, s string) []byte {
	b, err := json.Marshal(s)
	if err != nil { // cannot happen for a string
		return append(buf, `""`...)
	}
	return append(buf, b...)
}
