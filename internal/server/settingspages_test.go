package server_test

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// pageKey is a client key as the API lists it.
type pageKey struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Public   string `json:"public"`
	IsActive bool   `json:"isActive"`
}

func projectKeys(t *testing.T, f *testserver.Faultline, org, project string) []pageKey {
	t.Helper()
	var keys []pageKey
	if st, raw := f.Do("GET", "/api/0/projects/"+org+"/"+project+"/keys/", nil, &keys); st != 200 {
		t.Fatalf("keys: %d %s", st, raw)
	}
	return keys
}

// storeWith sends an event to project id with key and returns ingest's
// status.
func storeWith(t *testing.T, f *testserver.Faultline, projectID, key, message string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", f.URL+"/api/"+projectID+"/store/", strings.NewReader(`{"message":"`+message+`","level":"error"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_client=test/1.0, sentry_key="+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	return resp.StatusCode
}

// wantRedirect checks a form's answer: 303 to want (path and ?done=).
func wantRedirect(t *testing.T, what string, st int, raw []byte, h http.Header, want string) {
	t.Helper()
	if st != http.StatusSeeOther || h.Get("Location") != want {
		t.Fatalf("%s: %d %q %s, want a redirect to %s", what, st, h.Get("Location"), raw, want)
	}
}

// TestProjectPages drives the project pages of a real server as an owner:
// a project created by the form, its page with the real DSN in every
// snippet, the test event that becomes an issue, the settings saved
// through the API, keys created, rotated, disabled and deleted (with
// ingest accepting and refusing them), and the project's deletion and its
// cancellation.
func TestProjectPages(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "web", "go")
	newUser(t, f, "owner@example.com", "acme", authz.Owner, "team")
	newUser(t, f, "member@example.com", "acme", authz.Member, "team")
	b := sessionLogin(t, f, "owner@example.com")

	// Create a project with the form.
	st, raw, _ := b.do(t, "GET", "/organizations/acme/projects/", "")
	if st != 200 || !strings.Contains(string(raw), `<option value="team"`) {
		t.Fatalf("new project page: %d %s", st, raw)
	}
	st, raw, h := b.form(t, "/organizations/acme/projects/", url.Values{"name": {""}, "platform": {"python"}, "team": {"team"}})
	if st != 400 || !strings.Contains(string(raw), "Name the project.") {
		t.Errorf("a project without a name: %d %s", st, raw)
	}
	st, raw, h = b.form(t, "/organizations/acme/projects/", url.Values{"name": {"Shop"}, "platform": {"python"}, "team": {"team"}})
	wantRedirect(t, "create", st, raw, h, "/organizations/acme/projects/shop/?done=project-created")
	var proj struct {
		ID       string `json:"id"`
		Platform string `json:"platform"`
	}
	if st, raw := f.Do("GET", "/api/0/projects/acme/shop/", nil, &proj); st != 200 || proj.Platform != "python" {
		t.Fatalf("the created project: %d %s", st, raw)
	}
	keys := projectKeys(t, f, "acme", "shop")
	if len(keys) != 1 {
		t.Fatalf("keys of a new project: %+v", keys)
	}
	dsn := "http://" + keys[0].Public + "@" + strings.TrimPrefix(f.URL, "http://") + "/" + proj.ID

	// Its page: the DSN, the snippets with it, the curl command, the empty
	// state.
	st, raw, _ = b.do(t, "GET", "/organizations/acme/projects/shop/?done=project-created", "")
	page := string(raw)
	if st != 200 {
		t.Fatalf("project page: %d %s", st, raw)
	}
	for name, want := range map[string]string{
		"the DSN":             `<code id="dsn">` + dsn + `</code>`,
		"the copy button":     `data-copy="` + dsn + `"`,
		"the Python snippet":  `sentry_sdk.init(dsn=&#34;` + dsn + `&#34;)`,
		"open for Python":     `<details class="setup" id="setup-python" open>`,
		"the Go snippet":      `Dsn: &#34;` + dsn + `&#34;`,
		"the PHP snippet":     `\Sentry\init([&#39;dsn&#39; =&gt; &#39;` + dsn + `&#39;]);`,
		"the Java snippet":    `options.setDsn(&#34;` + dsn + `&#34;);`,
		"the Ruby snippet":    `config.dsn = &#39;` + dsn + `&#39;`,
		"the browser snippet": `@sentry/browser`,
		"the Node snippet":    `@sentry/node`,
		"the curl command":    `curl -X POST &#39;` + f.URL + `/api/` + proj.ID + `/store/&#39;`,
		"the empty state":     "No events yet",
		"the notice":          "The project was created.",
		"the test button":     `action="/organizations/acme/projects/shop/test-event/"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("project page: no %s (%s)", name, want)
		}
	}

	// The test event, without the form's token: refused, nothing sent.
	req := url.Values{}
	st, raw, _ = b.formNoCSRF(t, "/organizations/acme/projects/shop/test-event/", req)
	if st != 403 {
		t.Errorf("test event without the CSRF token: %d %s", st, raw)
	}
	st, raw, h = b.form(t, "/organizations/acme/projects/shop/test-event/", url.Values{})
	wantRedirect(t, "test event", st, raw, h, "/organizations/acme/projects/shop/?done=test-event")
	shop := testserver.Project{Org: "acme", Slug: "shop", ID: proj.ID}
	is := f.WaitIssues(shop, 30*time.Second, func(is []testserver.Issue) bool { return len(is) == 1 })
	if !strings.Contains(is[0].Title, "This is a test event") {
		t.Errorf("the test event's issue: %+v", is[0])
	}
	if st, raw, _ := b.do(t, "GET", "/organizations/acme/projects/shop/", ""); st != 200 || strings.Contains(string(raw), "No events yet") ||
		!strings.Contains(string(raw), "1 unresolved issue<") {
		t.Errorf("project page with an issue: %d %s", st, raw)
	}

	// Settings, one section at a time, read back through the API.
	settings := "/settings/acme/projects/shop/"
	for _, c := range []struct {
		form url.Values
		want string // a fragment of the API's project JSON
	}{
		{url.Values{"section": {"retention"}, "retentionDays": {"30"}}, `"retentionDays":30`},
		{url.Values{"section": {"limits"}, "perMinute.error": {"5"}, "perHour.error": {"100"}}, `"rateLimits":{"error":{"perMinute":5,"perHour":100}}`},
		{url.Values{"section": {"spike"}, "enabled": {"1"}, "multiplier": {"4"}, "floor": {"50"}}, `"enabled":true,"floor":50`},
		{url.Values{"section": {"origins"}, "allowedDomains": {"https://shop.example.com\n\nhttps://www.example.com"}}, `"allowedDomains":["https://shop.example.com","https://www.example.com"]`},
		{url.Values{"section": {"scrubbing"}, "dataScrubber": {"1"}, "scrubIPAddresses": {"1"}, "sensitiveFields": {"card_number"}}, `"sensitiveFields":["card_number"]`},
		{url.Values{"section": {"general"}, "name": {"Shop front"}, "platform": {"javascript"}}, `"name":"Shop front"`},
	} {
		st, raw, h := b.form(t, settings, c.form)
		wantRedirect(t, c.form.Get("section"), st, raw, h, settings+"?done=settings")
		_, raw = f.Do("GET", "/api/0/projects/acme/shop/", nil, nil)
		if !strings.Contains(string(raw), c.want) {
			t.Errorf("%s: the project has no %s: %s", c.form.Get("section"), c.want, raw)
		}
	}
	if st, raw, _ := b.form(t, settings, url.Values{"section": {"retention"}, "retentionDays": {"0"}}); st != 400 ||
		!strings.Contains(string(raw), "retentionDays: must be between 1 and 3650") {
		t.Errorf("a retention the API refuses: %d %s", st, raw)
	}
	st, raw, _ = b.do(t, "GET", settings, "")
	if st != 200 || !strings.Contains(string(raw), `name="perMinute.error" value="5"`) || !strings.Contains(string(raw), "Spike protection caps nothing now.") {
		t.Errorf("settings page: %d %s", st, raw)
	}
	// A member may read the settings, not change them: the 403 page, and
	// nothing changed.
	m := sessionLogin(t, f, "member@example.com")
	if st, raw, _ := m.form(t, settings, url.Values{"section": {"retention"}, "retentionDays": {"7"}}); st != 403 {
		t.Errorf("a member's settings form: %d %s", st, raw)
	}
	if _, raw := f.Do("GET", "/api/0/projects/acme/shop/", nil, nil); !strings.Contains(string(raw), `"retentionDays":30`) {
		t.Errorf("the member changed the retention: %s", raw)
	}

	// Keys: a new key works for ingest at once.
	st, raw, h = b.form(t, settings+"keys/", url.Values{"action": {"create"}, "name": {"backend"}})
	wantRedirect(t, "create a key", st, raw, h, settings+"?done=key-created")
	keys = projectKeys(t, f, "acme", "shop")
	if len(keys) != 2 || keys[1].Name != "backend" {
		t.Fatalf("keys after create: %+v", keys)
	}
	backend := keys[1]
	if st := storeWith(t, f, proj.ID, backend.Public, "new key"); st != 200 {
		t.Errorf("an event with the new key: %d", st)
	}
	// Rotating: a new key, the old one disabled and refused by ingest.
	st, raw, h = b.form(t, settings+"keys/", url.Values{"action": {"rotate"}, "key": {backend.ID}})
	wantRedirect(t, "rotate", st, raw, h, settings+"?done=key-rotated")
	keys = projectKeys(t, f, "acme", "shop")
	if len(keys) != 3 || keys[1].IsActive || !keys[2].IsActive || keys[2].Name != "backend" {
		t.Fatalf("keys after rotate: %+v", keys)
	}
	if st := storeWith(t, f, proj.ID, backend.Public, "old key"); st != 401 && st != 403 {
		t.Errorf("an event with the rotated key: %d, want a refusal", st)
	}
	if st := storeWith(t, f, proj.ID, keys[2].Public, "rotated key"); st != 200 {
		t.Errorf("an event with the rotated key's successor: %d", st)
	}
	// Enable, disable, delete.
	st, raw, h = b.form(t, settings+"keys/", url.Values{"action": {"enable"}, "key": {backend.ID}})
	wantRedirect(t, "enable", st, raw, h, settings+"?done=key-enabled")
	if st := storeWith(t, f, proj.ID, backend.Public, "enabled again"); st != 200 {
		t.Errorf("an event with the enabled key: %d", st)
	}
	st, raw, h = b.form(t, settings+"keys/", url.Values{"action": {"delete"}, "key": {backend.ID}})
	wantRedirect(t, "delete", st, raw, h, settings+"?done=key-deleted")
	if keys = projectKeys(t, f, "acme", "shop"); len(keys) != 2 {
		t.Errorf("keys after delete: %+v", keys)
	}
	if st := storeWith(t, f, proj.ID, backend.Public, "deleted key"); st != 401 && st != 403 {
		t.Errorf("an event with the deleted key: %d, want a refusal", st)
	}
	if st, raw, _ := b.form(t, settings+"keys/", url.Values{"action": {"delete"}, "key": {"nosuchkey"}}); st != 404 {
		t.Errorf("deleting an unknown key: %d %s", st, raw)
	}

	// Deletion: the slug confirms it; then it is pending, and cancelled.
	if st, raw, _ := b.form(t, settings+"delete/", url.Values{"action": {"delete"}, "confirm": {"shop2"}}); st != 400 {
		t.Errorf("deletion with a wrong confirmation: %d %s", st, raw)
	}
	st, raw, h = b.form(t, settings+"delete/", url.Values{"action": {"delete"}, "confirm": {"shop"}})
	wantRedirect(t, "delete the project", st, raw, h, settings+"?done=deletion")
	var status struct{ Status string }
	if f.Do("GET", "/api/0/projects/acme/shop/", nil, &status); status.Status != "pending_deletion" {
		t.Errorf("after deletion: status %q", status.Status)
	}
	if st := storeWith(t, f, proj.ID, keys[0].Public, "pending"); st == 200 {
		t.Error("ingest accepted an event of a project pending deletion")
	}
	if st, raw, _ := b.do(t, "GET", "/organizations/acme/projects/shop/", ""); st != 200 || !strings.Contains(string(raw), "This project is being deleted") {
		t.Errorf("the page of a project pending deletion: %d %s", st, raw)
	}
	if st, raw, _ := b.do(t, "GET", settings+"?done=deletion", ""); st != 200 || !strings.Contains(string(raw), "Cancel the deletion") {
		t.Errorf("settings of a project pending deletion: %d %s", st, raw)
	}
	st, raw, h = b.form(t, settings+"delete/", url.Values{"action": {"cancel"}})
	wantRedirect(t, "cancel", st, raw, h, settings+"?done=cancelled")
	if f.Do("GET", "/api/0/projects/acme/shop/", nil, &status); status.Status != "active" {
		t.Errorf("after cancelling: status %q", status.Status)
	}
	if st := storeWith(t, f, proj.ID, keys[0].Public, "restored"); st != 200 {
		t.Errorf("an event after the cancelled deletion: %d", st)
	}

	// Usage: the accepted events of shop, from the outcomes, once the
	// workers recorded them.
	re := regexp.MustCompile(`<a href="/organizations/acme/projects/shop/">shop</a></th><td class="num">(\d+)</td>`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, raw, _ := b.do(t, "GET", "/organizations/acme/stats/", "")
		if st != 200 {
			t.Fatalf("usage page: %d %s", st, raw)
		}
		if mm := re.FindSubmatch(raw); mm != nil && string(mm[1]) != "0" {
			if !strings.Contains(string(raw), `<rect class="o-accepted"`) {
				t.Errorf("usage page: no accepted bar in the chart")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage page: shop's accepted events never showed:\n%s", raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// How long the pages take, server side, queries included: figures for
	// the log, not assertions.
	for _, p := range []string{"/organizations/acme/projects/shop/", settings, "/settings/acme/members/", "/settings/acme/teams/", "/organizations/acme/stats/"} {
		var took []time.Duration
		for range 10 {
			start := time.Now()
			if st, _, _ := b.do(t, "GET", p, ""); st != 200 {
				t.Fatalf("%s: %d", p, st)
			}
			took = append(took, time.Since(start))
		}
		slices.Sort(took)
		t.Logf("%s: median %s, max %s over %d requests", p, took[len(took)/2], took[len(took)-1], len(took))
	}
}

// formNoCSRF posts a form in the session without its CSRF token.
func (b *apiSession) formNoCSRF(t *testing.T, path string, v url.Values) (int, []byte, http.Header) {
	t.Helper()
	saved := b.csrf
	b.csrf = ""
	defer func() { b.csrf = saved }()
	return b.form(t, path, v)
}

// TestOrgSettingsPages drives the organization settings as an owner:
// invitations with their links, roles and the last-owner lock, teams and
// their members and projects, organization and API tokens shown once,
// working, and refused once revoked.
func TestOrgSettingsPages(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "web", "go")
	newUser(t, f, "owner@example.com", "acme", authz.Owner, "team")
	newUser(t, f, "dev@example.com", "acme", authz.Member)
	b := sessionLogin(t, f, "owner@example.com")
	type member struct {
		ID      string   `json:"id"`
		Email   string   `json:"email"`
		OrgRole string   `json:"orgRole"`
		Teams   []string `json:"teams"`
	}
	members := func() map[string]member {
		var ms []member
		if st, raw := f.Do("GET", "/api/0/organizations/acme/members/", nil, &ms); st != 200 {
			t.Fatalf("members: %d %s", st, raw)
		}
		out := map[string]member{}
		for _, m := range ms {
			out[m.Email] = m
		}
		return out
	}
	const membersPath = "/settings/acme/members/"

	// An invitation: its link is shown to the inviter (no SMTP here).
	st, raw, _ := b.form(t, membersPath, url.Values{"action": {"invite"}, "email": {"new@example.com"}, "role": {"member"}, "team": {"team"}})
	link := regexp.MustCompile(`<code id="invite-link">(http://[^<]+/accept/\d+/[0-9a-f]+/)</code>`).FindSubmatch(raw)
	if st != 200 || link == nil {
		t.Fatalf("invite: %d %s", st, raw)
	}
	if resp, err := http.Get(string(link[1])); err != nil || resp.StatusCode != 200 {
		t.Errorf("the invitation link: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if m := members()["new@example.com"]; m.OrgRole != "member" || len(m.Teams) != 1 {
		t.Errorf("the invited member: %+v", m)
	}
	// Roles: change one; the last owner keeps the role, with its message.
	ms := members()
	st, raw, h := b.form(t, membersPath, url.Values{"action": {"role"}, "member": {ms["dev@example.com"].ID}, "role": {"admin"}})
	wantRedirect(t, "role", st, raw, h, membersPath+"?done=role")
	if m := members()["dev@example.com"]; m.OrgRole != "admin" {
		t.Errorf("dev's role: %+v", m)
	}
	for email, m := range ms {
		if m.OrgRole == authz.Owner && email != "owner@example.com" {
			st, raw, h := b.form(t, membersPath, url.Values{"action": {"remove"}, "member": {m.ID}})
			wantRedirect(t, "remove "+email, st, raw, h, membersPath+"?done=removed")
		}
	}
	st, raw, _ = b.form(t, membersPath, url.Values{"action": {"role"}, "member": {ms["owner@example.com"].ID}, "role": {"member"}})
	if st != 400 || !strings.Contains(string(raw), "An organization must keep at least one owner") {
		t.Errorf("demoting the last owner: %d %s", st, raw)
	}
	if m := members()["owner@example.com"]; m.OrgRole != authz.Owner {
		t.Errorf("the last owner: %+v", m)
	}
	if st, raw, _ := b.do(t, "GET", membersPath, ""); st != 200 || !strings.Contains(string(raw), "new@example.com") ||
		!strings.Contains(string(raw), `<span class="badge off">invited</span>`) {
		t.Errorf("members page: %d %s", st, raw)
	}

	// Teams: create one, put a member and a project on it, take it off.
	const teamsPath = "/settings/acme/teams/"
	st, raw, h = b.form(t, teamsPath, url.Values{"action": {"create"}, "name": {"ops"}})
	wantRedirect(t, "create a team", st, raw, h, teamsPath+"?done=team-created")
	st, raw, h = b.form(t, teamsPath, url.Values{"action": {"add-member"}, "team": {"ops"}, "member": {ms["dev@example.com"].ID}})
	wantRedirect(t, "add a member", st, raw, h, teamsPath+"?done=team-changed")
	if m := members()["dev@example.com"]; len(m.Teams) != 1 || m.Teams[0] != "ops" {
		t.Errorf("dev's teams: %+v", m)
	}
	st, raw, h = b.form(t, teamsPath, url.Values{"action": {"add-project"}, "team": {"ops"}, "project": {"web"}})
	wantRedirect(t, "add a project", st, raw, h, teamsPath+"?done=team-changed")
	projectTeams := func() string {
		var p struct {
			Teams []struct{ Slug string } `json:"teams"`
		}
		f.Do("GET", "/api/0/projects/acme/web/", nil, &p)
		var s []string
		for _, t := range p.Teams {
			s = append(s, t.Slug)
		}
		return strings.Join(s, ",")
	}
	if got := projectTeams(); got != "team,ops" {
		t.Errorf("web's teams: %q", got)
	}
	if st, raw, _ := b.do(t, "GET", teamsPath, ""); st != 200 || !regexp.MustCompile(`(?s)id="team-ops".*dev@example.com.*<li>web `).Match(raw) {
		t.Errorf("teams page: %d %s", st, raw)
	}
	st, raw, h = b.form(t, teamsPath, url.Values{"action": {"remove-project"}, "team": {"ops"}, "project": {"web"}})
	wantRedirect(t, "remove a project", st, raw, h, teamsPath+"?done=team-changed")
	if got := projectTeams(); got != "team" {
		t.Errorf("web's teams after removal: %q", got)
	}
	st, raw, h = b.form(t, teamsPath, url.Values{"action": {"remove-member"}, "team": {"ops"}, "member": {ms["dev@example.com"].ID}})
	wantRedirect(t, "remove a member", st, raw, h, teamsPath+"?done=team-changed")
	if m := members()["dev@example.com"]; len(m.Teams) != 0 {
		t.Errorf("dev's teams after removal: %+v", m)
	}

	// Tokens, organization's and the owner's own: shown once, working,
	// refused once revoked.
	bearer := func(token, path string) int {
		req, _ := http.NewRequest("GET", f.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, prefix string
		form         url.Values
	}{
		{"/settings/acme/auth-tokens/", "sntrys_", url.Values{"action": {"create"}, "name": {"ci"}}},
		{"/settings/account/api/auth-tokens/", "sntryu_", url.Values{"action": {"create"}, "name": {"script"}, "scope": {"org:read", "project:read"}}},
	} {
		st, raw, _ := b.form(t, c.path, c.form)
		tok := regexp.MustCompile(`<code id="new-token">(` + c.prefix + `[^<]+)</code>`).FindSubmatch(raw)
		if st != 201 || tok == nil {
			t.Fatalf("%s: create: %d %s", c.path, st, raw)
		}
		shown := string(tok[1])
		tok[1] = []byte(html.UnescapeString(shown)) // html/template writes + as &#43;
		if st := bearer(string(tok[1]), "/api/0/organizations/acme/projects/"); st != 200 {
			t.Errorf("%s: the new token: %d", c.path, st)
		}
		st, raw, _ = b.do(t, "GET", c.path, "")
		if strings.Contains(string(raw), shown) || strings.Contains(string(raw), string(tok[1])) {
			t.Errorf("%s: the token is shown again", c.path)
		}
		id := regexp.MustCompile(`<input type="hidden" name="token" value="(\d+)">`).FindSubmatch(raw)
		if st != 200 || id == nil {
			t.Fatalf("%s: list: %d %s", c.path, st, raw)
		}
		st, raw, h := b.form(t, c.path, url.Values{"action": {"revoke"}, "token": {string(id[1])}})
		wantRedirect(t, c.path+" revoke", st, raw, h, c.path+"?done=revoked")
		if st := bearer(string(tok[1]), "/api/0/organizations/acme/projects/"); st != 401 {
			t.Errorf("%s: the revoked token: %d, want 401", c.path, st)
		}
	}
}

// TestSettingsPagesTenancy checks the pages' own refusals beyond the
// matrices: a member of another organization sees the 404 page for a
// project named in the path, and an unknown project is the 404 page.
func TestSettingsPagesTenancy(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "web", "go")
	f.CreateProject("other", "api", "go")
	newUser(t, f, "o@example.com", "other", authz.Owner, "team")
	b := sessionLogin(t, f, "o@example.com")
	for _, p := range []string{"/organizations/acme/projects/web/", "/settings/acme/projects/web/", "/organizations/other/projects/nosuch/",
		"/settings/other/projects/nosuch/", "/settings/acme/members/", "/organizations/acme/stats/"} {
		if st, raw, _ := b.do(t, "GET", p, ""); st != 404 || !strings.Contains(string(raw), "Page not found") {
			t.Errorf("GET %s: %d, want the 404 page", p, st)
		}
	}
	var keys []pageKey
	f.Do("GET", "/api/0/projects/acme/web/keys/", nil, &keys)
	if st, _, _ := b.form(t, "/settings/acme/projects/web/keys/", url.Values{"action": {"delete"}, "key": {keys[0].ID}}); st != 404 {
		t.Errorf("deleting another organization's key: %d", st)
	}
	if len(projectKeys(t, f, "acme", "web")) != 1 {
		t.Error("another organization's owner deleted a key")
	}
}

// TestSettingsPagesRoles is the role matrix of the settings forms: for
// each form, a member and an admin (both on the project's team) get the
// 403 page where their role may not make the change, and nothing stored
// changes; every page reads for both.
func TestSettingsPagesRoles(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "web", "go")
	newUser(t, f, "member@example.com", "acme", authz.Member, "team")
	newUser(t, f, "admin@example.com", "acme", authz.Admin, "team")
	users := map[string]*apiSession{
		authz.Member: sessionLogin(t, f, "member@example.com"),
		authz.Admin:  sessionLogin(t, f, "admin@example.com"),
	}
	var ms []struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	}
	f.Do("GET", "/api/0/organizations/acme/members/", nil, &ms)
	memberID := ""
	for _, m := range ms {
		if m.Email == "member@example.com" {
			memberID = m.ID
		}
	}
	keys := projectKeys(t, f, "acme", "web")
	snapshot := func() string {
		var b strings.Builder
		for _, p := range []string{"/api/0/projects/acme/web/", "/api/0/projects/acme/web/keys/", "/api/0/organizations/acme/members/",
			"/api/0/organizations/acme/teams/", "/api/0/organizations/acme/projects/", "/api/0/organizations/acme/org-auth-tokens/"} {
			_, raw := f.Do("GET", p, nil, nil)
			b.Write(raw)
			b.WriteByte('\n')
		}
		return b.String()
	}
	before := snapshot()
	refused := 0
	for _, c := range []struct {
		path    string
		form    url.Values
		minRole string
	}{
		{"/organizations/acme/projects/", url.Values{"name": {"new"}, "platform": {"go"}, "team": {"team"}}, authz.Admin},
		{"/settings/acme/projects/web/", url.Values{"section": {"retention"}, "retentionDays": {"7"}}, authz.Admin},
		{"/settings/acme/projects/web/keys/", url.Values{"action": {"create"}, "name": {"x"}}, authz.Admin},
		{"/settings/acme/projects/web/keys/", url.Values{"action": {"disable"}, "key": {keys[0].ID}}, authz.Admin},
		{"/settings/acme/projects/web/delete/", url.Values{"action": {"delete"}, "confirm": {"web"}}, authz.Admin},
		{"/settings/acme/members/", url.Values{"action": {"invite"}, "email": {"x@example.com"}, "role": {"member"}}, authz.Manager},
		{"/settings/acme/members/", url.Values{"action": {"role"}, "member": {memberID}, "role": {"admin"}}, authz.Manager},
		{"/settings/acme/members/", url.Values{"action": {"remove"}, "member": {memberID}}, authz.Manager},
		{"/settings/acme/teams/", url.Values{"action": {"create"}, "name": {"ops"}}, authz.Admin},
		{"/settings/acme/teams/", url.Values{"action": {"add-member"}, "team": {"team"}, "member": {memberID}}, authz.Manager},
		{"/settings/acme/auth-tokens/", url.Values{"action": {"create"}, "name": {"ci"}}, authz.Manager},
	} {
		for role, b := range users {
			if authz.AtLeast(role, c.minRole) {
				continue
			}
			refused++
			st, raw, _ := b.form(t, c.path, c.form)
			if st != 403 || !strings.Contains(string(raw), "permission") {
				t.Errorf("%s as %s (%v): %d, want 403 with the reason\n%s", c.path, role, c.form, st, raw)
			}
		}
	}
	if refused < 15 {
		t.Errorf("only %d refusals checked", refused)
	}
	if after := snapshot(); after != before {
		t.Errorf("refused forms changed what is stored:\n--- before\n%s\n--- after\n%s", before, after)
	}
	for _, p := range []string{"/organizations/acme/projects/web/", "/settings/acme/projects/web/", "/settings/acme/members/",
		"/settings/acme/teams/", "/settings/acme/auth-tokens/", "/settings/account/api/auth-tokens/", "/organizations/acme/stats/"} {
		for role, b := range users {
			if st, raw, _ := b.do(t, "GET", p, ""); st != 200 {
				t.Errorf("GET %s as %s: %d %s", p, role, st, raw)
			}
		}
	}
}
