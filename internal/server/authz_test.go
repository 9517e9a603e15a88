package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/route"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/session"
	"github.com/faultline/faultline/internal/testserver"
)

// apiSession is a logged-in session: its cookies, sent back with the CSRF
// header and the site's Origin, as the web UI's scripts do.
type apiSession struct {
	base    string
	cookies []*http.Cookie
	csrf    string
}

// newUser creates a user with a password (as a superuser does) and, when
// org is not empty, makes them a member there with role and teams.
func newUser(t *testing.T, f *testserver.Faultline, email, org, role string, teams ...string) {
	t.Helper()
	if st, raw := f.Do("POST", "/api/0/users/", map[string]any{"email": email, "name": email, "password": "a long enough password"}, nil); st != 201 {
		t.Fatalf("create %s: %d %s", email, st, raw)
	}
	if org == "" {
		return
	}
	if teams == nil {
		teams = []string{}
	}
	if st, raw := f.Do("POST", "/api/0/organizations/"+org+"/members/", map[string]any{"email": email, "orgRole": role, "teams": teams}, nil); st != 201 {
		t.Fatalf("add %s to %s: %d %s", email, org, st, raw)
	}
}

// sessionLogin logs a user in through Sentry's login endpoint.
func sessionLogin(t *testing.T, f *testserver.Faultline, email string) *apiSession {
	t.Helper()
	body := fmt.Sprintf(`{"username":%q,"password":"a long enough password"}`, email)
	resp, err := http.Post(f.URL+"/api/0/auth/login/", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b := &apiSession{base: f.URL, cookies: resp.Cookies()}
	for _, c := range b.cookies {
		if c.Name == session.CSRFCookie {
			b.csrf = c.Value
		}
	}
	if resp.StatusCode != 200 || b.csrf == "" {
		t.Fatalf("login %s: %d %s", email, resp.StatusCode, raw)
	}
	return b
}

// do sends a request in the session, without following redirects.
func (b *apiSession) do(t *testing.T, method, path, body string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(session.CSRFHeader, b.csrf)
	req.Header.Set("Origin", b.base)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header
}

// minRole is the least organization role that may call each API route
// naming a tenant: the matrix fails when a route is added without an
// entry here, or when an entry disagrees with the scope the route
// declares (Sentry's role→scope map, internal/authz).
var minRole = map[string]string{
	"GET /api/0/projects/{org}/{project}/rules/":                                         authz.Member,
	"POST /api/0/projects/{org}/{project}/rules/":                                        authz.Member,
	"GET /api/0/projects/{org}/{project}/rules/{rule_id}/":                               authz.Member,
	"PUT /api/0/projects/{org}/{project}/rules/{rule_id}/":                               authz.Member,
	"DELETE /api/0/projects/{org}/{project}/rules/{rule_id}/":                            authz.Member,
	"POST /api/0/projects/{org}/{project}/rule-actions/":                                 authz.Member,
	"GET /api/0/projects/{org}/{project}/plugins/webhooks/":                              authz.Member,
	"PUT /api/0/projects/{org}/{project}/plugins/webhooks/":                              authz.Admin,
	"POST /api/0/projects/{org}/{project}/plugins/webhooks/":                             authz.Admin,
	"DELETE /api/0/projects/{org}/{project}/plugins/webhooks/":                           authz.Admin,
	"GET /api/0/organizations/{org}/":                                                    authz.Member,
	"PUT /api/0/organizations/{org}/":                                                    authz.Manager,
	"DELETE /api/0/organizations/{org}/":                                                 authz.Owner,
	"GET /api/0/organizations/{org}/stats_v2/":                                           authz.Member,
	"GET /api/0/organizations/{org}/teams/":                                              authz.Member,
	"POST /api/0/organizations/{org}/teams/":                                             authz.Admin,
	"GET /api/0/organizations/{org}/projects/":                                           authz.Member,
	"POST /api/0/teams/{org}/{team}/projects/":                                           authz.Admin,
	"GET /api/0/projects/{org}/{project}/":                                               authz.Member,
	"PUT /api/0/projects/{org}/{project}/":                                               authz.Admin,
	"DELETE /api/0/projects/{org}/{project}/":                                            authz.Admin,
	"GET /api/0/projects/{org}/{project}/keys/":                                          authz.Member,
	"POST /api/0/projects/{org}/{project}/keys/":                                         authz.Admin,
	"GET /api/0/projects/{org}/{project}/keys/{key}/":                                    authz.Member,
	"PUT /api/0/projects/{org}/{project}/keys/{key}/":                                    authz.Admin,
	"DELETE /api/0/projects/{org}/{project}/keys/{key}/":                                 authz.Admin,
	"POST /api/0/projects/{org}/{project}/teams/{team}/":                                 authz.Admin,
	"DELETE /api/0/projects/{org}/{project}/teams/{team}/":                               authz.Admin,
	"GET /api/0/projects/{org}/{project}/issues/":                                        authz.Member,
	"GET /api/0/projects/{org}/{project}/events/{event_id}/":                             authz.Member,
	"GET /api/0/projects/{org}/{project}/events/{event_id}/attachments/":                 authz.Member,
	"GET /api/0/projects/{org}/{project}/events/{event_id}/grouping-info/":               authz.Member,
	"GET /api/0/projects/{org}/{project}/user-feedback/":                                 authz.Member,
	"POST /api/0/projects/{org}/{project}/user-deletions/":                               superuserOnly, // the handler lets only superusers through
	"PUT /api/0/projects/{org}/{project}/issues/":                                        authz.Member,
	"DELETE /api/0/projects/{org}/{project}/issues/":                                     authz.Member, // Sentry's members hold event:admin
	"GET /api/0/organizations/{org}/issues/":                                             authz.Member,
	"PUT /api/0/organizations/{org}/issues/":                                             authz.Member,
	"GET /api/0/organizations/{org}/issues-count/":                                       authz.Member,
	"GET /api/0/organizations/{org}/environments/":                                       authz.Member,
	"GET /api/0/projects/{org}/{project}/environments/":                                  authz.Member,
	"DELETE /api/0/organizations/{org}/issues/":                                          authz.Member,
	"POST /api/0/organizations/{org}/releases/{version}/deploys/":                        authz.Member,
	"GET /api/0/organizations/{org}/releases/":                                           authz.Member,
	"POST /api/0/organizations/{org}/releases/":                                          authz.Member,
	"GET /api/0/organizations/{org}/releases/{version}/":                                 authz.Member,
	"PUT /api/0/organizations/{org}/releases/{version}/":                                 authz.Member,
	"DELETE /api/0/organizations/{org}/releases/{version}/":                              authz.Member,
	"GET /api/0/organizations/{org}/releases/{version}/commits/":                         authz.Member,
	"GET /api/0/organizations/{org}/releases/{version}/previous-with-commits/":           authz.Member,
	"GET /api/0/projects/{org}/{project}/releases/":                                      authz.Member,
	"POST /api/0/projects/{org}/{project}/releases/":                                     authz.Member,
	"GET /api/0/projects/{org}/{project}/releases/{version}/":                            authz.Member,
	"PUT /api/0/projects/{org}/{project}/releases/{version}/":                            authz.Member,
	"DELETE /api/0/projects/{org}/{project}/releases/{version}/":                         authz.Member,
	"GET /api/0/projects/{org}/{project}/releases/{version}/commits/":                    authz.Member,
	"GET /api/0/organizations/{org}/repos/":                                              authz.Member,
	"POST /api/0/organizations/{org}/repos/":                                             authz.Manager,
	"GET /api/0/issues/{id}/":                                                            authz.Member,
	"PUT /api/0/issues/{id}/":                                                            authz.Member,
	"DELETE /api/0/issues/{id}/":                                                         authz.Member, // Sentry's members hold event:admin
	"GET /api/0/issues/{id}/events/":                                                     authz.Member,
	"GET /api/0/issues/{id}/events/{event_id}/":                                          authz.Member,
	"GET /api/0/issues/{id}/grouping-info/":                                              authz.Member,
	"GET /api/0/issues/{id}/tags/{key}/values/":                                          authz.Member,
	"GET /api/0/organizations/{org}/issues/{id}/":                                        authz.Member,
	"PUT /api/0/organizations/{org}/issues/{id}/":                                        authz.Member,
	"DELETE /api/0/organizations/{org}/issues/{id}/":                                     authz.Member,
	"GET /api/0/organizations/{org}/issues/{id}/events/":                                 authz.Member,
	"GET /api/0/organizations/{org}/issues/{id}/events/{event_id}/":                      authz.Member,
	"GET /api/0/organizations/{org}/issues/{id}/grouping-info/":                          authz.Member,
	"GET /api/0/organizations/{org}/issues/{id}/tags/{key}/values/":                      authz.Member,
	"GET /api/0/issues/{id}/tags/":                                                       authz.Member,
	"GET /api/0/organizations/{org}/issues/{id}/tags/":                                   authz.Member,
	"GET /api/0/issues/{id}/comments/":                                                   authz.Member,
	"POST /api/0/issues/{id}/comments/":                                                  authz.Member,
	"PUT /api/0/issues/{id}/comments/{comment_id}/":                                      authz.Member,
	"DELETE /api/0/issues/{id}/comments/{comment_id}/":                                   authz.Member,
	"GET /api/0/issues/{id}/activities/":                                                 authz.Member,
	"GET /api/0/issues/{id}/hashes/":                                                     authz.Member,
	"DELETE /api/0/issues/{id}/hashes/":                                                  authz.Member, // event:admin
	"GET /api/0/organizations/{org}/issues/{id}/hashes/":                                 authz.Member,
	"DELETE /api/0/organizations/{org}/issues/{id}/hashes/":                              authz.Member, // event:admin
	"GET /api/0/organizations/{org}/issues/{id}/comments/":                               authz.Member,
	"POST /api/0/organizations/{org}/issues/{id}/comments/":                              authz.Member,
	"PUT /api/0/organizations/{org}/issues/{id}/comments/{comment_id}/":                  authz.Member,
	"DELETE /api/0/organizations/{org}/issues/{id}/comments/{comment_id}/":               authz.Member,
	"GET /api/0/organizations/{org}/issues/{id}/activities/":                             authz.Member,
	"GET /api/0/organizations/{org}/releases/{version}/deploys/":                         authz.Member,
	"GET /api/0/organizations/{org}/chunk-upload/":                                       authz.Member,
	"POST /api/0/organizations/{org}/chunk-upload/":                                      authz.Member,
	"POST /api/0/organizations/{org}/artifactbundle/assemble/":                           authz.Member,
	"POST /api/0/organizations/{org}/releases/{version}/assemble/":                       authz.Member,
	"GET /api/0/organizations/{org}/releases/{version}/files/":                           authz.Member,
	"POST /api/0/organizations/{org}/releases/{version}/files/":                          authz.Member,
	"GET /api/0/organizations/{org}/releases/{version}/files/{file_id}/":                 authz.Member,
	"DELETE /api/0/organizations/{org}/releases/{version}/files/{file_id}/":              authz.Member,
	"GET /api/0/projects/{org}/{project}/releases/{version}/files/":                      authz.Member,
	"POST /api/0/projects/{org}/{project}/releases/{version}/files/":                     authz.Member,
	"GET /api/0/projects/{org}/{project}/releases/{version}/files/{file_id}/":            authz.Member,
	"DELETE /api/0/projects/{org}/{project}/releases/{version}/files/{file_id}/":         authz.Member,
	"GET /api/0/organizations/{org}/org-auth-tokens/":                                    authz.Member,
	"POST /api/0/organizations/{org}/org-auth-tokens/":                                   authz.Manager,
	"DELETE /api/0/organizations/{org}/org-auth-tokens/{token_id}/":                      authz.Manager,
	"GET /api/0/organizations/{org}/members/":                                            authz.Member,
	"POST /api/0/organizations/{org}/members/":                                           authz.Manager,
	"GET /api/0/organizations/{org}/members/{member_id}/":                                authz.Member,
	"PUT /api/0/organizations/{org}/members/{member_id}/":                                authz.Manager,
	"DELETE /api/0/organizations/{org}/members/{member_id}/":                             authz.Manager,
	"POST /api/0/organizations/{org}/members/{member_id}/teams/{team}/":                  authz.Member, // the handler narrows it
	"DELETE /api/0/organizations/{org}/members/{member_id}/teams/{team}/":                authz.Member,
	"GET /api/0/organizations/{org}/deletions/":                                          authz.Member,
	"GET /api/0/deletions/{id}/":                                                         authz.Member,
	"GET /api/0/projects/{org}/{project}/events/{event_id}/attachments/{attachment_id}/": authz.Member,
}

// superuserOnly marks the tenant routes whose handler lets only
// superusers through, whatever the role.
const superuserOnly = "superuser"

// tenantRoutes are the API routes that name an organization's object.
func tenantRoutes(tab *route.Table) []*route.Route {
	var out []*route.Route
	for _, r := range tab.Routes() {
		if !route.IsAPI(r.Path) || r.Auth&(route.Public|route.DSNKey) != 0 || r.Superuser {
			continue
		}
		switch r.Tenant {
		case route.TenantNone, route.TenantUser:
			continue
		}
		out = append(out, r)
	}
	return out
}

// leastRole is the least role whose scopes cover scope.
func leastRole(scope string) string {
	for _, r := range authz.Roles() {
		if authz.Allows(r.ID, scope) {
			return r.ID
		}
	}
	return "none"
}

// TestRoleMatrix enumerates every API route naming an organization's
// object, with sessions of acme's members: a member and an admin on the
// project's team get 403 (Sentry's body, nothing changed) for what needs
// more than their role and pass the check otherwise; a member on no team
// gets 404 for the project's routes, its issue, events, attachments and
// deletion job, as if they did not exist.
func TestRoleMatrix(t *testing.T) {
	rf := newRouteFixture(t)
	f := rf.f
	newUser(t, f, "member@example.com", "acme", authz.Member, "team")
	newUser(t, f, "admin@example.com", "acme", authz.Admin, "team")
	newUser(t, f, "loner@example.com", "acme", authz.Member)
	users := map[string]*apiSession{
		authz.Member: sessionLogin(t, f, "member@example.com"),
		authz.Admin:  sessionLogin(t, f, "admin@example.com"),
	}
	loner := sessionLogin(t, f, "loner@example.com")
	// The member with no team is on no project's team, but a member.
	if st, raw, _ := loner.do(t, "GET", "/api/0/organizations/acme/", ""); st != 200 {
		t.Fatalf("the loner's organization: %d %s", st, raw)
	}
	routes := tenantRoutes(f.Server.Routes())
	seen := map[string]bool{}
	before := rf.snapshot(t)
	forbidden := 0
	for _, r := range routes {
		key := r.Method + " " + r.Path
		seen[key] = true
		want, ok := minRole[key]
		if !ok {
			t.Errorf("%s has no entry in minRole: say which role may call it", key)
			continue
		}
		if got := leastRole(r.Scope); got != want && want != superuserOnly {
			t.Errorf("%s: declares scope %q, which %s holds first; minRole says %s", key, r.Scope, got, want)
		}
		path := rf.fill(r)
		for role, b := range users {
			if want == superuserOnly || !authz.AtLeast(role, want) {
				forbidden++
				st, raw, _ := b.do(t, r.Method, path, tenancyBody)
				var e struct{ Detail string }
				if st != 403 || json.Unmarshal(raw, &e) != nil || e.Detail != "You do not have permission to perform this action." {
					t.Errorf("%s %s as %s: %d %s, want 403", r.Method, path, role, st, raw)
				}
				continue
			}
			p, body := path, ""
			if r.Destructive() {
				// Pass the check without changing anything: an unknown
				// object, or a body no handler takes.
				if ph := r.Placeholders(); len(ph) > 0 && strings.HasSuffix(strings.TrimSuffix(r.Path, "/"), "{"+ph[len(ph)-1]+"}") {
					p = replaceLast(path, unknownValue(ph[len(ph)-1]))
				}
				body = "[]"
			}
			st, raw, _ := b.do(t, r.Method, p, body)
			if st == 401 || st == 403 || !r.Destructive() && st != 200 && st != 400 {
				t.Errorf("%s %s as %s: %d %s", r.Method, p, role, st, raw)
			}
		}
		// A member on no team sees none of the project's objects.
		if r.Tenant == route.TenantProject || r.Tenant == route.TenantEvent || r.Tenant == route.TenantIssue || r.Tenant == route.TenantJob {
			st, raw, _ := loner.do(t, r.Method, path, tenancyBody)
			if st != 404 {
				t.Errorf("%s %s as a member on no team: %d %s, want 404", r.Method, path, st, raw)
			}
		}
	}
	for key := range minRole {
		if !seen[key] {
			t.Errorf("minRole names %s, which is not a route", key)
		}
	}
	t.Logf("%d tenant routes, %d refusals by role checked", len(routes), forbidden)
	if forbidden < 15 {
		t.Errorf("only %d refusals checked", forbidden)
	}
	if after := rf.snapshot(t); after != before {
		t.Errorf("the matrix changed what is stored:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

// TestLastOwnerConcurrentRequests demotes and removes every owner of an
// organization with concurrent requests: exactly one is refused, and one
// owner is left.
func TestLastOwnerConcurrentRequests(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("race", "web", "go")
	const owners = 5
	for i := range owners {
		newUser(t, f, fmt.Sprintf("owner%d@example.com", i), "race", authz.Owner)
	}
	var members []struct {
		ID      string `json:"id"`
		OrgRole string `json:"orgRole"`
	}
	if st, raw := f.Do("GET", "/api/0/organizations/race/members/", nil, &members); st != 200 {
		t.Fatalf("members: %d %s", st, raw)
	}
	var ids []string
	for _, m := range members {
		if m.OrgRole == authz.Owner {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) < owners {
		t.Fatalf("%d owners: %+v", len(ids), members)
	}
	var wg sync.WaitGroup
	statuses := make([]int, len(ids))
	start := make(chan struct{})
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if i%2 == 0 {
				statuses[i], _ = f.Do("DELETE", "/api/0/organizations/race/members/"+id+"/", nil, nil)
				return
			}
			statuses[i], _ = f.Do("PUT", "/api/0/organizations/race/members/"+id+"/", map[string]string{"orgRole": authz.Member}, nil)
		}()
	}
	close(start)
	wg.Wait()
	refused := 0
	for _, st := range statuses {
		switch st {
		case 400:
			refused++
		case 200, 204:
		default:
			t.Errorf("status %d", st)
		}
	}
	members = nil
	if st, raw := f.Do("GET", "/api/0/organizations/race/members/", nil, &members); st != 200 {
		t.Fatalf("members: %d %s", st, raw)
	}
	left := 0
	for _, m := range members {
		if m.OrgRole == authz.Owner {
			left++
		}
	}
	if refused != 1 || left != 1 {
		t.Errorf("%d refused (%v), %d owners left; want 1 and 1", refused, statuses, left)
	}
}

// TestStartPage: / offers the first-admin setup on a fresh install, then
// sends anonymous visitors to the login page, and lists a logged-in user's
// organizations (and only theirs).
func TestStartPage(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "web", "go")
	f.CreateProject("other", "api", "go")
	anon := &apiSession{base: f.URL}
	if st, _, h := anon.do(t, "GET", "/", ""); st != http.StatusSeeOther || h.Get("Location") != "/setup/" {
		t.Fatalf("fresh install: %d %q, want a redirect to /setup/", st, h.Get("Location"))
	}
	newUser(t, f, "dev@example.com", "acme", authz.Member)
	if st, _, h := anon.do(t, "GET", "/", ""); st != http.StatusSeeOther || h.Get("Location") != "/login/" {
		t.Fatalf("anonymous: %d %q, want a redirect to /login/", st, h.Get("Location"))
	}
	b := sessionLogin(t, f, "dev@example.com")
	st, raw, h := b.do(t, "GET", "/", "")
	page := string(raw)
	if st != 200 || h.Get("Content-Security-Policy") == "" || !strings.Contains(page, `href="/organizations/acme/issues/"`) ||
		strings.Contains(page, "/organizations/other/") || !strings.Contains(page, `action="/logout/"`) {
		t.Fatalf("logged in: %d %v\n%s", st, h, page)
	}
}

// TestAccessFlags: a team's and a project's isMember and hasAccess are the
// caller's, as Sentry computes them, and memberCount counts the team.
func TestAccessFlags(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "web", "go")
	newUser(t, f, "on@example.com", "acme", authz.Member, "team")
	newUser(t, f, "off@example.com", "acme", authz.Member)
	newUser(t, f, "boss@example.com", "acme", authz.Manager)
	type flags struct {
		Slug        string `json:"slug"`
		IsMember    bool   `json:"isMember"`
		HasAccess   bool   `json:"hasAccess"`
		MemberCount *int   `json:"memberCount"`
	}
	cases := []struct {
		email               string
		isMember, hasAccess bool
		projectStatus       int
	}{
		{"on@example.com", true, true, 200},
		{"off@example.com", false, false, 404},
		{"boss@example.com", false, true, 200},
	}
	for _, c := range cases {
		b := sessionLogin(t, f, c.email)
		var teams []flags
		st, raw, _ := b.do(t, "GET", "/api/0/organizations/acme/teams/", "")
		if st != 200 || json.Unmarshal(raw, &teams) != nil || len(teams) != 1 {
			t.Fatalf("%s: teams: %d %s", c.email, st, raw)
		}
		if tm := teams[0]; tm.IsMember != c.isMember || tm.HasAccess != c.hasAccess || tm.MemberCount == nil || *tm.MemberCount != 1 {
			t.Errorf("%s: team %s", c.email, raw)
		}
		st, raw, _ = b.do(t, "GET", "/api/0/projects/acme/web/", "")
		if st != c.projectStatus {
			t.Errorf("%s: project: %d %s", c.email, st, raw)
			continue
		}
		var p flags
		if st == 200 && (json.Unmarshal(raw, &p) != nil || p.IsMember != c.isMember || p.HasAccess != c.hasAccess) {
			t.Errorf("%s: project %s", c.email, raw)
		}
	}
}

// TestReservedSlugs derives the reserved organization slugs from the route
// table (every literal first path segment) and checks that no organization
// can take one, by slug, by a name it would be derived from, or by a
// rename; nothing is created.
func TestReservedSlugs(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "web", "go")
	firsts := map[string]bool{}
	for _, r := range f.Server.Routes().Routes() {
		seg, _, _ := strings.Cut(strings.TrimPrefix(r.Path, "/"), "/")
		if seg != "" && !strings.HasPrefix(seg, "{") {
			firsts[seg] = true
		}
	}
	for _, want := range []string{"api", "login", "setup", "static", "healthz"} {
		if !firsts[want] {
			t.Fatalf("no route starts with /%s/: %v", want, firsts)
		}
	}
	for seg := range firsts {
		bodies := []map[string]string{{"name": seg, "slug": seg}}
		if meta.Slugify(strings.ToUpper(seg)) == seg {
			bodies = append(bodies, map[string]string{"name": strings.ToUpper(seg)})
		}
		for _, body := range bodies {
			st, raw := f.Do("POST", "/api/0/organizations/", body, nil)
			if st != 400 || !strings.Contains(string(raw), "reserved") {
				t.Errorf("create %v: %d %s, want 400", body, st, raw)
			}
		}
		if st, raw := f.Do("PUT", "/api/0/organizations/acme/", map[string]string{"slug": seg}, nil); st != 400 {
			t.Errorf("rename acme to %s: %d %s, want 400", seg, st, raw)
		}
	}
	var orgs []struct{ Slug string }
	if st, raw := f.Do("GET", "/api/0/organizations/", nil, &orgs); st != 200 || len(orgs) != 1 || orgs[0].Slug != "acme" {
		t.Errorf("organizations: %d %s", st, raw)
	}
	if st, raw := f.Do("POST", "/api/0/organizations/", map[string]string{"name": "Login Team"}, nil); st != 201 {
		t.Errorf("a slug that only starts like a route: %d %s", st, raw)
	}
	// An organization that took a slug before it became reserved stays
	// reachable, and keeps its slug through other changes.
	u, _, ok := f.Server.Meta().Authenticate(testserver.AdminToken)
	if !ok {
		t.Fatal("the admin token")
	}
	if _, err := f.Server.Meta().CreateOrganization(t.Context(), "Setup", "setup", u.ID); err != nil {
		t.Fatal(err)
	}
	if st, raw := f.Do("GET", "/api/0/organizations/setup/", nil, nil); st != 200 {
		t.Errorf("an organization with a now reserved slug: %d %s", st, raw)
	}
	if st, raw := f.Do("PUT", "/api/0/organizations/setup/", map[string]string{"name": "Set up", "slug": "setup"}, nil); st != 200 {
		t.Errorf("renaming it, same slug: %d %s", st, raw)
	}
}
