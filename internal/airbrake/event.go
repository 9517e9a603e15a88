package airbrake

import (
	"bytes"
	"regexp"
	"slices"
	"strings"

	gojson "github.com/goccy/go-json"

	"github.com/faultline/faultline/internal/event"
)

// Field bounds, as Relay trims the same fields of Sentry events.
const (
	maxTextLen    = 200  // release, environment, tags, user fields
	maxMessageLen = 8192 // an error message
	maxCodeLines  = 5    // source lines kept on each side of a frame's line
)

// Labels notifiers put in place of directories.
const (
	labelProjectRoot  = "[PROJECT_ROOT]"  // the application (airbrake-ruby, pybrake, Hoptoad)
	labelGemRoot      = "[GEM_ROOT]"      // installed gems (airbrake-ruby)
	labelSitePackages = "[SITE_PACKAGES]" // installed Python packages (pybrake)
)

// severities maps Airbrake's severities to Sentry's levels.
var severities = map[string]string{
	"debug": "debug", "info": "info", "notice": "info", "warning": "warning", "warn": "warning",
	"error": "error", "critical": "fatal", "alert": "fatal", "emergency": "fatal", "fatal": "fatal",
}

// contextKeys are the context members the event carries in its own fields;
// the rest go to the "airbrake" context as sent.
var contextKeys = map[string]bool{
	"notifier": true, "environment": true, "severity": true, "version": true, "revision": true,
	"url": true, "userAgent": true, "userAddr": true, "httpMethod": true, "route": true,
	"component": true, "action": true, "hostname": true, "os": true, "language": true, "architecture": true,
	"user": true, "userId": true, "userName": true, "userUsername": true, "userEmail": true,
}

// Event converts the notice to a Sentry event:
//
//   - errors become the exception chain, innermost cause first as Sentry
//     orders it; backtraces become stack traces, oldest call first, with
//     the module and in-app flag the platform's Sentry SDK would set, so
//     that grouping sees the same frames from either protocol;
//   - a lone error without a type is a message (airbrake-js and pybrake
//     send notify("text") that way), with its backtrace as the stack trace;
//   - context.severity is the level, environment the environment, version
//     (else revision) the release, hostname the server name; url,
//     httpMethod, userAgent and userAddr make the request; user the user;
//     notifier the SDK; language, os and architecture the runtime, os and
//     device contexts; route (else component#action) the transaction;
//   - component, action and the scalar members of params.tags are tags;
//   - params, session and environment are kept as extra data, where the
//     event's scrubbing applies to them as to any other.
//
// The event has no id, timestamp or received time: the worker's
// normalization fills them as for any event.
func (n *Notice) Event() *event.Event {
	ctx := n.Context
	get := func(k string) string { return strings.TrimSpace(text(ctx[k])) }
	var notifier struct{ Name, Version scalar }
	gojson.Unmarshal(ctx["notifier"], &notifier) //nolint:errcheck // a notifier of another shape is unnamed
	e := &event.Event{
		Platform:    platformOf(string(notifier.Name), get("language"), get("framework")),
		Environment: event.Truncate(get("environment"), maxTextLen),
		ServerName:  event.Truncate(get("hostname"), maxTextLen),
		Level:       "error",
	}
	if l, ok := severities[strings.ToLower(get("severity"))]; ok {
		e.Level = l
	}
	release := get("version")
	if release == "" {
		release = get("revision")
	}
	e.Release = event.FlexString(event.Truncate(release, maxTextLen))

	frames := frameMapper{platform: e.Platform, root: strings.TrimRight(get("rootDirectory"), `/\`)}
	if e.Platform == "go" {
		var all []Frame
		for _, er := range n.Errors {
			all = append(all, er.Backtrace...)
		}
		frames.golang = newGoLayout(all, get("component"))
	}
	if len(n.Errors) == 1 && strings.TrimSpace(n.Errors[0].Type) == "" {
		er := n.Errors[0]
		e.LogEntry = &event.Message{Formatted: event.Truncate(er.Message, maxMessageLen)}
		e.Stacktrace = frames.stacktrace(er.Backtrace)
	} else {
		values := make([]event.Exception, 0, len(n.Errors))
		for i := len(n.Errors) - 1; i >= 0; i-- {
			er := n.Errors[i]
			values = append(values, event.Exception{
				Type:       event.Truncate(strings.TrimSpace(er.Type), maxTextLen),
				Value:      event.FlexString(event.Truncate(er.Message, maxMessageLen)),
				Stacktrace: frames.stacktrace(er.Backtrace),
			})
		}
		e.Exception = &event.ExceptionList{Values: values}
	}

	e.User = userOf(ctx)
	e.Request = requestOf(get("url"), get("httpMethod"), get("userAgent"), get("userAddr"))
	if route := get("route"); route != "" {
		if m := get("httpMethod"); m != "" {
			route = strings.ToUpper(m) + " " + route
		}
		e.Transaction = event.Truncate(route, maxTextLen)
	} else if c, a := get("component"), get("action"); c != "" && a != "" {
		e.Transaction = event.Truncate(c+"#"+a, maxTextLen)
	}
	if c := get("component"); c != "" {
		e.Tags = append(e.Tags, event.Pair{"component", event.Truncate(c, maxTextLen)})
	}
	if a := get("action"); a != "" {
		e.Tags = append(e.Tags, event.Pair{"action", event.Truncate(a, maxTextLen)})
	}
	var params struct {
		Tags event.Raw `json:"tags"`
	}
	gojson.Unmarshal(n.Params, &params) //nolint:errcheck // params of another shape have no tags
	tags := object(params.Tags)
	for _, k := range sortedKeys(tags) {
		if v := text(tags[k]); v != "" && k != "" {
			e.Tags = append(e.Tags, event.Pair{event.Truncate(k, maxTextLen), event.Truncate(v, maxTextLen)})
		}
	}

	name, version := string(notifier.Name), string(notifier.Version)
	if name == "" {
		name = "airbrake"
		if n.Version != "" {
			name = "airbrake-v2"
		}
	}
	e.SDK = &event.SDK{Name: event.Truncate(name, maxTextLen), Version: event.Truncate(version, maxTextLen)}

	e.Contexts = map[string]event.Raw{}
	if lang := get("language"); lang != "" {
		rn, rv := splitNameVersion(lang)
		e.Contexts["runtime"] = jsonRaw(nonEmpty(map[string]string{"type": "runtime", "name": rn, "version": rv, "raw_description": lang}))
	}
	if osName := get("os"); osName != "" {
		on, ov := splitNameVersion(osName)
		e.Contexts["os"] = jsonRaw(nonEmpty(map[string]string{"type": "os", "name": on, "version": ov, "raw_description": osName}))
	}
	if arch := get("architecture"); arch != "" {
		e.Contexts["device"] = jsonRaw(map[string]string{"type": "device", "arch": arch})
	}
	rest := map[string]event.Raw{}
	for k, v := range ctx {
		if !contextKeys[k] && !empty(v) {
			rest[k] = v
		}
	}
	if len(rest) > 0 {
		e.Contexts["airbrake"] = jsonRaw(rest)
	}
	if len(e.Contexts) == 0 {
		e.Contexts = nil
	}

	e.Extra = map[string]event.Raw{}
	for _, kv := range []struct {
		key string
		raw event.Raw
	}{{"params", n.Params}, {"session", n.Session}, {"environment", n.Environment}} {
		if !empty(kv.raw) {
			e.Extra[kv.key] = bytes.TrimSpace(kv.raw)
		}
	}
	if len(e.Extra) == 0 {
		e.Extra = nil
	}
	return e
}

func nonEmpty(m map[string]string) map[string]string {
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	return m
}

// platformOf names the Sentry platform of a notifier, from its name and the
// language it reports ("go1.22.1", "Ruby 3.3.0", "Python/3.12", "JavaScript").
func platformOf(notifier, language, framework string) string {
	n, l := strings.ToLower(notifier), strings.ToLower(language)
	switch {
	case strings.HasSuffix(n, "/node") || strings.Contains(n, "node-airbrake") || (strings.HasPrefix(l, "javascript") && strings.Contains(n, "node")) || strings.HasPrefix(l, "node"):
		return "node"
	case strings.Contains(n, "airbrake-js") || strings.Contains(n, "javascript") || strings.HasPrefix(l, "javascript"):
		return "javascript"
	case n == "gobrake" || strings.HasPrefix(l, "go1") || strings.HasPrefix(l, "go "):
		return "go"
	case strings.Contains(n, "ruby") || strings.HasPrefix(l, "ruby") || strings.Contains(n, "hoptoad") ||
		n == "airbrake notifier" || strings.Contains(strings.ToLower(framework), "rails") || strings.Contains(strings.ToLower(framework), "rack"):
		return "ruby"
	case strings.Contains(n, "pybrake") || strings.Contains(n, "python") || strings.HasPrefix(l, "python"):
		return "python"
	case strings.Contains(n, "php") || strings.HasPrefix(l, "php"):
		return "php"
	case strings.Contains(n, "sharpbrake") || strings.HasPrefix(l, "c#") || strings.HasPrefix(l, ".net"):
		return "csharp"
	case strings.Contains(n, "javabrake") || strings.Contains(n, "java") || strings.HasPrefix(l, "java"):
		return "java"
	case strings.Contains(n, "ios") || strings.Contains(l, "objective-c") || strings.HasPrefix(l, "swift"):
		return "cocoa"
	}
	return "other"
}

var versionStart = regexp.MustCompile(`^(.*?)[ /]?v?(\d[\w.+-]*)$`)

// splitNameVersion splits "Ruby 3.3.0", "Python/3.12.1", "go1.22.1" and
// "Linux/6.1.0-arm64" into a name and a version; text without a version is
// all name.
func splitNameVersion(s string) (string, string) {
	if m := versionStart.FindStringSubmatch(s); m != nil && m[1] != "" {
		return strings.TrimSpace(m[1]), m[2]
	}
	return s, ""
}

func userOf(ctx map[string]event.Raw) *event.User {
	u := &event.User{}
	var fields struct{ ID, Email, Name, Username scalar }
	gojson.Unmarshal(ctx["user"], &fields) //nolint:errcheck // a user of another shape is no user
	pick := func(obj scalar, legacy string) string {
		if v := strings.TrimSpace(string(obj)); v != "" {
			return event.Truncate(v, maxTextLen)
		}
		return event.Truncate(strings.TrimSpace(text(ctx[legacy])), maxTextLen)
	}
	u.ID = event.FlexString(pick(fields.ID, "userId"))
	u.Email = pick(fields.Email, "userEmail")
	u.Name = pick(fields.Name, "userName")
	// Airbrake documents user.name as the username; a separate username
	// wins when both are sent.
	u.Username = event.FlexString(pick(fields.Username, "userUsername"))
	if u.Username == "" {
		u.Username = event.FlexString(u.Name)
	}
	u.IPAddress = event.Truncate(strings.TrimSpace(text(ctx["userAddr"])), maxTextLen)
	if u.ID == "" && u.Email == "" && u.Name == "" && u.Username == "" && u.IPAddress == "" {
		return nil
	}
	return u
}

func requestOf(url, method, userAgent, userAddr string) *event.Request {
	if url == "" && method == "" && userAgent == "" {
		return nil
	}
	r := &event.Request{URL: url, Method: strings.ToUpper(method)}
	if userAgent != "" {
		r.Headers = event.Pairs{{"User-Agent", userAgent}}
	}
	if userAddr != "" {
		r.Env = jsonRaw(map[string]string{"REMOTE_ADDR": userAddr})
	}
	return r
}

// frameMapper converts backtraces for one notice.
type frameMapper struct {
	platform string
	root     string    // context.rootDirectory
	golang   *goLayout // for Go notices
}

// stacktrace converts a backtrace (innermost call first) to a Sentry stack
// trace (oldest call first).
func (m *frameMapper) stacktrace(bt []Frame) *event.Stacktrace {
	if len(bt) == 0 {
		return nil
	}
	frames := make([]event.Frame, 0, len(bt))
	for i := len(bt) - 1; i >= 0; i-- {
		frames = append(frames, m.frame(bt[i]))
	}
	if m.platform == "go" {
		// sentry-go names a closure relative to the function around it
		// ("func1", not "TestX.func1") when that function is the caller.
		for i := len(frames) - 1; i > 0; i-- {
			if parent := frames[i-1].Function; parent != "" && strings.HasPrefix(frames[i].Function, parent+".") {
				frames[i].Function = frames[i].Function[len(parent)+1:]
			}
		}
	}
	return &event.Stacktrace{Frames: frames}
}

func (m *frameMapper) frame(f Frame) event.Frame {
	ef := event.Frame{Function: strings.TrimSpace(f.Function)}
	if f.Line > 0 {
		ln := event.FlexInt(f.Line)
		ef.Lineno = &ln
		ef.PreContext, ef.ContextLine, ef.PostContext = codeContext(f.Code, f.Line)
	}
	if f.Column > 0 {
		col := event.FlexInt(f.Column)
		ef.Colno = &col
	}
	file := strings.TrimSpace(f.File)
	yes, no := true, false
	for _, label := range []string{labelProjectRoot, labelGemRoot, labelSitePackages} {
		rel, ok := strings.CutPrefix(file, label)
		if !ok {
			continue
		}
		rel = strings.TrimLeft(rel, `/\`)
		ef.Filename, ef.AbsPath = rel, file
		if label == labelProjectRoot {
			if m.root != "" {
				ef.AbsPath = m.root + "/" + rel
			}
			ef.InApp = &yes
			if libraryPath("/" + rel) {
				ef.InApp = &no
			}
		} else {
			ef.InApp = &no
		}
		return ef
	}
	switch m.platform {
	case "go":
		if strings.HasPrefix(file, "/") || (len(file) > 2 && file[1] == ':') {
			ef.AbsPath = file
		} else {
			ef.Filename = file
		}
		ef.Module = m.golang.module(file)
		in := m.golang.inApp(file, ef.Module)
		ef.InApp = &in
	case "node":
		file = jsPath(file)
		ef.Filename, ef.AbsPath = file, file
		ef.Module = nodeModule(file, m.root)
		ef.Function = strings.TrimPrefix(ef.Function, "async ")
		in := nodeInApp(file)
		ef.InApp = &in
	case "javascript":
		ef.Filename, ef.AbsPath = file, file
		ef.Function = strings.TrimPrefix(ef.Function, "async ")
		in := browserInApp(file)
		ef.InApp = &in
	default:
		ef.AbsPath = file
		ef.Filename = file
		if m.root != "" {
			if rel, ok := strings.CutPrefix(file, m.root+"/"); ok {
				ef.Filename = rel
				in := !libraryPath("/" + rel)
				ef.InApp = &in
			} else if strings.HasPrefix(file, "/") {
				ef.InApp = &no
			}
		}
	}
	return ef
}

// libraryDirs are directories of installed dependencies, even inside the
// application's root.
var libraryDirs = []string{"/node_modules/", "/vendor/", "/site-packages/", "/dist-packages/", "/bower_components/", "/.bundle/"}

func libraryPath(p string) bool {
	p = strings.ReplaceAll(p, `\`, "/")
	return slices.ContainsFunc(libraryDirs, func(d string) bool { return strings.Contains(p, d) })
}

// codeContext splits a frame's code hunk around its line, as Sentry's
// pre_context, context_line and post_context.
func codeContext(code map[int64]string, line int64) (pre []string, ctx string, post []string) {
	cur, ok := code[line]
	if !ok {
		return nil, "", nil
	}
	// Only an unbroken run of lines around the frame's line is context.
	for ln := line - 1; ln >= line-maxCodeLines; ln-- {
		s, ok := code[ln]
		if !ok {
			break
		}
		pre = append([]string{s}, pre...)
	}
	for ln := line + 1; ln <= line+maxCodeLines; ln++ {
		s, ok := code[ln]
		if !ok {
			break
		}
		post = append(post, s)
	}
	return pre, strings.TrimRight(cur, "\r\n"), post
}
