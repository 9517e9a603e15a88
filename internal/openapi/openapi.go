// Package openapi generates Faultline's OpenAPI 3.1 document from the route
// table, so that the document cannot drift from what the process serves:
// every route is an operation, with its path parameters, how its caller
// authenticates, the scope it needs and the errors it answers. Request and
// response schemas (JSON Schema 2020-12, as OpenAPI 3.1 allows) live in one
// place, this package's registry (schemas.go), keyed by method and path; a
// route without one still appears, with a generic JSON response.
//
// Package contract validates real answers against the document, for the
// contract tests.
package openapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/faultline/faultline/internal/route"
)

// Path is where the document is served.
const Path = "/api/openapi.json"

// Version is the OpenAPI version of the document.
const Version = "3.1.1"

// Config configures the document.
type Config struct {
	// Title and Version are the document's info.
	Title, Version string
	// ServerURL is the public URL the API is served at (optional).
	ServerURL string
}

// Validate fills defaults.
func (c *Config) Validate() error {
	if c.Title == "" {
		c.Title = "Faultline"
	}
	if c.Version == "" {
		c.Version = "0"
	}
	if c.ServerURL != "" && !strings.HasPrefix(c.ServerURL, "http://") && !strings.HasPrefix(c.ServerURL, "https://") {
		return fmt.Errorf("openapi: server URL %q is not an http(s) URL", c.ServerURL)
	}
	return nil
}

// Security schemes, by the name the document gives them.
const (
	SchemeBearer  = "bearerToken"
	SchemeSession = "sessionCookie"
	SchemeDSN     = "dsnHeader"
	SchemeDSNKey  = "dsnQuery"
)

// Build returns the document of routes, as JSON-ready maps.
func Build(cfg Config, routes []*route.Route) (map[string]any, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	reg := operations()
	paths := map[string]map[string]any{}
	ids := map[string]bool{}
	for _, r := range routes {
		item := paths[r.Path]
		if item == nil {
			item = map[string]any{}
			paths[r.Path] = item
		}
		m := strings.ToLower(r.Method)
		if !slices.Contains([]string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}, m) {
			return nil, fmt.Errorf("openapi: %s %s: OpenAPI has no %s operations", r.Method, r.Path, r.Method)
		}
		if _, dup := item[m]; dup {
			return nil, fmt.Errorf("openapi: %s %s declared twice", r.Method, r.Path)
		}
		op := operation(r, reg[r.Method+" "+r.Path])
		id := op["operationId"].(string)
		for n := 2; ids[id]; n++ {
			id = op["operationId"].(string) + strconv.Itoa(n)
		}
		ids[id] = true
		op["operationId"] = id
		item[m] = op
	}
	if err := checkTemplates(paths); err != nil {
		return nil, err
	}
	doc := map[string]any{
		"openapi":           Version,
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info": map[string]any{
			"title":   cfg.Title,
			"version": cfg.Version,
			"description": "Faultline's HTTP API: Sentry's web API (under /api/0/), the SDKs' ingest endpoints, " +
				"Airbrake's notifier API and the web UI's pages. Generated from the route table.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas":         components(),
			"responses":       errorResponses(),
			"securitySchemes": securitySchemes(),
		},
	}
	if cfg.ServerURL != "" {
		doc["servers"] = []any{map[string]any{"url": strings.TrimSuffix(cfg.ServerURL, "/")}}
	}
	return doc, nil
}

// checkTemplates refuses two paths that differ only in their placeholders'
// names: OpenAPI considers them the same path.
func checkTemplates(paths map[string]map[string]any) error {
	seen := map[string]string{}
	for p := range paths {
		segs := strings.Split(p, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
				segs[i] = "{}"
			}
		}
		k := strings.Join(segs, "/")
		if o, ok := seen[k]; ok {
			return fmt.Errorf("openapi: paths %s and %s differ only in their placeholders' names", o, p)
		}
		seen[k] = p
	}
	return nil
}

// Op is what the registry says of one route beyond the route table.
type Op struct {
	// Request is the JSON Schema of the request body (nil: none).
	Request any
	// Response is the JSON Schema of the successful answer's body (nil:
	// a generic JSON value).
	Response any
	// Empty marks an answer without a body.
	Empty bool
	// Status is the successful answer's status (200 when 0).
	Status int
	// Also lists other successful statuses with the same body (none for
	// 204).
	Also []int
	// Query lists the query parameters the route reads.
	Query []Param
	// Description says more than the route's name.
	Description string
}

// Param is a query parameter.
type Param struct {
	Name, Description string
	// Repeated parameters may be sent more than once.
	Repeated bool
}

func operation(r *route.Route, spec Op) map[string]any {
	api := route.IsAPI(r.Path) && !ingest(r)
	op := map[string]any{
		"operationId": operationID(r),
		"summary":     r.Name,
		"tags":        []string{tag(r)},
	}
	var desc []string
	if spec.Description != "" {
		desc = append(desc, spec.Description)
	}
	desc = append(desc, "Callers: "+r.Auth.String()+".")
	if r.Scope != "" {
		desc = append(desc, "Scope: `"+r.Scope+"`.")
		op["x-faultline-scope"] = r.Scope
	}
	if r.Superuser {
		desc = append(desc, "Superusers only.")
		op["x-faultline-superuser"] = true
	}
	if r.OrgCI {
		desc = append(desc, "Organization tokens (org:ci) may call it, in their own organization.")
		op["x-faultline-org-ci"] = true
	}
	if r.Tenant != route.TenantNone {
		op["x-faultline-tenant"] = string(r.Tenant)
	}
	op["x-faultline-auth"] = r.Auth.String()
	op["description"] = strings.Join(desc, " ")

	var params []any
	for _, name := range r.Placeholders() {
		params = append(params, map[string]any{"name": name, "in": "path", "required": true,
			"schema": map[string]any{"type": "string"}})
	}
	for _, q := range spec.Query {
		p := map[string]any{"name": q.Name, "in": "query", "schema": map[string]any{"type": "string"}}
		if q.Repeated {
			p["schema"] = map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
			p["style"], p["explode"] = "form", true
		}
		if q.Description != "" {
			p["description"] = q.Description
		}
		params = append(params, p)
	}
	if params != nil {
		op["parameters"] = params
	}
	op["security"] = security(r)
	if spec.Request != nil {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/json": map[string]any{"schema": spec.Request}}}
	}

	status := spec.Status
	if status == 0 {
		status = http.StatusOK
	}
	ok := map[string]any{"description": http.StatusText(status)}
	switch {
	case spec.Empty:
	case spec.Response != nil:
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": spec.Response}}
	case api:
		ok["description"] = http.StatusText(status) + " (the body's schema is not described yet)"
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{
			"type": []string{"object", "array"}}}}
	case ingest(r):
		ok["description"] = http.StatusText(status) + " (the answer the SDK expects)"
	default:
		ok["description"] = http.StatusText(status) + " (a page or a file)"
	}
	if slices.ContainsFunc(spec.Query, func(q Param) bool { return q.Name == "cursor" }) {
		ok["headers"] = map[string]any{"Link": map[string]any{
			"description": "Sentry's paging: `<url>; rel=\"previous\"; results=\"false\"; cursor=\"…\", " +
				"<url>; rel=\"next\"; results=\"true\"; cursor=\"…\"`.",
			"schema": map[string]any{"type": "string"}}}
	}
	responses := map[string]any{strconv.Itoa(status): ok}
	for _, s := range spec.Also {
		if s == http.StatusNoContent {
			responses[strconv.Itoa(s)] = map[string]any{"description": http.StatusText(s)}
			continue
		}
		responses[strconv.Itoa(s)] = ok
	}
	if api {
		// Sentry's errors, as the API's wrap and the table's dispatcher
		// answer them.
		errs := []int{http.StatusMethodNotAllowed}
		if r.Auth&route.Public == 0 {
			errs = append(errs, http.StatusUnauthorized, http.StatusForbidden)
		}
		if len(r.Placeholders()) > 0 || (r.Tenant != route.TenantNone && r.Tenant != route.TenantUser) {
			errs = append(errs, http.StatusNotFound)
		}
		if spec.Request != nil || len(spec.Query) > 0 || r.Destructive() {
			errs = append(errs, http.StatusBadRequest)
		}
		for _, s := range errs {
			responses[strconv.Itoa(s)] = map[string]any{"$ref": "#/components/responses/" + errorName(s)}
		}
	}
	op["responses"] = responses
	return op
}

// security lists the ways the caller may authenticate; for token schemes
// the scope is the role OpenAPI 3.1 lets a requirement name.
func security(r *route.Route) []any {
	if r.Auth&route.Public != 0 {
		return []any{}
	}
	var scopes []string
	if r.Scope != "" {
		scopes = []string{r.Scope}
	} else {
		scopes = []string{}
	}
	var out []any
	if r.Auth&(route.UserToken|route.OrgToken) != 0 || r.OrgCI {
		out = append(out, map[string]any{SchemeBearer: scopes})
	}
	if r.Auth&route.Session != 0 {
		out = append(out, map[string]any{SchemeSession: []string{}})
	}
	if r.Auth&route.DSNKey != 0 {
		out = append(out, map[string]any{SchemeDSN: []string{}}, map[string]any{SchemeDSNKey: []string{}})
	}
	return out
}

func securitySchemes() map[string]any {
	return map[string]any{
		SchemeBearer: map[string]any{"type": "http", "scheme": "bearer",
			"description": "A user token (`sntryu_`, or a legacy one) or an organization token (`sntrys_`), " +
				"as `Authorization: Bearer TOKEN`. The requirement names the scope the route needs."},
		SchemeSession: map[string]any{"type": "apiKey", "in": "cookie", "name": "session",
			"description": "A logged-in browser session. Writes also send the `csrftoken` cookie's value in `X-CSRFToken`."},
		SchemeDSN: map[string]any{"type": "apiKey", "in": "header", "name": "X-Sentry-Auth",
			"description": "A project's DSN key, as Sentry's SDKs send it (`Sentry sentry_key=...`); " +
				"Airbrake's notifiers send theirs as `Authorization: Bearer KEY` or `?key=`."},
		SchemeDSNKey: map[string]any{"type": "apiKey", "in": "query", "name": "sentry_key",
			"description": "A project's DSN key in the query string, as browser SDKs send it."},
	}
}

func errorName(status int) string {
	return strings.ReplaceAll(http.StatusText(status), " ", "")
}

func errorResponses() map[string]any {
	out := map[string]any{}
	for _, s := range []int{400, 401, 403, 404, 405} {
		desc := map[int]string{
			400: "The request is invalid.",
			401: "No credentials, or invalid ones.",
			403: "The caller may not do this (scope, role or superuser).",
			404: "The path names nothing the caller may see.",
			405: "The path exists, not with this method: `Allow` lists its methods.",
		}[s]
		out[errorName(s)] = map[string]any{"description": desc,
			"content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
	}
	return out
}

// operationID derives a unique, readable id from the method and the path:
// GET /api/0/issues/{id}/ is getApi0IssuesById.
func operationID(r *route.Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.Method))
	for _, s := range strings.Split(r.Path, "/") {
		if s == "" {
			continue
		}
		if strings.HasPrefix(s, "{") {
			b.WriteString("By")
			s = strings.Trim(s, "{}")
		}
		up := true
		for _, c := range s {
			if !unicode.IsLetter(c) && !unicode.IsDigit(c) {
				up = true
				continue
			}
			if up {
				c = unicode.ToUpper(c)
				up = false
			}
			b.WriteRune(c)
		}
	}
	return b.String()
}

// ingest reports whether a route is one of the SDKs' or notifiers'
// endpoints (or their CORS preflights), which answer in their own shapes.
func ingest(r *route.Route) bool {
	return r.Auth&route.DSNKey != 0 || strings.HasPrefix(r.Path, "/api/{project_id}/") ||
		strings.HasPrefix(r.Path, "/api/v") || strings.HasPrefix(r.Path, "/notifier_api/")
}

// tag groups operations by the part of the product they belong to.
func tag(r *route.Route) string {
	switch {
	case ingest(r):
		return "ingest"
	case r.Path == "/healthz" || r.Path == "/readyz" || r.Path == "/metrics":
		return "meta"
	case !route.IsAPI(r.Path):
		return "web"
	case r.Auth&route.Public != 0 && !strings.HasPrefix(r.Path, "/api/0/"):
		return "meta"
	case r.Superuser || strings.HasPrefix(r.Path, "/api/0/internal/"):
		return "admin"
	}
	switch r.Tenant {
	case route.TenantIssue, route.TenantEvent:
		return "issues"
	case route.TenantProject, route.TenantTeam:
		return "projects"
	case route.TenantOrganization, route.TenantJob:
		return "organizations"
	}
	return "accounts"
}

// Handler serves the document of the routes routes returns, generated on
// the first request (the table is complete by then) and kept.
func Handler(cfg Config, routes func() []*route.Route) http.Handler {
	var (
		once sync.Once
		body []byte
		err  error
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() {
			var doc map[string]any
			if doc, err = Build(cfg, routes()); err == nil {
				body, err = json.MarshalIndent(doc, "", "  ")
			}
		})
		if err != nil {
			route.WriteDetail(w, http.StatusInternalServerError, "Internal Error")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(body) //nolint:errcheck
		}
	})
}
