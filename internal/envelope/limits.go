package envelope

import (
	"fmt"
	"strings"
)

// Per-item limits, Relay's defaults (relay-config Limits), so that an
// envelope Sentry accepts is accepted here and one it refuses with 413 is
// refused the same way. MaxEventSize, MaxEnvelopeSize and
// MaxSessionsPerEnvelope are in envelope.go.
const (
	// MaxAttachmentSize bounds one attachment item (max_attachment_size).
	MaxAttachmentSize = 200 << 20
	// MaxAttachmentsSize bounds all attachments of an envelope together
	// (max_attachments_size).
	MaxAttachmentsSize = 200 << 20
	// MaxAttachmentCount bounds the attachments of one envelope
	// (max_attachment_count).
	MaxAttachmentCount = 30
	// MaxSessionsSize bounds the session items of an envelope together
	// (max_sessions_size).
	MaxSessionsSize = 10 << 20
	// MaxClientReportsSize and MaxClientReportsCount bound client reports.
	MaxClientReportsSize  = 100 << 10
	MaxClientReportsCount = 100
	// MaxCheckInSize bounds a cron monitor check-in (max_check_in_size).
	MaxCheckInSize = 100 << 10
	// MaxLogSize, MaxSpanSize and MaxContainerSize bound logs and spans:
	// a container item ("item_count" records in one payload) may hold
	// MaxContainerSize bytes, each record on average at most the per-record
	// size.
	MaxLogSize       = 2 << 20
	MaxSpanSize      = 10 << 20
	MaxContainerSize = 12 << 20
	// MaxStandaloneSpanCount bounds legacy span items (one span each).
	MaxStandaloneSpanCount = 25
	// Profiles, replays and metrics are not processed by Faultline, but
	// are held to Relay's limits all the same so that the answer matches.
	MaxProfileSize          = 50 << 20
	MaxReplayCompressedSize = 10 << 20
	MaxMetricsSize          = 1 << 20
)

// limit is the budget of one class of items while an envelope is checked.
type limit struct {
	itemSize, count, total int
}

// apply charges item against the budget, as Relay's Limit::apply does: a
// container item's size is averaged over its records.
func (l *limit) apply(it *Item) bool {
	size := len(it.Payload)
	if it.isContainer() {
		size /= max(it.ItemCount, 1)
	}
	if size > l.itemSize || l.count <= 0 || len(it.Payload) > l.total {
		return false
	}
	l.count--
	l.total -= len(it.Payload)
	return true
}

// isContainer reports whether the item batches records
// ("application/vnd.sentry.items.*" content types, as logs and spans v2).
func (it *Item) isContainer() bool {
	return strings.HasPrefix(it.ContentType, "application/vnd.sentry.items.")
}

// CheckLimits applies Relay's per-type size and count limits
// (check_envelope_size_limits) and returns an error wrapping ErrTooLarge
// that names the offending type, so the caller answers 413 as Relay does.
// Notably at most one event-like item (event, transaction, security report,
// feedback) is allowed per envelope. Unknown item types are not limited
// here: they are skipped, never stored.
func CheckLimits(env *Envelope) error {
	var (
		event      = limit{MaxEventSize, 1, MaxEventSize}
		attachment = limit{MaxAttachmentSize, MaxAttachmentCount, MaxAttachmentsSize}
		session    = limit{MaxSessionsSize, MaxSessionsPerEnvelope, MaxSessionsSize}
		report     = limit{MaxClientReportsSize, MaxClientReportsCount, MaxClientReportsSize}
		checkIn    = limit{MaxCheckInSize, 1, MaxCheckInSize}
		profile    = limit{MaxProfileSize, 1, MaxProfileSize}
		replay     = limit{MaxReplayCompressedSize, 1, MaxReplayCompressedSize}
		video      = limit{MaxReplayCompressedSize, 1, MaxReplayCompressedSize}
		statsd     = limit{MaxMetricsSize, 1, MaxMetricsSize}
		buckets    = limit{MaxMetricsSize, 1, MaxMetricsSize}
		log        = limit{MaxLogSize, 1, MaxContainerSize}
		metric     = limit{MaxEventSize, 1, MaxContainerSize}
		span       = limit{MaxSpanSize, 1, MaxContainerSize}
		spanLegacy = limit{MaxSpanSize, MaxStandaloneSpanCount, MaxContainerSize}
	)
	for i := range env.Items {
		it := &env.Items[i]
		var l *limit
		switch it.Type {
		case "event", "transaction", "security", "raw_security", "replay_event", "feedback", "user_report_v2", "form_data", "nel":
			l = &event
		case "attachment", "unreal_report", "user_report":
			l = &attachment
		case "replay_recording":
			l = &replay
		case "replay_video":
			l = &video
		case "session", "sessions":
			l = &session
		case "client_report":
			l = &report
		case "profile", "profile_chunk":
			l = &profile
		case "check_in":
			l = &checkIn
		case "statsd":
			l = &statsd
		case "metric_buckets":
			l = &buckets
		case "log", "otel_log":
			l = &log
		case "trace_metric":
			l = &metric
		case "span", "otel_span":
			l = &spanLegacy
			if it.isContainer() {
				l = &span
			}
		default:
			continue
		}
		if !l.apply(it) {
			name := it.Type
			if it.AttachmentType != "" && l == &attachment {
				name = it.AttachmentType
			}
			return fmt.Errorf("%w: envelope exceeded size limits for type '%s' (https://develop.sentry.dev/sdk/envelopes/#size-limits)", ErrTooLarge, printable(name, 64))
		}
	}
	return nil
}

// printable cuts s to n bytes and replaces anything but printable ASCII,
// because item types come from the client and end up in a response header.
func printable(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, s)
}
