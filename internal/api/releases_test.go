package api_test

import (
	"encoding/json"
	"testing"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestReleaseShapes checks the JSON of the releases routes against golden
// files: a release named by an event, given commits and a deploy, its
// commits, deploys, repositories and the API root.
func TestReleaseShapes(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "api", "python")
	sendEvent(t, f, p, sampleEvent)
	f.WaitEvent(t, p, eventID, nil)
	tok := testserver.AdminToken
	rel := "/api/0/organizations/acme/releases/shop@1.2.3/"
	if st, raw := f.Do("PUT", rel, map[string]any{"ref": "main", "url": "https://ci.example.com/1", "dateReleased": "2026-01-02T03:05:00Z",
		"commits": []map[string]any{
			{"id": "a1b2c3", "repository": "acme/shop", "message": "Fix the connection", "author_name": "Ann", "author_email": "ann@example.com",
				"timestamp": "2026-01-02T03:00:00Z", "patch_set": []map[string]string{{"path": "shop/db.py", "type": "M"}}},
			{"id": "d4e5f6", "repository": "acme/shop", "message": "Add the shop", "author_name": "Bob", "author_email": "bob@example.com"},
		}}, nil); st != 200 {
		t.Fatalf("update: %d %s", st, raw)
	}
	var dep map[string]any
	if st, raw := f.Do("POST", rel+"deploys/", map[string]any{"environment": "production", "name": "deploy 1",
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
		if st != 200 {
			t.Fatalf("%s: %d %s", c.path, st, raw)
		}
		golden(t, c.name, raw, replace)
	}
	// Anonymous: the root answers with nulls.
	st, _, raw := call(t, f, "GET", "/api/0/", "", "")
	var root map[string]any
	if st != 200 || json.Unmarshal(raw, &root) != nil || root["user"] != nil || root["auth"] != nil {
		t.Errorf("anonymous root: %d %s", st, raw)
	}
}
