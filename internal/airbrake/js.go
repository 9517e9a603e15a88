package airbrake

import (
	"net/url"
	"path"
	"regexp"
	"strings"
)

// JavaScript frames get the fields @sentry/node and @sentry/browser give
// theirs, so that the grouping sees the same thing from either protocol:
// the path without its file:// scheme, the module @sentry/node derives from
// it, and in-app for the application's own files.

var windowsDrive = regexp.MustCompile(`^/[A-Za-z]:`)

// jsPath undoes what @airbrake/node leaves in a path that @sentry/node
// removes: the file:// scheme of ES modules and URL escapes.
func jsPath(file string) string {
	if rest, ok := strings.CutPrefix(file, "file://"); ok {
		file = rest
		if windowsDrive.MatchString(file) {
			file = file[1:]
		}
		if p, err := url.PathUnescape(file); err == nil {
			file = p
		}
	}
	return file
}

// nodeModule is @sentry/node's module name for a file: the path under the
// application's directory with "." for "/" and the extension dropped
// ("lib.db:pool" for base/lib/db/pool.js), "pkg.sub:file" inside
// node_modules, else the file's base name.
func nodeModule(file, base string) string {
	if file == "" {
		return ""
	}
	file = strings.ReplaceAll(file, `\`, "/")
	dir, name := path.Split(file)
	dir = strings.TrimSuffix(dir, "/")
	switch ext := path.Ext(name); ext {
	case ".js", ".mjs", ".cjs":
		name = strings.TrimSuffix(name, ext)
	}
	if d, err := url.PathUnescape(name); err == nil {
		name = d
	}
	if dir == "" {
		dir = "."
	}
	if n := strings.LastIndex(dir, "/node_modules"); n >= 0 {
		return strings.ReplaceAll(strings.TrimPrefix(dir[n+len("/node_modules"):], "/"), "/", ".") + ":" + name
	}
	base = strings.TrimSuffix(strings.ReplaceAll(base, `\`, "/"), "/")
	if base != "" && strings.HasPrefix(dir, base) {
		if m := strings.ReplaceAll(strings.TrimPrefix(dir[len(base):], "/"), "/", "."); m != "" {
			return m + ":" + name
		}
		return name
	}
	return name
}

var urlScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9.+-]*://`)

// nodeInApp is @sentry/node's rule: an absolute path outside node_modules.
// Node's own modules ("node:internal/...") are not the application's.
func nodeInApp(file string) bool {
	abs := strings.HasPrefix(file, "/") || strings.HasPrefix(file, ".") ||
		(len(file) > 1 && file[1] == ':' && file[0] >= 'A' && file[0] <= 'Z') || urlScheme.MatchString(file)
	return abs && !strings.Contains(file, "node_modules/")
}

// browserInApp: @sentry/browser reports every frame of a page's scripts as
// in-app, except those of bundled dependencies.
func browserInApp(file string) bool {
	switch file {
	case "", "[native code]", "<anonymous>", "native":
		return false
	}
	return !strings.Contains(file, "/node_modules/")
}
