package grouping

import (
	"regexp"
	"strings"

	"github.com/faultline/faultline/internal/event"
)

// Behaviour families, as Sentry's get_behavior_family_for_platform.
const (
	familyNative     = "native"
	familyJavaScript = "javascript"
	familyOther      = "other"
)

func family(platform string) string {
	switch platform {
	case "objc", "cocoa", "swift", "native", "c":
		return familyNative
	case "javascript", "node":
		return familyJavaScript
	}
	return familyOther
}

// contextLinePlatforms are those whose source line takes part in grouping
// (Sentry's newstyle configs): their sources are trusted to be the code
// that ran.
var contextLinePlatforms = map[string]bool{"javascript": true, "node": true, "python": true, "php": true, "ruby": true}

// hasURLOrigin is Sentry's has_url_origin: the frame's code came from a
// URL, so its file name says little about the code.
func hasURLOrigin(path string, filesCountAsURLs bool) bool {
	switch {
	case path == "":
		return false
	case strings.HasPrefix(path, "http:"), strings.HasPrefix(path, "https:"),
		strings.HasPrefix(path, "applewebdata:"), strings.HasPrefix(path, "blob:"):
		return true
	case strings.HasPrefix(path, "file:"):
		return filesCountAsURLs
	}
	return false
}

var (
	rubyErbRE        = regexp.MustCompile(`__\d{4,}_\d{4,}$`)
	javaReflectRE    = regexp.MustCompile(`(sun\.reflect\.Generated(?:Serialization)?ConstructorAccessor)\d+`)
	javaCglibRE      = regexp.MustCompile(`(\$\$[\w_]+?CGLIB\$\$)[a-fA-F0-9]+(_[0-9]+)?`)
	javaAssistRE     = regexp.MustCompile(`(\$\$_javassist)(?:_seam)?(?:_[0-9]+)?`)
	clojureRE        = regexp.MustCompile(`(\$fn__)\d+`)
	javaEnhancerRE   = regexp.MustCompile(`(\$\$?EnhancerBy[\w_]+?\$?\$)[a-fA-F0-9]+(_[0-9]+)?`)
	javaFastClassRE  = regexp.MustCompile(`(\$\$?FastClassBy[\w_]+?\$?\$)[a-fA-F0-9]+(_[0-9]+)?`)
	javaHibernateRE  = regexp.MustCompile(`(\$\$?HibernateProxy\$?\$)\w+(_[0-9]+)?`)
	javaGeneratedSub = "${1}<auto>"
)

// basename is the last path element, whatever the separator.
func basename(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		return s[i+1:]
	}
	return s
}

func filenameComponent(f *event.Frame, platform string) *Component {
	if f.Filename == "" {
		return leaf("filename")
	}
	name := strings.ToLower(basename(f.Filename))
	c := leaf("filename", name)
	switch {
	case hasURLOrigin(f.AbsPath, false):
		c.ignore("ignored because frame points to a URL")
	case name == "<anonymous>":
		c.ignore("ignored because filename is anonymous")
	case name == "[native code]":
		c.ignore("ignored because filename suggests native code")
	case platform == "java":
		if n := javaAssistRE.ReplaceAllString(name, javaGeneratedSub); n != name {
			c.setValues("cleaned javassist parts", n)
		}
	}
	return c
}

func moduleComponent(f *event.Frame, platform string) *Component {
	m := f.Module
	if m == "" {
		return leaf("module")
	}
	c := leaf("module", m)
	switch {
	case platform == "javascript" && strings.Contains(m, "/") && f.AbsPath != "" && strings.HasSuffix(f.AbsPath, m):
		c.ignore("ignored bad javascript module")
	case platform == "java":
		if strings.Contains(m, "$$Lambda$") {
			c.ignore("ignored java lambda")
		}
		switch {
		case strings.HasPrefix(m, "sun.reflect.GeneratedMethodAccessor"):
			c.setValues("removed reflection marker", "sun.reflect.GeneratedMethodAccessor")
		case strings.HasPrefix(m, "jdk.internal.reflect.GeneratedMethodAccessor"):
			c.setValues("removed reflection marker", "jdk.internal.reflect.GeneratedMethodAccessor")
		default:
			n := m
			for _, re := range []*regexp.Regexp{javaReflectRE, javaCglibRE, javaAssistRE, clojureRE, javaEnhancerRE, javaFastClassRE, javaHibernateRE} {
				n = re.ReplaceAllString(n, javaGeneratedSub)
			}
			if n != m {
				c.setValues("removed codegen marker", n)
			}
		}
	}
	return c
}

func contextLineComponent(f *event.Frame, platform string) *Component {
	line := collapseSpaces(f.ContextLine)
	if line == "" {
		return leaf("context-line")
	}
	c := leaf("context-line", line)
	switch {
	case len(f.ContextLine) > 120:
		c.ignore("ignored because line is too long")
	case family(platform) == familyJavaScript && f.Function == "" && hasURLOrigin(f.AbsPath, true):
		c.ignore("ignored because file path is a URL and function name is missing")
	}
	return c
}

func functionComponent(f *event.Frame, platform string) *Component {
	fn := f.Function
	if platform == "csharp" || fn == "" {
		fn = firstNonEmpty(f.RawFunction, f.Function)
	}
	if fn == "" {
		return leaf("function")
	}
	c := leaf("function", fn)
	switch {
	case platform == "ruby":
		if strings.HasPrefix(fn, "block ") {
			c.setValues("ruby block", "block")
		} else if n := rubyErbRE.ReplaceAllString(fn, ""); n != fn {
			c.setValues("removed generated erb template suffix", n)
		}
	case platform == "php":
		if strings.HasPrefix(fn, "[Anonymous") || strings.HasPrefix(fn, "class@anonymous\x00") {
			c.ignore("ignored anonymous function")
		}
		if strings.HasPrefix(fn, "class@anonymous") {
			if i := strings.LastIndex(fn, "::"); i >= 0 {
				c.setValues("anonymous class method", fn[i+2:])
			}
		}
	case platform == "java":
		if strings.HasPrefix(fn, "lambda$") {
			c.ignore("ignored lambda function")
		}
	case family(platform) == familyNative:
		if fn == "<redacted>" || fn == "<unknown>" {
			c.ignore("ignored unknown function")
		}
	case family(platform) == familyJavaScript:
		if i := strings.LastIndexByte(fn, '.'); i >= 0 {
			c.setValues("trimmed javascript function", fn[i+1:])
		}
	}
	return c
}

// frameComponent is Sentry's frame:v1 strategy. Line numbers, columns and
// addresses never take part, so that moving code does not split an issue.
func frameComponent(f *event.Frame, eventPlatform string) *Component {
	platform := firstNonEmpty(f.Platform, eventPlatform)
	filename := filenameComponent(f, platform)
	module := moduleComponent(f, platform)
	if module.Contributes && filename.Contributes {
		filename.ignore("ignored because module takes precedence")
	}
	var ctx *Component
	if f.ContextLine != "" && contextLinePlatforms[platform] {
		ctx = contextLineComponent(f, platform)
	}
	function := functionComponent(f, platform)
	children := []*Component{module, filename, function}
	if ctx != nil {
		children = append(children, ctx)
	}
	c := node("frame", children...)
	if family(platform) == familyJavaScript {
		fn := firstNonEmpty(f.RawFunction, f.Function)
		if i := strings.LastIndexByte(fn, '.'); i >= 0 {
			fn = fn[i+1:]
		}
		switch {
		case fn == "":
			function.Contributes = false
		case fn == "?" || fn == "<anonymous function>" || fn == "<anonymous>" || fn == "Anonymous function" || strings.HasSuffix(fn, "/<"):
			function.ignore("ignored unknown function name")
		}
		switch f.AbsPath {
		case "[native code]", "native code", "eval code", "<anonymous>":
			c.ignore("ignored low quality javascript frame")
		}
		if fn == "eval" {
			c.ignore("ignored low quality javascript frame")
		}
	}
	return c
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// sameFrame is Sentry's recursion test: a frame equal to the one before it
// on these fields is a recursive call and does not count again.
func sameFrame(a, b *event.Frame) bool {
	return b != nil && a.AbsPath == b.AbsPath && a.Package == b.Package && a.Module == b.Module &&
		a.Filename == b.Filename && a.Function == b.Function && a.Lineno.Int() == b.Lineno.Int() &&
		a.Colno.Int() == b.Colno.Int() && (a.Lineno == nil) == (b.Lineno == nil) && (a.Colno == nil) == (b.Colno == nil)
}

// collapseSpaces is strings.Join(strings.Fields(s), " "), without an
// allocation when s is ASCII and already has single spaces between its
// words and none around them, as most source lines have after their
// indentation.
func collapseSpaces(s string) string {
	clean := len(s) > 0 && s[0] != ' ' && s[len(s)-1] != ' '
	for i := 0; clean && i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80 || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
			clean = false
		case c == ' ' && s[i+1] == ' ':
			clean = false
		}
	}
	if clean {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
