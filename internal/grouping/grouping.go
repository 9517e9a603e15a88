// Package grouping computes an event's fingerprint: the hash that decides
// which issue it belongs to. It follows Sentry's order: a custom
// fingerprint, then the stack trace (in-app frames only when there are any)
// with the exception type, then the exception type and value, then the
// message. See GROUPING.md.
package grouping

import (
	"crypto/md5"
	"encoding/hex"
	"strings"

	"github.com/faultline/faultline/internal/event"
)

// Config names the algorithm's version. It is part of every issue's
// identity (project, config, hash), so a later change of the algorithm
// cannot silently split existing issues: a new config is introduced beside
// the old one, never in its place.
const Config = "v1"

// Variants: which part of the event produced the hash.
const (
	VariantCustom      = "custom-fingerprint"
	VariantApp         = "app-stacktrace"    // in-app frames (and exception types)
	VariantSystem      = "system-stacktrace" // all frames, none being in-app
	VariantException   = "exception"         // exception types and values
	VariantMessage     = "message"
	VariantFallback    = "fallback"
	maxFingerprintPart = 1024
)

// Result is a computed fingerprint.
type Result struct {
	Config  string
	Variant string
	Hash    string   // 32 hex characters
	Values  []string // the components that were hashed, for people to read
}

// Info returns the result as stored in the event.
func (r Result) Info() *event.GroupingInfo {
	return &event.GroupingInfo{Config: r.Config, Variant: r.Variant, Hash: r.Hash, Values: r.Values}
}

// Compute returns e's fingerprint.
func Compute(e *event.Event) Result {
	def := defaultGrouping(e)
	if len(e.Fingerprint) == 0 {
		return def
	}
	var parts []string
	onlyDefault := true
	for _, p := range e.Fingerprint {
		s := strings.TrimSpace(string(p))
		switch normalizeVar(s) {
		case "{{default}}":
			parts = append(parts, def.Values...)
			continue
		case "{{transaction}}":
			s = orDash(e.Transaction)
		case "{{type}}", "{{error.type}}":
			s = "<no-type>"
			if ex := e.MainException(); ex != nil && ex.Type != "" {
				s = ex.Type
			}
		case "{{message}}", "{{error.value}}":
			s = orDash(messageText(e))
			if ex := e.MainException(); ex != nil && normalizeVar(s) == "{{error.value}}" {
				s = string(ex.Value)
			}
		case "{{level}}":
			s = orDash(e.Level)
		}
		onlyDefault = false
		parts = append(parts, event.Truncate(s, maxFingerprintPart))
	}
	if onlyDefault {
		return def
	}
	return result(VariantCustom, parts)
}

func normalizeVar(s string) string {
	if !strings.HasPrefix(s, "{{") || !strings.HasSuffix(s, "}}") {
		return ""
	}
	return "{{" + strings.ToLower(strings.TrimSpace(s[2:len(s)-2])) + "}}"
}

func orDash(s string) string {
	if s == "" {
		return "<no-value>"
	}
	return s
}

func defaultGrouping(e *event.Event) Result {
	exceptions := []event.Exception(nil)
	if e.Exception != nil {
		exceptions = e.Exception.Values
	}
	platform := e.Platform
	if len(exceptions) > 0 {
		// Stack traces first: in-app frames if the chain has any.
		anyInApp := false
		for _, ex := range exceptions {
			if ex.Stacktrace != nil {
				for _, f := range ex.Stacktrace.Frames {
					if f.IsInApp() {
						anyInApp = true
					}
				}
			}
		}
		var parts []string
		framesSeen := false
		for _, ex := range exceptions {
			if ex.Mechanism != nil && ex.Mechanism.IsExceptionGroup && len(exceptions) > 1 {
				continue // a group's wrapper says nothing about the failure
			}
			parts = append(parts, "type:"+exceptionType(ex))
			if ex.Stacktrace == nil {
				continue
			}
			for _, f := range ex.Stacktrace.Frames {
				if anyInApp && !f.IsInApp() {
					continue
				}
				if c := frameComponent(&f, platform); c != "" {
					parts = append(parts, c)
					framesSeen = true
				}
			}
		}
		if framesSeen {
			v := VariantSystem
			if anyInApp {
				v = VariantApp
			}
			return result(v, parts)
		}
		// No usable frames: type and (parameterized) value of each.
		parts = parts[:0]
		for _, ex := range exceptions {
			parts = append(parts, "type:"+exceptionType(ex), "value:"+Parameterize(string(ex.Value)))
		}
		return result(VariantException, parts)
	}
	if e.Stacktrace != nil && len(e.Stacktrace.Frames) > 0 {
		anyInApp := false
		for _, f := range e.Stacktrace.Frames {
			anyInApp = anyInApp || f.IsInApp()
		}
		var parts []string
		for _, f := range e.Stacktrace.Frames {
			if anyInApp && !f.IsInApp() {
				continue
			}
			if c := frameComponent(&f, platform); c != "" {
				parts = append(parts, c)
			}
		}
		if len(parts) > 0 {
			v := VariantSystem
			if anyInApp {
				v = VariantApp
			}
			return result(v, parts)
		}
	}
	if m := messageTemplate(e); m != "" {
		return result(VariantMessage, []string{"message:" + Parameterize(m)})
	}
	return result(VariantFallback, []string{"fallback"})
}

func exceptionType(ex event.Exception) string {
	if ex.Type != "" {
		return ex.Type
	}
	return "<no-type>"
}

// messageTemplate is the message before formatting when the SDK sent one,
// so that "%s failed" groups whatever its parameters were.
func messageTemplate(e *event.Event) string {
	for _, m := range []*event.Message{e.LogEntry, e.Message} {
		if m == nil {
			continue
		}
		if m.Message != "" {
			return m.Message
		}
		if m.Formatted != "" {
			return m.Formatted
		}
	}
	return ""
}

func messageText(e *event.Event) string {
	if t := e.LogEntry.Text(); t != "" {
		return t
	}
	return e.Message.Text()
}

func result(variant string, parts []string) Result {
	h := md5.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return Result{Config: Config, Variant: variant, Hash: hex.EncodeToString(h.Sum(nil)), Values: parts}
}
