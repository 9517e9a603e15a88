package sourcemap

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
)

// Config tunes symbolication.
type Config struct {
	// CacheBytes bounds the memory of parsed maps and the files kept
	// beside them (default 256 MiB).
	CacheBytes int64
	// MissTTL is how long a lookup that found nothing (or an invalid
	// map) is remembered, so that events of a project without maps do not
	// query the artifact store for every frame (default 1 minute).
	MissTTL time.Duration
	// ContextLines is the number of lines of source shown on each side of
	// the original line (default 5, as Sentry).
	ContextLines int
}

// DefaultCacheBytes is the default of --sourcemap-cache-bytes.
const DefaultCacheBytes = 256 << 20

// Validate fills defaults.
func (c *Config) Validate() error {
	if c.CacheBytes < 0 {
		return errors.New("sourcemap: the cache size is negative")
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.MissTTL <= 0 {
		c.MissTTL = time.Minute
	}
	if c.ContextLines <= 0 {
		c.ContextLines = 5
	}
	return nil
}

// Event errors recorded when a step fails, as Sentry names them.
const (
	ErrNoSource               = "js_no_source"
	ErrInvalidSourcemap       = "js_invalid_sourcemap"
	ErrMissingSourcesContent  = "js_missing_sources_content"
	ErrInvalidSourcemapLocate = "js_invalid_sourcemap_location"
)

// Resolution methods recorded in a frame's data.resolved_with.
const (
	ResolvedDebugID = "debug-id"
	ResolvedRelease = "release"
)

// Symbolicator maps minified JavaScript frames to their original
// positions. It is safe for concurrent use.
type Symbolicator struct {
	cfg   Config
	arts  Artifacts
	cache *cache

	mu     sync.Mutex
	flight map[string]*call
}

type call struct {
	done chan struct{}
	val  any
}

// New returns a symbolicator reading uploaded files from arts.
func New(cfg Config, arts Artifacts) (*Symbolicator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if arts == nil {
		return nil, errors.New("sourcemap: no artifact store")
	}
	return &Symbolicator{cfg: cfg, arts: arts, cache: newCache(cfg.CacheBytes), flight: map[string]*call{}}, nil
}

// Stats reports the cache's use.
func (s *Symbolicator) Stats() CacheStats { return s.cache.stats() }

// once returns the cached value of key, or computes it once however many
// goroutines ask at the same time (a batch of events from one bundle
// parses its map once).
func (s *Symbolicator) once(key string, compute func() (any, int64, time.Duration)) any {
	if v, ok := s.cache.get(key); ok {
		return v
	}
	s.mu.Lock()
	if c, ok := s.flight[key]; ok {
		s.mu.Unlock()
		<-c.done
		return c.val
	}
	c := &call{done: make(chan struct{})}
	s.flight[key] = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.flight, key)
		s.mu.Unlock()
		close(c.done)
	}()
	v, size, ttl := compute()
	c.val = v
	s.cache.put(key, v, size, ttl)
	return v
}

// source is what a frame's script resolved to: its parsed map, or why
// there is none.
type source struct {
	m      *Map
	mapURL string // the map's URL as uploaded or referenced ("~/x.js.map" or absolute)
	with   string
	// scopes index the functions of the minified file, when it was
	// found (nil: names come from the callers' call sites only).
	scopes *scopeIndex
	// note is the error to record when there is no map ("" for none:
	// the script may simply not be minified).
	note, noteURL string
	// transient: a lookup failed (the store was unreachable); nothing is
	// recorded and the next event tries again.
	transient bool

	// derived memoizes what a source's frames get (path, module...), by
	// map URL and source index, up to 2 per source (counted in n).
	derived sync.Map
	n       atomic.Int64
}

// origin is what every frame mapped to one original source gets.
type origin struct {
	mapURL, abs, filename, module string
	inApp                         bool
	data                          []byte
}

type originKey struct {
	mapURL string
	idx    int
}

// origin returns the original path, file name, module, in-app flag and
// frame data of source idx, the map being known under mapURL.
func (src *source) origin(mapURL string, idx int) *origin {
	k := originKey{mapURL, idx}
	if o, ok := src.derived.Load(k); ok {
		return o.(*origin)
	}
	o := &origin{mapURL: mapURL, abs: joinURL(mapURL, src.m.Sources[idx])}
	o.filename, o.module = originalFilename(o.abs)
	o.inApp = isInApp(o.abs)
	o.data, _ = json.Marshal(map[string]any{"sourcemap": mapURL, "resolved_with": src.with, "symbolicated": true})
	if src.n.Add(1) <= int64(2*len(src.m.Sources)) {
		src.derived.Store(k, o)
	}
	return o
}

// frameRef is one JavaScript frame to symbolicate.
type frameRef struct {
	st *event.Stacktrace
	i  int
}

// Symbolicate maps the event's JavaScript frames, in place, from the
// files uploaded for the project: original file, line, column, function,
// context and in-app flag, the minified frames kept as each exception's
// raw_stacktrace. It records what failed in e.Errors and reports whether
// any frame changed. Lookups that fail for the store's sake are not
// errors of the event: those frames stay minified.
func (s *Symbolicator) Symbolicate(ctx context.Context, projectID uint64, e *event.Event) bool {
	if !hasJSFrames(e) {
		return false
	}
	ev := &eventRun{s: s, ctx: ctx, project: projectID, e: e, release: string(e.Release), dist: string(e.Dist),
		debugIDs: debugIDs(e.DebugMeta), noted: map[string]bool{}}
	changed := false
	if e.Exception != nil {
		for i := range e.Exception.Values {
			ex := &e.Exception.Values[i]
			if ex.Stacktrace == nil {
				continue
			}
			raw := cloneStacktrace(ex.Stacktrace)
			if ev.stacktrace(ex.Stacktrace) {
				if ex.RawStack == nil {
					ex.RawStack = raw
				}
				changed = true
			}
		}
	}
	if e.Threads != nil {
		for i := range e.Threads.Values {
			t := &e.Threads.Values[i]
			if t.Stacktrace == nil {
				continue
			}
			raw := cloneStacktrace(t.Stacktrace)
			if ev.stacktrace(t.Stacktrace) {
				if t.RawStack == nil {
					t.RawStack = raw
				}
				changed = true
			}
		}
	}
	if e.Stacktrace != nil && ev.stacktrace(e.Stacktrace) {
		changed = true
	}
	return changed
}

func hasJSFrames(e *event.Event) bool {
	found := false
	check := func(st *event.Stacktrace) {
		for i := range st.Frames {
			if isJSFrame(e, &st.Frames[i]) {
				found = true
				return
			}
		}
	}
	if e.Exception != nil {
		for i := range e.Exception.Values {
			if st := e.Exception.Values[i].Stacktrace; st != nil && !found {
				check(st)
			}
		}
	}
	if e.Threads != nil {
		for i := range e.Threads.Values {
			if st := e.Threads.Values[i].Stacktrace; st != nil && !found {
				check(st)
			}
		}
	}
	if e.Stacktrace != nil && !found {
		check(e.Stacktrace)
	}
	return found
}

// isJSFrame reports whether a frame is a JavaScript frame with a script
// position: Sentry's JavaScript processing applies to it.
func isJSFrame(e *event.Event, f *event.Frame) bool {
	p := f.Platform
	if p == "" {
		p = e.Platform
	}
	if p != "javascript" && p != "node" {
		return false
	}
	if f.AbsPath == "" || f.Lineno == nil || f.Colno == nil || f.Lineno.Int() <= 0 || f.Colno.Int() <= 0 {
		return false
	}
	a := f.AbsPath
	return !strings.HasPrefix(a, "<") && !strings.HasPrefix(a, "node:") && a != "native" && a != "[native code]"
}

func cloneStacktrace(st *event.Stacktrace) *event.Stacktrace {
	c := *st
	c.Frames = append([]event.Frame(nil), st.Frames...)
	return &c
}

// debugIDs reads debug_meta.images of type sourcemap: code_file -> debug_id.
func debugIDs(raw event.Raw) map[string]string {
	if len(raw) == 0 {
		return nil
	}
	var dm struct {
		Images []struct {
			Type     string `json:"type"`
			CodeFile string `json:"code_file"`
			DebugID  string `json:"debug_id"`
		} `json:"images"`
	}
	if gojson.Unmarshal(raw, &dm) != nil {
		return nil
	}
	out := map[string]string{}
	for _, im := range dm.Images {
		if im.Type == "sourcemap" && im.CodeFile != "" && im.DebugID != "" {
			out[im.CodeFile] = strings.ToLower(im.DebugID)
		}
	}
	return out
}

// eventRun is the state of one event's symbolication.
type eventRun struct {
	s             *Symbolicator
	ctx           context.Context
	project       uint64
	e             *event.Event
	release, dist string
	debugIDs      map[string]string
	noted         map[string]bool
	resolved      map[string]*source // by abs_path, for this event
}

func (r *eventRun) note(typ string, value any) {
	v, _ := json.Marshal(value)
	k := typ + "\x00" + string(v)
	if r.noted[k] {
		return
	}
	r.noted[k] = true
	r.e.Errors = append(r.e.Errors, event.ProcessingNote{Type: typ, Value: v})
}

// stacktrace symbolicates one stack trace's frames (oldest first, as
// Sentry orders them) and reports whether any changed.
func (r *eventRun) stacktrace(st *event.Stacktrace) bool {
	type done struct {
		tok Token
		ok  bool
	}
	// The caller's token names the function called at its position:
	// frames[i-1] called frames[i].
	tokens := make([]done, len(st.Frames))
	changed := false
	for i := range st.Frames {
		f := &st.Frames[i]
		if !isJSFrame(r.e, f) {
			continue
		}
		src := r.resolve(f.AbsPath)
		if src.m == nil {
			if src.note != "" {
				u := src.noteURL
				if u == "" {
					u = f.AbsPath
				}
				r.note(src.note, map[string]string{"url": u})
			}
			continue
		}
		line, col := int(f.Lineno.Int())-1, int(f.Colno.Int())-1
		tok, ok := src.m.Lookup(line, col)
		if !ok {
			r.note(ErrInvalidSourcemapLocate, map[string]any{"row": line + 1, "column": col + 1, "source": f.AbsPath})
			continue
		}
		tokens[i] = done{tok, true}
		o := src.origin(expandTilde(src.mapURL, f.AbsPath), tok.SrcIdx)

		// The function: the name the map gives at the function's
		// definition (scopes), else the name at the caller's call site.
		name := ""
		if sc := r.scopeName(src, line, col); sc != "" {
			name = sc
		}
		if name == "" && i > 0 && tokens[i-1].ok {
			name = tokens[i-1].tok.Name
		}
		rawFunction := f.Function
		if name != "" {
			f.Function = name
			if rawFunction != "" && rawFunction != name {
				f.RawFunction = rawFunction
			}
		}
		f.AbsPath, f.Filename, f.Module = o.abs, o.filename, o.module
		ln, cn := event.FlexInt(tok.Line+1), event.FlexInt(tok.Col+1)
		f.Lineno, f.Colno = &ln, &cn
		inApp := o.inApp
		f.InApp = &inApp
		f.PreContext, f.ContextLine, f.PostContext = nil, "", nil
		if lines, ok := r.sourceLines(src, tok.SrcIdx, o.abs); ok {
			f.PreContext, f.ContextLine, f.PostContext = contextAround(lines, tok.Line, tok.Col, r.s.cfg.ContextLines)
		} else {
			r.note(ErrMissingSourcesContent, map[string]string{"source": o.abs, "sourcemap": o.mapURL})
		}
		f.Data = o.data
		changed = true
	}
	return changed
}

// resolve finds the map of a script: by the debug id the event names for
// it, then by release and dist under Sentry's URL candidates, the map
// named by the minified file's SourceMap header or sourceMappingURL
// comment.
func (r *eventRun) resolve(absPath string) *source {
	if src, ok := r.resolved[absPath]; ok {
		return src
	}
	src := r.resolveUncached(absPath)
	if r.resolved == nil {
		r.resolved = map[string]*source{}
	}
	r.resolved[absPath] = src
	return src
}

func (r *eventRun) resolveUncached(absPath string) *source {
	pid := strconv.FormatUint(r.project, 10)
	if id := r.debugIDs[absPath]; id != "" {
		src := asSource(r.s.once("d\x00"+pid+"\x00"+id, func() (any, int64, time.Duration) {
			return r.s.sized(r.byDebugID(id))
		}))
		if src.m != nil || r.release == "" {
			return src
		}
	}
	if r.release == "" {
		return &source{}
	}
	return asSource(r.s.once("r\x00"+pid+"\x00"+r.release+"\x00"+r.dist+"\x00"+stripFragment(absPath), func() (any, int64, time.Duration) {
		return r.s.sized(r.byRelease(absPath))
	}))
}

// asSource is a resolution as once returns it; nil (its computation
// panicked in another goroutine) is a transient failure.
func asSource(v any) *source {
	if s, ok := v.(*source); ok && s != nil {
		return s
	}
	return &source{transient: true}
}

// guessMap looks for a map uploaded as the script's URL plus ".map", as
// Sentry does for a script that is not uploaded or names no map.
func (r *eventRun) guessMap(absPath string) (*source, bool) {
	u := stripFragment(absPath)
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	for _, c := range candidates(u + ".map") {
		a, err := r.s.arts.ByURL(r.ctx, r.project, r.release, r.dist, c)
		if err != nil {
			return &source{transient: true}, true
		}
		if a != nil {
			return decodeArtifact(a, c, ResolvedRelease), true
		}
	}
	return nil, false
}

// sized gives a resolution its cache size and lifetime: a map is kept
// until evicted, a miss for MissTTL, a store failure not at all.
func (s *Symbolicator) sized(src *source) (any, int64, time.Duration) {
	switch {
	case src.transient:
		return src, 1 << 62, 0 // larger than any cache: not kept
	case src.m == nil:
		return src, 256, s.cfg.MissTTL
	}
	size := src.m.Size() + 2*256*int64(len(src.m.Sources)) // and the memoized origins
	if src.scopes != nil {
		size += src.scopes.size()
	}
	return src, size, 0
}

func (r *eventRun) byDebugID(id string) *source {
	a, err := r.s.arts.ByDebugID(r.ctx, r.project, id, "source_map")
	if err != nil {
		return &source{transient: true}
	}
	if a == nil {
		return &source{note: ErrNoSource} // noteURL: the frame's script
	}
	src := decodeArtifact(a, a.URL, ResolvedDebugID)
	if src.m != nil {
		if min, err := r.s.arts.ByDebugID(r.ctx, r.project, id, "minified_source"); err == nil && min != nil {
			src.scopes = buildScopes(string(min.Body))
		}
	}
	return src
}

func (r *eventRun) byRelease(absPath string) *source {
	var min *Artifact
	var minURL string
	for _, c := range candidates(absPath) {
		a, err := r.s.arts.ByURL(r.ctx, r.project, r.release, r.dist, c)
		if err != nil {
			return &source{transient: true}
		}
		if a != nil {
			min, minURL = a, c
			break
		}
	}
	if min == nil {
		if src, ok := r.guessMap(absPath); ok {
			return src
		}
		return &source{note: ErrNoSource, noteURL: absPath}
	}
	if min.Kind == "source_map" {
		// The URL names the map itself (uploaded under the script's name).
		return decodeArtifact(min, minURL, ResolvedRelease)
	}
	withScopes := func(src *source) *source {
		if src.m != nil {
			src.scopes = buildScopes(string(min.Body))
		}
		return src
	}
	if id := min.Headers["debug-id"]; id != "" {
		a, err := r.s.arts.ByDebugID(r.ctx, r.project, strings.ToLower(id), "source_map")
		if err != nil {
			return &source{transient: true}
		}
		if a != nil {
			return withScopes(decodeArtifact(a, a.URL, ResolvedRelease))
		}
	}
	ref := min.Headers["sourcemap"]
	if ref == "" {
		ref = min.Headers["x-sourcemap"]
	}
	if ref == "" {
		ref = sourceMappingURL(min.Body)
	}
	if ref == "" {
		if src, ok := r.guessMap(absPath); ok {
			return withScopes(src)
		}
		// Not minified, or minified without a map: nothing to do.
		return &source{}
	}
	if strings.HasPrefix(ref, "data:") {
		body, err := decodeDataURL(ref)
		if err != nil {
			return &source{note: ErrInvalidSourcemap, noteURL: absPath}
		}
		return withScopes(decodeArtifact(&Artifact{Body: body}, minURL, ResolvedRelease))
	}
	mapURL := joinURL(minURL, ref)
	for _, c := range candidates(expandTilde(mapURL, absPath)) {
		a, err := r.s.arts.ByURL(r.ctx, r.project, r.release, r.dist, c)
		if err != nil {
			return &source{transient: true}
		}
		if a != nil {
			return withScopes(decodeArtifact(a, mapURL, ResolvedRelease))
		}
	}
	return &source{note: ErrNoSource, noteURL: expandTilde(mapURL, absPath)}
}

func decodeArtifact(a *Artifact, mapURL, with string) *source {
	m, err := Decode(a.Body)
	if err != nil {
		return &source{note: ErrInvalidSourcemap, noteURL: mapURL}
	}
	return &source{m: m, mapURL: mapURL, with: with}
}

// sourceLines returns the lines of an original source: from the map's
// sourcesContent, else from a source file uploaded for the release.
func (r *eventRun) sourceLines(src *source, idx int, orig string) (*lines, bool) {
	if l, ok := src.m.lines(idx); ok {
		return l, true
	}
	if r.release == "" {
		return nil, false
	}
	pid := strconv.FormatUint(r.project, 10)
	v := r.s.once("s\x00"+pid+"\x00"+r.release+"\x00"+r.dist+"\x00"+orig, func() (any, int64, time.Duration) {
		for _, c := range candidates(orig) {
			a, err := r.s.arts.ByURL(r.ctx, r.project, r.release, r.dist, c)
			if err != nil {
				return (*lines)(nil), 1 << 62, 0
			}
			if a != nil && a.Kind != "source_map" {
				l := newLines(string(a.Body))
				return l, l.size(), 0
			}
		}
		return (*lines)(nil), 64, r.s.cfg.MissTTL
	})
	l, _ := v.(*lines)
	return l, l != nil
}

// scopeName is the original name of the function enclosing a minified
// position, from the minified file's scopes; "" when unknown.
func (r *eventRun) scopeName(src *source, line, col int) string {
	x := src.scopes
	if x == nil {
		return ""
	}
	off, ok := x.offset(line, col)
	if !ok {
		return ""
	}
	sc := x.enclosing(off)
	if sc == nil || sc.name < 0 {
		return ""
	}
	nl, nc := x.position(sc.name)
	if tok, ok := src.m.Lookup(nl, nc); ok && tok.GenLine == nl && tok.GenCol == nc && tok.Name != "" {
		return tok.Name
	}
	// Not renamed (a property or method name): the name is the original.
	return sc.nameText
}

// candidates are Sentry's release file URLs for a script: the URL without
// its fragment, without its query, and both as "~/path".
func candidates(abs string) []string {
	abs = stripFragment(abs)
	if strings.HasPrefix(abs, "~/") {
		out := []string{abs}
		if i := strings.IndexByte(abs, '?'); i >= 0 {
			out = append(out, abs[:i])
		}
		return out
	}
	u, err := url.Parse(abs)
	if err != nil || u.Scheme == "" {
		return []string{abs}
	}
	out := []string{abs}
	noQuery := abs
	if i := strings.IndexByte(abs, '?'); i >= 0 {
		noQuery = abs[:i]
		out = append(out, noQuery)
	}
	p := u.EscapedPath()
	if p == "" {
		return out
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if u.RawQuery != "" {
		out = append(out, "~"+p+"?"+u.RawQuery)
	}
	return append(out, "~"+p)
}

func stripFragment(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		return s[:i]
	}
	return s
}

// joinURL resolves a reference (a map's source, a sourceMappingURL)
// against the URL of the file that names it; "~/" URLs join as paths.
func joinURL(base, ref string) string {
	if ref == "" {
		return base
	}
	if strings.Contains(ref, "://") || strings.HasPrefix(ref, "data:") || strings.HasPrefix(ref, "webpack:") || strings.HasPrefix(ref, "app:") {
		return ref
	}
	if strings.HasPrefix(base, "~/") {
		if strings.HasPrefix(ref, "/") {
			return "~" + path.Clean(ref)
		}
		return "~" + path.Join(path.Dir(base[1:]), ref)
	}
	b, err := url.Parse(base)
	if err != nil || b.Scheme == "" {
		if strings.HasPrefix(ref, "/") {
			return path.Clean(ref)
		}
		return path.Join(path.Dir(base), ref)
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}

// expandTilde turns an uploaded "~/path" into a URL of the frame's
// origin, so that the frame shows where the code was served from.
func expandTilde(u, absPath string) string {
	if !strings.HasPrefix(u, "~/") {
		return u
	}
	a, err := url.Parse(absPath)
	if err != nil || a.Scheme == "" {
		return u
	}
	return a.Scheme + "://" + a.Host + u[1:]
}

// sourceMappingURL finds the map reference at the end of a script.
func sourceMappingURL(body []byte) string {
	tail := body
	if len(tail) > 64<<10 {
		// The comment is the last line; a data: URL can be long, so look
		// at more than a line's worth, then at the whole file.
		tail = tail[len(tail)-64<<10:]
		if !bytes.Contains(tail, []byte("sourceMappingURL=")) {
			tail = body
		}
	}
	for _, marker := range []string{"//# sourceMappingURL=", "//@ sourceMappingURL="} {
		if i := bytes.LastIndex(tail, []byte(marker)); i >= 0 {
			ref := tail[i+len(marker):]
			if j := bytes.IndexAny(ref, " \t\r\n"); j >= 0 {
				ref = ref[:j]
			}
			return string(ref)
		}
	}
	return ""
}

func decodeDataURL(s string) ([]byte, error) {
	meta, data, ok := strings.Cut(strings.TrimPrefix(s, "data:"), ",")
	if !ok {
		return nil, errors.New("a data URL without a comma")
	}
	if len(data) > MaxMapSize*4/3+4 {
		return nil, fmt.Errorf("%w: the inline map is too large", ErrInvalid)
	}
	if strings.HasSuffix(meta, ";base64") {
		return base64.StdEncoding.DecodeString(data)
	}
	d, err := url.PathUnescape(data)
	return []byte(d), err
}

// originalFilename derives a frame's filename and module from its
// original path, as Sentry does: webpack:///./src/x.tsx becomes
// ./src/x.tsx with the module src/x; a URL becomes its path.
func originalFilename(abs string) (filename, module string) {
	if rest, ok := strings.CutPrefix(abs, "webpack:"); ok {
		rest = strings.TrimLeft(rest, "/")
		// webpack://namespace/./src/x: drop the namespace.
		if i := strings.Index(rest, "/./"); i >= 0 && !strings.HasPrefix(rest, "./") {
			rest = rest[i+1:]
		}
		return rest, grouping.JSModule(abs)
	}
	if u, err := url.Parse(abs); err == nil && u.Scheme != "" {
		p := u.Path
		if p == "" {
			p = abs
		}
		if u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "app" {
			return p, grouping.JSModule(abs)
		}
		return p, ""
	}
	return abs, ""
}

// isInApp is Sentry's in-app rule for an original path: dependencies
// (node_modules, webpack's ~/ and its own runtime) are not the
// application's code.
func isInApp(abs string) bool {
	switch {
	case strings.Contains(abs, "/node_modules/"), strings.HasPrefix(abs, "node_modules/"),
		strings.HasPrefix(abs, "webpack:///~/"), strings.Contains(abs, "/~/"),
		strings.HasPrefix(abs, "webpack:///webpack/"), strings.HasPrefix(abs, "webpack:///external"),
		strings.HasPrefix(abs, "webpack:///(webpack)"):
		return false
	}
	return true
}
