package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestDeleteKey: DELETE /api/0/projects/{org}/{project}/keys/{key}/ answers
// 204, the key is gone from the list and ingest refuses it; a member may
// not delete one, and another project's key is a 404.
func TestDeleteKey(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	admin := testserver.AdminToken
	p := f.CreateProject("acme", "web", "go")
	f.CreateProject("acme", "api", "go")
	mem := addUser(t, f, 4001, "member@example.com")
	if st, _, raw := call(t, f, "POST", "/api/0/organizations/acme/members/", `{"email":"member@example.com","orgRole":"member","teams":["team"]}`, admin); st != 201 {
		t.Fatalf("add member: %d %s", st, raw)
	}
	sendEvent(t, f, p, `{"message":"before","level":"error"}`)
	key := "/api/0/projects/acme/web/keys/" + p.PublicKey + "/"
	for _, c := range []struct {
		who, token, path string
		status           int
	}{
		{"a member", mem, key, 403},
		{"the admin, through another project", admin, "/api/0/projects/acme/api/keys/" + p.PublicKey + "/", 404},
		{"the admin, an unknown key", admin, "/api/0/projects/acme/web/keys/nosuchkey/", 404},
	} {
		if st, _, raw := call(t, f, "DELETE", c.path, "", c.token); st != c.status {
			t.Errorf("%s: %d %s, want %d", c.who, st, raw, c.status)
		}
	}
	if st, _, raw := call(t, f, "GET", key, "", admin); st != 200 {
		t.Fatalf("the key after refused deletions: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "DELETE", key, "", admin); st != 204 || len(raw) != 0 {
		t.Fatalf("delete: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "GET", key, "", admin); st != 404 {
		t.Errorf("the deleted key: %d %s", st, raw)
	}
	var keys []struct{ Public string }
	if st, _, raw := call(t, f, "GET", "/api/0/projects/acme/web/keys/", "", admin); st != 200 || json.Unmarshal(raw, &keys) != nil || len(keys) != 0 {
		t.Errorf("keys after delete: %d %s", st, raw)
	}
	if st := sendStatus(t, f, p, `{"message":"after","level":"error"}`); st != 401 && st != 403 {
		t.Errorf("ingest with the deleted key: %d, want a refusal", st)
	}
}

// TestProjectTeams: POST and DELETE /api/0/projects/{org}/{project}/teams/{team}/
// give a team's members access to a project and take it away; an admin
// acts only on their own teams.
func TestProjectTeams(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	admin := testserver.AdminToken
	f.CreateProject("acme", "web", "go")
	if st, _, raw := call(t, f, "POST", "/api/0/organizations/acme/teams/", `{"name":"ops","slug":"ops"}`, admin); st != 201 {
		t.Fatalf("team: %d %s", st, raw)
	}
	opsMember := addUser(t, f, 4101, "ops@example.com")
	teamAdmin := addUser(t, f, 4102, "teamadmin@example.com")
	for _, b := range []struct{ email, role, team string }{{"ops@example.com", "member", "ops"}, {"teamadmin@example.com", "admin", "team"}} {
		if st, _, raw := call(t, f, "POST", "/api/0/organizations/acme/members/",
			fmt.Sprintf(`{"email":%q,"orgRole":%q,"teams":[%q]}`, b.email, b.role, b.team), admin); st != 201 {
			t.Fatalf("add %s: %d %s", b.email, st, raw)
		}
	}
	project := "/api/0/projects/acme/web/"
	if st, _, _ := call(t, f, "GET", project, "", opsMember); st != 404 {
		t.Fatalf("ops member before: %d, want 404", st)
	}
	// The admin is on "team", not on "ops": they may not hand the project
	// to ops.
	if st, _, raw := call(t, f, "POST", project+"teams/ops/", "", teamAdmin); st != 403 {
		t.Errorf("an admin giving the project to a team they are not on: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "POST", project+"teams/nosuch/", "", admin); st != 404 {
		t.Errorf("an unknown team: %d %s", st, raw)
	}
	var p struct {
		Teams []struct{ Slug string } `json:"teams"`
	}
	st, _, raw := call(t, f, "POST", project+"teams/ops/", "", admin)
	if st != 201 || json.Unmarshal(raw, &p) != nil || len(p.Teams) != 2 || p.Teams[1].Slug != "ops" {
		t.Fatalf("add ops: %d %s", st, raw)
	}
	if st, _, _ := call(t, f, "POST", project+"teams/ops/", "", admin); st != 201 {
		t.Errorf("adding ops again: %d", st)
	}
	if st, _, raw := call(t, f, "GET", project, "", opsMember); st != 200 {
		t.Errorf("ops member after: %d %s", st, raw)
	}
	st, _, raw = call(t, f, "DELETE", project+"teams/ops/", "", admin)
	if st != 200 || json.Unmarshal(raw, &p) != nil || len(p.Teams) != 1 {
		t.Fatalf("remove ops: %d %s", st, raw)
	}
	if st, _, _ := call(t, f, "GET", project, "", opsMember); st != 404 {
		t.Errorf("ops member after removal: %d, want 404", st)
	}
}

// sendStatus sends an event with the project's key and returns ingest's
// status.
func sendStatus(t *testing.T, f *testserver.Faultline, p testserver.Project, body string) int {
	t.Helper()
	resp, err := http.Post(f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey+"&sentry_version=7", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
