package event

import (
	"strings"
	"unicode/utf8"
)

// Event types, as Sentry names them.
const (
	TypeError   = "error"   // has an exception
	TypeDefault = "default" // a message
)

// Derived is what Sentry computes from an event for its issue.
type Derived struct {
	Type     string
	Title    string
	Culprit  string
	Metadata Metadata
}

// Sentry's limits: MAX_CULPRIT_LENGTH, and the lengths ErrorEvent keeps of
// an exception's type and value in the issue metadata.
const (
	maxCulprit       = 200
	maxMetadataType  = 128
	maxMetadataValue = 1024
	maxTitleValue    = 100
)

// Derive computes the issue fields the way Sentry's event types do
// (eventtypes/error.py and base.py): an error event is titled "Type: first
// line of value" (the line cut at 100 characters), a message event by its
// first line; the culprit is the one the SDK sent, else the transaction,
// else the crashing in-app frame.
func Derive(e *Event) Derived {
	var d Derived
	if ex := e.MainException(); ex != nil {
		d.Type = TypeError
		md := Metadata{Value: Truncate(string(ex.Value), maxMetadataValue)}
		if ex.Mechanism == nil || !ex.Mechanism.Synthetic {
			md.Type = Truncate(orDefault(ex.Type, "Error"), maxMetadataType)
		}
		if f := e.CrashFrame(); f != nil {
			md.Filename = orDefault(f.Filename, f.AbsPath)
			md.Function = f.Function
		}
		d.Metadata = md
		switch {
		case md.Type == "":
			d.Title = orDefault(md.Function, "<unknown>")
		case md.Value == "":
			d.Title = md.Type
		default:
			d.Title = md.Type + ": " + Truncate(firstLine(md.Value), maxTitleValue)
		}
	} else {
		d.Type = TypeDefault
		msg := ""
		if e.LogEntry != nil {
			msg = strings.TrimSpace(orDefault(e.LogEntry.Formatted, e.LogEntry.Message))
		}
		if msg == "" && e.Message != nil {
			msg = strings.TrimSpace(orDefault(e.Message.Formatted, e.Message.Message))
		}
		if msg != "" {
			d.Title = Truncate(firstLine(msg), maxTitleValue)
		} else {
			d.Title = "<unlabeled event>"
		}
		d.Metadata = Metadata{Title: d.Title}
	}
	d.Culprit = e.culprit()
	return d
}

// firstLine is Python's str.splitlines()[0] for the separators SDKs use.
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n\v\f\x1c\x1d\x1e\u0085\u2028\u2029"); i >= 0 {
		return s[:i]
	}
	return s
}

// MainException returns the exception the event is about, as Sentry's
// error event type finds it: the one named by main_exception_id, else the
// last of the chain.
func (e *Event) MainException() *Exception {
	if e.Exception == nil || len(e.Exception.Values) == 0 {
		return nil
	}
	if id := e.MainExceptionID; id != nil {
		for i := range e.Exception.Values {
			if m := e.Exception.Values[i].Mechanism; m != nil && m.ExceptionID != nil && *m.ExceptionID == *id {
				return &e.Exception.Values[i]
			}
		}
	}
	return &e.Exception.Values[len(e.Exception.Values)-1]
}

// CrashFrame is Sentry's get_crash_frame_from_event_data: of the last
// exception's frames (else the event's stack trace, else its only
// thread's), the last in-app frame with a function, else the last frame
// with one.
func (e *Event) CrashFrame() *Frame {
	var frames []Frame
	if e.Exception != nil && len(e.Exception.Values) > 0 {
		if st := e.Exception.Values[len(e.Exception.Values)-1].Stacktrace; st != nil {
			frames = st.Frames
		}
	}
	if len(frames) == 0 && e.Stacktrace != nil {
		frames = e.Stacktrace.Frames
	}
	if len(frames) == 0 && e.Threads != nil && len(e.Threads.Values) == 1 && e.Threads.Values[0].Stacktrace != nil {
		frames = e.Threads.Values[0].Stacktrace.Frames
	}
	var fallback *Frame
	for i := len(frames) - 1; i >= 0; i-- {
		f := &frames[i]
		if f.Function == "" || f.Function == "<redacted>" || f.Function == "<unknown>" {
			continue
		}
		if f.IsInApp() {
			return f
		}
		if fallback == nil {
			fallback = f
		}
	}
	return fallback
}

// culprit is Sentry's get_culprit: the culprit the SDK sent, else the
// transaction, else generate_culprit: the crashing frame of the last stack
// trace, else the request URL. Synthetic exceptions get none.
func (e *Event) culprit() string {
	if c := orDefault(e.Culprit, e.Transaction); c != "" {
		return Truncate(c, maxCulprit)
	}
	var st *Stacktrace
	if e.Exception != nil && len(e.Exception.Values) > 0 {
		if m := e.Exception.Values[len(e.Exception.Values)-1].Mechanism; m != nil && m.Synthetic {
			return ""
		}
		for i := range e.Exception.Values {
			if s := e.Exception.Values[i].Stacktrace; s != nil && len(s.Frames) > 0 {
				st = s
			}
		}
	} else if e.Stacktrace != nil && len(e.Stacktrace.Frames) > 0 {
		st = e.Stacktrace
	}
	c := ""
	if st != nil {
		c = stacktraceCulprit(st, e.Platform)
	}
	if c == "" && e.Request != nil {
		c = e.Request.URL
	}
	return Truncate(c, maxCulprit)
}

func stacktraceCulprit(st *Stacktrace, platform string) string {
	fallback, haveFallback := "", false
	for i := len(st.Frames) - 1; i >= 0; i-- {
		f := &st.Frames[i]
		if f.IsInApp() {
			if c := frameCulprit(f, platform); c != "" {
				return c
			}
		} else if !haveFallback {
			fallback, haveFallback = frameCulprit(f, platform), true
		}
	}
	return fallback
}

// frameCulprit is Sentry's get_frame_culprit: "function(module)" for
// JavaScript, the function for native code, "module in function"
// otherwise.
func frameCulprit(f *Frame, platform string) string {
	if f.Platform != "" {
		platform = f.Platform
	}
	switch platform {
	case "objc", "cocoa", "native":
		return orDefault(f.Function, "?")
	}
	loc := orDefault(f.Module, f.Filename)
	if loc == "" {
		return ""
	}
	if platform == "javascript" || platform == "node" {
		return orDefault(f.Function, "?") + "(" + loc + ")"
	}
	return loc + " in " + orDefault(f.Function, "?")
}

// Truncate cuts s to at most n characters, ending in "..." when cut, as
// Sentry's truncatechars does.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	keep := n - 3
	if keep < 0 {
		keep = 0
	}
	i := 0
	for j := range s {
		if i == keep {
			return s[:j] + "..."
		}
		i++
	}
	return s
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
