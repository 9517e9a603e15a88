package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/route"
)

// tenancyBody would change something if a handler took it.
const tenancyBody = `{"name":"tenancy","slug":"tenancy","status":"resolved","isActive":false,"email":"x@example.com","orgRole":"owner","scopes":["org:read"]}`

// TestTenancyMatrix enumerates every API route of the table: anonymous
// callers get 401 on every route that is not public, and an owner of
// another organization gets 404 (never 403: existence must not leak) for
// anything of this one, named by slug or guessed by number, and changes
// nothing.
func TestTenancyMatrix(t *testing.T) {
	rf := newRouteFixture(t)
	outsider := plainUserToken(t, rf.f)
	if st, raw := rf.f.Do("POST", "/api/0/organizations/other/members/",
		map[string]string{"email": "plain@example.com", "orgRole": "owner"}, nil); st != 201 {
		t.Fatalf("make the outsider an owner of other: %d %s", st, raw)
	}
	// The outsider really is an owner there: the matrix tests tenancy, not
	// a caller who may do nothing.
	if st, raw := rf.sendAs(t, outsider, "GET", "/api/0/projects/other/api/", ""); st != 200 {
		t.Fatalf("the outsider's own project: %d %s", st, raw)
	}
	// The same outsider, with a password and a browser session.
	newUser(t, rf.f, "outsider@example.com", "other", "owner")
	browser := sessionLogin(t, rf.f, "outsider@example.com")
	if st, raw, _ := browser.do(t, "GET", "/api/0/projects/other/api/", ""); st != 200 {
		t.Fatalf("the outsider's session, own project: %d %s", st, raw)
	}
	// And an organization token of the other organization, made by the
	// same superuser who made everything of acme.
	var otherCI struct{ Token string }
	if st, raw := rf.f.Do("POST", "/api/0/organizations/other/org-auth-tokens/", map[string]string{"name": "ci"}, &otherCI); st != 201 {
		t.Fatalf("other's org token: %d %s", st, raw)
	}
	before := rf.snapshot(t)
	tenants := map[route.Tenant]bool{route.TenantOrganization: true, route.TenantTeam: true, route.TenantProject: true,
		route.TenantIssue: true, route.TenantEvent: true, route.TenantJob: true}
	n := 0
	for _, r := range rf.f.Server.Routes().Routes() {
		if !route.IsAPI(r.Path) || r.Auth&(route.Public|route.DSNKey) != 0 {
			continue
		}
		path := rf.fill(r)
		if st, raw := rf.sendAs(t, "", r.Method, path, tenancyBody); st != http.StatusUnauthorized {
			t.Errorf("anonymous %s %s: %d %s, want 401", r.Method, path, st, raw)
		}
		if r.Superuser || !tenants[r.Tenant] {
			continue
		}
		n++
		st, raw := rf.sendAs(t, outsider, r.Method, path, tenancyBody)
		if st != http.StatusNotFound {
			t.Errorf("another organization's owner: %s %s: %d %s, want 404", r.Method, path, st, raw)
			continue
		}
		var e struct{ Detail string }
		if json.Unmarshal(raw, &e) != nil || e.Detail == "" {
			t.Errorf("%s %s: body %q is not Sentry's {\"detail\"}", r.Method, path, raw)
		}
		if st, raw := rf.sendAs(t, otherCI.Token, r.Method, path, tenancyBody); st != http.StatusNotFound {
			t.Errorf("another organization's token: %s %s: %d %s, want 404", r.Method, path, st, raw)
		}
		if st, raw, _ := browser.do(t, r.Method, path, tenancyBody); st != http.StatusNotFound {
			t.Errorf("another organization's owner, by session: %s %s: %d %s, want 404", r.Method, path, st, raw)
		}
	}
	// The web UI's routes: an anonymous visitor goes to the login page,
	// another organization's user gets the 404 page.
	pages := 0
	for _, r := range rf.f.Server.Routes().Routes() {
		if route.IsAPI(r.Path) || r.Auth&(route.Public|route.DSNKey) != 0 {
			continue
		}
		pages++
		path := rf.fill(r)
		anon := &apiSession{base: rf.f.URL}
		st, raw, h := anon.do(t, r.Method, path, "")
		if st != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login/") {
			t.Errorf("anonymous %s %s: %d %q %s, want a redirect to the login page", r.Method, path, st, h.Get("Location"), raw)
		}
		if r.Tenant == route.TenantNone || r.Tenant == route.TenantUser {
			continue
		}
		if st, raw, _ := browser.do(t, r.Method, path, ""); st != http.StatusNotFound || !strings.Contains(string(raw), "Page not found") {
			t.Errorf("another organization's owner: %s %s: %d %s, want the 404 page", r.Method, path, st, raw)
		}
	}
	t.Logf("%d tenant routes × 3 outsiders (user token, org token, session), %d web UI routes", n, pages)
	if pages < 2 {
		t.Errorf("only %d web UI routes checked", pages)
	}
	if n < 40 {
		t.Fatalf("only %d tenant routes checked", n)
	}
	if after := rf.snapshot(t); after != before {
		t.Errorf("the matrix changed what is stored:\n--- before\n%s\n--- after\n%s", before, after)
	}
}
