// Package grouping computes an event's fingerprint: the hash that decides
// which issue it belongs to. It follows Sentry's grouping config
// newstyle:2023-01-11 (a custom fingerprint first, then the exception
// chain with its stack traces, then a lone stack trace or thread, then the
// message), builds the same component tree and hashes it the same way, so
// that events Sentry puts in one issue land in one issue here. See
// GROUPING.md.
package grouping

import (
	"regexp"
	"strings"

	"github.com/faultline/faultline/internal/event"
)

// Config names the algorithm's version. It is part of every issue's
// identity (project, config, hash), so a later change of the algorithm
// cannot silently split existing issues: a new config is introduced beside
// the old one, never in its place. It is a NATS KV key token.
const Config = "newstyle-2023-01-11"

// SentryConfig is the Sentry grouping config that Config follows, as the
// API shows it.
const SentryConfig = "newstyle:2023-01-11"

// Strategies: which part of the event produced the hash.
const (
	StrategyCustom     = "custom"     // the event's fingerprint
	StrategyStacktrace = "stacktrace" // stack trace frames (with exception types)
	StrategyException  = "exception"  // exception types and values, no usable frames
	StrategyMessage    = "message"
	StrategyFallback   = "fallback" // nothing to group by
)

// Variant is one way of grouping the event, as Sentry's variants: "app"
// (in-app frames only), "system" (all frames), "default" (the message),
// "custom-fingerprint" or "fallback".
type Variant struct {
	Name string
	// Kind is Sentry's variant type: component, custom-fingerprint,
	// salted-component or fallback.
	Kind        string
	Component   *Component // nil for custom-fingerprint and fallback
	Fingerprint []string   // custom and salted variants
	Contributes bool
	Hash        string // "" when it does not contribute
	Hint        string
}

// Result is a computed fingerprint.
type Result struct {
	Config   string
	Strategy string
	Variant  string // the variant whose hash is the event's
	Hash     string // 32 hex characters
	// Values are what was hashed, for people to read.
	Values   []string
	Variants []*Variant
	// MainExceptionID is Sentry's main_exception_id, set when the event
	// is about another exception than the last of its list (exception
	// groups, React and RxJava wrappers); the worker stores it in the
	// event before deriving the title.
	MainExceptionID *int
}

// Info returns the result as stored in the event.
func (r Result) Info() *event.GroupingInfo {
	return &event.GroupingInfo{Config: r.Config, Strategy: r.Strategy, Variant: r.Variant, Hash: r.Hash, Values: r.Values}
}

// Compute returns e's fingerprint. e should be normalized first (the
// worker does it): JavaScript frames get their module from the URL and
// frames their in-app flag from the built-in rules.
func Compute(e *event.Event) Result { return compute(e, false) }

// ComputeDetailed is Compute that also parameterizes the values that do
// not take part in the hash (an exception's value under a stack trace),
// for grouping-info to show what Sentry shows. The hash is the same.
func ComputeDetailed(e *event.Event) Result { return compute(e, true) }

func compute(e *event.Event, detailed bool) Result {
	var mainID *int
	variants := builtinVariants(e, detailed, &mainID)
	if fp := fingerprintValues(e); fp != nil {
		variants = applyFingerprint(fp, variants)
	}
	r := pick(variants)
	r.MainExceptionID = mainID
	return r
}

// pick chooses the event's hash as Sentry's primary hash: the app
// variant when it contributes, else the first contributing one.
func pick(variants []*Variant) Result {
	var chosen *Variant
	for _, v := range variants {
		if v.Contributes && (chosen == nil || v.Name == "app") {
			chosen = v
			if v.Name == "app" {
				break
			}
		}
	}
	if chosen == nil {
		chosen = &Variant{Name: "fallback", Kind: "fallback", Contributes: true, Hash: hashValues(nil)}
		variants = append(variants, chosen)
	}
	r := Result{Config: Config, Variant: chosen.Name, Hash: chosen.Hash, Variants: variants}
	switch {
	case chosen.Kind == "custom-fingerprint":
		r.Strategy, r.Values = StrategyCustom, chosen.Fingerprint
	case chosen.Kind == "fallback":
		r.Strategy = StrategyFallback
	default:
		r.Values = variantValues(chosen)
		switch {
		case chosen.Kind == "salted-component":
			r.Strategy = StrategyCustom
		case chosen.Component.find("stacktrace"):
			r.Strategy = StrategyStacktrace
		case chosen.Component.find("exception"):
			r.Strategy = StrategyException
		default:
			r.Strategy = StrategyMessage
		}
	}
	return r
}

func variantValues(v *Variant) []string {
	if v.Kind != "salted-component" {
		return v.Component.appendValues(nil)
	}
	var out []string
	for _, f := range v.Fingerprint {
		if isDefaultVar(f) {
			out = v.Component.appendValues(out)
		} else {
			out = append(out, f)
		}
	}
	return out
}

// builtinVariants runs the strategies in Sentry's order of precedence:
// the first that contributes wins, and the others are kept, marked as not
// contributing, for grouping-info.
func builtinVariants(e *event.Event, detailed bool, mainID **int) []*Variant {
	var out []*Variant
	winner := ""
	add := func(strategy string, comps map[string]*Component, order ...string) {
		for _, name := range order {
			c, ok := comps[name]
			if !ok {
				continue
			}
			root := node(name, c)
			if root.Contributes {
				if winner == "" {
					winner = strategy
				} else if winner != strategy {
					root.ignore("ignored because " + winner + " takes precedence")
				}
			}
			out = append(out, &Variant{Name: name, Kind: "component", Component: root})
		}
	}
	if e.Exception != nil && len(e.Exception.Values) > 0 {
		comps, id := chainedException(e, detailed)
		*mainID = id
		add("exception", comps, "app", "system")
	}
	if th := threadsComponent(e); th != nil {
		add("thread", th, "app", "system")
	}
	if e.Stacktrace != nil {
		add("stack-trace", stacktraceVariants(e.Stacktrace, e.Platform), "app", "system")
	}
	if m := messageComponent(e); m != nil {
		add("message", map[string]*Component{"default": m}, "default")
	}
	for _, v := range out {
		v.Contributes = v.Component.Contributes
		if v.Contributes {
			v.Hash = hashValues(v.Component.appendValues(nil))
		}
		v.Hint = v.Component.Hint
	}
	return out
}

// chainedException is Sentry's chained-exception strategy: every
// exception of the chain, cause first, each with its stack trace, type
// and value.
//
// Exception groups are pruned first (filterExceptionGroups); the main
// exception it decides, or Sentry's overrides for React and RxJava, are
// returned for the event's title.
func chainedException(e *event.Event, detailed bool) (map[string]*Component, *int) {
	exs := e.Exception.Values
	per := make([]map[string]*Component, len(exs))
	for i := range exs {
		per[i] = singleException(&exs[i], e.Platform, detailed)
	}
	idx, mainID := filterExceptionGroups(e, per)
	if len(idx) > 1 {
		mainID = overrideMainException(exs, idx)
	}
	out := map[string]*Component{}
	for _, name := range []string{"app", "system"} {
		if len(idx) == 1 {
			out[name] = per[idx[0]][name]
			continue
		}
		children := make([]*Component, len(idx))
		for j, i := range idx {
			children[j] = per[i][name]
		}
		out[name] = node("chained-exception", children...)
	}
	removeNonStacktraceVariants(out)
	return out, mainID
}

func singleException(ex *event.Exception, platform string, detailed bool) map[string]*Component {
	var sts map[string]*Component
	if ex.Stacktrace != nil {
		sts = stacktraceVariants(ex.Stacktrace, platform)
	} else {
		sts = map[string]*Component{"app": leaf("stacktrace"), "system": leaf("stacktrace")}
	}
	out := map[string]*Component{}
	for _, name := range []string{"app", "system"} {
		typ := leaf("type", ex.Type)
		if ex.Mechanism != nil && ex.Mechanism.Synthetic {
			typ.ignore("ignored because exception is synthetic")
		}
		st := sts[name]
		value := leaf("value")
		if raw := string(ex.Value); raw != "" {
			// Parameterizing costs; under a contributing stack trace the
			// value does not count, and only grouping-info shows it.
			n := raw
			if !st.Contributes || detailed {
				n = NormalizeMessage(raw)
			}
			value = leaf("value", n)
			if n != raw {
				value.Hint = "stripped event-specific values"
			}
		}
		if st.Contributes && value.Contributes {
			value.ignore("ignored because stacktrace takes precedence")
		}
		// newstyle:2023-01-11 keeps Sentry's legacy order of the parts.
		out[name] = node("exception", st, typ, value)
	}
	return out
}

// stacktraceVariants is Sentry's stacktrace strategy: an "app" variant
// where only in-app frames count and a "system" variant of all frames.
func stacktraceVariants(st *event.Stacktrace, eventPlatform string) map[string]*Component {
	sysFrames := make([]*Component, len(st.Frames))
	appFrames := make([]*Component, len(st.Frames))
	inApp, inAppContributing, contributing := 0, 0, 0
	var prev *event.Frame
	for i := range st.Frames {
		f := &st.Frames[i]
		platform := firstNonEmpty(f.Platform, eventPlatform)
		c := frameComponent(f, platform)
		if sameFrame(f, prev) {
			c.ignore("ignored due to recursion")
		}
		if c.Contributes {
			if r := applyRules(f, platform, false, true); r.noGroup != "" {
				c.ignore("ignored by stack trace rule (" + r.noGroup + ")")
			}
		}
		if f.IsInApp() {
			inApp++
			if c.Contributes {
				inAppContributing++
			}
		}
		if c.Contributes {
			contributing++
		}
		sysFrames[i] = c
		// The app variant shares the frame's parts; only whether the frame
		// counts differs.
		ac := *c
		if !f.IsInApp() {
			ac.Contributes = false
		}
		appFrames[i] = &ac
		prev = f
	}
	if len(st.Frames) == 1 {
		f := &st.Frames[0]
		if family(firstNonEmpty(f.Platform, eventPlatform)) == familyJavaScript && f.Function == "" && hasURLOrigin(f.AbsPath, true) {
			for _, c := range []*Component{sysFrames[0], appFrames[0]} {
				if c.Contributes {
					c.ignore("ignored single non-URL JavaScript frame")
				}
			}
		}
	}
	app, sys := node("stacktrace", appFrames...), node("stacktrace", sysFrames...)
	switch {
	case len(st.Frames) == 0:
		app.ignore("ignored because it contains no frames")
		sys.ignore("ignored because it contains no frames")
	default:
		if contributing == 0 {
			sys.ignore("ignored because it contains no contributing frames")
		}
		if inApp == 0 {
			app.ignore("ignored because it contains no in-app frames")
		} else if inAppContributing == 0 {
			app.ignore("ignored because it contains no contributing frames")
		}
	}
	return map[string]*Component{"app": app, "system": sys}
}

// removeNonStacktraceVariants: when one variant groups by a stack trace,
// a variant that does not (e.g. "app" when no frame is in-app, which would
// fall back to the exception's value) does not contribute.
func removeNonStacktraceVariants(vs map[string]*Component) {
	var with, without []string
	for _, name := range []string{"app", "system"} {
		c := vs[name]
		if c == nil {
			continue
		}
		if c.find("stacktrace") {
			with = append(with, name)
		} else {
			without = append(without, name)
		}
	}
	if len(with) == 0 {
		return
	}
	for _, name := range without {
		vs[name].ignore("ignored because this variant does not have a contributing stacktrace, but the " + with[0] + " variant does")
	}
}

// threadsComponent groups by one thread's stack trace, when the event
// has no exception: the only crashed thread, else the only current one,
// else the only thread.
func threadsComponent(e *event.Event) map[string]*Component {
	if e.Threads == nil || len(e.Threads.Values) == 0 {
		return nil
	}
	ths := e.Threads.Values
	var crashed, current []int
	for i := range ths {
		if ths[i].Crashed {
			crashed = append(crashed, i)
		}
		if ths[i].Current {
			current = append(current, i)
		}
	}
	pick := -1
	switch {
	case len(crashed) == 1:
		pick = crashed[0]
	case len(current) == 1:
		pick = current[0]
	case len(ths) == 1:
		pick = 0
	}
	if pick < 0 {
		return map[string]*Component{"app": {ID: "threads", Hint: "ignored because it contains neither a single thread nor multiple threads with exactly one crashing or current thread; instead contains " +
			itoa(len(crashed)) + " crashing, " + itoa(len(current)) + " current, and " + itoa(len(ths)) + " total threads"}}
	}
	st := ths[pick].Stacktrace
	if st == nil {
		return map[string]*Component{"app": {ID: "threads", Hint: "ignored because thread has no stacktrace"}}
	}
	out := map[string]*Component{}
	for name, c := range stacktraceVariants(st, e.Platform) {
		out[name] = node("threads", c)
	}
	removeNonStacktraceVariants(out)
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// messageComponent groups by the message template before formatting (so
// that "%s failed" groups whatever its parameters), parameterized.
func messageComponent(e *event.Event) *Component {
	raw := ""
	for _, m := range []*event.Message{e.LogEntry, e.Message} {
		if m != nil && raw == "" {
			raw = firstNonEmpty(m.Message, m.Formatted)
		}
	}
	if raw == "" {
		return nil
	}
	n := NormalizeMessage(raw)
	c := leaf("message", n)
	if n != raw {
		c.Hint = "stripped event-specific values"
	}
	return c
}

// Fingerprints.

var fingerprintVarRE = regexp.MustCompile(`^\{\{\s*(\S+?)\s*\}\}$`)

func isDefaultVar(s string) bool { return strings.Trim(s, "{} ") == "default" }

// fingerprintValues resolves the event's fingerprint, or nil when it has
// none or is just {{ default }}.
func fingerprintValues(e *event.Event) []string {
	if len(e.Fingerprint) == 0 {
		return nil
	}
	out := make([]string, 0, len(e.Fingerprint))
	onlyDefault := true
	for _, p := range e.Fingerprint {
		s := string(p)
		if isDefaultVar(s) {
			out = append(out, "{{ default }}")
			continue
		}
		onlyDefault = false
		if m := fingerprintVarRE.FindStringSubmatch(s); m != nil {
			s = fingerprintVar(e, strings.ToLower(m[1]), s)
		}
		out = append(out, s)
	}
	if onlyDefault {
		return nil
	}
	return out
}

// fingerprintVar is Sentry's get_fingerprint_value. Like Sentry, it reads
// the last exception of the list, not main_exception_id, so that grouping
// a stored event again gives the same hash.
func fingerprintVar(e *event.Event, name, raw string) string {
	var main *event.Exception
	if e.Exception != nil && len(e.Exception.Values) > 0 {
		main = &e.Exception.Values[len(e.Exception.Values)-1]
	}
	or := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	switch {
	case name == "transaction":
		return or(e.Transaction, "<no-transaction>")
	case name == "message":
		m := ""
		if e.LogEntry != nil {
			m = firstNonEmpty(e.LogEntry.Formatted, e.LogEntry.Message)
		}
		if m == "" && main != nil {
			m = string(main.Value)
		}
		return or(m, "<no-message>")
	case name == "type" || name == "error.type":
		if main != nil {
			return or(main.Type, "<no-type>")
		}
		return "<no-type>"
	case name == "value" || name == "error.value":
		if main != nil {
			return or(string(main.Value), "<no-value>")
		}
		return "<no-value>"
	case name == "function" || name == "stack.function":
		if f := e.CrashFrame(); f != nil {
			return or(f.Function, "<no-function>")
		}
		return "<no-function>"
	case name == "path" || name == "stack.abs_path":
		if f := e.CrashFrame(); f != nil {
			return or(firstNonEmpty(f.AbsPath, f.Filename), "<no-abs-path>")
		}
		return "<no-abs-path>"
	case name == "stack.filename":
		if f := e.CrashFrame(); f != nil {
			return or(firstNonEmpty(f.Filename, f.AbsPath), "<no-filename>")
		}
		return "<no-filename>"
	case name == "module" || name == "stack.module":
		if f := e.CrashFrame(); f != nil {
			return or(f.Module, "<no-module>")
		}
		return "<no-module>"
	case name == "package" || name == "stack.package":
		if f := e.CrashFrame(); f != nil {
			return or(basename(f.Package), "<no-package>")
		}
		return "<no-package>"
	case name == "level":
		return or(e.Level, "<no-level>")
	case name == "logger":
		return or(e.Logger, "<no-logger>")
	case strings.HasPrefix(name, "tags."):
		if v, ok := e.Tags.Get(name[5:]); ok {
			return v
		}
		return "<no-value-for-tag-" + name[5:] + ">"
	}
	return raw // unknown variables stay as written, as in Sentry
}

// applyFingerprint turns the built-in variants into what a custom
// fingerprint makes of them: one custom-fingerprint variant, or, when the
// fingerprint includes {{ default }}, the built-in variants salted with
// the other values.
func applyFingerprint(fp []string, variants []*Variant) []*Variant {
	salted := false
	for _, f := range fp {
		salted = salted || isDefaultVar(f)
	}
	if !salted {
		for _, v := range variants {
			if v.Contributes {
				v.Contributes, v.Hash, v.Hint = false, "", "ignored because custom fingerprint takes precedence"
			}
		}
		custom := &Variant{Name: "custom-fingerprint", Kind: "custom-fingerprint", Fingerprint: fp,
			Contributes: true, Hash: hashValues(fp)}
		return append([]*Variant{custom}, variants...)
	}
	for _, v := range variants {
		v.Kind, v.Fingerprint = "salted-component", fp
		if v.Contributes {
			v.Hash = hashValues(variantValues(v))
		}
	}
	return variants
}
