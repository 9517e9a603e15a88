package grouping

import (
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/faultline/faultline/internal/event"
)

var (
	versionSegmentRE = regexp.MustCompile(`(?i)^(?:[a-f0-9]{32}|[a-f0-9]{40})$`)
	cleanModuleRE    = regexp.MustCompile(`(?i)^(?:/|(?:(?:java)?scripts?|js|build|static|node_modules|bower_components|[_.~].*?|v?(?:\d+\.)*\d+|[a-f0-9]{7,8}|[a-f0-9]{32}|[a-f0-9]{40})/)+`)
	commitishRE      = regexp.MustCompile(`(?i)[-.][a-f0-9]{7,}$`)
)

// JSModule is Sentry's generate_module for JavaScript: a script URL
// becomes a module name without host, query, extension, common folder
// prefixes, versions and hashes, so that a new deploy (app.3f9a8b7c.js)
// does not split issues. http://x/js/v1.0/foo/bar/baz.min.js -> foo/bar/baz.
func JSModule(src string) string {
	if src == "" {
		return "<unknown module>"
	}
	p := src
	if u, err := url.Parse(src); err == nil {
		p = u.Path
	} else if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	p = strings.TrimSuffix(p, path.Ext(p))
	p = strings.TrimSuffix(p, ".min")
	tokens := strings.Split(p, "/")
	for i, tok := range tokens {
		if versionSegmentRE.MatchString(tok) {
			if m := strings.Join(tokens[i+1:], "/"); m != "" {
				return m
			}
			return "<unknown module>"
		}
	}
	p = cleanModuleRE.ReplaceAllString(p, "")
	p = commitishRE.ReplaceAllString(p, "")
	if p == "" {
		return "<unknown module>"
	}
	return p
}

// FillJSModules gives JavaScript frames loaded from a URL a module, as
// Sentry's JavaScript processing does before grouping.
func FillJSModules(e *event.Event) {
	each := func(st *event.Stacktrace) {
		if st == nil {
			return
		}
		for i := range st.Frames {
			f := &st.Frames[i]
			if f.Module != "" || family(firstNonEmpty(f.Platform, e.Platform)) != familyJavaScript {
				continue
			}
			for _, prefix := range []string{"http:", "https:", "webpack:", "app:"} {
				if strings.HasPrefix(f.AbsPath, prefix) {
					f.Module = JSModule(f.AbsPath)
					break
				}
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
