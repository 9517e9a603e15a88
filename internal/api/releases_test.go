package api_test

import (
	"encoding/json"
	"testing"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestReleaseShapes checks the JSON of the releases routes against golden
// files: a release named by an event, given commits and a deploy, its
// commits, deploys, repositories and the API root; and every answer of
// the release routes (create, 208, project forms, previous-with-commits,
// repositories, deletion) against the served OpenAPI document.
func TestReleaseShapes(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "api", "python")
	sendEvent(t, f, p, sampleEvent)
	f.WaitEvent(t, p, eventID, nil)
	tok := testserver.AdminToken
	// Every answer is checked against the OpenAPI document too.
	check := contractCheck(t, f)
	do := func(method, path string, body, out any) (int, []byte) {
		t.Helper()
		b, err := json.Marshal(body)
		if err != nil || body == nil {
			b = nil
		}
		st, raw := f.Do(method, path, body, out)
		check(method, path, string(b), st, raw)
		return st, raw
	}
	rel := "/api/0/organizations/acme/releases/shop@1.2.3/"
	if st, raw := do("PUT", rel, map[string]any{"ref": "main", "url": "https://ci.example.com/1", "dateReleased": "2026-01-02T03:05:00Z",
		"commits": []map[string]any{
			{"id": "a1b2c3", "repository": "acme/shop", "message": "Fix the connection", "author_name": "Ann", "author_email": "ann@example.com",
				"timestamp": "2026-01-02T03:00:00Z", "patch_set": []map[string]string{{"path": "shop/db.py", "type": "M"}}},
			{"id": "d4e5f6", "repository": "acme/shop", "message": "Add the shop", "author_name": "Bob", "author_email": "bob@example.com"},
		}}, nil); st != 200 {
		t.Fatalf("update: %d %s", st, raw)
	}
	var dep map[string]any
	if st, raw := do("POST", rel+"deploys/", map[string]any{"environment": "production", "name": "deploy 1",
		"url": "https://ci.example.com/deploy/1", "dateStarted": "2026-01-02T03:06:00Z", "dateFinished": "2026-01-02T03:07:00Z"}, &dep); st != 201 {
		t.Fatalf("deploy: %d %s", st, raw)
	}
	replace := map[string]string{f.URL: "http://faultline.test", dep["id"].(string): "<deploy id>"}
	for _, c := range []struct{ name, path string }{
		{"release", rel},
		{"releases", "/api/0/projects/acme/api/releases/"},
		{"release-commits", rel + "commits/"},
		{"release-deploys", rel + "deploys/"},
		{"repos", "/api/0/organizations/acme/repos/"},
		{"api-root", "/api/0/"},
	} {
		st, _, raw := call(t, f, "GET", c.path, "", tok)
		check("GET", c.path, "", st, raw)
		if st != 200 {
			t.Fatalf("%s: %d %s", c.path, st, raw)
		}
		golden(t, c.name, raw, replace)
	}
	// Anonymous: the root answers with nulls.
	st, _, raw := call(t, f, "GET", "/api/0/", "", "")
	check("GET", "/api/0/", "", st, raw)
	var root map[string]any
	if st != 200 || json.Unmarshal(raw, &root) != nil || root["user"] != nil || root["auth"] != nil {
		t.Errorf("anonymous root: %d %s", st, raw)
	}

	// The other release routes' answers, in the document's shapes: create
	// (201, then 208), the project forms, previous-with-commits (a release,
	// then {}), a repository, and deletion (400 for a release issues
	// refer to, 204).
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/api/0/organizations/acme/releases/", map[string]any{"version": "shop@1.2.4", "projects": []string{"api"}, "ref": "v1.2.4"}, 201},
		{"POST", "/api/0/organizations/acme/releases/", map[string]any{"version": "shop@1.2.4", "projects": []string{"api"}}, 208},
		{"POST", "/api/0/projects/acme/api/releases/", map[string]any{"version": "shop@1.2.5"}, 201},
		{"GET", "/api/0/projects/acme/api/releases/shop%401.2.4/", nil, 200},
		{"PUT", "/api/0/projects/acme/api/releases/shop@1.2.4/", map[string]any{"dateReleased": "2026-01-03T00:00:00Z",
			"refs": []map[string]any{{"repository": "acme/shop", "commit": "0123abc"}}}, 200},
		{"GET", "/api/0/projects/acme/api/releases/shop@1.2.3/commits/", nil, 200},
		{"GET", "/api/0/organizations/acme/releases/shop@1.2.4/previous-with-commits/", nil, 200},
		{"GET", "/api/0/organizations/acme/releases/shop@1.2.3/previous-with-commits/", nil, 200},
		{"GET", "/api/0/organizations/acme/releases/", nil, 200},
		{"POST", "/api/0/organizations/acme/repos/", map[string]any{"name": "acme/api", "url": "https://git.example.com/acme/api", "provider": "git"}, 201},
		{"DELETE", "/api/0/organizations/acme/releases/shop@1.2.3/", nil, 400},
		{"DELETE", "/api/0/projects/acme/api/releases/shop@1.2.5/", nil, 204},
		{"GET", "/api/0/organizations/acme/releases/shop@1.2.5/", nil, 404},
	} {
		if st, raw := do(c.method, c.path, c.body, nil); st != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, st, raw, c.status)
		}
	}
	var prev map[string]any
	if do("GET", "/api/0/organizations/acme/releases/shop@1.2.4/previous-with-commits/", nil, &prev); prev["version"] != "shop@1.2.3" {
		t.Errorf("previous with commits of shop@1.2.4: %v", prev["version"])
	}
	prev = nil
	if do("GET", "/api/0/organizations/acme/releases/shop@1.2.3/previous-with-commits/", nil, &prev); len(prev) != 0 {
		t.Errorf("previous with commits of shop@1.2.3: %v, want {}", prev)
	}
}
