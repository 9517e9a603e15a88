package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/pb33f/libopenapi/datamodel"
	pkgerrors "github.com/pkg/errors"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/faultline/faultline/internal/openapi"
	"github.com/faultline/faultline/internal/openapi/contract"
	"github.com/faultline/faultline/internal/route"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// getDocument fetches the served document, without credentials.
func getDocument(t *testing.T, base string) []byte {
	t.Helper()
	resp, err := http.Get(base + openapi.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: %d %v %.200s", openapi.Path, resp.StatusCode, resp.Header, raw)
	}
	return raw
}

// TestOpenAPIDocument checks the served document against the all-in-one
// server's route table: every route is an operation, exactly once, with
// its method, and nothing else is; the document is valid OpenAPI 3.1 (the
// official meta-schema) and every schema in it compiles; every route the
// schema registry names exists.
func TestOpenAPIDocument(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	raw := getDocument(t, f.URL)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	routes := f.Server.Routes().Routes()
	if len(routes) < 50 {
		t.Fatalf("only %d routes", len(routes))
	}
	want := map[string]bool{}
	for _, r := range routes {
		k := r.Method + " " + r.Path
		if want[k] {
			t.Errorf("%s is in the table twice", k)
		}
		want[k] = true
	}
	got := map[string]bool{}
	ids := map[string]string{}
	for p, item := range doc.Paths {
		for m, op := range item {
			k := strings.ToUpper(m) + " " + p
			got[k] = true
			var o struct {
				OperationID string `json:"operationId"`
				Summary     string `json:"summary"`
			}
			if err := json.Unmarshal(op, &o); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			if prev, dup := ids[o.OperationID]; dup || o.OperationID == "" {
				t.Errorf("%s: operationId %q (also %s)", k, o.OperationID, prev)
			}
			ids[o.OperationID] = k
		}
	}
	// Each operation says what its route says.
	for _, r := range routes {
		var o struct {
			Summary    string `json:"summary"`
			Scope      string `json:"x-faultline-scope"`
			Superuser  bool   `json:"x-faultline-superuser"`
			OrgCI      bool   `json:"x-faultline-org-ci"`
			Tenant     string `json:"x-faultline-tenant"`
			Security   []map[string][]string
			Parameters []struct{ Name, In string }
		}
		raw := doc.Paths[r.Path][strings.ToLower(r.Method)]
		if raw == nil {
			continue
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		var params []string
		for _, p := range o.Parameters {
			if p.In == "path" {
				params = append(params, p.Name)
			}
		}
		if o.Summary != r.Name || o.Scope != r.Scope || o.Superuser != r.Superuser || o.OrgCI != r.OrgCI ||
			o.Tenant != string(r.Tenant) || !slices.Equal(params, r.Placeholders()) {
			t.Errorf("%s %s: the operation says %+v", r.Method, r.Path, o)
		}
		public := r.Auth&route.Public != 0
		if public != (len(o.Security) == 0) {
			t.Errorf("%s %s: security %v for %s", r.Method, r.Path, o.Security, r.Auth)
		}
		for _, req := range o.Security {
			if scopes, ok := req[openapi.SchemeBearer]; ok && r.Scope != "" && !slices.Equal(scopes, []string{r.Scope}) {
				t.Errorf("%s %s: bearer scopes %v, want %s", r.Method, r.Path, scopes, r.Scope)
			}
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("%s is in the route table, not in the document", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("%s is in the document, not in the route table", k)
		}
	}
	if !want["GET "+openapi.Path] {
		t.Errorf("the document's own route is not in the table")
	}
	for _, k := range openapi.Registered() {
		if !want[k] {
			t.Errorf("the schema registry describes %s, which the route table lacks", k)
		}
	}
	if err := checkOpenAPI31(raw); err != nil {
		t.Error(err)
	}
}

// checkOpenAPI31 validates a document against the official OpenAPI 3.1
// JSON Schema (the copy a Go module embeds) and compiles all its schemas.
func checkOpenAPI31(doc []byte) error {
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

// contractClient calls routes of a running server and validates each answer
// against the served document, for the route the table matches.
type contractClient struct {
	t     *testing.T
	f     *testserver.Faultline
	v     *contract.Validator
	table *route.Table
}

// call sends a request with the admin token (or token, if not empty),
// checks its status and validates the answer. It returns the body.
func (c *contractClient) call(method, path, body, token string, status int) []byte {
	c.t.Helper()
	req, err := http.NewRequest(method, c.f.URL+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if token == "" {
		token = testserver.AdminToken
	}
	if token != "-" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		c.t.Errorf("%s %s: %d %.300s, want %d", method, path, resp.StatusCode, raw, status)
		return raw
	}
	r := c.route(method, path)
	if r == nil {
		return raw
	}
	if err := c.v.Response(method, r.Path, resp.StatusCode, raw); err != nil {
		c.t.Errorf("%s %s: %v\n%.2000s", method, path, err, raw)
	}
	if body != "" {
		if err := c.v.Request(method, r.Path, []byte(body)); err != nil {
			c.t.Errorf("%s %s: the request: %v", method, path, err)
		}
	}
	return raw
}

// validate checks an answer a test already has (and the request's body,
// when there is one) against the document.
func (c *contractClient) validate(method, path string, reqBody []byte, status int, raw []byte) {
	c.t.Helper()
	r := c.route(method, path)
	if r == nil {
		return
	}
	if err := c.v.Response(method, r.Path, status, raw); err != nil {
		c.t.Errorf("%s %s: %v\n%.2000s", method, path, err, raw)
	}
	if len(reqBody) > 0 && status < 300 {
		if err := c.v.Request(method, r.Path, reqBody); err != nil {
			c.t.Errorf("%s %s: the request: %v", method, path, err)
		}
	}
}

// contractDo is f.Do with every answer (and request body) validated
// against the served document.
func contractDo(t *testing.T, f *testserver.Faultline) (do func(method, path string, body, out any) (int, []byte), c *contractClient) {
	t.Helper()
	v, err := contract.New(getDocument(t, f.URL))
	if err != nil {
		t.Fatal(err)
	}
	c = &contractClient{t: t, f: f, v: v, table: f.Server.Routes()}
	return func(method, path string, body, out any) (int, []byte) {
		t.Helper()
		var b []byte
		if body != nil {
			if b, err = json.Marshal(body); err != nil {
				t.Fatal(err)
			}
		}
		st, raw := f.Do(method, path, body, out)
		c.validate(method, path, b, st, raw)
		return st, raw
	}, c
}

func (c *contractClient) route(method, path string) *route.Route {
	c.t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		c.t.Fatal(err)
	}
	r, _, _ := c.table.Match(method, u.EscapedPath())
	if r == nil {
		c.t.Errorf("%s %s matches no route", method, path)
	}
	return r
}

// TestOpenAPIContract sends real events (sentry-go, an exception with its
// stack trace, in a release) and an Airbrake deploy through a running
// server, then validates the answers of the API's main routes against the
// served document. Real answers with one field of a wrong type or missing
// are refused, so the check can fail.
func TestOpenAPIContract(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "web", "go")
	v, err := contract.New(getDocument(t, f.URL))
	if err != nil {
		t.Fatal(err)
	}
	c := &contractClient{t: t, f: f, v: v, table: f.Server.Routes()}

	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Release: "1.0+build", Environment: "production",
		Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	scope := sentry.NewScope()
	scope.SetTag("feature", "checkout")
	scope.SetUser(sentry.User{ID: "42", Email: "jane@example.com"})
	scope.AddBreadcrumb(&sentry.Breadcrumb{Category: "http", Message: "GET /cart"}, 10)
	id := client.CaptureException(pkgerrors.New("contract: boom"), nil, scope)
	msg := client.CaptureMessage("contract: a message", nil, sentry.NewScope())
	if id == nil || msg == nil {
		t.Fatal("sentry-go sent nothing")
	}
	var ev struct {
		GroupID string `json:"groupID"`
	}
	f.WaitEvent(t, p, string(*id), &ev)
	f.WaitEvent(t, p, string(*msg), nil)

	deploy := `{"environment":"production","username":"jane","email":"jane@example.com","repository":"https://example.com/acme/web","revision":"38748467ea579e7ae64f7815452307c9d05e05c5","version":"1.0+build"}`
	resp, err := http.Post(f.URL+"/api/v4/projects/"+p.ID+"/deploys?key="+p.PublicKey, "application/json", strings.NewReader(deploy))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("Airbrake deploy: %d", resp.StatusCode)
	}
	deploys := "/api/0/organizations/acme/releases/1.0%2Bbuild/deploys/"
	for deadline := time.Now().Add(30 * time.Second); ; {
		var list []any
		if st, raw := f.Do("GET", deploys, nil, &list); st != 200 {
			t.Fatalf("deploys: %d %s", st, raw)
		}
		if len(list) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deploy was never recorded")
		}
		time.Sleep(100 * time.Millisecond)
	}

	issue := "/api/0/issues/" + ev.GroupID + "/"
	var tok struct{ Token string }
	if st, raw := f.Do("POST", "/api/0/api-tokens/", map[string]any{"name": "reader", "scopes": []string{"org:read"}}, &tok); st != 201 {
		t.Fatalf("token: %d %s", st, raw)
	}
	var members []struct{ ID string }
	if st, raw := f.Do("GET", "/api/0/organizations/acme/members/", nil, &members); st != 200 || len(members) == 0 {
		t.Fatalf("members: %d %s", st, raw)
	}
	for _, x := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/api/0/organizations/", "", 200},
		{"GET", "/api/0/organizations/acme/", "", 200},
		{"GET", "/api/0/organizations/acme/teams/", "", 200},
		{"POST", "/api/0/organizations/acme/teams/", `{"name":"Backend","slug":"backend"}`, 201},
		{"GET", "/api/0/organizations/acme/members/", "", 200},
		{"GET", "/api/0/organizations/acme/members/" + members[0].ID + "/", "", 200},
		{"POST", "/api/0/organizations/acme/members/", `{"email":"new@example.com","orgRole":"member","teams":["backend"]}`, 201},
		{"GET", "/api/0/projects/", "", 200},
		{"GET", "/api/0/organizations/acme/projects/", "", 200},
		{"GET", "/api/0/projects/acme/web/", "", 200},
		{"GET", "/api/0/projects/acme/web/issues/", "", 200},
		{"GET", "/api/0/projects/acme/web/issues/?query=is:unresolved&limit=20&sort=freq", "", 200},
		{"GET", "/api/0/projects/acme/web/issues/?query=is:unresolved&limit=20&sort=new&statsPeriod=14d", "", 200},
		{"GET", issue, "", 200},
		{"GET", "/api/0/organizations/acme/issues/" + ev.GroupID + "/", "", 200},
		{"PUT", issue, `{"status":"resolved"}`, 200},
		{"PUT", issue, `{"status":"ignored","statusDetails":{"ignoreDuration":30}}`, 200},
		{"PUT", issue, `{"status":"unresolved"}`, 200},
		{"GET", issue + "events/", "", 200},
		{"GET", issue + "events/?full=true", "", 200},
		{"GET", issue + "events/latest/", "", 200},
		{"GET", issue + "events/oldest/", "", 200},
		{"GET", "/api/0/projects/acme/web/events/" + string(*id) + "/", "", 200},
		{"GET", "/api/0/projects/acme/web/events/" + string(*msg) + "/", "", 200},
		{"GET", "/api/0/api-tokens/", "", 200},
		{"POST", "/api/0/api-tokens/", `{"name":"contract","scopes":["event:read"]}`, 201},
		{"GET", "/api/0/organizations/acme/org-auth-tokens/", "", 200},
		{"POST", "/api/0/organizations/acme/org-auth-tokens/", `{"name":"ci"}`, 201},
		{"GET", deploys, "", 200},
		{"GET", "/api/0/projects/acme/web/keys/", "", 200},
		{"GET", "/api/0/projects/acme/web/keys/" + p.PublicKey + "/", "", 200},
		{"GET", "/api/0/users/me/", "", 200},
		{"GET", "/api/0/users/", "", 200},
		{"POST", "/api/0/users/", `{"email":"user@example.com","name":"User","password":"correct horse battery staple"}`, 201},
		{"GET", "/api/0/projects/acme/web/user-feedback/", "", 200},
		// GitLab's search box: free text after the status; stats without
		// statsPeriod (and with it empty).
		{"GET", "/api/0/projects/acme/web/issues/?query=is:unresolved%20boom&limit=20", "", 200},
		{"GET", "/api/0/projects/acme/web/issues/?query=is:unresolved%20boom&limit=20&sort=freq&statsPeriod=", "", 200},
		{"GET", "/api/0/organizations/acme/issues/", "", 200},
		{"GET", "/api/0/organizations/acme/issues/?query=is:unresolved%20contract&project=" + p.ID + "&statsPeriod=14d", "", 200},
		// Issue 14's: the API root, releases, repositories.
		{"GET", "/api/0/", "", 200},
		{"GET", "/api/0/organizations/acme/releases/", "", 200},
		{"GET", "/api/0/organizations/acme/releases/1.0%2Bbuild/", "", 200},
		{"GET", "/api/0/projects/acme/web/releases/", "", 200},
		{"GET", "/api/0/projects/acme/web/releases/1.0+build/", "", 200},
		{"GET", "/api/0/organizations/acme/releases/1.0%2Bbuild/commits/", "", 200},
		{"GET", "/api/0/organizations/acme/releases/1.0%2Bbuild/previous-with-commits/", "", 200},
		{"GET", "/api/0/organizations/acme/repos/", "", 200},
		// Sentry's errors.
		{"GET", "/api/0/issues/987654321/", "", 404},
		{"GET", "/api/0/projects/acme/web/", "", 401},
		{"GET", "/api/0/projects/acme/nosuch/", "", 404},
	} {
		token := ""
		if x.status == 401 {
			token = "-"
		}
		c.call(x.method, x.path, x.body, token, x.status)
	}
	// The free-text search finds the exception's issue, not the message's.
	var found []struct{ ID string }
	if err := json.Unmarshal(c.call("GET", "/api/0/projects/acme/web/issues/?query=is:unresolved%20boom&limit=20", "", "", 200), &found); err != nil ||
		len(found) != 1 || found[0].ID != ev.GroupID {
		t.Errorf("is:unresolved boom found %+v (%v), want %s", found, err, ev.GroupID)
	}
	// Bulk changes (sentry-cli's issues resolve|mute|unresolve): 200 with
	// the fields changed, 204 when nothing matches; deletions 204.
	bulk, orgBulk := "/api/0/projects/acme/web/issues/", "/api/0/organizations/acme/issues/"
	c.call("PUT", bulk+"?id="+ev.GroupID, `{"status":"resolved"}`, "", 200)
	c.call("PUT", bulk+"?id=987654321", `{"status":"resolved"}`, "", 204)
	c.call("PUT", orgBulk+"?id="+ev.GroupID, `{"status":"unresolved"}`, "", 200)
	c.call("PUT", bulk+"?status=unresolved", `{"status":"muted","snoozeDuration":60}`, "", 200)
	c.call("PUT", orgBulk+"?query=is:ignored", `{"status":"unresolved"}`, "", 200)
	c.call("PUT", bulk, `{"status":"resolved","statusDetails":{"inNextRelease":true}}`, "", 200)
	c.call("PUT", orgBulk+"?status=resolved&project="+p.ID, `{"status":"unresolved"}`, "", 200)
	c.call("DELETE", bulk+"?id=987654321", "", "", 204)
	c.call("DELETE", orgBulk+"?id=987654321", "", "", 204)
	var withActivity struct {
		Activity []struct{ Type string }
	}
	json.Unmarshal(c.call("GET", issue, "", "", 200), &withActivity) //nolint:errcheck // validated
	if len(withActivity.Activity) < 3 || withActivity.Activity[len(withActivity.Activity)-1].Type != "first_seen" {
		t.Errorf("the issue's activity: %+v", withActivity.Activity)
	}
	// Releases, commits, deploys, repositories: the writes sentry-cli sends.
	rel := "/api/0/organizations/acme/releases/"
	c.call("POST", rel, `{"version":"2.0","projects":["web"],"ref":"main"}`, "", 201)
	c.call("POST", "/api/0/projects/acme/web/releases/", `{"version":"2.0"}`, "", 208)
	c.call("PUT", rel+"2.0/", `{"dateReleased":"2026-01-02T03:04:05Z","commits":[{"id":"c1","repository":"acme/web","message":"fix",`+
		`"author_name":"Ann","author_email":"ann@example.com","timestamp":"2026-01-02T03:00:00Z","patch_set":[{"path":"a.go","type":"M"}]}]}`, "", 200)
	c.call("PUT", "/api/0/projects/acme/web/releases/2.0/", `{"refs":[{"repository":"acme/web","commit":"c1"}]}`, "", 200)
	c.call("GET", "/api/0/projects/acme/web/releases/2.0/commits/", "", "", 200)
	c.call("POST", rel+"2.0/deploys/", `{"environment":"staging","name":"d1","url":"https://ci.example.com/1"}`, "", 201)
	c.call("GET", rel+"2.0/deploys/", "", "", 200)
	c.call("POST", rel, `{"version":"3.0","projects":["web"]}`, "", 201)
	c.call("GET", rel+"3.0/previous-with-commits/", "", "", 200)
	c.call("POST", "/api/0/organizations/acme/repos/", `{"name":"acme/api","url":"https://example.com/acme/api"}`, "", 201)
	c.call("DELETE", rel+"1.0%2Bbuild/", "", "", 400)
	c.call("DELETE", "/api/0/projects/acme/web/releases/3.0/", "", "", 204)
	c.call("DELETE", rel+"3.0/", "", "", 404)

	// A project stored before projects recorded allowed domains (none):
	// allowedDomains is [], never null.
	pid, _ := strconv.ParseUint(p.ID, 10, 64)
	stored, ok := f.Server.Meta().ProjectByID(pid)
	if !ok {
		t.Fatal("the project is not in the metadata")
	}
	old := *stored
	old.AllowedOrigins = nil
	if err := f.Server.Meta().UpdateProject(context.Background(), &old); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if cur, _ := f.Server.Meta().ProjectByID(pid); cur != nil && cur.AllowedOrigins == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the metadata never saw the old-shaped project")
		}
	}
	for _, path := range []string{"/api/0/projects/acme/web/", "/api/0/projects/"} {
		if raw := c.call("GET", path, "", "", 200); !strings.Contains(string(raw), `"allowedDomains":[]`) {
			t.Errorf("%s: allowedDomains is not []: %.500s", path, raw)
		}
	}

	// A token without the scope: 403, in Sentry's shape.
	c.call("PUT", issue, `{"status":"resolved"}`, tok.Token, 403)

	// Writes with their own statuses: 201, 204 and 202.
	var invited struct{ ID string }
	json.Unmarshal(c.call("POST", "/api/0/organizations/acme/members/", `{"email":"other@example.com","orgRole":"member"}`, "", 201), &invited) //nolint:errcheck
	teamPath := "/api/0/organizations/acme/members/" + invited.ID + "/teams/backend/"
	c.call("POST", teamPath, "", "", 201)
	c.call("POST", teamPath, "", "", 204)
	c.call("DELETE", teamPath, "", "", 200)
	c.call("DELETE", "/api/0/organizations/acme/members/"+invited.ID+"/", "", "", 204)
	c.call("POST", "/api/0/projects/acme/web/keys/", `{"name":"second"}`, "", 201)
	var orgTok struct{ ID string }
	json.Unmarshal(c.call("POST", "/api/0/organizations/acme/org-auth-tokens/", `{"name":"ci2"}`, "", 201), &orgTok) //nolint:errcheck
	c.call("DELETE", "/api/0/organizations/acme/org-auth-tokens/"+orgTok.ID+"/", "", "", 204)
	var msgEvent struct {
		GroupID string `json:"groupID"`
	}
	json.Unmarshal(c.call("GET", "/api/0/projects/acme/web/events/"+string(*msg)+"/", "", "", 200), &msgEvent) //nolint:errcheck
	c.call("DELETE", "/api/0/issues/"+msgEvent.GroupID+"/", "", "", 202)

	// The answers exercised the detailed schemas: an exception with frames
	// and their context, and the issue's release.
	latest := c.call("GET", issue+"events/latest/", "", "", 200)
	var e struct {
		Entries []struct {
			Type string
			Data struct {
				Values []struct {
					Stacktrace *struct {
						Frames []struct {
							Context [][2]any
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal(latest, &e); err != nil {
		t.Fatal(err)
	}
	frames, context := 0, 0
	for _, en := range e.Entries {
		for _, val := range en.Data.Values {
			if en.Type == "exception" && val.Stacktrace != nil {
				for _, fr := range val.Stacktrace.Frames {
					frames++
					context += len(fr.Context)
				}
			}
		}
	}
	if frames == 0 || context == 0 {
		t.Errorf("the latest event has %d frames and %d context lines: %.1000s", frames, context, latest)
	}
	detail := c.call("GET", issue, "", "", 200)
	if !strings.Contains(string(detail), `"lastRelease":{`) {
		t.Errorf("the issue has no lastRelease: %.1000s", detail)
	}

	// Real answers with one field changed must be refused.
	issueRoute, eventRoute := "/api/0/issues/{id}/", "/api/0/issues/{id}/events/{event_id}/"
	for _, m := range []struct {
		name, route string
		body        []byte
		edit        func(map[string]any)
	}{
		{"issue count as a number", issueRoute, detail, func(m map[string]any) { m["count"] = 1 }},
		{"issue userCount as a string", issueRoute, detail, func(m map[string]any) { m["userCount"] = "1" }},
		{"issue project.id as a number", issueRoute, detail, func(m map[string]any) {
			m["project"].(map[string]any)["id"] = 1
		}},
		{"issue without lastSeen", issueRoute, detail, func(m map[string]any) { delete(m, "lastSeen") }},
		{"issue lastRelease.version as a number", issueRoute, detail, func(m map[string]any) {
			m["lastRelease"].(map[string]any)["version"] = 1
		}},
		{"event groupID as a number", eventRoute, latest, func(m map[string]any) { m["groupID"] = 7 }},
		{"frame lineNo as a string", eventRoute, latest, func(m map[string]any) {
			firstFrame(t, m)["lineNo"] = "12"
		}},
		{"frame context as null", eventRoute, latest, func(m map[string]any) { firstFrame(t, m)["context"] = nil }},
		{"frame context lines as strings", eventRoute, latest, func(m map[string]any) {
			firstFrame(t, m)["context"] = []any{"12", "code"}
		}},
		{"event entries as an object", eventRoute, latest, func(m map[string]any) { m["entries"] = map[string]any{} }},
	} {
		var body map[string]any
		if err := json.Unmarshal(m.body, &body); err != nil {
			t.Fatal(err)
		}
		m.edit(body)
		b, _ := json.Marshal(body)
		if err := v.Response("GET", m.route, 200, b); err == nil {
			t.Errorf("%s: accepted", m.name)
		}
	}
}

// firstFrame is the first frame of an event's exception entry.
func firstFrame(t *testing.T, ev map[string]any) map[string]any {
	t.Helper()
	entries, _ := ev["entries"].([]any)
	i := slices.IndexFunc(entries, func(e any) bool { return e.(map[string]any)["type"] == "exception" })
	if i < 0 {
		t.Fatal("no exception entry")
	}
	values := entries[i].(map[string]any)["data"].(map[string]any)["values"].([]any)
	for _, v := range values {
		if st, ok := v.(map[string]any)["stacktrace"].(map[string]any); ok {
			return st["frames"].([]any)[0].(map[string]any)
		}
	}
	t.Fatal("no frames")
	return nil
}

// issue14Routes are the /api/0/ routes issue 14 names (sentry-cli's and
// GitLab's calls, the releases model, bulk issue changes): each must keep a
// registered response schema, and a request schema when it reads a body.
var issue14Routes = []string{
	"GET /api/0/",
	"GET /api/0/projects/",
	"GET /api/0/organizations/{org}/projects/",
	"GET /api/0/projects/{org}/{project}/issues/",
	"PUT /api/0/projects/{org}/{project}/issues/",
	"DELETE /api/0/projects/{org}/{project}/issues/",
	"GET /api/0/organizations/{org}/issues/",
	"PUT /api/0/organizations/{org}/issues/",
	"DELETE /api/0/organizations/{org}/issues/",
	"GET /api/0/issues/{id}/",
	"PUT /api/0/issues/{id}/",
	"GET /api/0/organizations/{org}/issues/{id}/",
	"PUT /api/0/organizations/{org}/issues/{id}/",
	"GET /api/0/issues/{id}/events/{event_id}/",
	"GET /api/0/organizations/{org}/issues/{id}/events/{event_id}/",
	"GET /api/0/organizations/{org}/releases/",
	"POST /api/0/organizations/{org}/releases/",
	"GET /api/0/organizations/{org}/releases/{version}/",
	"PUT /api/0/organizations/{org}/releases/{version}/",
	"DELETE /api/0/organizations/{org}/releases/{version}/",
	"GET /api/0/organizations/{org}/releases/{version}/commits/",
	"GET /api/0/organizations/{org}/releases/{version}/previous-with-commits/",
	"GET /api/0/organizations/{org}/releases/{version}/deploys/",
	"POST /api/0/organizations/{org}/releases/{version}/deploys/",
	"GET /api/0/projects/{org}/{project}/releases/",
	"POST /api/0/projects/{org}/{project}/releases/",
	"GET /api/0/projects/{org}/{project}/releases/{version}/",
	"PUT /api/0/projects/{org}/{project}/releases/{version}/",
	"DELETE /api/0/projects/{org}/{project}/releases/{version}/",
	"GET /api/0/projects/{org}/{project}/releases/{version}/commits/",
	"GET /api/0/organizations/{org}/repos/",
	"POST /api/0/organizations/{org}/repos/",
}

// TestOpenAPIIssue14Schemas checks that every route of issue14Routes is
// in the served document with a described answer: a schema for its
// successful body (not the generic one routes without a registered
// schema get), or a documented empty answer (204, 202); and a request
// schema for the writes that read a body. A change that drops one from the
// registry, or a route, fails here.
func TestOpenAPIIssue14Schemas(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody *struct {
				Content map[string]struct{ Schema map[string]any }
			}
			Responses map[string]struct {
				Description string
				Content     map[string]struct{ Schema map[string]any }
			}
		}
	}
	if err := json.Unmarshal(getDocument(t, f.URL), &doc); err != nil {
		t.Fatal(err)
	}
	generic := `{"type":["object","array"]}`
	for _, k := range issue14Routes {
		method, path, _ := strings.Cut(k, " ")
		op, ok := doc.Paths[path][strings.ToLower(method)]
		if !ok {
			t.Errorf("%s: not in the document", k)
			continue
		}
		var codes []string
		for code := range op.Responses {
			if strings.HasPrefix(code, "2") {
				codes = append(codes, code)
			}
		}
		slices.Sort(codes)
		if len(codes) == 0 {
			t.Errorf("%s: no successful answer documented", k)
			continue
		}
		ok200 := op.Responses[codes[0]]
		schema := ok200.Content["application/json"].Schema
		switch b, _ := json.Marshal(schema); {
		case schema == nil && codes[0] != "204" && codes[0] != "202":
			t.Errorf("%s: %s documented without a body", k, codes[0])
		case schema != nil && (string(b) == generic || len(schema) == 0):
			t.Errorf("%s: %s has no registered schema (%s)", k, codes[0], b)
		}
		body := (method == "POST" || method == "PUT")
		if body && (op.RequestBody == nil || op.RequestBody.Content["application/json"].Schema == nil) {
			t.Errorf("%s: no request schema", k)
		}
	}
}
