package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// addUser writes a user and an API token for it straight into the metadata
// bucket (user tokens have no route yet), and waits until the server
// authenticates it.
func addUser(t *testing.T, f *testserver.Faultline, id uint64, email string) string {
	t.Helper()
	ctx := context.Background()
	kv, err := f.Server.Queue().JetStream().KeyValue(ctx, "faultline-meta")
	if err != nil {
		t.Fatal(err)
	}
	token := fmt.Sprintf("test-user-token-%d-0123456789abcdef", id)
	u, _ := json.Marshal(meta.User{ID: id, Email: email, Name: "User " + email, DateCreated: time.Now().UTC()})
	tok, _ := json.Marshal(meta.Token{Hash: meta.HashToken(token), UserID: id, Name: "test", Scopes: []string{"*"}, DateCreated: time.Now().UTC()})
	if _, err := kv.Put(ctx, fmt.Sprintf("users.%d", id), u); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "tokens."+meta.HashToken(token), tok); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, _, ok := f.Server.Meta().Authenticate(token); ok {
			return token
		}
		if time.Now().After(deadline) {
			t.Fatal("token not seen by the server")
		}
	}
}

type memberJSON struct {
	ID         string   `json:"id"`
	Email      string   `json:"email"`
	OrgRole    string   `json:"orgRole"`
	Role       string   `json:"role"`
	Pending    bool     `json:"pending"`
	Teams      []string `json:"teams"`
	InviteLink string   `json:"inviteLink"`
	User       *struct {
		Email string `json:"email"`
	} `json:"user"`
}

func decodeMember(t *testing.T, raw []byte) memberJSON {
	t.Helper()
	var m memberJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return m
}

// TestMembers checks each rule of the members API against a real server:
// who may list and change members, the roles only owners may give, the
// last owner, invitations of unknown e-mails and team membership.
func TestMembers(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "web", "go") // the admin creates acme: its owner
	f.CreateProject("other", "api", "go")
	admin := testserver.AdminToken
	mgr := addUser(t, f, 1001, "mgr@example.com")
	mem := addUser(t, f, 1002, "mem@example.com")
	out := addUser(t, f, 1003, "out@example.com")
	base := "/api/0/organizations/acme/members/"

	// The creator is the only member, an owner.
	st, _, raw := call(t, f, "GET", base, "", admin)
	var list []memberJSON
	if st != 200 || json.Unmarshal(raw, &list) != nil || len(list) != 1 || list[0].OrgRole != "owner" || list[0].User == nil || list[0].User.Email != "admin@localhost" {
		t.Fatalf("initial members: %d %s", st, raw)
	}
	ownerID := list[0].ID

	// Existing users join at once, with their teams.
	st, _, raw = call(t, f, "POST", base, `{"email":"MGR@example.com","orgRole":"manager","teams":["team"]}`, admin)
	m := decodeMember(t, raw)
	if st != 201 || m.Pending || m.OrgRole != "manager" || m.Role != "manager" || m.Email != "mgr@example.com" || len(m.Teams) != 1 || m.Teams[0] != "team" || m.InviteLink != "" {
		t.Fatalf("add manager: %d %s", st, raw)
	}
	mgrID := m.ID
	st, _, raw = call(t, f, "POST", base, `{"email":"mem@example.com","role":"member"}`, mgr)
	m = decodeMember(t, raw)
	if st != 201 || m.Pending || m.OrgRole != "member" {
		t.Fatalf("manager adds a member: %d %s", st, raw)
	}
	memID := m.ID

	// An unknown e-mail is pending, with a link whose token is stored
	// only as a hash.
	st, _, raw = call(t, f, "POST", base, `{"email":"new@example.com"}`, admin)
	m = decodeMember(t, raw)
	link := regexp.MustCompile(`^` + regexp.QuoteMeta(f.URL) + `/accept/` + m.ID + `/([0-9a-f]{64})/$`).FindStringSubmatch(m.InviteLink)
	if st != 201 || !m.Pending || m.OrgRole != "member" || m.User != nil || link == nil {
		t.Fatalf("invite: %d %s", st, raw)
	}
	pendingID := m.ID
	sum := sha256.Sum256([]byte(link[1]))
	kv, _ := f.Server.Queue().JetStream().KeyValue(context.Background(), "faultline-meta")
	keys, _ := kv.Keys(context.Background())
	var stored string
	for _, k := range keys {
		if strings.HasPrefix(k, "members.") {
			e, _ := kv.Get(context.Background(), k)
			stored += string(e.Value())
		}
	}
	if strings.Contains(stored, link[1]) || !strings.Contains(stored, hex.EncodeToString(sum[:])) {
		t.Errorf("stored memberships hold the token, or not its hash: %s", stored)
	}

	cases := []struct {
		name, method, path, body, token string
		status                          int
		detail                          string
	}{
		{"duplicate", "POST", base, `{"email":"mgr@example.com"}`, admin, 409, "already a member"},
		{"duplicate pending", "POST", base, `{"email":"new@example.com"}`, admin, 409, ""},
		{"bad e-mail", "POST", base, `{"email":"nope"}`, admin, 400, "e-mail"},
		{"bad role", "POST", base, `{"email":"x@example.com","orgRole":"billing"}`, admin, 400, "role"},
		{"unknown team", "POST", base, `{"email":"x@example.com","teams":["nosuch"]}`, admin, 400, "nosuch"},
		{"malformed", "POST", base, `{"email":`, admin, 400, ""},
		{"outsider lists", "GET", base, "", out, 404, ""},
		{"outsider gets", "GET", base + memID + "/", "", out, 404, ""},
		{"outsider changes", "PUT", base + memID + "/", `{"orgRole":"owner"}`, out, 404, ""},
		{"member adds", "POST", base, `{"email":"y@example.com"}`, mem, 403, ""},
		{"member promotes", "PUT", base + memID + "/", `{"orgRole":"manager"}`, mem, 403, ""},
		{"member removes", "DELETE", base + mgrID + "/", "", mem, 403, ""},
		{"member joins a team", "POST", base + memID + "/teams/team/", "", mem, 403, ""},
		{"manager adds an owner", "POST", base, `{"email":"z@example.com","orgRole":"owner"}`, mgr, 403, "owner"},
		{"manager promotes to owner", "PUT", base + memID + "/", `{"orgRole":"owner"}`, mgr, 403, "owner"},
		{"manager demotes the owner", "PUT", base + ownerID + "/", `{"orgRole":"member"}`, mgr, 403, "owner"},
		{"manager removes the owner", "DELETE", base + ownerID + "/", "", mgr, 403, "owner"},
		{"demote the last owner", "PUT", base + ownerID + "/", `{"orgRole":"manager"}`, admin, 400, "at least one owner"},
		{"remove the last owner", "DELETE", base + ownerID + "/", "", admin, 400, "at least one owner"},
		{"unknown member", "GET", base + "987654/", "", admin, 404, ""},
		{"member of another org", "GET", "/api/0/organizations/other/members/" + memID + "/", "", admin, 404, ""},
		{"not a number", "DELETE", base + "abc/", "", admin, 404, ""},
		{"unknown team", "POST", base + memID + "/teams/nosuch/", "", admin, 404, ""},
		{"bad role on change", "PUT", base + memID + "/", `{"orgRole":"root"}`, admin, 400, "role"},
	}
	for _, c := range cases {
		st, _, raw := call(t, f, c.method, c.path, c.body, c.token)
		var e struct{ Detail string }
		json.Unmarshal(raw, &e) //nolint:errcheck
		if st != c.status || !strings.Contains(e.Detail, c.detail) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, st, raw, c.status, c.detail)
		}
	}
	// Nothing above changed the members.
	st, _, raw = call(t, f, "GET", base, "", mem)
	if st != 200 || json.Unmarshal(raw, &list) != nil || len(list) != 4 {
		t.Fatalf("members after refusals: %d %s", st, raw)
	}
	for _, l := range list {
		want := map[string]string{ownerID: "owner", mgrID: "manager", memID: "member", pendingID: "member"}[l.ID]
		if l.OrgRole != want {
			t.Errorf("member %s (%s) is %s, want %s", l.ID, l.Email, l.OrgRole, want)
		}
	}

	// A manager changes roles below owner, and places members on teams.
	st, _, raw = call(t, f, "PUT", base+memID+"/", `{"orgRole":"admin"}`, mgr)
	if m := decodeMember(t, raw); st != 200 || m.OrgRole != "admin" {
		t.Errorf("manager makes an admin: %d %s", st, raw)
	}
	for _, step := range []struct {
		method string
		status int
		teams  int
	}{{"POST", 201, 1}, {"POST", 204, 1}, {"DELETE", 200, 0}} {
		st, _, raw := call(t, f, step.method, base+memID+"/teams/team/", "", mgr)
		if st != step.status {
			t.Errorf("%s team: %d %s, want %d", step.method, st, raw, step.status)
		}
		_, _, raw = call(t, f, "GET", base+memID+"/", "", mem)
		if m := decodeMember(t, raw); len(m.Teams) != step.teams {
			t.Errorf("after %s team: teams %v", step.method, m.Teams)
		}
	}
	st, _, raw = call(t, f, "DELETE", base+pendingID+"/", "", mgr)
	if st != 204 {
		t.Errorf("manager removes a pending member: %d %s", st, raw)
	}
	if st, _, _ := call(t, f, "GET", base+pendingID+"/", "", admin); st != 404 {
		t.Errorf("removed member: %d", st)
	}

	// The owner makes the manager an owner; then the first owner may go,
	// and the new one is the last.
	if st, _, raw := call(t, f, "PUT", base+mgrID+"/", `{"orgRole":"owner"}`, admin); st != 200 {
		t.Fatalf("make an owner: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "DELETE", base+ownerID+"/", "", mgr); st != 204 {
		t.Fatalf("new owner removes the old: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "PUT", base+mgrID+"/", `{"orgRole":"member"}`, mgr); st != 400 {
		t.Errorf("last owner demotes themself: %d %s", st, raw)
	}
	// A removed member no longer sees the organization.
	if st, _, raw := call(t, f, "DELETE", base+memID+"/", "", mgr); st != 204 {
		t.Fatalf("remove: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "GET", "/api/0/organizations/acme/", "", mem); st != 404 {
		t.Errorf("removed member reads the organization: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "GET", "/api/0/organizations/acme/", "", mgr); st != 200 {
		t.Errorf("owner reads the organization: %d %s", st, raw)
	}
}

// TestRolesLimitRoutes: the role a member holds bounds what the routes of
// its organization let it do, whatever its token's scopes: a member acts
// on events but cannot change or delete projects; an admin can; someone
// outside the organization gets 404, not 403.
func TestRolesLimitRoutes(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "web", "go")
	admin := testserver.AdminToken
	mem := addUser(t, f, 2001, "member@example.com")
	adm := addUser(t, f, 2002, "admin@example.com")
	out := addUser(t, f, 2003, "outsider@example.com")
	for _, body := range []string{`{"email":"member@example.com","orgRole":"member","teams":["team"]}`, `{"email":"admin@example.com","orgRole":"admin","teams":["team"]}`} {
		if st, _, raw := call(t, f, "POST", "/api/0/organizations/acme/members/", body, admin); st != 201 {
			t.Fatalf("add: %d %s", st, raw)
		}
	}
	cases := []struct {
		who          string
		token        string
		method, path string
		body         string
		status       int
	}{
		{"member", mem, "GET", "/api/0/projects/acme/web/", "", 200},
		{"member", mem, "GET", "/api/0/projects/acme/web/issues/", "", 200},
		{"member", mem, "PUT", "/api/0/projects/acme/web/", `{"name":"renamed"}`, 403},
		{"member", mem, "DELETE", "/api/0/projects/acme/web/", "", 403},
		{"member", mem, "POST", "/api/0/projects/acme/web/keys/", `{"name":"k"}`, 403},
		{"member", mem, "PUT", "/api/0/organizations/acme/", `{"name":"Renamed"}`, 403},
		{"member", mem, "DELETE", "/api/0/organizations/acme/", "", 403},
		{"outsider", out, "GET", "/api/0/projects/acme/web/", "", 404},
		{"outsider", out, "DELETE", "/api/0/projects/acme/web/", "", 404},
		{"admin", adm, "PUT", "/api/0/projects/acme/web/", `{"name":"renamed by an admin"}`, 200},
		{"admin", adm, "PUT", "/api/0/organizations/acme/", `{"name":"Renamed"}`, 403},
	}
	for _, c := range cases {
		st, _, raw := call(t, f, c.method, c.path, c.body, c.token)
		if st != c.status {
			t.Errorf("%s %s %s: %d %s, want %d", c.who, c.method, c.path, st, raw, c.status)
		}
	}
	// The refusals changed nothing.
	st, _, raw := call(t, f, "GET", "/api/0/projects/acme/web/", "", admin)
	var p struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	}
	if st != 200 || json.Unmarshal(raw, &p) != nil || p.Name != "renamed by an admin" || p.Status != "active" {
		t.Fatalf("project after the refusals: %d %s", st, raw)
	}
}
