package process

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/outcome"
)

// Relay's clock-drift bounds: an event dated further in the future than
// this is moved to its receive time, and so is one older than maxPast.
const (
	maxFuture = time.Minute
	maxPast   = 30 * 24 * time.Hour
)

var levels = map[string]string{
	"": "error", "debug": "debug", "info": "info", "log": "info", "warning": "warning", "warn": "warning",
	"error": "error", "fatal": "fatal", "critical": "fatal",
	// Python logging levels sent as numbers.
	"10": "debug", "20": "info", "30": "warning", "40": "error", "50": "fatal",
}

// source is what ingest learned about the request an event came in.
type source struct {
	eventID  string
	received time.Time
	clientIP string
	// sentAt is the envelope header's sent_at (zero if absent), the
	// sender's clock at sending time, for clock drift correction.
	sentAt time.Time
}

// normalize fills the defaults Relay fills and promotes tags, in place.
func normalize(e *event.Event, src source) {
	if id, err := envelope.NormalizeEventID(e.EventID); err == nil && id != "" {
		e.EventID = id
	} else {
		e.EventID = src.eventID
	}
	e.Received = event.Timestamp{Time: src.received}
	correctClockDrift(e, src)
	switch ts := e.Timestamp.Time; {
	case ts.IsZero():
		e.Timestamp = e.Received
	case ts.After(src.received.Add(maxFuture)):
		e.Errors = append(e.Errors, event.ProcessingNote{Type: "future_timestamp", Name: "timestamp",
			Value: []byte(`"` + ts.UTC().Format(time.RFC3339Nano) + `"`)})
		e.Timestamp = e.Received
	case ts.Before(src.received.Add(-maxPast)):
		e.Errors = append(e.Errors, event.ProcessingNote{Type: "past_timestamp", Name: "timestamp",
			Value: []byte(`"` + ts.UTC().Format(time.RFC3339Nano) + `"`)})
		e.Timestamp = e.Received
	}
	if e.Platform == "" {
		e.Platform = "other"
	}
	if l, ok := levels[strings.ToLower(strings.TrimSpace(e.Level))]; ok {
		e.Level = l
	} else {
		e.Level = "error"
	}
	// A plain "message" becomes the logentry, as Relay does.
	if e.LogEntry == nil && e.Message != nil {
		e.LogEntry = e.Message
		e.Message = nil
	}
	e.Environment = strings.TrimSpace(e.Environment)
	e.Release = event.FlexString(strings.TrimSpace(string(e.Release)))
	e.Dist = event.FlexString(strings.TrimSpace(string(e.Dist)))
	if e.User != nil && e.User.IPAddress == "{{auto}}" {
		e.User.IPAddress = src.clientIP
	}
	if e.Type == "" {
		e.Type = event.TypeDefault
		if e.Exception != nil && len(e.Exception.Values) > 0 {
			e.Type = event.TypeError
		}
	}
	promoteTags(e)
}

// correctClockDrift is Relay's ClockDriftProcessor: when the SDK's sent_at
// differs from the receive time by at least outcome.MinClockDrift, the
// SDK's clock is wrong (often by a time zone), so every timestamp of the
// event is shifted by the difference and the event says so in its errors.
// Smaller differences are network latency and are left alone.
func correctClockDrift(e *event.Event, src source) {
	if src.sentAt.IsZero() {
		return
	}
	drift := src.received.Sub(src.sentAt)
	if drift.Abs() < outcome.MinClockDrift {
		return
	}
	if !e.Timestamp.IsZero() {
		e.Timestamp.Time = e.Timestamp.Add(drift)
	}
	if e.Breadcrumbs != nil {
		for i := range e.Breadcrumbs.Values {
			if b := &e.Breadcrumbs.Values[i]; !b.Timestamp.IsZero() {
				b.Timestamp.Time = b.Timestamp.Add(drift)
			}
		}
	}
	v, _ := json.Marshal(map[string]string{
		"sdk_time":    src.sentAt.UTC().Format(time.RFC3339Nano),
		"server_time": src.received.UTC().Format(time.RFC3339Nano),
	})
	e.Errors = append(e.Errors, event.ProcessingNote{Type: "clock_drift", Name: "timestamp", Value: v})
}

// promoteTags adds Sentry's built-in tags derived from event fields,
// replacing any sent with the same key.
func promoteTags(e *event.Event) {
	builtin := event.Pairs{{"level", e.Level}}
	if e.Environment != "" {
		builtin = append(builtin, event.Pair{"environment", e.Environment})
	}
	if e.Release != "" {
		builtin = append(builtin, event.Pair{"release", string(e.Release)})
	}
	if e.Dist != "" {
		builtin = append(builtin, event.Pair{"dist", string(e.Dist)})
	}
	if e.Transaction != "" {
		builtin = append(builtin, event.Pair{"transaction", e.Transaction})
	}
	if e.ServerName != "" {
		builtin = append(builtin, event.Pair{"server_name", e.ServerName})
	}
	if k := e.User.Key(); k != "" {
		builtin = append(builtin, event.Pair{"user", k})
	}
	if ex := e.MainException(); ex != nil && ex.Mechanism != nil {
		if ex.Mechanism.Type != "" {
			builtin = append(builtin, event.Pair{"mechanism", ex.Mechanism.Type})
		}
		if ex.Mechanism.Handled != nil {
			builtin = append(builtin, event.Pair{"handled", yesNo(*ex.Mechanism.Handled)})
		}
	}
	if e.Request != nil && e.Request.URL != "" {
		u := e.Request.URL
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			u = u[:i]
		}
		builtin = append(builtin, event.Pair{"url", u})
	}
	seen := make(map[string]bool, len(builtin))
	for _, p := range builtin {
		seen[p[0]] = true
	}
	out := builtin
	for _, p := range e.Tags {
		k := strings.TrimSpace(p[0])
		if k == "" || seen[k] || len(k) > 200 {
			continue
		}
		seen[k] = true
		out = append(out, event.Pair{k, event.Truncate(p[1], 200)})
	}
	e.Tags = out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
