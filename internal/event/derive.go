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

// maxCulprit is Sentry's MAX_CULPRIT_LENGTH.
const maxCulprit = 200

// Derive computes the issue fields the way Sentry's event types do: an
// error event is titled "Type: first line of value" (value cut at 100
// characters), a message event by its first line.
func Derive(e *Event) Derived {
	var d Derived
	if ex := e.MainException(); ex != nil {
		d.Type = TypeError
		md := Metadata{Value: Truncate(string(ex.Value), 1024)}
		if ex.Mechanism == nil || !ex.Mechanism.Synthetic {
			md.Type = Truncate(orDefault(ex.Type, "Error"), 128)
		}
		if f := e.crashFrame(); f != nil {
			md.Filename = f.Filename
			if md.Filename == "" {
				md.Filename = f.AbsPath
			}
			md.Function = f.Function
		}
		d.Metadata = md
		switch {
		case md.Type == "":
			d.Title = orDefault(md.Function, "<unknown>")
		case md.Value == "":
			d.Title = md.Type
		default:
			first, _, _ := strings.Cut(md.Value, "\n")
			d.Title = md.Type + ": " + Truncate(first, 100)
		}
	} else {
		d.Type = TypeDefault
		msg := strings.TrimSpace(e.LogEntry.Text())
		if msg == "" {
			msg = strings.TrimSpace(e.Message.Text())
		}
		if msg != "" {
			first, _, _ := strings.Cut(msg, "\n")
			d.Title = Truncate(first, 100)
		} else {
			d.Title = "<unlabeled event>"
		}
		d.Metadata = Metadata{Title: d.Title}
	}
	d.Culprit = e.culprit()
	return d
}

// MainException returns the exception the event is about: the last of the
// chain, as Sentry reads it.
func (e *Event) MainException() *Exception {
	if e.Exception == nil || len(e.Exception.Values) == 0 {
		return nil
	}
	return &e.Exception.Values[len(e.Exception.Values)-1]
}

// crashFrame is Sentry's get_crash_frame_from_event_data: the last in-app
// frame with a function, else the last frame with one.
func (e *Event) crashFrame() *Frame {
	var frames []Frame
	if ex := e.MainException(); ex != nil && ex.Stacktrace != nil {
		frames = ex.Stacktrace.Frames
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

// culprit is Sentry's get_culprit: the transaction, else the crashing
// frame of the last stack trace, else the request URL.
func (e *Event) culprit() string {
	if e.Transaction != "" {
		return Truncate(e.Transaction, maxCulprit)
	}
	var st *Stacktrace
	if e.Exception != nil {
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

// frameCulprit formats a frame per platform: "function(module)" for
// JavaScript, the function for native code, "module in function" otherwise.
func frameCulprit(f *Frame, platform string) string {
	if f.Platform != "" {
		platform = f.Platform
	}
	switch platform {
	case "objc", "cocoa", "native":
		return orDefault(f.Function, "?")
	}
	loc := f.Module
	if loc == "" {
		loc = f.Filename
	}
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
