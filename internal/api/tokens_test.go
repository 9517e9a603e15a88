package api_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/api"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/route"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

func TestTokenCovers(t *testing.T) {
	cases := []struct {
		held []string
		need string
		want bool
	}{
		{[]string{"*"}, "org:admin", true},
		{[]string{"*"}, "", true},
		{[]string{"org:admin"}, "", false},
		{[]string{"org:read"}, "org:read", true},
		{[]string{"org:read"}, "org:write", false},
		{[]string{"org:write"}, "org:read", true},
		{[]string{"org:admin"}, "org:write", true},
		{[]string{"org:admin"}, "org:integrations", true},
		{[]string{"org:integrations"}, "org:read", false},
		{[]string{"event:admin"}, "event:read", true},
		{[]string{"event:write"}, "event:admin", false},
		{[]string{"event:read"}, "project:read", false},
		{[]string{"project:write"}, "project:releases", true},
		{[]string{"project:releases"}, "project:read", false},
		{[]string{"member:write"}, "member:invite", true},
		{[]string{"member:invite"}, "member:write", false},
		{[]string{"alerts:write"}, "alerts:read", true},
		{[]string{"team:read", "event:write"}, "event:read", true},
		{[]string{"org:ci"}, "org:read", false},
		{nil, "org:read", false},
		{[]string{"alerts:read"}, route.AnyScope, true},
		{[]string{"org:ci"}, route.AnyScope, true},
		{nil, route.AnyScope, false},
	}
	for _, c := range cases {
		if got := api.TokenCovers(c.held, c.need); got != c.want {
			t.Errorf("TokenCovers(%v, %q) = %v, want %v", c.held, c.need, got, c.want)
		}
	}
}

type apiToken struct {
	ID                  string   `json:"id"`
	Name                *string  `json:"name"`
	Scopes              []string `json:"scopes"`
	Token               string   `json:"token"`
	TokenLastCharacters *string  `json:"tokenLastCharacters"`
	LastUsed            *string  `json:"lastUsed"`
	DateCreated         string   `json:"dateCreated"`
}

func TestAPITokens(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "web", "go")
	admin := testserver.AdminToken

	for _, c := range []struct{ body, want string }{
		{`{"name":"x","scopes":["org:read","bogus:read"]}`, "not a valid scope"},
		{`{"name":"x","scopes":["*"]}`, "not a valid scope"},
		{`{"name":"x","scopes":["org:ci"]}`, "not a valid scope"},
		{`{"name":"x","scopes":[]}`, "at least one scope"},
		{`{"name":"x"}`, "at least one scope"},
		{`{"name":"x","scopes":"org:read"}`, "expected a list"},
		{`{"name":"` + strings.Repeat("n", 300) + `","scopes":["org:read"]}`, "longer than"},
		{`[`, "JSON"},
	} {
		st, _, raw := call(t, f, "POST", "/api/0/api-tokens/", c.body, admin)
		if st != 400 || !strings.Contains(detail(t, raw), c.want) {
			t.Errorf("POST %s: %d %s, want 400 %q", c.body, st, raw, c.want)
		}
	}

	st, _, raw := call(t, f, "POST", "/api/0/api-tokens/", `{"name":"reader","scopes":["org:read","project:read","org:read"]}`, admin)
	var tok apiToken
	if st != 201 || json.Unmarshal(raw, &tok) != nil {
		t.Fatalf("create: %d %s", st, raw)
	}
	if !regexp.MustCompile(`^sntryu_[0-9a-f]{64}$`).MatchString(tok.Token) || tok.ID == "" ||
		strings.Join(tok.Scopes, " ") != "org:read project:read" || *tok.TokenLastCharacters != tok.Token[len(tok.Token)-4:] {
		t.Fatalf("created %+v", tok)
	}

	// It authenticates what its scopes cover, and nothing else.
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/0/organizations/acme/", 200},
		{"GET", "/api/0/organizations/acme/projects/", 200},
		{"GET", "/api/0/projects/acme/web/issues/", 403},
		{"PUT", "/api/0/organizations/acme/", 403},
		{"GET", "/api/0/api-tokens/", 403},
		{"POST", "/api/0/api-tokens/", 403},
	} {
		body := ""
		if c.method != "GET" {
			body = `{"name":"changed","scopes":["org:admin"]}`
		}
		st, _, raw := call(t, f, c.method, c.path, body, tok.Token)
		if st != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, st, raw, c.status)
		}
		if st == 403 && detail(t, raw) != "You do not have permission to perform this action." {
			t.Errorf("%s %s: 403 body %s", c.method, c.path, raw)
		}
	}

	// The list shows the bootstrap token and the new one, never a token,
	// with the new one's last use.
	st, _, raw = call(t, f, "GET", "/api/0/api-tokens/", "", admin)
	var list []apiToken
	if st != 200 || json.Unmarshal(raw, &list) != nil {
		t.Fatalf("list: %d %s", st, raw)
	}
	if strings.Contains(string(raw), tok.Token) || strings.Contains(string(raw), admin) || strings.Contains(string(raw), meta.HashToken(tok.Token)) {
		t.Fatalf("the list shows a token: %s", raw)
	}
	var boot, mine *apiToken
	for i := range list {
		switch {
		case list[i].ID == tok.ID:
			mine = &list[i]
		case list[i].Name != nil && *list[i].Name == meta.BootstrapTokenName:
			boot = &list[i]
		}
	}
	if boot == nil || mine == nil || len(list) != 2 || strings.Join(boot.Scopes, " ") != "*" {
		t.Fatalf("list %s", raw)
	}
	if mine.LastUsed == nil || boot.LastUsed == nil {
		t.Errorf("last use not shown: %s", raw)
	}

	// Revoking: an unknown id is a 404, a bad body a 400, then 204 and the
	// token stops at once.
	for _, c := range []struct {
		body   string
		status int
	}{{`{"tokenId":"987654"}`, 404}, {`{"tokenId":"abc"}`, 400}, {`{}`, 400}} {
		if st, _, raw := call(t, f, "DELETE", "/api/0/api-tokens/", c.body, admin); st != c.status {
			t.Errorf("DELETE %s: %d %s, want %d", c.body, st, raw, c.status)
		}
	}
	if st, _, raw := call(t, f, "DELETE", "/api/0/api-tokens/", `{"tokenId":`+tok.ID+`}`, admin); st != 204 {
		t.Fatalf("revoke: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "GET", "/api/0/organizations/acme/", "", tok.Token); st != 401 {
		t.Fatalf("revoked token: %d %s", st, raw)
	}

	// The owner may revoke the bootstrap token too.
	if st, _, raw := call(t, f, "DELETE", "/api/0/api-tokens/", `{"tokenId":"`+boot.ID+`"}`, admin); st != 204 {
		t.Fatalf("revoke the bootstrap token: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "GET", "/api/0/organizations/", "", admin); st != 401 {
		t.Fatalf("revoked bootstrap token: %d %s", st, raw)
	}
}

func TestOrgTokens(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "web", "go")
	f.CreateProject("other", "api", "go")
	admin := testserver.AdminToken

	if st, _, raw := call(t, f, "POST", "/api/0/organizations/acme/org-auth-tokens/", `{}`, admin); st != 400 {
		t.Errorf("no name: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "POST", "/api/0/organizations/nosuch/org-auth-tokens/", `{"name":"ci"}`, admin); st != 404 {
		t.Errorf("unknown org: %d %s", st, raw)
	}
	st, _, raw := call(t, f, "POST", "/api/0/organizations/acme/org-auth-tokens/", `{"name":"ci"}`, admin)
	var tok apiToken
	if st != 201 || json.Unmarshal(raw, &tok) != nil {
		t.Fatalf("create: %d %s", st, raw)
	}
	p, err := meta.ParseOrgToken(tok.Token)
	if err != nil || p.Org != "acme" || p.URL != f.URL || p.RegionURL != f.URL || p.IAT == 0 {
		t.Fatalf("token %q: %+v %v", tok.Token, p, err)
	}
	if strings.Join(tok.Scopes, " ") != "org:ci" {
		t.Fatalf("scopes %v", tok.Scopes)
	}

	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/0/organizations/acme/", 200},
		{"GET", "/api/0/organizations/acme/projects/", 200},
		{"GET", "/api/0/organizations/acme/releases/1.0/deploys/", 200},
		// Bound to its organization: another one does not exist for it.
		{"GET", "/api/0/organizations/other/", 404},
		{"GET", "/api/0/organizations/other/projects/", 404},
		{"GET", "/api/0/organizations/other/releases/1.0/deploys/", 404},
		// Only the routes marked for organization tokens.
		{"GET", "/api/0/organizations/", 403},
		{"GET", "/api/0/projects/acme/web/", 403},
		{"GET", "/api/0/projects/acme/web/keys/", 403},
		{"PUT", "/api/0/organizations/acme/", 403},
		{"GET", "/api/0/organizations/acme/org-auth-tokens/", 403},
		{"POST", "/api/0/organizations/acme/org-auth-tokens/", 403},
		{"GET", "/api/0/api-tokens/", 403},
	} {
		body := ""
		if c.method != "GET" {
			body = `{"name":"x"}`
		}
		if st, _, raw := call(t, f, c.method, c.path, body, tok.Token); st != c.status {
			t.Errorf("org token %s %s: %d %s, want %d", c.method, c.path, st, raw, c.status)
		}
	}

	st, _, raw = call(t, f, "GET", "/api/0/organizations/acme/org-auth-tokens/", "", admin)
	var list []apiToken
	if st != 200 || json.Unmarshal(raw, &list) != nil || len(list) != 1 || list[0].ID != tok.ID || list[0].LastUsed == nil {
		t.Fatalf("list: %d %s", st, raw)
	}
	if strings.Contains(string(raw), tok.Token) || strings.Contains(string(raw), strings.Split(tok.Token, "_")[2]) {
		t.Fatalf("the list shows the token: %s", raw)
	}
	if st, _, raw := call(t, f, "GET", "/api/0/organizations/other/org-auth-tokens/", "", admin); st != 200 || string(raw) != "[]\n" {
		t.Fatalf("other org's list: %d %s", st, raw)
	}
	// An organization's token is revoked under its organization only.
	if st, _, raw := call(t, f, "DELETE", "/api/0/organizations/other/org-auth-tokens/"+tok.ID+"/", "", admin); st != 404 {
		t.Fatalf("revoke under another org: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "DELETE", "/api/0/organizations/acme/org-auth-tokens/"+tok.ID+"/", "", admin); st != 204 {
		t.Fatalf("revoke: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "GET", "/api/0/organizations/acme/", "", tok.Token); st != 401 {
		t.Fatalf("revoked org token: %d %s", st, raw)
	}
}
