package process

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/scrub"
	"github.com/faultline/faultline/internal/sourcemap"
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

// Source is what ingest learned about the request an event came in.
type Source struct {
	EventID  string
	Received time.Time
	ClientIP string
	Client   string // sentry_client of the auth header, e.g. "sentry.python/1.9.10"
	// SentAt is the envelope header's sent_at (zero if absent), the
	// sender's clock at sending time, for clock drift correction.
	SentAt time.Time
}

// Prepare runs the stages before grouping, in Sentry's order: normalize,
// scrub, promote tags. The worker runs it on every event; tests run it on
// corpora of real SDK events.
func Prepare(e *event.Event, src Source, s *scrub.Scrubber) {
	prepare(context.Background(), e, src, s, nil, 0)
}

// prepare is Prepare with symbolication: after normalization, JavaScript
// frames are mapped through the project's uploaded source maps (sym nil:
// none), so that scrubbing sees the original frames and grouping uses
// them.
func prepare(ctx context.Context, e *event.Event, src Source, s *scrub.Scrubber, sym *sourcemap.Symbolicator, projectID uint64) {
	normalize(e, src)
	if sym != nil && sym.Symbolicate(ctx, projectID, e) {
		// Original paths decide modules and in-app flags again.
		grouping.FillJSModules(e)
		grouping.ApplyInApp(e)
	}
	s.Event(e)
	promoteTags(e)
}

// normalize fills the defaults Relay fills, in place: event id, platform,
// level, timestamp, received, the SDK (from the auth header), the event
// type; a plain message becomes the logentry, formatted with its
// parameters; JavaScript frames get a module and frames their in-app flag
// from Sentry's built-in rules. Tags are promoted after scrubbing
// (promoteTags).
func normalize(e *event.Event, src Source) {
	if id, err := envelope.NormalizeEventID(e.EventID); err == nil && id != "" {
		e.EventID = id
	} else {
		e.EventID = src.EventID
	}
	e.Received = event.Timestamp{Time: src.Received}
	correctClockDrift(e, src)
	switch ts := e.Timestamp.Time; {
	case ts.IsZero():
		e.Timestamp = e.Received
	case ts.After(src.Received.Add(maxFuture)):
		e.Errors = append(e.Errors, event.ProcessingNote{Type: "future_timestamp", Name: "timestamp",
			Value: []byte(`"` + ts.UTC().Format(time.RFC3339Nano) + `"`)})
		e.Timestamp = e.Received
	case ts.Before(src.Received.Add(-maxPast)):
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
	if e.LogEntry != nil && e.LogEntry.Formatted == "" && e.LogEntry.Message != "" {
		e.LogEntry.Formatted = formatMessage(e.LogEntry.Message, e.LogEntry.Params)
	}
	if e.User != nil && e.User.IPAddress == "{{auto}}" {
		e.User.IPAddress = src.ClientIP
	}
	if e.SDK == nil && src.Client != "" {
		name, version, _ := strings.Cut(src.Client, "/")
		e.SDK = &event.SDK{Name: name, Version: version}
	}
	if e.Exception != nil {
		for i := range e.Exception.Values {
			splitExceptionType(&e.Exception.Values[i])
		}
	}
	switch {
	case securityTypes[e.Type]:
		// Security reports keep the type ingest gave them (csp, hpkp...).
	case e.Exception != nil && len(e.Exception.Values) > 0:
		e.Type = event.TypeError
	default:
		e.Type = event.TypeDefault
	}
	eachStacktrace(e, normalizeFrames)
	grouping.FillJSModules(e)
	grouping.ApplyInApp(e)
}

// eachStacktrace calls f on every stack trace of the event.
func eachStacktrace(e *event.Event, f func(*event.Stacktrace)) {
	if e.Exception != nil {
		for i := range e.Exception.Values {
			if st := e.Exception.Values[i].Stacktrace; st != nil {
				f(st)
			}
		}
	}
	if e.Stacktrace != nil {
		f(e.Stacktrace)
	}
	if e.Threads != nil {
		for i := range e.Threads.Values {
			if st := e.Threads.Values[i].Stacktrace; st != nil {
				f(st)
			}
		}
	}
}

// normalizeFrames is Relay's frame normalization: a frame with only a
// file name gets it as its absolute path, and a frame with only an
// absolute path gets a file name, the path alone when it is a URL (the
// browser SDK sends script URLs as file names).
func normalizeFrames(st *event.Stacktrace) {
	for i := range st.Frames {
		f := &st.Frames[i]
		if f.AbsPath == "" && f.Filename != "" {
			f.AbsPath, f.Filename = f.Filename, ""
		}
		if f.Filename == "" && f.AbsPath != "" {
			f.Filename = f.AbsPath
			if strings.Contains(f.AbsPath, "://") {
				if u, err := url.Parse(f.AbsPath); err == nil && u.Scheme != "" && u.Host != "" && u.Path != "" && u.Path != "/" {
					f.Filename = u.Path
				}
			}
		}
	}
}

var typedValueRE = regexp.MustCompile(`^(\w+):(.*)$`)

// splitExceptionType is Relay's normalize_exception: an exception sent
// with only a value "TypeError: x" gets the type TypeError and the value x.
func splitExceptionType(ex *event.Exception) {
	if ex.Type != "" || ex.Value == "" {
		return
	}
	if m := typedValueRE.FindStringSubmatch(string(ex.Value)); m != nil {
		ex.Type, ex.Value = m[1], event.FlexString(strings.TrimSpace(m[2]))
	}
}

// formatMessage fills a logentry's formatted text from its template and
// parameters, as Relay does for printf-style (%s) and positional ({0},
// {}) templates.
func formatMessage(tmpl string, params event.Raw) string {
	var list []event.FlexString
	if len(params) == 0 || gojson.Unmarshal(params, &list) != nil || len(list) == 0 {
		return tmpl
	}
	var b strings.Builder
	next := 0
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		switch {
		case c == '%' && i+1 < len(tmpl) && tmpl[i+1] == '%':
			b.WriteByte('%')
			i++
		case c == '%' && i+1 < len(tmpl) && strings.IndexByte("sdifrx", tmpl[i+1]) >= 0 && next < len(list):
			b.WriteString(string(list[next]))
			next++
			i++
		case c == '{' && i+1 < len(tmpl) && tmpl[i+1] == '}' && next < len(list):
			b.WriteString(string(list[next]))
			next++
			i++
		case c == '{' && i+2 < len(tmpl) && tmpl[i+1] >= '0' && tmpl[i+1] <= '9' && tmpl[i+2] == '}' && int(tmpl[i+1]-'0') < len(list):
			b.WriteString(string(list[tmpl[i+1]-'0']))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// correctClockDrift is Relay's ClockDriftProcessor: when the SDK's sent_at
// differs from the receive time by at least outcome.MinClockDrift, the
// SDK's clock is wrong (often by a time zone), so every timestamp of the
// event is shifted by the difference and the event says so in its errors.
// Smaller differences are network latency and are left alone.
func correctClockDrift(e *event.Event, src Source) {
	if src.SentAt.IsZero() {
		return
	}
	drift := src.Received.Sub(src.SentAt)
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
		"sdk_time":    src.SentAt.UTC().Format(time.RFC3339Nano),
		"server_time": src.Received.UTC().Format(time.RFC3339Nano),
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
