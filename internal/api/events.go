package api

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
	"github.com/faultline/faultline/internal/store"
)

// serializeEvent renders a stored event as Sentry's event JSON; full adds
// the entries (exception, breadcrumbs, request, message...) and contexts.
func serializeEvent(ev *store.StoredEvent, full bool) map[string]any {
	e, err := event.Decode([]byte(ev.Body))
	if err != nil {
		e = &event.Event{}
	}
	tags := make([]map[string]string, 0, len(ev.TagKeys))
	for i := range ev.TagKeys {
		if i < len(ev.TagValues) {
			tags = append(tags, map[string]string{"key": ev.TagKeys[i], "value": ev.TagValues[i]})
		}
	}
	out := map[string]any{
		"id":           ev.EventID,
		"eventID":      ev.EventID,
		"groupID":      id(ev.GroupID),
		"projectID":    id(ev.ProjectID),
		"dateCreated":  ev.Time().UTC().Format("2006-01-02T15:04:05.000Z"),
		"dateReceived": ev.Received.UTC().Format(time.RFC3339),
		"title":        ev.Title,
		"message":      ev.Message,
		"platform":     ev.Platform,
		"type":         ev.Type,
		"event.type":   ev.Type,
		"culprit":      ev.Culprit,
		"location":     nil,
		"tags":         tags,
		"user":         serializeUser(e.User),
		"size":         len(ev.Body),
	}
	if e.Metadata != nil {
		out["metadata"] = e.Metadata
		if e.Metadata.Filename != "" {
			out["location"] = e.Metadata.Filename
		}
	}
	if !full {
		return out
	}
	out["environment"] = nilIfEmpty(ev.Environment)
	if ev.Release != "" {
		out["release"] = map[string]any{"version": ev.Release, "shortVersion": ev.Release}
	} else {
		out["release"] = nil
	}
	if e.SDK != nil {
		out["sdk"] = map[string]any{"name": e.SDK.Name, "version": e.SDK.Version}
	} else {
		out["sdk"] = nil
	}
	out["contexts"] = rawMap(e.Contexts)
	out["context"] = rawMap(e.Extra)
	out["packages"] = rawMap(e.Modules)
	out["errors"] = serializeErrors(e.Errors)
	out["dist"] = nilIfEmpty(string(e.Dist))
	out["logger"] = e.Logger
	if g := e.Grouping; g != nil {
		out["fingerprints"] = []string{g.Hash}
		out["groupingConfig"] = map[string]any{"id": grouping.SentryConfig, "enhancements": ""}
	}
	out["entries"] = entries(e)
	out["crashFile"] = nil
	out["occurrence"] = nil
	out["_meta"] = map[string]any{}
	return out
}

func rawMap(m map[string]event.Raw) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = json.RawMessage(v)
	}
	return out
}

func serializeUser(u *event.User) any {
	if u == nil {
		return nil
	}
	return map[string]any{
		"id": nilIfEmpty(string(u.ID)), "email": nilIfEmpty(u.Email), "username": nilIfEmpty(string(u.Username)),
		"ip_address": nilIfEmpty(u.IPAddress), "name": nilIfEmpty(u.Name), "data": rawOrNil(u.Data),
	}
}

func serializeErrors(notes []event.ProcessingNote) []map[string]any {
	out := []map[string]any{}
	for _, n := range notes {
		m := map[string]any{"type": n.Type, "message": n.Type, "data": map[string]any{"name": n.Name}}
		if len(n.Value) > 0 {
			m["data"].(map[string]any)["value"] = json.RawMessage(n.Value)
		}
		out = append(out, m)
	}
	return out
}

func rawOrNil(r event.Raw) any {
	if len(r) == 0 {
		return nil
	}
	return json.RawMessage(r)
}

// entries renders the event's interfaces in Sentry's order.
func entries(e *event.Event) []map[string]any {
	out := []map[string]any{}
	if e.Exception != nil && len(e.Exception.Values) > 0 {
		values := []map[string]any{}
		hasSystem := false
		for _, ex := range e.Exception.Values {
			v := map[string]any{
				"type": nilIfEmpty(ex.Type), "value": nilIfEmpty(string(ex.Value)), "module": nilIfEmpty(ex.Module),
				"mechanism": ex.Mechanism, "threadId": rawOrNil(ex.ThreadID), "rawStacktrace": nil,
				"stacktrace": nil,
			}
			if ex.Stacktrace != nil {
				st, sys := serializeStacktrace(ex.Stacktrace)
				v["stacktrace"] = st
				hasSystem = hasSystem || sys
			}
			if ex.RawStack != nil {
				// The minified frames, as sent, when source maps changed them.
				v["rawStacktrace"], _ = serializeStacktrace(ex.RawStack)
			}
			values = append(values, v)
		}
		out = append(out, map[string]any{"type": "exception", "data": map[string]any{
			"values": values, "hasSystemFrames": hasSystem, "excOmitted": nil}})
	}
	if e.Stacktrace != nil && len(e.Stacktrace.Frames) > 0 {
		st, _ := serializeStacktrace(e.Stacktrace)
		out = append(out, map[string]any{"type": "stacktrace", "data": st})
	}
	if e.Threads != nil && len(e.Threads.Values) > 0 {
		values := []map[string]any{}
		for _, t := range e.Threads.Values {
			v := map[string]any{"id": rawOrNil(t.ID), "name": nilIfEmpty(t.Name), "crashed": t.Crashed,
				"current": t.Current, "main": t.Main, "stacktrace": nil}
			if t.Stacktrace != nil {
				v["stacktrace"], _ = serializeStacktrace(t.Stacktrace)
			}
			values = append(values, v)
		}
		out = append(out, map[string]any{"type": "threads", "data": map[string]any{"values": values}})
	}
	if msg := e.LogEntry; msg != nil && msg.Text() != "" {
		out = append(out, map[string]any{"type": "message", "data": map[string]any{
			"formatted": msg.Text(), "message": nilIfEmpty(msg.Message), "params": rawOrNil(msg.Params)}})
	}
	if e.Breadcrumbs != nil && len(e.Breadcrumbs.Values) > 0 {
		values := []map[string]any{}
		for _, b := range e.Breadcrumbs.Values {
			var ts any
			if !b.Timestamp.IsZero() {
				ts = b.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z")
			}
			values = append(values, map[string]any{
				"type": orDefault(b.Type, "default"), "category": nilIfEmpty(b.Category), "level": orDefault(b.Level, "info"),
				"message": nilIfEmpty(b.Message), "timestamp": ts, "data": rawOrNil(b.Data), "event_id": nilIfEmpty(b.EventID),
			})
		}
		out = append(out, map[string]any{"type": "breadcrumbs", "data": map[string]any{"values": values}})
	}
	// Security reports, as Sentry's csp, hpkp, expectct and expectstaple
	// interfaces render them.
	for _, sec := range []struct {
		typ string
		raw event.Raw
	}{{"csp", e.CSP}, {"hpkp", e.HPKP}, {"expectct", e.ExpectCT}, {"expectstaple", e.ExpectStaple}} {
		if len(sec.raw) > 0 {
			out = append(out, map[string]any{"type": sec.typ, "data": json.RawMessage(sec.raw)})
		}
	}
	if r := e.Request; r != nil {
		headers := [][2]string{}
		for _, h := range r.Headers {
			headers = append(headers, [2]string{h[0], h[1]})
		}
		out = append(out, map[string]any{"type": "request", "data": map[string]any{
			"url": nilIfEmpty(r.URL), "method": nilIfEmpty(r.Method), "query": queryPairs(r.QueryString),
			"fragment": nilIfEmpty(r.Fragment), "data": rawOrNil(r.Data), "headers": headers,
			"cookies": cookiePairs(r.Cookies), "env": rawOrNil(r.Env), "inferredContentType": nilIfEmpty(r.InferredCT),
			"apiTarget": nil,
		}})
	}
	return out
}

// serializeStacktrace renders frames in Sentry's camelCase, with context as
// [[line number, text], ...]. It reports whether any frame is not in-app.
func serializeStacktrace(st *event.Stacktrace) (map[string]any, bool) {
	frames := make([]map[string]any, 0, len(st.Frames))
	hasSystem := false
	for _, f := range st.Frames {
		var ctx [][2]any
		if f.Lineno != nil {
			ln := f.Lineno.Int()
			for i, l := range f.PreContext {
				ctx = append(ctx, [2]any{ln - int64(len(f.PreContext)-i), l})
			}
			if f.ContextLine != "" {
				ctx = append(ctx, [2]any{ln, f.ContextLine})
			}
			for i, l := range f.PostContext {
				ctx = append(ctx, [2]any{ln + int64(i+1), l})
			}
		}
		if ctx == nil {
			ctx = [][2]any{}
		}
		var lineNo, colNo any
		if f.Lineno != nil {
			lineNo = f.Lineno.Int()
		}
		if f.Colno != nil {
			colNo = f.Colno.Int()
		}
		inApp := f.IsInApp()
		hasSystem = hasSystem || !inApp
		filename, absPath := framePaths(f.Filename, f.AbsPath)
		frame := map[string]any{
			"filename": nilIfEmpty(filename), "absPath": nilIfEmpty(absPath), "module": nilIfEmpty(f.Module),
			"package": nilIfEmpty(f.Package), "platform": nilIfEmpty(f.Platform), "instructionAddr": nilIfEmpty(f.InstructionAddr),
			"symbolAddr": nilIfEmpty(f.SymbolAddr), "function": nilIfEmpty(f.Function), "rawFunction": nilIfEmpty(f.RawFunction),
			"symbol": nilIfEmpty(f.Symbol), "context": ctx, "lineNo": lineNo, "colNo": colNo, "inApp": inApp,
			"trust": nil, "errors": nil, "lock": nil, "sourceLink": nil, "vars": rawOrNil(f.Vars), "addrMode": nil,
		}
		if len(f.Data) > 0 {
			// What processing recorded: the source map and how it was found.
			frame["data"] = json.RawMessage(f.Data)
		}
		frames = append(frames, frame)
	}
	return map[string]any{"frames": frames, "framesOmitted": nil, "registers": rawOrNil(st.Registers),
		"hasSystemFrames": hasSystem}, hasSystem
}

// framePaths fills a frame's filename and absPath from each other, as
// Sentry's normalization does: a frame with only abs_path (Go's) gets it
// as its filename too (a URL's path for a URL), and one with only a
// filename gets it as its absPath.
func framePaths(filename, absPath string) (string, string) {
	switch {
	case filename == "" && absPath != "":
		filename = absPath
		if u, err := url.Parse(absPath); err == nil && u.Scheme != "" && u.Host != "" && u.Path != "" {
			filename = u.Path
		}
	case absPath == "" && filename != "":
		absPath = filename
	}
	return filename, absPath
}

// queryPairs renders a query string (a string, an object or pairs) as
// Sentry's [[key, value], ...].
func queryPairs(raw event.Raw) [][2]string {
	out := [][2]string{}
	if len(raw) == 0 {
		return out
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		s = strings.TrimPrefix(s, "?")
		for _, part := range strings.Split(s, "&") {
			if part == "" {
				continue
			}
			k, v, _ := strings.Cut(part, "=")
			out = append(out, [2]string{k, v})
		}
		return out
	}
	var p event.Pairs
	if json.Unmarshal(raw, &p) == nil {
		for _, kv := range p {
			out = append(out, [2]string{kv[0], kv[1]})
		}
	}
	return out
}

// cookiePairs renders cookies (a header string, an object or pairs).
func cookiePairs(raw event.Raw) [][2]string {
	out := [][2]string{}
	if len(raw) == 0 {
		return out
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		for _, part := range strings.Split(s, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k != "" {
				out = append(out, [2]string{k, v})
			}
		}
		return out
	}
	var p event.Pairs
	if json.Unmarshal(raw, &p) == nil {
		for _, kv := range p {
			out = append(out, [2]string{kv[0], kv[1]})
		}
	}
	return out
}
