package api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// projectSlugs lists the slugs of a project listing.
func projectSlugs(t *testing.T, raw []byte) []string {
	t.Helper()
	var ps []struct {
		Slug string `json:"slug"`
	}
	if err := json.Unmarshal(raw, &ps); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Slug)
	}
	slices.Sort(out)
	return out
}

// TestTeamScopedProjects: a member or an admin sees only the projects of
// their teams, and another team's project answers 404 on every route that
// reaches it (the project, its issues, an issue and an event by id,
// listings); an admin changes and creates projects only in their teams; a
// manager sees and changes all; open membership lets members join any
// team themselves, and then see every project, as in Sentry.
func TestTeamScopedProjects(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	admin := testserver.AdminToken
	pa := f.CreateProject("acme", "alpha", "go") // in team "team"
	if st, _, raw := call(t, f, "POST", "/api/0/organizations/acme/teams/", `{"name":"bravo","slug":"bravo"}`, admin); st != 201 {
		t.Fatalf("create team: %d %s", st, raw)
	}
	var created struct{ ID string }
	st, _, raw := call(t, f, "POST", "/api/0/teams/acme/bravo/projects/", `{"name":"beta","slug":"beta","platform":"go"}`, admin)
	if st != 201 || json.Unmarshal(raw, &created) != nil {
		t.Fatalf("create project: %d %s", st, raw)
	}
	var keys []struct{ Public string }
	if st, _, raw := call(t, f, "GET", "/api/0/projects/acme/beta/keys/", "", admin); st != 200 || json.Unmarshal(raw, &keys) != nil || len(keys) == 0 {
		t.Fatalf("keys: %d %s", st, raw)
	}
	pb := testserver.Project{Org: "acme", Slug: "beta", ID: created.ID, PublicKey: keys[0].Public}

	mem := addUser(t, f, 3001, "member@example.com")
	adm := addUser(t, f, 3002, "admin@example.com")
	mgr := addUser(t, f, 3003, "manager@example.com")
	memberIDs := map[string]string{}
	for _, b := range []struct{ email, role, teams string }{
		{"member@example.com", "member", `["team"]`},
		{"admin@example.com", "admin", `["team"]`},
		{"manager@example.com", "manager", `[]`},
	} {
		st, _, raw := call(t, f, "POST", "/api/0/organizations/acme/members/",
			fmt.Sprintf(`{"email":%q,"orgRole":%q,"teams":%s}`, b.email, b.role, b.teams), admin)
		if st != 201 {
			t.Fatalf("add %s: %d %s", b.email, st, raw)
		}
		memberIDs[b.role] = decodeMember(t, raw).ID
	}

	// One event, hence one issue, in each project.
	events := map[string]string{}
	issues := map[string]string{}
	for i, p := range []testserver.Project{pa, pb} {
		eid := fmt.Sprintf("%032x", 0xabc0+i)
		sendEvent(t, f, p, fmt.Sprintf(`{"event_id":%q,"message":"boom in %s","level":"error","platform":"go"}`, eid, p.Slug))
		var ev struct{ GroupID string }
		f.WaitEvent(t, p, eid, &ev)
		events[p.Slug], issues[p.Slug] = eid, ev.GroupID
		if ev.GroupID == "" {
			t.Fatalf("event of %s has no issue", p.Slug)
		}
	}

	cases := []struct {
		who, token, method, path, body string
		status                         int
	}{
		{"member", mem, "GET", "/api/0/projects/acme/alpha/", "", 200},
		{"member", mem, "GET", "/api/0/projects/acme/beta/", "", 404},
		{"member", mem, "GET", "/api/0/projects/acme/alpha/issues/", "", 200},
		{"member", mem, "GET", "/api/0/projects/acme/beta/issues/", "", 404},
		{"member", mem, "GET", "/api/0/issues/" + issues["alpha"] + "/", "", 200},
		{"member", mem, "GET", "/api/0/issues/" + issues["beta"] + "/", "", 404},
		{"member", mem, "GET", "/api/0/organizations/acme/issues/" + issues["beta"] + "/", "", 404},
		{"member", mem, "GET", "/api/0/issues/" + issues["beta"] + "/events/", "", 404},
		{"member", mem, "PUT", "/api/0/issues/" + issues["beta"] + "/", `{"status":"resolved"}`, 404},
		{"member", mem, "PUT", "/api/0/projects/acme/beta/issues/?id=" + issues["beta"], `{"status":"resolved"}`, 404},
		{"member", mem, "PUT", "/api/0/organizations/acme/issues/?id=" + issues["beta"], `{"status":"resolved"}`, 204},
		{"member", mem, "DELETE", "/api/0/organizations/acme/issues/?id=" + issues["beta"], "", 204},
		{"member", mem, "GET", "/api/0/organizations/acme/issues/?project=" + pb.ID, "", 404},
		{"member", mem, "GET", "/api/0/projects/acme/alpha/events/" + events["alpha"] + "/", "", 200},
		{"member", mem, "GET", "/api/0/projects/acme/beta/events/" + events["beta"] + "/", "", 404},
		{"member", mem, "GET", "/api/0/projects/acme/beta/events/" + events["beta"] + "/attachments/", "", 404},
		{"member", mem, "GET", "/api/0/projects/acme/beta/user-feedback/", "", 404},
		{"member", mem, "GET", "/api/0/projects/acme/beta/keys/", "", 404},
		{"admin", adm, "PUT", "/api/0/projects/acme/alpha/", `{"name":"Alpha by admin"}`, 200},
		{"admin", adm, "PUT", "/api/0/projects/acme/beta/", `{"name":"Beta by admin"}`, 404},
		{"admin", adm, "DELETE", "/api/0/projects/acme/beta/", "", 404},
		{"admin", adm, "GET", "/api/0/projects/acme/beta/", "", 404},
		{"admin", adm, "POST", "/api/0/teams/acme/bravo/projects/", `{"name":"gamma","slug":"gamma"}`, 403},
		{"admin", adm, "POST", "/api/0/teams/acme/team/projects/", `{"name":"delta","slug":"delta"}`, 201},
		{"manager", mgr, "GET", "/api/0/projects/acme/beta/", "", 200},
		{"manager", mgr, "GET", "/api/0/issues/" + issues["beta"] + "/", "", 200},
		{"manager", mgr, "PUT", "/api/0/projects/acme/beta/", `{"name":"Beta by manager"}`, 200},
		// Open membership is off: no joining, and a member may not turn it on.
		{"member", mem, "POST", "/api/0/organizations/acme/members/" + memberIDs["member"] + "/teams/bravo/", "", 403},
		{"member", mem, "POST", "/api/0/organizations/acme/members/me/teams/bravo/", "", 403},
		{"admin", adm, "PUT", "/api/0/organizations/acme/", `{"openMembership":true}`, 403},
	}
	for _, c := range cases {
		st, _, raw := call(t, f, c.method, c.path, c.body, c.token)
		if st != c.status {
			t.Errorf("%s %s %s: %d %s, want %d", c.who, c.method, c.path, st, raw, c.status)
		}
	}

	// The member's bulk calls skipped beta's issue; the organization's
	// list shows them alpha's only.
	if st, _, raw := call(t, f, "GET", "/api/0/issues/"+issues["beta"]+"/", "", admin); st != 200 || !strings.Contains(string(raw), `"status":"unresolved"`) {
		t.Errorf("beta's issue after the member's bulk calls: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "GET", "/api/0/organizations/acme/issues/", "", mem); st != 200 ||
		!strings.Contains(string(raw), `"id":"`+issues["alpha"]+`"`) || strings.Contains(string(raw), `"id":"`+issues["beta"]+`"`) {
		t.Errorf("the member's organization list: %d %s", st, raw)
	}

	// Listings show the member only their team's projects.
	for _, c := range []struct {
		who, token string
		want       []string
	}{
		{"member", mem, []string{"alpha", "delta"}},
		{"admin", adm, []string{"alpha", "delta"}},
		{"manager", mgr, []string{"alpha", "beta", "delta"}},
	} {
		for _, path := range []string{"/api/0/projects/", "/api/0/organizations/acme/projects/"} {
			st, _, raw := call(t, f, "GET", path, "", c.token)
			if got := projectSlugs(t, raw); st != 200 || !slices.Equal(got, c.want) {
				t.Errorf("%s lists %s: %d %v, want %v", c.who, path, st, got, c.want)
			}
		}
	}

	// The refusals changed nothing: beta keeps the manager's name and is
	// active, and the member is on one team.
	var proj struct{ Name, Status string }
	if st, _, raw := call(t, f, "GET", "/api/0/projects/acme/beta/", "", admin); st != 200 || json.Unmarshal(raw, &proj) != nil ||
		proj.Name != "Beta by manager" || proj.Status != "active" {
		t.Fatalf("beta after the refusals: %d %s", st, raw)
	}
	if _, _, raw := call(t, f, "GET", "/api/0/organizations/acme/members/me/", "", mem); !slices.Equal(decodeMember(t, raw).Teams, []string{"team"}) {
		t.Fatalf("member's teams after refusals: %s", raw)
	}

	// A manager turns open membership on; the organization says so.
	var org struct {
		OpenMembership bool `json:"openMembership"`
	}
	st, _, raw = call(t, f, "PUT", "/api/0/organizations/acme/", `{"openMembership":true}`, mgr)
	if st != 200 || json.Unmarshal(raw, &org) != nil || !org.OpenMembership {
		t.Fatalf("turn open membership on: %d %s", st, raw)
	}
	waitOrg(t, f, mem, func(open bool) bool { return open })

	// Now a member joins another team themself, but places no one else.
	if st, _, raw := call(t, f, "POST", "/api/0/organizations/acme/members/"+memberIDs["admin"]+"/teams/bravo/", "", mem); st != 403 {
		t.Errorf("member places the admin on a team: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "POST", "/api/0/organizations/acme/members/"+memberIDs["member"]+"/teams/bravo/", "", mem); st != 201 {
		t.Fatalf("member joins bravo: %d %s", st, raw)
	}
	if _, _, raw := call(t, f, "GET", "/api/0/organizations/acme/members/me/", "", mem); !slices.Equal(decodeMember(t, raw).Teams, []string{"team", "bravo"}) {
		t.Errorf("member's teams after joining: %s", raw)
	}
	if st, _, raw := call(t, f, "GET", "/api/0/issues/"+issues["beta"]+"/", "", mem); st != 200 {
		t.Errorf("member reads beta's issue with open membership: %d %s", st, raw)
	}
	// An admin now acts on every team, as in Sentry.
	if st, _, raw := call(t, f, "POST", "/api/0/teams/acme/bravo/projects/", `{"name":"gamma","slug":"gamma"}`, adm); st != 201 {
		t.Errorf("admin creates a project in another team with open membership: %d %s", st, raw)
	}
	// Leaving a team is always allowed.
	if st, _, raw := call(t, f, "DELETE", "/api/0/organizations/acme/members/me/teams/bravo/", "", mem); st != 200 {
		t.Errorf("member leaves bravo: %d %s", st, raw)
	}

	// Off again: the member, now on "team" only, no longer sees beta.
	if st, _, raw := call(t, f, "PUT", "/api/0/organizations/acme/", `{"openMembership":false}`, admin); st != 200 {
		t.Fatalf("turn open membership off: %d %s", st, raw)
	}
	waitOrg(t, f, mem, func(open bool) bool { return !open })
	if st, _, raw := call(t, f, "GET", "/api/0/projects/acme/beta/", "", mem); st != 404 {
		t.Errorf("member reads beta after open membership is off: %d %s", st, raw)
	}

	// Deletion jobs of another team's project are left out of the list.
	if st, _, raw := call(t, f, "DELETE", "/api/0/projects/acme/beta/", "", mgr); st != 204 {
		t.Fatalf("manager deletes beta: %d %s", st, raw)
	}
	for _, c := range []struct {
		who, token string
		jobs       int
	}{{"manager", mgr, 1}, {"member", mem, 0}} {
		var jobs []json.RawMessage
		st, _, raw := call(t, f, "GET", "/api/0/organizations/acme/deletions/", "", c.token)
		if st != 200 || json.Unmarshal(raw, &jobs) != nil || len(jobs) != c.jobs {
			t.Errorf("%s lists deletions: %d %s, want %d jobs", c.who, st, raw, c.jobs)
		}
	}
}

// waitOrg waits until acme's openMembership, as token reads it, satisfies
// cond (the setting reaches the in-memory cache through the KV watch).
func waitOrg(t *testing.T, f *testserver.Faultline, token string, cond func(bool) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var org struct {
			OpenMembership bool `json:"openMembership"`
		}
		st, _, raw := call(t, f, "GET", "/api/0/organizations/acme/", "", token)
		if st == 200 && json.Unmarshal(raw, &org) == nil && cond(org.OpenMembership) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("organization: %d %s", st, strings.TrimSpace(string(raw)))
		}
	}
}
