package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestReleasesAPI checks the releases routes through a real server: a
// release named by an event exists implicitly and is found under its
// percent-encoded version; it cannot be deleted while an issue refers to
// it; the firstRelease carries its last commit as a string;
// listing pages with Sentry's Link header; repositories have Sentry's
// shape; every answer matches the served OpenAPI document.
func TestReleasesAPI(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "web", "go")
	// Every answer is validated against the served OpenAPI document.
	do, cc := contractDo(t, f)
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Release: "1.0+build", Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	id := client.CaptureMessage("releases fixture", nil, sentry.NewScope())
	var ev struct {
		GroupID string `json:"groupID"`
	}
	f.WaitEvent(t, p, string(*id), &ev)

	type rel struct {
		Version     string
		NewGroups   int
		CommitCount int
		FirstEvent  *string
		Projects    []struct {
			Slug      string
			NewGroups int
		}
	}
	var r rel
	for _, path := range []string{"/api/0/organizations/acme/releases/1.0%2Bbuild/", "/api/0/projects/acme/web/releases/1.0+build"} {
		if st, raw := do("GET", path, nil, &r); st != 200 || r.Version != "1.0+build" || r.NewGroups != 1 ||
			r.FirstEvent == nil || len(r.Projects) != 1 || r.Projects[0].NewGroups != 1 {
			t.Fatalf("GET %s: %d %s", path, st, raw)
		}
	}
	if st, raw := do("DELETE", "/api/0/organizations/acme/releases/1.0%2Bbuild/", nil, nil); st != 400 || !strings.Contains(string(raw), "detail") {
		t.Errorf("delete a release issues refer to: %d %s", st, raw)
	}
	if st, _ := do("GET", "/api/0/organizations/acme/releases/1.0%2Bbuild/", nil, nil); st != 200 {
		t.Errorf("the refused deletion deleted it: %d", st)
	}

	// Commits, then the releases.
	if st, raw := do("PUT", "/api/0/organizations/acme/releases/1.0%2Bbuild/", map[string]any{"commits": []map[string]any{
		{"id": "c2", "repository": "acme/web", "message": "fix", "author_email": "ann@example.com", "author_name": "Ann"},
		{"id": "c1", "repository": "acme/web"},
	}}, &r); st != 200 || r.CommitCount != 2 {
		t.Fatalf("set commits: %d %s", st, raw)
	}
	var is struct {
		FirstRelease map[string]any
		LastRelease  map[string]any
	}
	if st, raw := do("GET", "/api/0/issues/"+ev.GroupID+"/", nil, &is); st != 200 || is.FirstRelease["lastCommit"] != "c2" ||
		is.FirstRelease["version"] != "1.0+build" || is.FirstRelease["dateCreated"] == nil || is.LastRelease["shortVersion"] != "1.0+build" {
		t.Fatalf("issue: %d %s", st, raw)
	}
	var repos []map[string]any
	if st, raw := do("GET", "/api/0/organizations/acme/repos/", nil, &repos); st != 200 || len(repos) != 1 {
		t.Fatalf("repos: %d %s", st, raw)
	}
	for _, k := range []string{"id", "name", "status", "integrationId", "externalSlug", "provider", "dateCreated"} {
		if _, ok := repos[0][k]; !ok {
			t.Errorf("repository has no %s: %v", k, repos[0])
		}
	}
	if _, ok := repos[0]["integrationId"].(string); !ok {
		t.Errorf("integrationId is not a string: %v", repos[0])
	}

	// Explicit releases: 201, then 208; bad versions 400.
	for i, v := range []string{"2.0", "3.0"} {
		if st, raw := do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": v, "projects": []string{"web"}}, nil); st != 201 {
			t.Fatalf("create %s (%d): %d %s", v, i, st, raw)
		}
	}
	if st, raw := do("POST", "/api/0/projects/acme/web/releases/", map[string]any{"version": "3.0"}, nil); st != 208 {
		t.Errorf("create again: %d %s", st, raw)
	}
	for _, v := range []string{"", "latest", "a/b", " x", ".."} {
		if st, _ := do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": v, "projects": []string{"web"}}, nil); st != 400 {
			t.Errorf("version %q: %d, want 400", v, st)
		}
	}
	if st, _ := do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": "4.0", "projects": []string{"nosuch"}}, nil); st != 400 {
		t.Errorf("unknown project: %d, want 400", st)
	}

	// Paging: newest first, Link with a next cursor that has results.
	req := func(path string) ([]rel, string) {
		t.Helper()
		var out []rel
		resp, raw := doWithHeaders(t, f, path, &out, cc)
		if resp != 200 {
			t.Fatalf("%s: %d", path, resp)
		}
		return out, raw
	}
	page, link := req("/api/0/organizations/acme/releases/?per_page=2")
	if len(page) != 2 || page[0].Version != "3.0" || page[1].Version != "2.0" || !strings.Contains(link, `rel="next"; results="true"; cursor="2"`) {
		t.Fatalf("page 1: %+v %s", page, link)
	}
	page, link = req("/api/0/organizations/acme/releases/?per_page=2&cursor=2")
	if len(page) != 1 || page[0].Version != "1.0+build" || !strings.Contains(link, `rel="next"; results="false"`) {
		t.Fatalf("page 2: %+v %s", page, link)
	}

	// Deleting a release no issue refers to.
	if st, raw := do("DELETE", "/api/0/projects/acme/web/releases/3.0/", nil, nil); st != 204 {
		t.Fatalf("delete 3.0: %d %s", st, raw)
	}
	if st, _ := do("GET", "/api/0/organizations/acme/releases/3.0/", nil, nil); st != 404 {
		t.Errorf("deleted 3.0: %d", st)
	}
}

// doWithHeaders GETs path with the admin token, decodes the answer into
// out and returns the status and the Link header.
func doWithHeaders(t *testing.T, f *testserver.Faultline, path string, out any, cc *contractClient) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", f.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testserver.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	cc.validate("GET", path, nil, resp.StatusCode, raw)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Link")
}
