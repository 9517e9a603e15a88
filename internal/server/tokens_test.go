package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/route"
	"github.com/faultline/faultline/internal/testserver"
)

// sendAs sends body with token and returns the status and the body.
func (rf *routeFixture) sendAs(t *testing.T, token, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, rf.f.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// unrelatedScope is a scope that covers nothing a route needing scope
// needs: another resource's, or the strongest one for routes only "*"
// reaches.
func unrelatedScope(scope string) string {
	switch {
	case scope == "":
		return "org:admin"
	case strings.HasPrefix(scope, "alerts:"):
		return "member:read"
	}
	return "alerts:read"
}

// TestScopeMatrix enumerates every API route of the table: a token holding
// only an unrelated scope gets 403 with Sentry's body; a token holding
// exactly the route's scope (the bootstrap "*" for routes without one)
// passes the check (the handler may still answer 400 or 404); an
// organization token passes only the routes marked OrgCI. Requests that
// pass reach only unknown objects or carry a malformed body, and nothing
// stored changes.
func TestScopeMatrix(t *testing.T) {
	rf := newRouteFixture(t)
	routes := rf.f.Server.Routes().Routes()
	tokens := map[string]string{"": testserver.AdminToken}
	create := func(scope string) {
		if _, ok := tokens[scope]; ok {
			return
		}
		var tok struct{ Token string }
		if st, raw := rf.f.Do("POST", "/api/0/api-tokens/", map[string]any{"name": scope, "scopes": []string{scope}}, &tok); st != 201 {
			t.Fatalf("create a %s token: %d %s", scope, st, raw)
		}
		tokens[scope] = tok.Token
	}
	var api []*route.Route
	for _, r := range routes {
		if r.Auth&route.UserToken == 0 || !strings.HasPrefix(r.Path, "/api/0/") {
			continue
		}
		api = append(api, r)
		create(unrelatedScope(r.Scope))
		if r.Scope != "" && r.Scope != route.AnyScope {
			create(r.Scope)
		}
	}
	if len(api) < 40 {
		t.Fatalf("only %d API routes", len(api))
	}
	var ci struct{ Token string }
	if st, raw := rf.f.Do("POST", "/api/0/organizations/acme/org-auth-tokens/", map[string]string{"name": "ci"}, &ci); st != 201 {
		t.Fatalf("org token: %d %s", st, raw)
	}
	before := rf.snapshot(t)
	ciRoutes := 0
	for _, r := range api {
		path := rf.fill(r)
		// The scope check comes after the tenant's (401, 404, 403): ask
		// for a real object, which a 403 leaves unchanged.
		st, raw := rf.sendAs(t, tokens[unrelatedScope(r.Scope)], r.Method, path, tenancyBody)
		body := ""
		if r.Destructive() {
			// Reach an unknown object, or send a body no handler takes.
			if ph := r.Placeholders(); len(ph) > 0 && strings.HasSuffix(strings.TrimSuffix(r.Path, "/"), "{"+ph[len(ph)-1]+"}") {
				path = replaceLast(path, unknownValue(ph[len(ph)-1]))
			}
			body = "[]"
		}
		var e struct{ Detail string }
		exact := tokens[r.Scope]
		switch {
		case r.Scope == route.AnyScope:
			// Any user token, whatever its scopes, may call it.
			exact = tokens[unrelatedScope(r.Scope)]
		case st != 403 || json.Unmarshal(raw, &e) != nil || e.Detail != "You do not have permission to perform this action.":
			t.Errorf("%s %s with %s: %d %s, want 403", r.Method, r.Path, unrelatedScope(r.Scope), st, raw)
		}
		if st, raw := rf.sendAs(t, exact, r.Method, path, body); st == 403 || st == 401 {
			t.Errorf("%s %s with %q: %d %s", r.Method, r.Path, r.Scope, st, raw)
		}
		ciPath := path
		if !r.OrgCI {
			ciPath = rf.fill(r) // a real object: the refusal comes after the tenant's check
		}
		st, raw = rf.sendAs(t, ci.Token, r.Method, ciPath, body)
		switch {
		case r.OrgCI:
			ciRoutes++
			if st == 403 || st == 401 {
				t.Errorf("%s %s with an org token: %d %s", r.Method, r.Path, st, raw)
			}
		case st != 403:
			t.Errorf("%s %s with an org token: %d %s, want 403", r.Method, r.Path, st, raw)
		}
	}
	if ciRoutes < 3 {
		t.Errorf("%d routes marked for organization tokens", ciRoutes)
	}
	if after := rf.snapshot(t); after != before {
		t.Errorf("the matrix changed what is stored:\n--- before\n%s\n--- after\n%s", before, after)
	}
}
