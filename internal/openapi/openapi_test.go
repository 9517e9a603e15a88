package openapi_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi/datamodel"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/faultline/faultline/internal/openapi"
	"github.com/faultline/faultline/internal/openapi/contract"
	"github.com/faultline/faultline/internal/route"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func nop() http.Handler { return http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}) }

// table is a small route table with one route of each kind.
func table() *route.Table {
	t := route.New(route.Config{})
	t.Add(
		route.Route{Method: "GET", Path: "/api/0/issues/{id}/", Handler: nop(), Auth: route.User,
			Tenant: route.TenantIssue, Scope: "event:read", Name: "get an issue"},
		route.Route{Method: "PUT", Path: "/api/0/issues/{id}/", Handler: nop(), Auth: route.User,
			Tenant: route.TenantIssue, Scope: "event:write", Name: "update an issue"},
		route.Route{Method: "GET", Path: "/api/0/organizations/{org}/releases/{version}/deploys/", Handler: nop(),
			Auth: route.User | route.OrgToken, OrgCI: true, Tenant: route.TenantOrganization, Scope: "project:releases",
			Name: "list a release's deploys"},
		route.Route{Method: "GET", Path: "/api/0/users/", Handler: nop(), Auth: route.User, Superuser: true, Name: "list users"},
		route.Route{Method: "GET", Path: "/api/0/unknown/", Handler: nop(), Auth: route.User, Scope: "org:read", Name: "undescribed"},
		route.Route{Method: "POST", Path: "/api/{project_id}/envelope/", Handler: nop(), Auth: route.DSNKey, Name: "envelope"},
		route.Route{Method: "GET", Path: "/api/openapi.json", Handler: nop(), Auth: route.Public, Name: "this document"},
		route.Route{Method: "GET", Path: "/login/", Handler: nop(), Auth: route.Public, Name: "login page"},
	)
	return t
}

func build(t *testing.T) []byte {
	t.Helper()
	doc, err := openapi.Build(openapi.Config{Title: "Faultline", Version: "test", ServerURL: "https://faultline.example.com"}, table().Routes())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// validatorRoutes are issue 14's routes the validator's cases call, beyond
// the small table's.
func validatorRoutes() []route.Route {
	r := func(method, path string, tenant route.Tenant, scope string) route.Route {
		return route.Route{Method: method, Path: path, Handler: nop(), Auth: route.User, Tenant: tenant, Scope: scope, Name: path}
	}
	return []route.Route{
		r("GET", "/api/0/projects/{org}/{project}/issues/", route.TenantProject, "event:read"),
		r("PUT", "/api/0/projects/{org}/{project}/issues/", route.TenantProject, "event:write"),
		r("GET", "/api/0/organizations/{org}/issues/", route.TenantOrganization, "event:read"),
		r("GET", "/api/0/organizations/{org}/releases/{version}/previous-with-commits/", route.TenantOrganization, "project:releases"),
		{Method: "GET", Path: "/api/0/", Handler: nop(), Auth: route.Public, Name: "the API root"},
	}
}

// buildWith is the document of the small table and extra routes.
func buildWith(t *testing.T, extra ...route.Route) []byte {
	t.Helper()
	tab := table()
	tab.Add(extra...)
	doc, err := openapi.Build(openapi.Config{}, tab.Routes())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGolden pins the document of a small table: operation ids, security
// with scopes, path parameters, error responses, extensions. The schemas'
// are left out (they grow as routes are described, in parallel; the
// validator's tests, the meta-schema test and the contract test check them).
func TestGolden(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(build(t), &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc["components"].(map[string]any), "schemas")
	got, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "small.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("the document differs from %s (go test -update to accept):\n%s", path, got)
	}
}

// TestOperations checks what each route's operation says, through the
// document's JSON.
func TestOperations(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string                `json:"operationId"`
			Summary     string                `json:"summary"`
			Security    []map[string][]string `json:"security"`
			Parameters  []struct{ Name, In string }
			Responses   map[string]json.RawMessage
			Scope       string `json:"x-faultline-scope"`
		}
	}
	if err := json.Unmarshal(build(t), &doc); err != nil {
		t.Fatal(err)
	}
	get := doc.Paths["/api/0/issues/{id}/"]["get"]
	if get.OperationID != "getApi0IssuesById" || get.Summary != "get an issue" || get.Scope != "event:read" {
		t.Errorf("get issue: %+v", get)
	}
	if len(get.Parameters) != 1 || get.Parameters[0].Name != "id" || get.Parameters[0].In != "path" {
		t.Errorf("parameters: %+v", get.Parameters)
	}
	if len(get.Security) != 2 || get.Security[0][openapi.SchemeBearer][0] != "event:read" || get.Security[1][openapi.SchemeSession] == nil {
		t.Errorf("security: %+v", get.Security)
	}
	for _, s := range []string{"200", "401", "403", "404", "405"} {
		if get.Responses[s] == nil {
			t.Errorf("get issue: no %s response", s)
		}
	}
	if pub := doc.Paths["/api/openapi.json"]["get"]; pub.Security == nil || len(pub.Security) != 0 || pub.Responses["401"] != nil {
		t.Errorf("a public route: %+v", pub)
	}
	if in := doc.Paths["/api/{project_id}/envelope/"]["post"]; len(in.Security) != 2 || in.Responses["405"] != nil {
		t.Errorf("ingest: %+v", in)
	}
}

// TestBuildRefuses checks the tables a document cannot describe.
func TestBuildRefuses(t *testing.T) {
	for name, rs := range map[string][]route.Route{
		"same template": {
			{Method: "GET", Path: "/api/0/x/{a}/", Handler: nop(), Auth: route.User},
			{Method: "PUT", Path: "/api/0/x/{b}/", Handler: nop(), Auth: route.User},
		},
		"a method OpenAPI lacks": {{Method: "PROPFIND", Path: "/dav/", Handler: nop(), Auth: route.Public}},
	} {
		t.Run(name, func(t *testing.T) {
			tab := route.New(route.Config{})
			tab.Add(rs...)
			if _, err := openapi.Build(openapi.Config{}, tab.Routes()); err == nil {
				t.Error("built")
			}
		})
	}
	if _, err := openapi.Build(openapi.Config{ServerURL: "ftp://x"}, nil); err == nil {
		t.Error("an ftp server URL was accepted")
	}
}

// TestValidator checks real-shaped answers against the document, and that
// a wrong type, a missing field or an undocumented status fails.
func TestValidator(t *testing.T) {
	v, err := contract.New(buildWith(t, validatorRoutes()...))
	if err != nil {
		t.Fatal(err)
	}
	issue := func(edit func(m map[string]any)) []byte {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(issueJSON), &m); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(m)
		}
		b, _ := json.Marshal(m)
		return b
	}
	cases := []struct {
		name, method, path string
		status             int
		body               []byte
		wantErr            string
	}{
		{"an issue", "GET", "/api/0/issues/{id}/", 200, issue(nil), ""},
		{"count as a number", "GET", "/api/0/issues/{id}/", 200, issue(func(m map[string]any) { m["count"] = 3 }), "count"},
		{"id not digits", "GET", "/api/0/issues/{id}/", 200, issue(func(m map[string]any) { m["id"] = "abc" }), "id"},
		{"userCount as a string", "GET", "/api/0/issues/{id}/", 200, issue(func(m map[string]any) { m["userCount"] = "1" }), "userCount"},
		{"no culprit", "GET", "/api/0/issues/{id}/", 200, issue(func(m map[string]any) { delete(m, "culprit") }), "culprit"},
		{"culprit null", "GET", "/api/0/issues/{id}/", 200, issue(func(m map[string]any) { m["culprit"] = nil }), "culprit"},
		{"a bad date", "GET", "/api/0/issues/{id}/", 200, issue(func(m map[string]any) { m["lastSeen"] = "yesterday" }), "lastSeen"},
		{"stats as objects", "GET", "/api/0/issues/{id}/", 200, issue(func(m map[string]any) {
			m["stats"] = map[string]any{"24h": []any{map[string]any{"ts": 1}}}
		}), "stats"},
		{"firstRelease a string", "GET", "/api/0/issues/{id}/", 200, issue(func(m map[string]any) { m["firstRelease"] = "1.0" }), "firstRelease"},
		{"no activity", "GET", "/api/0/issues/{id}/", 200, issue(func(m map[string]any) { delete(m, "activity") }), "activity"},
		{"list item without stats", "GET", "/api/0/projects/{org}/{project}/issues/", 200, []byte("[" + string(issue(func(m map[string]any) {
			delete(m, "stats")
		})) + "]"), "stats"},
		{"a list item", "GET", "/api/0/organizations/{org}/issues/", 200, []byte("[" + string(issue(nil)) + "]"), ""},
		{"bulk update", "PUT", "/api/0/projects/{org}/{project}/issues/", 200, []byte(`{"status":"resolved","statusDetails":{},"substatus":null}`), ""},
		{"bulk update, none matched", "PUT", "/api/0/projects/{org}/{project}/issues/", 204, nil, ""},
		{"previous release: none", "GET", "/api/0/organizations/{org}/releases/{version}/previous-with-commits/", 200, []byte(`{}`), ""},
		{"previous release: not a release", "GET", "/api/0/organizations/{org}/releases/{version}/previous-with-commits/", 200, []byte(`{"version":1}`), "version"},
		{"API root, anonymous", "GET", "/api/0/", 200, []byte(`{"version":"0","auth":null,"user":null}`), ""},
		{"API root, scopes a string", "GET", "/api/0/", 200, []byte(`{"version":"0","auth":{"scopes":"org:ci"},"user":null}`), "scopes"},
		{"an error", "GET", "/api/0/issues/{id}/", 404, []byte(`{"detail":"The requested resource does not exist"}`), ""},
		{"an error without detail", "GET", "/api/0/issues/{id}/", 404, []byte(`{"error":"x"}`), "detail"},
		{"an undocumented status", "GET", "/api/0/issues/{id}/", 418, []byte(`{}`), "status 418"},
		{"an unknown route", "GET", "/api/0/nosuch/", 200, []byte(`{}`), "no such operation"},
		{"not JSON", "GET", "/api/0/issues/{id}/", 200, []byte(`<html>`), "not JSON"},
		{"deploys", "GET", "/api/0/organizations/{org}/releases/{version}/deploys/", 200,
			[]byte(`[{"id":"0123","environment":"production","dateStarted":null,"dateFinished":"2026-01-02T03:04:05Z","name":null,"url":null,"project":"web","revision":null,"repository":null,"username":null,"email":null}]`), ""},
		{"deploys, id a number", "GET", "/api/0/organizations/{org}/releases/{version}/deploys/", 200,
			[]byte(`[{"id":123,"environment":"production","dateStarted":null,"dateFinished":"2026-01-02T03:04:05Z","name":null,"url":null,"project":"web","revision":null,"repository":null,"username":null,"email":null}]`), "id"},
		{"undescribed: an object", "GET", "/api/0/unknown/", 200, []byte(`{"a":1}`), ""},
		{"undescribed: a list", "GET", "/api/0/unknown/", 200, []byte(`[]`), ""},
		{"undescribed: a string", "GET", "/api/0/unknown/", 200, []byte(`"x"`), "string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := v.Response(c.method, c.path, c.status, c.body)
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.wantErr != "" && err == nil:
				t.Errorf("accepted, want an error about %q", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Errorf("error %v does not mention %q", err, c.wantErr)
			}
		})
	}
	if err := v.Request("PUT", "/api/0/issues/{id}/", []byte(`{"status":"resolved"}`)); err != nil {
		t.Errorf("PUT issue: %v", err)
	}
	if err := v.Request("PUT", "/api/0/issues/{id}/", []byte(`{"status":"closed"}`)); err == nil {
		t.Error("PUT issue: a status Sentry does not know was accepted")
	}
}

// TestHandler serves the document, generated once from the table.
func TestHandler(t *testing.T) {
	tab := table()
	h := openapi.Handler(openapi.Config{}, tab.Routes)
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", openapi.Path, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%d %v", rec.Code, rec.Header())
		}
		if _, err := contract.New(rec.Body.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
}

const issueJSON = `{
  "id": "12", "shareId": null, "shortId": "WEB-1", "title": "boom", "culprit": "main.go in main",
  "permalink": "http://x/organizations/acme/issues/12/", "logger": null, "level": "error",
  "status": "unresolved", "statusDetails": {}, "substatus": "ongoing", "isPublic": false, "platform": "go",
  "project": {"id": "3", "slug": "web", "name": "web", "platform": "go"}, "type": "error",
  "issueType": "error", "issueCategory": "error", "metadata": {"value": "boom", "type": "*errors.errorString"},
  "numComments": 0, "assignedTo": null, "isBookmarked": false, "isSubscribed": false,
  "subscriptionDetails": null, "hasSeen": false, "annotations": [], "isUnhandled": false,
  "count": "2", "userCount": 1, "firstSeen": "2026-12-07T10:00:00Z", "lastSeen": "2026-12-07T11:00:00Z",
  "stats": {"24h": [[1765101600, 0], [1765105200, 2]]},
  "activity": [{"id": "0", "user": null, "type": "first_seen", "data": {}, "dateCreated": "2026-12-07T10:00:00Z"}],
  "userReportCount": 0, "participants": [], "seenBy": [], "pluginActions": [], "pluginIssues": [], "pluginContexts": [],
  "firstRelease": null,
  "lastRelease": {"version": "1.0", "shortVersion": "1.0", "ref": null, "url": null, "dateCreated": "2026-12-07T10:00:00Z",
    "dateReleased": null, "firstEvent": "2026-12-07T10:00:00Z", "lastEvent": "2026-12-07T11:00:00Z", "newGroups": null,
    "owner": null, "commitCount": 0, "lastCommit": null, "deployCount": 0, "lastDeploy": null, "authors": [],
    "projects": [], "data": {}}
}`

// metaCheck validates a document against the official OpenAPI 3.1 JSON
// Schema (the copy a Go module embeds), and compiles all its schemas.
func metaCheck(doc []byte) error {
	var id struct {
		ID string `json:"$id"`
	}
	if err := json.Unmarshal([]byte(datamodel.OpenAPI31SchemaData), &id); err != nil || !strings.Contains(id.ID, "oas/3.1/schema") {
		return fmt.Errorf("the meta-schema: %v %q", err, id.ID)
	}
	meta, err := jsonschema.UnmarshalJSON(strings.NewReader(datamodel.OpenAPI31SchemaData))
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(id.ID, meta); err != nil {
		return err
	}
	sch, err := c.Compile(id.ID)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(doc)))
	if err != nil {
		return err
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("not a valid OpenAPI 3.1 document: %w", err)
	}
	v, err := contract.New(doc)
	if err != nil {
		return err
	}
	return v.CompileAll()
}

// TestMetaSchema validates the document against OpenAPI 3.1's schema, and
// checks that the check can fail.
func TestMetaSchema(t *testing.T) {
	doc := string(build(t))
	if err := metaCheck([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"a parameter in the body (OpenAPI 2)": strings.Replace(doc, `"in": "path"`, `"in": "body"`, 1),
		"OpenAPI 3.0":                         strings.Replace(doc, `"openapi": "3.1.1"`, `"openapi": "3.0.3"`, 1),
		"a schema of a wrong type":            strings.Replace(doc, `"type": "integer"`, `"type": "int"`, 1),
		"a dangling $ref":                     strings.Replace(doc, `"$ref": "#/components/schemas/Issue"`, `"$ref": "#/components/schemas/Nothing"`, 1),
	} {
		if bad == doc {
			t.Fatalf("%s: the replacement changed nothing", name)
		}
		if err := metaCheck([]byte(bad)); err == nil {
			t.Errorf("%s: passed", name)
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	routes := table().Routes()
	for b.Loop() {
		if _, err := openapi.Build(openapi.Config{}, routes); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateIssue(b *testing.B) {
	doc, err := openapi.Build(openapi.Config{}, table().Routes())
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := json.Marshal(doc)
	v, err := contract.New(raw)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(issueJSON)
	for b.Loop() {
		if err := v.Response("GET", "/api/0/issues/{id}/", 200, body); err != nil {
			b.Fatal(err)
		}
	}
}
