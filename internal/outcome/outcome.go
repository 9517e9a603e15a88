// Package outcome is the closed vocabulary of what became of ingested data:
// Sentry's outcomes (accepted, filtered, rate limited, invalid, abuse,
// client discard) and data categories (error, transaction, session,
// attachment...), with the numbers Snuba stores, so that the outcomes table
// can later serve Sentry's stats API and rate limits unchanged. It also
// reads what SDKs report about themselves: client reports (data the SDK
// dropped) and session updates.
//
// Every item Faultline receives ends with exactly one recorded outcome, as in
// Relay: nothing is dropped silently.
package outcome

import (
	"strconv"
	"time"
)

// Kind is an outcome, numbered as in Snuba's outcomes table.
type Kind uint8

// Outcomes.
const (
	Accepted           Kind = 0
	Filtered           Kind = 1
	RateLimited        Kind = 2
	Invalid            Kind = 3
	Abuse              Kind = 4
	ClientDiscard      Kind = 5
	CardinalityLimited Kind = 6
)

var kindNames = [...]string{"accepted", "filtered", "rate_limited", "invalid", "abuse", "client_discard", "cardinality_limited"}

// String returns Sentry's name of the outcome (as stats_v2 spells it).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Category is a Sentry data category (Relay's DataCategory), numbered as
// Snuba stores it.
type Category uint8

// Data categories Faultline counts. The numbers are Relay's and must never
// change.
const (
	CategoryDefault        Category = 0
	CategoryError          Category = 1
	CategoryTransaction    Category = 2
	CategorySecurity       Category = 3
	CategoryAttachment     Category = 4 // quantity in bytes
	CategorySession        Category = 5
	CategoryProfile        Category = 6
	CategoryReplay         Category = 7
	CategoryMonitor        Category = 10
	CategorySpan           Category = 12
	CategoryUserReportV2   Category = 14 // new-style user feedback
	CategoryProfileChunk   Category = 18
	CategoryAttachmentItem Category = 22 // attachments counted one by one
	CategoryLogItem        Category = 23
	CategoryLogByte        Category = 24 // quantity in bytes
	CategoryTraceMetric    Category = 33
)

// categoryNames maps Relay's category names to numbers. Names SDKs use in
// client reports are all here; "feedback" and "user_report_v2" are aliases.
var categoryNames = map[string]Category{
	"default":               CategoryDefault,
	"error":                 CategoryError,
	"transaction":           CategoryTransaction,
	"security":              CategorySecurity,
	"attachment":            CategoryAttachment,
	"session":               CategorySession,
	"profile":               CategoryProfile,
	"replay":                CategoryReplay,
	"transaction_processed": 8,
	"transaction_indexed":   9,
	"monitor":               CategoryMonitor,
	"profile_indexed":       11,
	"span":                  CategorySpan,
	"monitor_seat":          13,
	"feedback":              CategoryUserReportV2,
	"user_report_v2":        CategoryUserReportV2,
	"metric_bucket":         15,
	"span_indexed":          16,
	"profile_duration":      17,
	"profile_chunk":         CategoryProfileChunk,
	"metric_second":         19,
	"replay_video":          20,
	"uptime":                21,
	"attachment_item":       CategoryAttachmentItem,
	"log_item":              CategoryLogItem,
	"log_byte":              CategoryLogByte,
	"profile_duration_ui":   25,
	"profile_chunk_ui":      26,
	"trace_metric":          CategoryTraceMetric,
	"profile_backend":       35,
	"profile_ui":            36,
}

// ParseCategory returns the category Relay names name, and false for a
// name it does not know.
func ParseCategory(name string) (Category, bool) {
	c, ok := categoryNames[name]
	return c, ok
}

// Record is one outcome to count: quantity items (or bytes) of a category
// that met an outcome, for a reason (empty for accepted data).
type Record struct {
	Timestamp time.Time
	Kind      Kind
	Reason    string
	Category  Category
	Quantity  uint64
}

// Sum is outcomes summed by whoever decided them, as ingest queues the
// outcomes it decides (rate limited, invalid) for a worker to record.
type Sum struct {
	OrgID     uint64   `json:"org"`
	ProjectID uint64   `json:"project"`
	KeyID     string   `json:"key,omitempty"`
	Hour      int64    `json:"hour"` // unix seconds, start of the hour
	Kind      Kind     `json:"outcome"`
	Reason    string   `json:"reason,omitempty"`
	Category  Category `json:"category"`
	Quantity  uint64   `json:"quantity"`
}

// Reasons Faultline gives for the outcomes it decides itself. Client
// reports carry the SDK's own reasons verbatim.
const (
	// ReasonUnsupported: a known item type Faultline does not store
	// (profiles, replays, metrics); recorded as Filtered.
	ReasonUnsupported = "unsupported_item"
	// ReasonInvalidJSON: a payload that does not parse.
	ReasonInvalidJSON = "invalid_json"
	// ReasonInvalidSession: a session update that is not one.
	ReasonInvalidSession = "invalid_session"
	// ReasonTooLarge: a payload over one of Sentry's limits, such as a
	// sessions item with more than MaxSessionBuckets aggregates.
	ReasonTooLarge = "too_large"
	// ReasonDuplicate: an event whose id the project already stored, sent
	// again in another message, or an attachment of one; recorded as
	// Filtered. Stored events and attachments are never replaced.
	ReasonDuplicate = "duplicate"
	// ReasonDiscardedHash: an event whose grouping hash belongs to an
	// issue deleted and discarded (Sentry's "discarded-hash"); recorded
	// as Filtered.
	ReasonDiscardedHash = "discarded-hash"
)

// String returns Relay's name of the category (the first name for
// categories with aliases), or its number for one Faultline does not know.
func (c Category) String() string {
	switch c {
	case CategoryDefault:
		return "default"
	case CategoryError:
		return "error"
	case CategoryTransaction:
		return "transaction"
	case CategorySecurity:
		return "security"
	case CategoryAttachment:
		return "attachment"
	case CategorySession:
		return "session"
	case CategoryUserReportV2:
		return "feedback"
	}
	best := ""
	for name, v := range categoryNames {
		if v == c && (best == "" || name < best) {
			best = name
		}
	}
	if best == "" {
		return strconv.Itoa(int(c))
	}
	return best
}
