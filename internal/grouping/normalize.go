package grouping

import (
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/faultline/faultline/internal/event"
)

// contextLinePlatforms are those whose source line takes part in grouping,
// as in Sentry's newstyle configs.
var contextLinePlatforms = map[string]bool{"javascript": true, "node": true, "python": true, "php": true, "ruby": true}

func isJS(platform string) bool { return platform == "javascript" || platform == "node" }

// frameComponent is what one frame contributes: its location (module, else
// file name), its function and, where Sentry uses it, its source line.
// Line numbers, columns and addresses never contribute, so that moving code
// does not split an issue.
func frameComponent(f *event.Frame, eventPlatform string) string {
	platform := f.Platform
	if platform == "" {
		platform = eventPlatform
	}
	loc := ""
	switch {
	case f.Module != "" && !(isJS(platform) && isURL(f.Module)):
		loc = normalizeModule(f.Module, platform)
	case isJS(platform) && isURL(f.AbsPath):
		loc = jsModule(f.AbsPath)
	case f.Filename != "" || f.AbsPath != "":
		loc = normalizeFilename(firstNonEmpty(f.Filename, f.AbsPath), platform)
	}
	fn := normalizeFunction(firstNonEmpty(f.Function, f.RawFunction), platform)
	ctx := ""
	if contextLinePlatforms[platform] && f.ContextLine != "" && len(f.ContextLine) <= 120 {
		if !(isJS(platform) && fn == "") {
			ctx = strings.Join(strings.Fields(f.ContextLine), " ")
		}
	}
	if loc == "" && fn == "" && ctx == "" {
		return ""
	}
	return "frame:" + loc + "|" + fn + "|" + ctx
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") ||
		strings.HasPrefix(s, "app://") || strings.HasPrefix(s, "webpack://")
}

var (
	// Revision hashes and versions inside paths and module names.
	hashSegmentRE = regexp.MustCompile(`(?i)^(?:[a-f0-9]{32}|[a-f0-9]{40}|[a-f0-9]{7,8}|v?\d+(?:\.\d+)+[a-z0-9-]*|v\d+)$`)
	hashSuffixRE  = regexp.MustCompile(`(?i)[-.@][a-f0-9]{7,}$`)
	versionAtRE   = regexp.MustCompile(`@v?\d+(?:\.\d+)*(?:[-+][\w.]+)?`)
	jsPrefixRE    = regexp.MustCompile(`(?i)^(?:(?:java)?scripts?|js|build|static|dist|assets|node_modules|bower_components|[_.~].*)$`)
)

// jsModule turns a script URL into a module name as Sentry's JavaScript
// processing does: the path without host, query, extension, common
// prefixes, versions and hashes. https://cdn.x/static/js/v1.2/app.3f9a8b7c.min.js -> app
func jsModule(raw string) string {
	p := raw
	if u, err := url.Parse(raw); err == nil {
		p = u.Path
	} else if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	p = strings.TrimSuffix(p, path.Ext(p))
	p = strings.TrimSuffix(p, ".min")
	p = hashSuffixRE.ReplaceAllString(p, "")
	var keep []string
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || hashSegmentRE.MatchString(seg) {
			continue
		}
		if len(keep) == 0 && jsPrefixRE.MatchString(seg) {
			continue
		}
		keep = append(keep, seg)
	}
	if len(keep) == 0 {
		return "<unknown module>"
	}
	return strings.Join(keep, "/")
}

// normalizeModule strips versions and hashes from a module name.
func normalizeModule(m, platform string) string {
	m = versionAtRE.ReplaceAllString(m, "")
	if isJS(platform) {
		m = hashSuffixRE.ReplaceAllString(m, "")
	}
	return m
}

// normalizeFilename keeps the base name, lowercased, as Sentry does, after
// removing any URL host and query and any hash or version in it.
func normalizeFilename(f, platform string) string {
	if i := strings.IndexAny(f, "?#"); i >= 0 {
		f = f[:i]
	}
	f = strings.ReplaceAll(f, `\`, "/")
	base := strings.ToLower(path.Base(f))
	switch base {
	case "<anonymous>", "[native code]", ".", "/":
		return ""
	}
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	stem = hashSuffixRE.ReplaceAllString(stem, "")
	stem = versionAtRE.ReplaceAllString(stem, "")
	return stem + ext
}

var (
	anonFunctions = map[string]bool{
		"?": true, "<anonymous>": true, "<anonymous function>": true, "anonymous function": true,
		"anonymous": true, "<lambda>": true, "<unknown>": true, "<redacted>": true, "<module>": false,
	}
	javaLambdaRE  = regexp.MustCompile(`\$\$Lambda\$\d+/(?:0x)?[0-9a-fA-F]+|lambda\$(\w+)\$\d+`)
	goClosureRE   = regexp.MustCompile(`\.func\d+(\.\d+)*`)
	rubyBlockRE   = regexp.MustCompile(`^block (?:\(\d+ levels\) )?in `)
	jsAnonSuffix  = regexp.MustCompile(`/<+$`)
	genericNumRE  = regexp.MustCompile(`\$\d+`)
	csharpLambdaR = regexp.MustCompile(`<\w*>b__\d+(?:_\d+)?`)
)

// normalizeFunction removes what changes between builds or calls without a
// change in the code: anonymous and generated names, lambda and closure
// numbering.
func normalizeFunction(fn, platform string) string {
	fn = strings.TrimSpace(fn)
	if anonFunctions[strings.ToLower(fn)] {
		return ""
	}
	switch {
	case isJS(platform):
		fn = strings.TrimPrefix(fn, "new ")
		fn = strings.TrimPrefix(fn, "async ")
		fn = strings.TrimPrefix(fn, "Object.")
		fn = jsAnonSuffix.ReplaceAllString(fn, "")
		if strings.HasSuffix(fn, ".<anonymous>") || fn == "<anonymous>" {
			return ""
		}
	case platform == "java":
		if strings.HasPrefix(fn, "lambda$") {
			return ""
		}
		fn = javaLambdaRE.ReplaceAllString(fn, "$$Lambda")
	case platform == "go":
		fn = goClosureRE.ReplaceAllString(fn, ".func")
	case platform == "ruby":
		if rubyBlockRE.MatchString(fn) {
			fn = "block"
		}
	case platform == "csharp":
		fn = csharpLambdaR.ReplaceAllString(fn, "<lambda>")
	case platform == "python":
		if fn == "<lambda>" {
			return ""
		}
	}
	fn = genericNumRE.ReplaceAllString(fn, "$$N")
	return fn
}

var bareHexRE = regexp.MustCompile(`(?i)\b[0-9a-f]{8,}\b`)

// Parameters stripped from messages before hashing, most specific first.
var params = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b`), "<email>"},
	{regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s'"<>]+`), "<url>"},
	{regexp.MustCompile(`(?i)\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b`), "<uuid>"},
	{regexp.MustCompile(`(?i)\b(?:[0-9a-f]{40}|[0-9a-f]{32})\b`), "<hash>"},
	{regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b`), "<date>"},
	{regexp.MustCompile(`\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b`), "<time>"},
	{regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b`), "<ip>"},
	{regexp.MustCompile(`(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b|\b(?:[0-9a-f]{1,4}:){1,6}:[0-9a-f]{1,4}\b`), "<ip>"},
	{regexp.MustCompile(`(?i)\b0x[0-9a-f]+\b`), "<hex>"},
	{bareHexRE, ""}, // see Parameterize
	{regexp.MustCompile(`'[^'\n]{0,200}'|"[^"\n]{0,200}"|` + "`[^`\\n]{0,200}`"), "<quoted>"},
	{regexp.MustCompile(`[-+]?\b\d+\.\d+(?:[eE][-+]?\d+)?\b`), "<float>"},
	{regexp.MustCompile(`[-+]?\b\d+\b`), "<int>"},
}

// Parameterize replaces the variable parts of a message (numbers, hex
// strings, UUIDs, e-mail and IP addresses, URLs, dates and quoted strings)
// with placeholders, so that "user 42 not found" and "user 43 not found"
// group together.
func Parameterize(s string) string {
	if len(s) > 4096 {
		s = s[:4096]
	}
	for _, p := range params {
		if p.re == bareHexRE {
			// RE2 has no lookahead: keep words of hex letters only ("deadbeef").
			s = p.re.ReplaceAllStringFunc(s, func(m string) string {
				if strings.ContainsAny(m, "0123456789") && strings.ContainsAny(strings.ToLower(m), "abcdef") {
					return "<hex>"
				}
				return m
			})
			continue
		}
		s = p.re.ReplaceAllString(s, p.repl)
	}
	return s
}
