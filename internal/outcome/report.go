package outcome

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Relay's clock bounds: a sender whose clock is off by at least
// MinClockDrift has its timestamps shifted by the difference between its
// sent_at and the receive time; data dated more than MaxFuture ahead of the
// receive time is not trusted.
const (
	MinClockDrift = 55 * time.Minute
	MaxFuture     = time.Minute
)

// MaxReasonLen is the longest reason Relay accepts from a client report;
// entries with longer reasons are skipped.
const MaxReasonLen = 200

// ErrInvalid means a client report or a session update that cannot be read.
var ErrInvalid = errors.New("invalid payload")

// discardedEvent is one entry of a client report.
type discardedEvent struct {
	Reason   string `json:"reason"`
	Category string `json:"category"`
	Quantity uint32 `json:"quantity"`
}

// clientReport is the payload of a "client_report" envelope item
// (develop docs, "Client Reports").
type clientReport struct {
	Timestamp        json.RawMessage  `json:"timestamp"`
	Discarded        []discardedEvent `json:"discarded_events"`
	RateLimited      []discardedEvent `json:"rate_limited_events"`
	Filtered         []discardedEvent `json:"filtered_events"`
	FilteredSampling []discardedEvent `json:"filtered_sampling_events"`
}

// ClientReport reads a client report and returns the outcomes it reports,
// the way Relay's process_client_reports does:
//
//   - discarded_events become ClientDiscard outcomes with the SDK's reason;
//     rate_limited_events RateLimited, filtered_events Filtered, and
//     filtered_sampling_events Filtered with a "Sampled:" reason (others are
//     skipped);
//   - entries with a reason over MaxReasonLen or a category Relay does not
//     know are skipped, and equal (outcome, reason, category) entries are
//     summed;
//   - the report's timestamp (epoch seconds or RFC 3339; the receive time
//     if absent) is corrected for clock drift against sentAt (zero if the
//     envelope had none), and a report older than maxAge or more than
//     MaxFuture ahead is dropped whole (no records, no error).
//
// A payload that is not a client report returns ErrInvalid.
func ClientReport(data []byte, received, sentAt time.Time, maxAge time.Duration) ([]Record, error) {
	var r clientReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: client report: %v", ErrInvalid, err)
	}
	ts := received
	if len(r.Timestamp) > 0 && string(r.Timestamp) != "null" {
		t, err := parseTimestamp(r.Timestamp)
		if err != nil {
			return nil, fmt.Errorf("%w: client report timestamp: %v", ErrInvalid, err)
		}
		ts = t
	}
	ts = CorrectDrift(ts, received, sentAt)
	if received.Sub(ts) > maxAge || ts.Sub(received) > MaxFuture {
		return nil, nil
	}
	type key struct {
		kind     Kind
		reason   string
		category Category
	}
	sums := map[key]uint64{}
	add := func(kind Kind, entries []discardedEvent, reasonOK func(string) bool) {
		for _, e := range entries {
			c, ok := ParseCategory(e.Category)
			if !ok || len(e.Reason) > MaxReasonLen || !reasonOK(e.Reason) || e.Quantity == 0 {
				continue
			}
			sums[key{kind, e.Reason, c}] += uint64(e.Quantity)
		}
	}
	all := func(string) bool { return true }
	add(ClientDiscard, r.Discarded, all)
	add(RateLimited, r.RateLimited, all)
	add(Filtered, r.Filtered, func(s string) bool { return s != "" })
	add(Filtered, r.FilteredSampling, func(s string) bool { return len(s) > len("Sampled:") && s[:len("Sampled:")] == "Sampled:" })
	out := make([]Record, 0, len(sums))
	for k, q := range sums {
		out = append(out, Record{Timestamp: ts, Kind: k.kind, Reason: k.reason, Category: k.category, Quantity: q})
	}
	// Map order is random; a stable order makes the records comparable.
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Category != b.Category {
			return a.Category < b.Category
		}
		return a.Reason < b.Reason
	})
	return out, nil
}

// CorrectDrift applies Relay's clock drift correction: when the sender's
// sent_at differs from the receive time by at least MinClockDrift (a wrong
// clock or time zone, not network latency), t is shifted by that
// difference. A zero sentAt means no correction.
func CorrectDrift(t, received, sentAt time.Time) time.Time {
	if sentAt.IsZero() {
		return t
	}
	drift := received.Sub(sentAt)
	if drift.Abs() < MinClockDrift {
		return t
	}
	return t.Add(drift)
}

// parseTimestamp reads epoch seconds (a number) or an RFC 3339 string.
func parseTimestamp(raw json.RawMessage) (time.Time, error) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, err
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return fromEpoch(f)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			// RFC 3339 without a zone, as some SDKs write it: UTC.
			t, err = time.Parse("2006-01-02T15:04:05.999999999", s)
		}
		return t.UTC(), err
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if err != nil {
		return time.Time{}, err
	}
	return fromEpoch(f)
}

func fromEpoch(f float64) (time.Time, error) {
	if !(f >= 0 && f < 1e11) { // also false for NaN
		return time.Time{}, errors.New("timestamp out of range")
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
}
