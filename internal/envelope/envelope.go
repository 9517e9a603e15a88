// Package envelope parses what Sentry SDKs send to the ingest endpoints:
// authentication (X-Sentry-Auth, Authorization, query string, DSN),
// Content-Encoding, the legacy /store/ body, the envelope framing and the
// few facts about an event payload that routing needs.
//
// Everything here reads attacker-controlled bytes straight off the network,
// so every function is written to the same contract: it never panics, it
// never loops without consuming input, and the memory it allocates is bounded
// by the size of its input or by an explicit limit (never by a size the input
// merely declares). The behaviour follows Sentry's develop docs and Relay,
// the reference ingest server, so that every SDK that talks to Sentry can talk
// to Faultline; deviations are called out where they happen.
package envelope

import (
	"errors"
)

// Limits are Relay's defaults (relay-config), so that an SDK that is accepted
// by Sentry is accepted here and a payload that Sentry would refuse with 413
// is refused the same way.
const (
	// MaxEventSize bounds one decompressed event or transaction JSON
	// document (Relay's max_event_size, 1 MiB).
	MaxEventSize = 1 << 20
	// MaxEnvelopeSize bounds a whole decompressed envelope (Relay's
	// max_envelope_size, 200 MiB); it is also the default decompression
	// limit when a caller passes a non-positive limit.
	MaxEnvelopeSize = 200 << 20
	// MaxJSONDepth bounds the nesting of any JSON we accept. Without a bound
	// a few kilobytes of "[[[[..." can exhaust the stack or the heap of
	// whatever decodes the document after us.
	MaxJSONDepth = 128
	// MaxSessionsPerEnvelope bounds the number of "session" and "sessions"
	// items in one envelope (Relay's max_session_count); Relay rejects an
	// envelope over it as too large, and so does Parse.
	MaxSessionsPerEnvelope = 100
)

// maxItemsPerEnvelope bounds the number of items Parse accepts. Relay has no
// such count, but a minimal item costs ~14 bytes of input and ~150 bytes of
// Item, so without a cap a 200 MiB envelope could cost gigabytes of memory.
// Real SDK envelopes carry a handful of items (batches use item containers).
const maxItemsPerEnvelope = 10000

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (test with errors.Is); the HTTP handlers map them to status codes, so
// each comment names the status it stands for.
var (
	// ErrTooLarge means the input, or what it decompresses to, exceeds a
	// size or count limit. Maps to 413 Payload Too Large.
	ErrTooLarge = errors.New("payload too large")
	// ErrBadEncoding means an unknown or unsupported Content-Encoding, or
	// compressed or base64 data that is corrupt. Maps to 400.
	ErrBadEncoding = errors.New("bad content encoding")
	// ErrMalformed means the envelope framing or an envelope/item header is
	// broken: not a JSON object, missing newline, wrong field types, a
	// declared length past the end of the body. Maps to 400.
	ErrMalformed = errors.New("malformed envelope")
	// ErrInvalidJSON means a JSON payload is not valid JSON, is not of the
	// required shape, or nests deeper than the allowed depth. Maps to 400.
	ErrInvalidJSON = errors.New("invalid JSON")
	// ErrInvalidEventID means an event_id that is neither 32 hex digits nor
	// a UUID. Maps to 400.
	ErrInvalidEventID = errors.New("invalid event_id")
	// ErrMissingAuth means no credentials were found in the request. Maps to
	// 401 unless the caller finds a DSN in the envelope header instead.
	ErrMissingAuth = errors.New("missing authorization information")
	// ErrMultipleAuth means credentials arrived in more than one place (two
	// headers, or a header and the query string); Relay refuses such a
	// request as "MultipleAuth" rather than guess which one is meant. Maps to
	// 401.
	ErrMultipleAuth = errors.New("multiple authorization payloads detected")
	// ErrBadAuth means credentials are present but unusable: no sentry_key,
	// an invalid sentry_version, a malformed DSN. Maps to 401.
	ErrBadAuth = errors.New("bad authorization information")
	// ErrUnsupportedVersion means a sentry_version newer than
	// ProtocolVersion. Relay refuses it with 400, and so do we.
	ErrUnsupportedVersion = errors.New("unsupported protocol version")
)
