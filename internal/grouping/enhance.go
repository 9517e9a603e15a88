package grouping

import (
	"regexp"
	"strings"
	"sync"

	"github.com/faultline/faultline/internal/event"
)

// rule is one of Sentry's built-in stack trace rules (enhancements of
// newstyle:2023-01-11): frames it matches are not the application's own
// code (-app), or do not take part in grouping (-group).
type rule struct {
	family   string // "" for any
	path     *regexp.Regexp
	module   *regexp.Regexp
	function *regexp.Regexp
	notApp   bool
	noGroup  bool
	text     string
	// needle is a literal the value must contain (lowercase): a cheap test
	// before the regular expression.
	needle string
	// prefix and exact replace the expression where the pattern is a
	// literal prefix ("java.*", "@babel/**") or a literal ("nextTick").
	prefix, exact string
}

// glob compiles a Sentry matcher pattern: ** crosses path separators, *
// does not in paths; in modules and functions * matches anything.
func glob(p string, isPath bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?i)^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '*' && i+1 < len(p) && p[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*' && isPath:
			b.WriteString("[^/]*")
		case c == '*':
			b.WriteString(".*")
		case c == '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// builtinRules are the rules of Sentry's default enhancements that apply
// to the platforms whose SDKs send events here (Python, JavaScript, Go,
// Java, Ruby, PHP). Native (Apple, Android NDK, Windows) categories are
// left out; see GROUPING.md.
var builtinRules = func() []rule {
	type spec struct{ family, kind, pattern, actions string }
	specs := []spec{
		{"", "path", "**/vendor/**", "-app"},
		{"", "path", "**/site-packages/**", "-app"},
		{"", "path", "**/dist-packages/**", "-app"},
		{"", "path", "**/node_modules/**", "-app"},
		{"", "module", "unpkg/**", "-app"},
		{"", "path", "**https://unpkg.com/**", "-app"},
		{"", "path", "**https://cdnjs.cloudflare.com/**", "-app"},
		{"", "path", "**https://cdn.jsdelivr.net/**", "-app"},
		{"", "path", "**https://esm.run/**", "-app"},
		{"javascript", "function", "reportError", "-app"},
		{"", "module", "@babel/**", "-app -group"},
		{"", "module", "core-js/**", "-app -group"},
		{"", "module", "regenerator-runtime/**", "-app -group"},
		{"", "module", "tslib/**", "-app -group"},
		{"javascript", "function", "_callSuper", "-app -group"},
		{"", "function", "runMicrotasks", "-app -group"},
		{"", "function", "queueMicrotask", "-app -group"},
		{"", "function", "processTicksAndRejections", "-app -group"},
		{"", "function", "runNextTicks", "-app -group"},
		{"", "function", "nextTick", "-app -group"},
		{"", "path", "**/go/pkg/mod/**", "-app"},
		{"", "module", "java.lang.reflect.*", "-group"},
		{"", "module", "androidx.work.impl.utils.ForceStopRunnable", "-group"},
		{"", "module", "io.sentry.*", "-app -group"},
		{"", "module", "kotlin.*", "-app"},
		{"", "module", "kotlinx.*", "-app"},
		{"", "module", "io.ktor.*", "-app"},
		{"", "module", "io.netty.*", "-app"},
		{"", "module", "newrelic", "-app -group"},
		{"", "path", "**/*newrelic*/**", "-app -group"},
		{"", "path", "**/*LogRocket*/**", "-app -group"},
	}
	// Java frameworks (category=framework, then category:framework -app).
	for _, m := range []string{"akka", "com.fasterxml", "com.microsoft", "com.sun", "feign", "io.opentelemetry",
		"jdk", "oauth", "org.apache", "org.glassfish", "org.jboss", "org.jdesktop", "org.postgresql",
		"org.springframework", "org.web3j", "reactor.core", "scala", "sun"} {
		specs = append(specs, spec{"", "module", m + ".*", "-app"})
	}
	out := make([]rule, 0, len(specs))
	for _, s := range specs {
		r := rule{family: s.family, notApp: strings.Contains(s.actions, "-app"),
			noGroup: strings.Contains(s.actions, "-group"), text: s.kind + ":" + s.pattern + " " + s.actions}
		for _, lit := range strings.FieldsFunc(strings.ToLower(s.pattern), func(c rune) bool { return c == '*' || c == '?' }) {
			if len(lit) > len(r.needle) {
				r.needle = lit
			}
		}
		if s.kind != "path" {
			lp := strings.ToLower(s.pattern)
			switch i := strings.IndexAny(lp, "*?"); {
			case i < 0:
				r.exact = lp
			case strings.Trim(lp[i:], "*") == "":
				r.prefix = lp[:i]
			}
		}
		switch s.kind {
		case "path":
			r.path = glob(s.pattern, true)
		case "module":
			r.module = glob(s.pattern, false)
		case "function":
			r.function = glob(s.pattern, false)
		}
		out = append(out, r)
	}
	return out
}()

// frameView is a frame's matchable fields, lowercased once.
type frameView struct {
	family                           string
	absPath, filename, module, funct string
}

// viewOf lowercases the module and the function; paths keep their case
// (they are long, and compared without regard to case instead).
func viewOf(f *event.Frame, platform string) frameView {
	return frameView{family: family(platform), absPath: slashPath(f.AbsPath), filename: slashPath(f.Filename),
		module: lower(f.Module), funct: lower(firstNonEmpty(f.Function, f.RawFunction))}
}

func slashPath(s string) string {
	if strings.IndexByte(s, '\\') >= 0 {
		return strings.ReplaceAll(s, `\`, "/")
	}
	return s
}

// containsFold reports whether s contains the lowercase ASCII needle, in
// any case, without allocating.
func containsFold(s, needle string) bool {
	n := len(needle)
	if n == 0 {
		return true
	}
	first := needle[0]
	for i := 0; i+n <= len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != first {
			continue
		}
		j := 1
		for ; j < n; j++ {
			d := s[i+j]
			if d >= 'A' && d <= 'Z' {
				d += 'a' - 'A'
			}
			if d != needle[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// lower is strings.ToLower without an allocation for the common case of
// a string already in lowercase ASCII.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

func (r *rule) test(re *regexp.Regexp, v string) bool {
	switch {
	case v == "":
		return false
	case r.exact != "":
		return v == r.exact
	case r.prefix != "":
		return strings.HasPrefix(v, r.prefix)
	}
	return containsFold(v, r.needle) && re.MatchString(v)
}

func (r *rule) matches(v *frameView) bool {
	if r.family != "" && v.family != r.family {
		return false
	}
	switch {
	case r.path != nil:
		return r.test(r.path, v.absPath) || r.test(r.path, v.filename)
	case r.module != nil:
		return r.test(r.module, v.module)
	case r.function != nil:
		return r.test(r.function, v.funct)
	}
	return false
}

// frameRules are the outcome of the rules for one frame.
type frameRules struct {
	notApp  bool
	noGroup string // the rule, when the frame is out of grouping
}

// applyRules tests the rules that can change what the caller asks about:
// in-app rules for ApplyInApp, grouping rules for the stack trace.
//
// The same frames come back in every event of an issue, and testing ~100
// rules against a frame costs microseconds, so results are remembered in a
// bounded cache keyed by everything the rules read.
func applyRules(f *event.Frame, platform string, inApp, group bool) frameRules {
	key := ruleKey{family(platform), f.AbsPath, f.Filename, f.Module, firstNonEmpty(f.Function, f.RawFunction), inApp, group}
	if len(key.absPath)+len(key.filename)+len(key.module)+len(key.funct) > maxRuleKey {
		return testRules(f, platform, inApp, group)
	}
	ruleMemo.mu.Lock()
	out, ok := ruleMemo.m[key]
	ruleMemo.mu.Unlock()
	if ok {
		return out
	}
	out = testRules(f, platform, inApp, group)
	ruleMemo.mu.Lock()
	if len(ruleMemo.m) >= maxRuleMemo {
		clear(ruleMemo.m) // bounded: start over rather than track recency
	}
	ruleMemo.m[key] = out
	ruleMemo.mu.Unlock()
	return out
}

type ruleKey struct {
	family, absPath, filename, module, funct string
	inApp, group                             bool
}

const (
	maxRuleMemo = 50_000
	maxRuleKey  = 2048 // longer frames are tested, not remembered
)

// ruleMemo holds results of a pure function of the frame, so sharing it
// process-wide changes nothing but speed.
var ruleMemo = struct {
	mu sync.Mutex
	m  map[ruleKey]frameRules
}{m: map[ruleKey]frameRules{}}

func testRules(f *event.Frame, platform string, inApp, group bool) frameRules {
	var out frameRules
	v := viewOf(f, platform)
	if v.filename == v.absPath {
		v.filename = "" // tested once
	}
	apply := func(r *rule) {
		if !(inApp && r.notApp || group && r.noGroup) || !r.matches(&v) {
			return
		}
		out.notApp = out.notApp || r.notApp
		if r.noGroup && out.noGroup == "" {
			out.noGroup = r.text
		}
	}
	// Rules are tested in their order within each kind; the outcome does
	// not depend on the order across kinds.
	if v.funct != "" {
		for _, r := range rulesByFunction[v.funct] {
			apply(r)
		}
	}
	if v.module != "" {
		for _, r := range moduleRules {
			apply(r)
		}
	}
	if v.absPath != "" || v.filename != "" {
		for _, r := range pathRules {
			apply(r)
		}
	}
	return out
}

// The built-in rules by kind: function rules are exact names, looked up.
var (
	rulesByFunction = map[string][]*rule{}
	moduleRules     []*rule
	pathRules       []*rule
)

func init() {
	for i := range builtinRules {
		r := &builtinRules[i]
		switch {
		case r.function != nil:
			key := r.exact
			if key == "" {
				panic("grouping: function rules must be exact names: " + r.text)
			}
			rulesByFunction[key] = append(rulesByFunction[key], r)
		case r.module != nil:
			moduleRules = append(moduleRules, r)
		case r.path != nil:
			pathRules = append(pathRules, r)
		}
	}
}

// ApplyInApp marks frames that the built-in rules say are not the
// application's own, as Sentry does before grouping (overriding the SDK:
// io.sentry.* frames are never the application's, whatever the SDK
// said); the stored event shows the result.
func ApplyInApp(e *event.Event) {
	each := func(st *event.Stacktrace) {
		if st == nil {
			return
		}
		for i := range st.Frames {
			f := &st.Frames[i]
			if applyRules(f, firstNonEmpty(f.Platform, e.Platform), true, false).notApp {
				no := false
				f.InApp = &no
			}
		}
	}
	if e.Exception != nil {
		for i := range e.Exception.Values {
			each(e.Exception.Values[i].Stacktrace)
		}
	}
	each(e.Stacktrace)
	if e.Threads != nil {
		for i := range e.Threads.Values {
			each(e.Threads.Values[i].Stacktrace)
		}
	}
}
