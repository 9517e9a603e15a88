package envelope

import (
	"bytes"
	"fmt"
	"strconv"
)

// Envelope is a parsed Sentry envelope. Payloads and raw headers are
// sub-slices of the parsed input (with their capacity clipped, so appending
// to one cannot overwrite its neighbour); the input must not be modified
// while the Envelope is in use.
type Envelope struct {
	Header    Header
	RawHeader []byte // the envelope header's JSON as received
	Items     []Item
}

// Header holds the envelope header fields ingest needs. Other fields
// (trace, ...) stay available in Envelope.RawHeader.
type Header struct {
	EventID string   // normalized (32 lowercase hex) or "" if absent
	DSN     string   // as sent; see AuthFromDSN
	SentAt  string   // as sent (RFC 3339 per the protocol)
	SDK     *SDKInfo // nil unless the header has an "sdk" object
}

// SDKInfo names the SDK that sent an envelope.
type SDKInfo struct{ Name, Version string }

// Item is one envelope item. Type is the item header's "type" verbatim
// ("event", "transaction", "attachment", "session", "sessions",
// "client_report", "user_report", "feedback", "check_in", "log", "span", or
// anything else: unknown types are kept, as Relay does, so the caller can
// decide to drop them).
type Item struct {
	Type           string
	Length         int // declared "length", or -1 when the header has none
	ContentType    string
	Filename       string
	AttachmentType string
	// ItemCount is a container item's declared "item_count" (logs and
	// spans batch many records in one item), or -1 when absent.
	ItemCount int
	RawHeader []byte // the item header's JSON as received
	Payload   []byte // sub-slice of the input
}

// Parse parses an envelope as Relay does (relay-server envelope/mod.rs and
// item.rs):
//
//   - the envelope header is a JSON object, followed by "\n" or the end of
//     input;
//   - each item header is a JSON object followed by "\n" or the end of input;
//   - with a "length", the payload is exactly that many bytes (binary safe)
//     and must be followed by "\n" or the end of input; without one, the
//     payload runs to the next "\n" or the end of input;
//   - JSON whitespace (including blank lines) before a header is skipped,
//     because Relay reads headers with a streaming JSON decoder that does so.
//
// One deliberate leniency: whitespace after the last item is ignored,
// where Relay fails with "unexpected end of file"; it carries no item, and
// rejecting a whole event over a stray newline helps nobody.
//
// Parse enforces MaxEnvelopeSize, MaxSessionsPerEnvelope and an item count
// cap (ErrTooLarge), MaxJSONDepth for headers, and normalizes the header's
// event_id (ErrInvalidEventID). It does not look inside payloads: use
// InspectEvent and ValidateJSON on the items that need it.
func Parse(data []byte) (*Envelope, error) {
	if len(data) > MaxEnvelopeSize {
		return nil, fmt.Errorf("%w: envelope is %d bytes, limit %d", ErrTooLarge, len(data), MaxEnvelopeSize)
	}
	start := skipWS(data, 0)
	if start >= len(data) {
		return nil, fmt.Errorf("%w: missing envelope header", ErrMalformed)
	}
	env := &Envelope{}
	end, err := parseEnvelopeHeader(data, start, &env.Header)
	if err != nil {
		return nil, err
	}
	env.RawHeader = data[start:end:end]
	if end < len(data) && data[end] != '\n' {
		return nil, fmt.Errorf("%w: missing newline after envelope header", ErrMalformed)
	}

	sessions := 0
	for off := end + 1; off < len(data); {
		hs := skipWS(data, off)
		if hs >= len(data) {
			break // trailing whitespace
		}
		n := len(env.Items)
		if n >= maxItemsPerEnvelope {
			return nil, fmt.Errorf("%w: more than %d items", ErrTooLarge, maxItemsPerEnvelope)
		}
		var item Item
		he, err := parseItemHeader(data, hs, &item)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", n, err)
		}
		item.RawHeader = data[hs:he:he]
		if he < len(data) && data[he] != '\n' {
			return nil, fmt.Errorf("%w: item %d: missing newline after item header", ErrMalformed, n)
		}
		// The last header needs no newline, so the payload may start at EOF.
		ps := min(he+1, len(data))
		var pe int
		if item.Length >= 0 {
			if item.Length > len(data)-ps {
				return nil, fmt.Errorf("%w: item %d: length %d exceeds the %d bytes left", ErrMalformed, n, item.Length, len(data)-ps)
			}
			pe = ps + item.Length
			if pe < len(data) && data[pe] != '\n' {
				return nil, fmt.Errorf("%w: item %d: missing newline after payload", ErrMalformed, n)
			}
		} else if nl := bytes.IndexByte(data[ps:], '\n'); nl >= 0 {
			pe = ps + nl
		} else {
			pe = len(data)
		}
		item.Payload = data[ps:pe:pe]
		if item.Type == "session" || item.Type == "sessions" {
			if sessions++; sessions > MaxSessionsPerEnvelope {
				return nil, fmt.Errorf("%w: more than %d session items", ErrTooLarge, MaxSessionsPerEnvelope)
			}
		}
		env.Items = append(env.Items, item)
		off = pe + 1
	}
	return env, nil
}

// parseEnvelopeHeader reads the envelope header object at data[i] and
// returns the index just past it. Field types follow Relay's
// EnvelopeHeaders: event_id, dsn and sent_at must be strings or null; sdk is
// not a typed field there, so an sdk of the wrong shape is ignored.
func parseEnvelopeHeader(data []byte, i int, h *Header) (int, error) {
	it, err := newObjIter(data, i, MaxJSONDepth)
	if err != nil {
		return 0, fmt.Errorf("%w: envelope header: %v", ErrMalformed, err)
	}
	var idRaw []byte
	for {
		key, esc, ok, err := it.next()
		if err != nil {
			return 0, fmt.Errorf("%w: envelope header: %v", ErrMalformed, err)
		}
		if !ok {
			break
		}
		raw, err := it.value()
		if err != nil {
			return 0, fmt.Errorf("%w: envelope header: %v", ErrMalformed, err)
		}
		switch {
		case keyIs(key, esc, "event_id"):
			idRaw = raw
		case keyIs(key, esc, "dsn"):
			if h.DSN, err = optString(raw, "dsn"); err != nil {
				return 0, err
			}
		case keyIs(key, esc, "sent_at"):
			if h.SentAt, err = optString(raw, "sent_at"); err != nil {
				return 0, err
			}
		case keyIs(key, esc, "sdk"):
			h.SDK = parseSDK(raw)
		}
	}
	if len(idRaw) > 0 {
		switch idRaw[0] {
		case '"':
			if h.EventID, err = NormalizeEventID(decodeString(idRaw)); err != nil {
				return 0, err
			}
		case 'n':
			h.EventID = ""
		default:
			return 0, fmt.Errorf("%w: envelope header event_id is not a string", ErrInvalidEventID)
		}
	}
	return it.i, nil
}

// parseSDK reads {"name":..., "version":...} from an already validated
// value; anything else yields nil.
func parseSDK(raw []byte) *SDKInfo {
	it, err := newObjIter(raw, 0, MaxJSONDepth)
	if err != nil {
		return nil
	}
	sdk := &SDKInfo{}
	for {
		key, esc, ok, err := it.next()
		if err != nil || !ok {
			break
		}
		v, err := it.value()
		if err != nil {
			break
		}
		if v[0] != '"' {
			continue
		}
		switch {
		case keyIs(key, esc, "name"):
			sdk.Name = decodeString(v)
		case keyIs(key, esc, "version"):
			sdk.Version = decodeString(v)
		}
	}
	return sdk
}

// parseItemHeader reads an item header object at data[i] into item and
// returns the index just past it. As in Relay's ItemHeaders, "type" is a
// required string, "length" an optional unsigned integer, and the string
// fields may be null.
func parseItemHeader(data []byte, i int, item *Item) (int, error) {
	it, err := newObjIter(data, i, MaxJSONDepth)
	if err != nil {
		return 0, fmt.Errorf("%w: item header: %v", ErrMalformed, err)
	}
	item.Length, item.ItemCount = -1, -1
	hasType := false
	for {
		key, esc, ok, err := it.next()
		if err != nil {
			return 0, fmt.Errorf("%w: item header: %v", ErrMalformed, err)
		}
		if !ok {
			break
		}
		raw, err := it.value()
		if err != nil {
			return 0, fmt.Errorf("%w: item header: %v", ErrMalformed, err)
		}
		switch {
		case keyIs(key, esc, "type"):
			if raw[0] != '"' {
				return 0, fmt.Errorf("%w: item type is not a string", ErrMalformed)
			}
			item.Type = internType(raw)
			hasType = true
		case keyIs(key, esc, "length"):
			if item.Length, err = parseLength(raw); err != nil {
				return 0, err
			}
		case keyIs(key, esc, "item_count"):
			// Same integer rules as "length" (Relay reads both as u32).
			if item.ItemCount, err = parseLength(raw); err != nil {
				return 0, err
			}
		case keyIs(key, esc, "content_type"):
			if item.ContentType, err = optString(raw, "content_type"); err != nil {
				return 0, err
			}
		case keyIs(key, esc, "filename"):
			if item.Filename, err = optString(raw, "filename"); err != nil {
				return 0, err
			}
		case keyIs(key, esc, "attachment_type"):
			if item.AttachmentType, err = optString(raw, "attachment_type"); err != nil {
				return 0, err
			}
		}
	}
	if !hasType {
		return 0, fmt.Errorf("%w: item header has no type", ErrMalformed)
	}
	return it.i, nil
}

// internType returns the item type string, without allocating for the
// types SDKs send every day.
func internType(raw []byte) string {
	switch string(raw) {
	case `"event"`:
		return "event"
	case `"transaction"`:
		return "transaction"
	case `"attachment"`:
		return "attachment"
	case `"session"`:
		return "session"
	case `"sessions"`:
		return "sessions"
	case `"client_report"`:
		return "client_report"
	case `"user_report"`:
		return "user_report"
	case `"feedback"`:
		return "feedback"
	case `"check_in"`:
		return "check_in"
	case `"log"`:
		return "log"
	case `"span"`:
		return "span"
	case `"profile"`:
		return "profile"
	case `"replay_event"`:
		return "replay_event"
	case `"replay_recording"`:
		return "replay_recording"
	}
	return decodeString(raw)
}

// optString decodes a header field that must be a string or null.
func optString(raw []byte, field string) (string, error) {
	switch raw[0] {
	case '"':
		return decodeString(raw), nil
	case 'n':
		return "", nil
	}
	return "", fmt.Errorf("%w: header field %s is not a string", ErrMalformed, field)
}

// parseLength decodes "length": null (absent, -1) or a non-negative integer
// without fraction or exponent (Relay reads it as a u32, which rejects
// those too).
func parseLength(raw []byte) (int, error) {
	if raw[0] == 'n' {
		return -1, nil
	}
	if len(raw) > 10 {
		return 0, fmt.Errorf("%w: item length %.20s is out of range", ErrMalformed, raw)
	}
	for _, c := range raw {
		if !isDigit(c) {
			return 0, fmt.Errorf("%w: item length %.20s is not a non-negative integer", ErrMalformed, raw)
		}
	}
	// At most 10 digits, so this cannot overflow; anything past
	// MaxEnvelopeSize cannot be satisfied by any input Parse accepts, and
	// refusing it here keeps the int conversion safe on 32-bit platforms.
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || n > MaxEnvelopeSize {
		return 0, fmt.Errorf("%w: item length %.20s is out of range", ErrMalformed, raw)
	}
	return int(n), nil
}
