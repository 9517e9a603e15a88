package outcome

import (
	"encoding/json"
	"fmt"
	"strings"
)

// MaxSessionBuckets bounds the aggregates of one "sessions" item, as
// Sentry documents ("100 pre-aggregated session buckets per sessions item").
const MaxSessionBuckets = 100

// sessionAttrs are the attributes every session update must carry.
type sessionAttrs struct {
	Release     string `json:"release"`
	Environment string `json:"environment"`
}

// sessionUpdate is a "session" item: one session's state.
type sessionUpdate struct {
	SID    string       `json:"sid"`
	Status string       `json:"status"`
	Attrs  sessionAttrs `json:"attrs"`
}

// sessionAggregates is a "sessions" item: counts per bucket.
type sessionAggregates struct {
	Aggregates []struct {
		Exited    uint32 `json:"exited"`
		Errored   uint32 `json:"errored"`
		Abnormal  uint32 `json:"abnormal"`
		Unhandled uint32 `json:"unhandled"`
		Crashed   uint32 `json:"crashed"`
	} `json:"aggregates"`
	Attrs sessionAttrs `json:"attrs"`
}

// Sessions returns how many session updates a "session" or "sessions" item
// carries, to be counted in CategorySession: 1 for a session update, the
// sum of the bucket counts for aggregates. As in Relay, an update must name
// its release; one that does not, or that does not parse, returns an error
// wrapping ErrInvalid with the reason to record (ReasonInvalidSession, or
// ReasonTooLarge past MaxSessionBuckets).
func Sessions(itemType string, payload []byte) (uint64, string, error) {
	switch itemType {
	case "session":
		var s sessionUpdate
		if err := json.Unmarshal(payload, &s); err != nil {
			return 0, ReasonInvalidSession, fmt.Errorf("%w: session: %v", ErrInvalid, err)
		}
		if strings.TrimSpace(s.Attrs.Release) == "" {
			return 0, ReasonInvalidSession, fmt.Errorf("%w: session without a release", ErrInvalid)
		}
		return 1, "", nil
	case "sessions":
		var s sessionAggregates
		if err := json.Unmarshal(payload, &s); err != nil {
			return 0, ReasonInvalidSession, fmt.Errorf("%w: sessions: %v", ErrInvalid, err)
		}
		if strings.TrimSpace(s.Attrs.Release) == "" {
			return 0, ReasonInvalidSession, fmt.Errorf("%w: sessions without a release", ErrInvalid)
		}
		if len(s.Aggregates) > MaxSessionBuckets {
			return 0, ReasonTooLarge, fmt.Errorf("%w: %d session buckets, limit %d", ErrInvalid, len(s.Aggregates), MaxSessionBuckets)
		}
		var n uint64
		for _, a := range s.Aggregates {
			n += uint64(a.Exited) + uint64(a.Errored) + uint64(a.Abnormal) + uint64(a.Unhandled) + uint64(a.Crashed)
		}
		return n, "", nil
	}
	return 0, ReasonInvalidSession, fmt.Errorf("%w: %q is not a session item", ErrInvalid, itemType)
}
