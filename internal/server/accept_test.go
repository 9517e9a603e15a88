package server_test

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

type invitedMember struct {
	ID         string   `json:"id"`
	OrgRole    string   `json:"orgRole"`
	Pending    bool     `json:"pending"`
	Expired    bool     `json:"expired"`
	Teams      []string `json:"teams"`
	InviteLink string   `json:"inviteLink"`
	User       *struct {
		Email string `json:"email"`
	} `json:"user"`
}

// invite invites email to acme and returns the link's path.
func invite(t *testing.T, f *testserver.Faultline, email, role string) (path, memberID string) {
	t.Helper()
	var m invitedMember
	st, raw := f.Do("POST", "/api/0/organizations/acme/members/", map[string]any{"email": email, "orgRole": role, "teams": []string{"team"}}, &m)
	if st != 201 || !m.Pending || !strings.HasPrefix(m.InviteLink, f.URL+"/accept/") {
		t.Fatalf("invite %s: %d %s", email, st, raw)
	}
	return strings.TrimPrefix(m.InviteLink, f.URL), m.ID
}

func member(t *testing.T, f *testserver.Faultline, id string) (int, invitedMember) {
	t.Helper()
	var m invitedMember
	st, _ := f.Do("GET", "/api/0/organizations/acme/members/"+id+"/", nil, &m)
	return st, m
}

// TestAcceptInvitation follows invitation links as a browser does: a new
// person joins with the invited role and teams and is logged in; the link
// then stops working; wrong tokens, unknown members, expired invitations
// and forged forms change nothing; someone who got an account meanwhile
// joins with it and is sent to log in.
func TestAcceptInvitation(t *testing.T) {
	var logBuf syncBuffer
	f := testserver.StartWithLog(t, server.Config{}, &logBuf)
	f.CreateProject("acme", "web", "go")

	link, id := invite(t, f, "Ada@Example.com", "admin")
	c := &formClient{t: t, base: f.URL, cookies: map[string]string{}}
	resp, page := c.send("GET", link, nil, "")
	tok := tokenField.FindStringSubmatch(page)
	if resp.StatusCode != 200 || tok == nil || tok[1] != c.cookies["csrftoken"] || !strings.Contains(page, "acme") ||
		!strings.Contains(page, "Ada@Example.com") || !strings.Contains(page, `action="`+link+`"`) ||
		resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("invitation page: %d\n%s", resp.StatusCode, page)
	}
	form := url.Values{"csrfmiddlewaretoken": {tok[1]}, "name": {"Ada"}, "password": {"ada's long password"}, "password2": {"ada's long password"}}
	with := func(k, v string) url.Values {
		cp := url.Values{}
		for kk, vv := range form {
			cp[kk] = vv
		}
		cp.Set(k, v)
		return cp
	}
	wrong := regexp.MustCompile(`/[0-9a-f]{64}/$`).ReplaceAllString(link, "/"+strings.Repeat("0", 64)+"/")
	for _, bad := range []struct {
		label, path string
		form        url.Values
		origin      string
		status      int
		text        string
	}{
		{"no token", link, with("csrfmiddlewaretoken", ""), f.URL, 403, "CSRF"},
		{"wrong token", link, with("csrfmiddlewaretoken", strings.Repeat("A", 43)), f.URL, 403, "CSRF"},
		{"other origin", link, form, "https://evil.example", 403, "CSRF"},
		{"short password", link, with("password", "short"), f.URL, 400, "at least 12"},
		{"mismatch", link, with("password2", "another long password"), f.URL, 400, "do not match"},
		{"wrong invitation token", wrong, form, f.URL, 404, ""},
		{"unknown member", "/accept/987654321/" + strings.Repeat("0", 64) + "/", form, f.URL, 404, ""},
		{"bad member id", "/accept/x/" + strings.Repeat("0", 64) + "/", form, f.URL, 404, ""},
	} {
		resp, page := c.send("POST", bad.path, bad.form, bad.origin)
		if resp.StatusCode != bad.status || !strings.Contains(page, bad.text) || c.cookies["session"] != "" {
			t.Errorf("accept, %s: %d, want %d %q\n%s", bad.label, resp.StatusCode, bad.status, bad.text, page)
		}
	}
	if resp, _ := c.send("GET", wrong, nil, ""); resp.StatusCode != 404 {
		t.Errorf("invitation page with a wrong token: %d", resp.StatusCode)
	}
	if st, m := member(t, f, id); st != 200 || !m.Pending || m.Expired || m.User != nil {
		t.Fatalf("the refused forms changed the membership: %d %+v", st, m)
	}
	if _, ok := f.Server.Meta().UserByEmail("ada@example.com"); ok {
		t.Fatal("a refused form created the user")
	}

	resp, _ = c.send("POST", link, form, f.URL)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" || c.cookies["session"] == "" {
		t.Fatalf("accept: %d %v", resp.StatusCode, resp.Header)
	}
	b := &browser{t: t, url: f.URL, session: c.cookies["session"], csrf: c.cookies["csrftoken"]}
	if st, email := meEmail(t, b); st != 200 || email != "ada@example.com" {
		t.Fatalf("users/me after accepting: %d %q", st, email)
	}
	if st, m := member(t, f, id); st != 200 || m.Pending || m.OrgRole != "admin" || len(m.Teams) != 1 || m.Teams[0] != "team" ||
		m.User == nil || m.User.Email != "ada@example.com" {
		t.Fatalf("membership after accepting: %d %+v", st, m)
	}
	ctx := context.Background()
	kv, err := f.Server.Queue().JetStream().KeyValue(ctx, "faultline-meta")
	if err != nil {
		t.Fatal(err)
	}
	var orgID uint64
	if o, ok := f.Server.Meta().Organization("acme"); ok {
		orgID = o.ID
	}
	if e, err := kv.Get(ctx, "members."+jsonNum(orgID)+"."+id); err != nil || strings.Contains(string(e.Value()), "inviteTokenHash") {
		t.Errorf("the joined membership keeps its invitation's hash: %v", err)
	}
	// The new member's session acts with the admin role: it reads the
	// organization's projects.
	if st, raw, _ := b.do("GET", "/api/0/organizations/acme/projects/", nil); st != 200 || !strings.Contains(string(raw), `"web"`) {
		t.Errorf("the new member lists acme's projects: %d %s", st, raw)
	}
	// The link works once.
	c2 := &formClient{t: t, base: f.URL, cookies: map[string]string{}}
	if resp, _ := c2.send("GET", link, nil, ""); resp.StatusCode != 404 {
		t.Errorf("used link: %d", resp.StatusCode)
	}
	if resp, _ := c.send("POST", link, with("password", "yet another password"), f.URL); resp.StatusCode != 404 {
		t.Errorf("used link posted again: %d", resp.StatusCode)
	}

	// An invitation older than 7 days: 410, and nothing changes.
	old, oldID := invite(t, f, "late@example.com", "member")
	key := "members." + jsonNum(orgID) + "." + oldID
	e, err := kv.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	json.Unmarshal(e.Value(), &raw) //nolint:errcheck
	raw["dateCreated"] = time.Now().Add(-meta.InvitationMaxAge - time.Hour).UTC().Format(time.RFC3339)
	nb, _ := json.Marshal(raw)
	if _, err := kv.Put(ctx, key, nb); err != nil {
		t.Fatal(err)
	}
	c3 := &formClient{t: t, base: f.URL, cookies: map[string]string{}}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, page := c3.send("GET", old, nil, "")
		if resp.StatusCode == 410 && strings.Contains(page, "expired") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired invitation: %d\n%s", resp.StatusCode, page)
		}
	}
	oldForm := url.Values{"csrfmiddlewaretoken": {c3.cookies["csrftoken"]}, "password": {"late long password"}, "password2": {"late long password"}}
	if resp, _ := c3.send("POST", old, oldForm, f.URL); resp.StatusCode != 410 || c3.cookies["session"] != "" {
		t.Errorf("expired invitation posted: %d", resp.StatusCode)
	}
	if _, ok := f.Server.Meta().UserByEmail("late@example.com"); ok {
		t.Error("an expired invitation created its user")
	}
	if st, m := member(t, f, oldID); st != 200 || !m.Pending || !m.Expired {
		t.Errorf("expired invitation's membership: %d %+v", st, m)
	}

	// Someone who got an account after the invitation joins with it, and
	// logs in with their own password: the form sets none.
	link, id = invite(t, f, "bob@example.com", "manager")
	if st, raw := f.Do("POST", "/api/0/users/", map[string]any{"email": "bob@example.com", "name": "Bob", "password": "bob's own password"}, nil); st != 201 {
		t.Fatalf("create bob: %d %s", st, raw)
	}
	c4 := &formClient{t: t, base: f.URL, cookies: map[string]string{}}
	resp, page = c4.send("GET", link, nil, "")
	tok = tokenField.FindStringSubmatch(page)
	if resp.StatusCode != 200 || tok == nil || !strings.Contains(page, "exists already") || strings.Contains(page, `name="password"`) {
		t.Fatalf("invitation page of an existing user: %d\n%s", resp.StatusCode, page)
	}
	resp, _ = c4.send("POST", link, url.Values{"csrfmiddlewaretoken": {tok[1]}, "password": {"attacker password"}, "password2": {"attacker password"}}, f.URL)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login/" || c4.cookies["session"] != "" {
		t.Fatalf("existing user joins: %d %v", resp.StatusCode, resp.Header)
	}
	if st, m := member(t, f, id); st != 200 || m.Pending || m.OrgRole != "manager" || m.User == nil || m.User.Email != "bob@example.com" {
		t.Fatalf("bob's membership: %d %+v", st, m)
	}
	if _, st, _ := login(t, f.URL, "bob@example.com", "attacker password"); st == 200 {
		t.Error("the invitation form set an existing user's password")
	}
	if _, st, _ := login(t, f.URL, "bob@example.com", "bob's own password"); st != 200 {
		t.Errorf("bob logs in with his password: %d", st)
	}
	if resp, _ := c4.send("GET", link, nil, ""); resp.StatusCode != 404 {
		t.Errorf("bob's used link: %d", resp.StatusCode)
	}

	for _, secret := range []string{"ada's long password", strings.TrimSuffix(link[strings.LastIndex(strings.TrimSuffix(link, "/"), "/")+1:], "/")} {
		if strings.Contains(logBuf.String(), secret) {
			t.Errorf("the log shows %q", secret)
		}
	}
}

func jsonNum(n uint64) string { b, _ := json.Marshal(n); return string(b) }
