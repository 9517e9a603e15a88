// Package route is Faultline's route table. Every package that serves HTTP
// (ingest, Airbrake, the API, health) declares its routes once, as data:
// the method, the exact path, the handler, how the caller may authenticate,
// the tenant the path names and the scope the route needs. The dispatcher,
// the tests that enumerate every route, and later the OpenAPI document and
// the tenancy matrix all read the same table; no list is kept by hand.
//
// The dispatcher matches whole paths, segment by segment: a pattern never
// matches a subtree, so `DELETE /api/0/organizations/{org}/` cannot be
// reached by `/api/0/organizations/acme/releases/1.0/`. What matches no
// route is answered by the table: under /api/ with Sentry's {"detail": ...}
// JSON (404 for an unknown path, 405 with Allow for a known path and
// another method), elsewhere by the NotFound handler (the web UI's page).
package route

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Auth is the set of ways a route's caller may authenticate.
type Auth uint8

const (
	// Public routes take no credentials (health checks, CORS preflights).
	Public Auth = 1 << iota
	// DSNKey routes take a project's DSN key (ingest, Airbrake).
	DSNKey
	// Session routes take a logged-in browser session.
	Session
	// UserToken routes take a user's API token.
	UserToken
	// OrgToken routes take an organization token (org:ci), as CI does.
	OrgToken
)

// User is how most API routes authenticate: a session or a user token.
const User = Session | UserToken

// String lists the ways, for tests and documents.
func (a Auth) String() string {
	var s []string
	for _, n := range []struct {
		a    Auth
		name string
	}{{Public, "public"}, {DSNKey, "dsn"}, {Session, "session"}, {UserToken, "user-token"}, {OrgToken, "org-token"}} {
		if a&n.a != 0 {
			s = append(s, n.name)
		}
	}
	return strings.Join(s, "|")
}

// Tenant is the kind of object a route's path names, whose visibility to
// the caller is checked before anything else is looked up.
type Tenant string

// Tenants.
const (
	TenantNone         Tenant = ""
	TenantUser         Tenant = "user"
	TenantOrganization Tenant = "organization"
	TenantTeam         Tenant = "team"
	TenantProject      Tenant = "project"
	TenantIssue        Tenant = "issue"
	TenantEvent        Tenant = "event"
	TenantJob          Tenant = "job"
)

// AnyScope is the Scope of a route that every user token may call,
// whatever its scopes (as Sentry lets any token read GET /api/0/users/me/).
const AnyScope = "any"

// Route is one route of the table.
type Route struct {
	Method string
	// Path is the exact path: literal segments and {name} placeholders,
	// each matching one non-empty segment (percent-decoded, read with
	// r.PathValue). Under /api/ a trailing slash is optional in requests.
	Path    string
	Handler http.Handler
	// Auth is how the caller may authenticate.
	Auth Auth
	// Superuser routes are for superusers only.
	Superuser bool
	// Tenant is the kind of object the path names.
	Tenant Tenant
	// Scope is the token scope the route needs (Sentry's, e.g.
	// "project:read"); empty for routes that do not take tokens.
	Scope string
	// OrgCI marks the routes an organization token (scope org:ci, as CI
	// and sentry-cli use) may call, in its own organization only.
	OrgCI bool
	// Name says what the route does, in a few words.
	Name string

	segs  []string
	names []string // the placeholders' names, in order
}

// Destructive reports whether the route may change what is stored.
func (r *Route) Destructive() bool {
	return r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
}

// Placeholders returns the names of the path's placeholders, in order.
func (r *Route) Placeholders() []string { return slices.Clone(r.names) }

// Config configures a Table's answers for what matches no route.
type Config struct {
	// NotFound answers unknown paths outside /api/ (the web UI's 404
	// page); nil answers a plain 404.
	NotFound http.Handler
}

// Table is a set of routes and their dispatcher. Routes are added while
// the process starts, before it serves.
type Table struct {
	cfg    Config
	routes []*Route
	root   *node
}

type node struct {
	literal map[string]*node
	param   *node
	routes  map[string]*Route // by method, on the node a path ends at
}

// New returns an empty table.
func New(cfg Config) *Table {
	return &Table{cfg: cfg, root: &node{}}
}

// Add declares routes. It panics on a malformed path or a route declared
// twice (two paths that match the same requests with the same method), as
// http.ServeMux does: both are programming errors found at start.
func (t *Table) Add(routes ...Route) {
	for i := range routes {
		r := routes[i]
		if r.Handler == nil {
			panic(fmt.Sprintf("route: %s %s has no handler", r.Method, r.Path))
		}
		if r.Auth == 0 {
			panic(fmt.Sprintf("route: %s %s says nothing of how its caller authenticates", r.Method, r.Path))
		}
		if r.Method == "" || strings.ToUpper(r.Method) != r.Method {
			panic(fmt.Sprintf("route: bad method %q for %s", r.Method, r.Path))
		}
		if !strings.HasPrefix(r.Path, "/") {
			panic(fmt.Sprintf("route: path %q must start with /", r.Path))
		}
		r.segs = normalize(r.Path)
		n := t.root
		for _, s := range r.segs {
			if name, ok := placeholder(s); ok {
				r.names = append(r.names, name)
				if n.param == nil {
					n.param = &node{}
				}
				n = n.param
				continue
			}
			if strings.ContainsAny(s, "{}") {
				panic(fmt.Sprintf("route: bad segment %q in %s", s, r.Path))
			}
			if n.literal == nil {
				n.literal = map[string]*node{}
			}
			if n.literal[s] == nil {
				n.literal[s] = &node{}
			}
			n = n.literal[s]
		}
		if n.routes == nil {
			n.routes = map[string]*Route{}
		}
		if old, ok := n.routes[r.Method]; ok {
			panic(fmt.Sprintf("route: %s %s conflicts with %s %s", r.Method, r.Path, old.Method, old.Path))
		}
		rp := &r
		n.routes[r.Method] = rp
		t.routes = append(t.routes, rp)
	}
}

// IsFirstSegment reports whether seg is the literal first path segment of
// a route ("api", "login", "organizations"...): a name an organization's
// slug must not take, so that pages named by a slug never shadow a route
// (DECISIONS "Routing"). It reads the table as it is when called.
func (t *Table) IsFirstSegment(seg string) bool {
	_, ok := t.root.literal[seg]
	return ok && seg != ""
}

// Routes returns every route, in the order they were added.
func (t *Table) Routes() []*Route { return slices.Clone(t.routes) }

// Match finds the route for method and an escaped path. It returns the
// route and its placeholders' values, or nil and the methods the path
// allows (nil for an unknown path).
func (t *Table) Match(method, escapedPath string) (*Route, map[string]string, []string) {
	var m matcher
	rt, allowed := m.match(t.root, method, escapedPath)
	if rt == nil {
		return nil, nil, allowed
	}
	params := make(map[string]string, len(rt.names))
	for i, name := range rt.names {
		params[name] = m.vals[i]
	}
	return rt, params, nil
}

// matcher is one request's search through the tree.
type matcher struct {
	segs    []string
	method  string
	vals    []string
	found   *Route
	allowed []string
	buf     [12]string
	valBuf  [8]string
}

func (m *matcher) match(root *node, method, escapedPath string) (*Route, []string) {
	segs, ok := splitPath(escapedPath, m.buf[:0])
	if !ok {
		return nil, nil
	}
	if method == http.MethodHead {
		method = http.MethodGet
	}
	m.segs, m.method, m.vals = segs, method, m.valBuf[:0]
	// Depth first, literal before placeholder: the first path that matches
	// with the method is the most specific one.
	if m.walk(root, 0) {
		return m.found, nil
	}
	if slices.Contains(m.allowed, http.MethodGet) {
		m.allowed = append(m.allowed, http.MethodHead)
	}
	slices.Sort(m.allowed)
	return nil, m.allowed
}

func (m *matcher) walk(n *node, i int) bool {
	if i == len(m.segs) {
		if len(n.routes) == 0 {
			return false
		}
		if r, ok := n.routes[m.method]; ok {
			m.found = r
			return true
		}
		for meth := range n.routes {
			if !slices.Contains(m.allowed, meth) {
				m.allowed = append(m.allowed, meth)
			}
		}
		return false
	}
	if c := n.literal[m.segs[i]]; c != nil && m.walk(c, i+1) {
		return true
	}
	if n.param != nil && m.segs[i] != "" {
		m.vals = append(m.vals, m.segs[i])
		if m.walk(n.param, i+1) {
			return true
		}
		m.vals = m.vals[:len(m.vals)-1]
	}
	return false
}

// ServeHTTP dispatches a request to its route.
func (t *Table) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m matcher
	rt, allowed := m.match(t.root, r.Method, r.URL.EscapedPath())
	if rt == nil {
		t.noRoute(w, r, allowed)
		return
	}
	for i, name := range rt.names {
		r.SetPathValue(name, m.vals[i])
	}
	// The pattern names the route in metrics and logs, never the raw path.
	r.Pattern = rt.Path
	rt.Handler.ServeHTTP(w, r)
}

func (t *Table) noRoute(w http.ResponseWriter, r *http.Request, allowed []string) {
	api := IsAPI(r.URL.Path)
	switch {
	case len(allowed) > 0:
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		if api {
			WriteDetail(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method))
			return
		}
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
	case api:
		WriteDetail(w, http.StatusNotFound, "The requested resource does not exist")
	case t.cfg.NotFound != nil:
		t.cfg.NotFound.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// IsAPI reports whether a path is under /api/, where answers are JSON.
func IsAPI(path string) bool { return path == "/api" || strings.HasPrefix(path, "/api/") }

// WriteDetail writes Sentry's error body, {"detail": ...}.
func WriteDetail(w http.ResponseWriter, status int, detail string) {
	b, _ := json.Marshal(map[string]string{"detail": detail})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n')) //nolint:errcheck
}

func placeholder(seg string) (string, bool) {
	if len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}' && !strings.ContainsAny(seg[1:len(seg)-1], "{}") {
		return seg[1 : len(seg)-1], true
	}
	return "", false
}

// splitPattern splits a route's path into its segments as written.
func splitPattern(p string) []string {
	return strings.Split(strings.TrimPrefix(p, "/"), "/")
}

// normalize is a pattern's segments as they are matched: under /api/ the
// trailing slash is dropped, as it is from requests.
func normalize(p string) []string {
	if IsAPI(p) {
		p = strings.TrimSuffix(p, "/")
	}
	return splitPattern(p)
}

// splitPath splits an escaped request path into percent-decoded segments,
// so that `1.0%2Bbuild` and `1.0+build` name the same release.
func splitPath(escaped string, segs []string) ([]string, bool) {
	if !strings.HasPrefix(escaped, "/") {
		return nil, false
	}
	if IsAPI(escaped) {
		escaped = strings.TrimSuffix(escaped, "/")
	}
	rest := escaped[1:]
	for {
		s, tail, more := strings.Cut(rest, "/")
		if strings.Contains(s, "%") {
			u, err := url.PathUnescape(s)
			if err != nil {
				return nil, false
			}
			s = u
		}
		segs = append(segs, s)
		if !more {
			return segs, true
		}
		rest = tail
	}
}
