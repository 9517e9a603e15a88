package grouping

import (
	"strings"

	"github.com/faultline/faultline/internal/event"
)

// rootKey names what a variant's tree groups by, as Sentry's component
// keys: exception_stacktrace, chained_exception_type, message...
func rootKey(c *Component) string {
	if c == nil || len(c.Children) == 0 {
		return "fallback"
	}
	top := c.Children[0]
	switch top.ID {
	case "exception", "chained-exception":
		prefix := "exception"
		if top.ID == "chained-exception" {
			prefix = "chained_exception"
		}
		switch {
		case top.find("stacktrace"):
			return prefix + "_stacktrace"
		case top.find("value"):
			return prefix + "_message"
		case top.find("type"):
			return prefix + "_type"
		}
		return "exception"
	case "threads":
		return "thread_stacktrace"
	case "stacktrace":
		return "stacktrace"
	case "message":
		return "message"
	}
	return top.ID
}

var keyDescriptions = map[string]string{
	"chained_exception_message": "chained exception messages", "chained_exception_stacktrace": "chained exception stacktraces",
	"chained_exception_type": "chained exception types", "custom_fingerprint": "custom fingerprint",
	"exception": "exception", "exception_message": "exception message", "exception_stacktrace": "exception stacktrace",
	"exception_type": "exception type", "fallback": "fallback grouping", "message": "message",
	"stacktrace": "event-level stacktrace", "thread_stacktrace": "thread stacktrace",
}

// key is Sentry's variant key, under which grouping-info lists it.
func (v *Variant) key() string {
	switch v.Kind {
	case "custom-fingerprint":
		return "custom_fingerprint"
	case "fallback":
		return "fallback"
	}
	k := v.Name + "_" + rootKey(v.Component)
	if v.Kind == "salted-component" {
		k += "_custom_fingerprint"
	}
	return k
}

func (v *Variant) description() string {
	var rk string
	switch v.Kind {
	case "custom-fingerprint", "fallback":
		rk = v.key()
	default:
		rk = rootKey(v.Component)
	}
	d := keyDescriptions[rk]
	if d == "" {
		d = rk
	}
	if (v.Name == "app" || v.Name == "system") && v.Kind != "custom-fingerprint" && strings.Contains(rk, "stacktrace") {
		if v.Name == "app" {
			d += " — in-app frames"
		} else {
			d += " — all frames"
		}
	}
	if v.Kind == "salted-component" {
		d += " and custom fingerprint"
	}
	return d
}

// GroupingInfo renders the variants as Sentry's grouping-info endpoint
// does: one entry per variant key, with its hash (null when it does not
// contribute), whether that hash differs from the event's stored one, a
// description and the component tree.
func GroupingInfo(r Result, stored *event.GroupingInfo) map[string]any {
	out := map[string]any{}
	for _, v := range r.Variants {
		var hash, hint any
		if v.Contributes && v.Hash != "" {
			hash = v.Hash
		}
		if v.Hint != "" {
			hint = v.Hint
		}
		typ := map[string]string{"component": "component", "custom-fingerprint": "custom_fingerprint",
			"salted-component": "salted_component", "fallback": "fallback"}[v.Kind]
		m := map[string]any{
			"key": v.key(), "type": typ, "description": v.description(), "hash": hash, "contributes": v.Contributes,
			"hint": hint, "hashMismatch": stored != nil && hash != nil && v.Hash != stored.Hash && v.Name == stored.Variant,
		}
		if v.Component != nil {
			m["component"] = v.Component
			m["config"] = map[string]any{"id": SentryConfig}
		}
		if v.Fingerprint != nil {
			m["values"] = v.Fingerprint
			m["client_values"] = v.Fingerprint
			m["matched_rule"] = nil
		}
		out[v.key()] = m
	}
	return out
}
