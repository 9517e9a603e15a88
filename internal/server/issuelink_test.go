package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestGitLabIssueLink follows the "View in Sentry" links GitLab builds,
// {public URL}/{org}/{project}/issues/{id}/ (and without the trailing
// slash, as GitLab strips it), as a browser: an anonymous visitor is sent
// to log in and back, a member lands on the issue's page in the UI, and
// whoever may not see the issue gets the 404 page, as for an issue that
// does not exist or is not in that project.
func TestGitLabIssueLink(t *testing.T) {
	f := testserver.Start(t, server.Config{AdminEmail: "root@example.com", AdminPassword: adminPassword})
	p := f.CreateProject("acme", "web", "javascript")
	f.CreateProject("acme", "api", "go")
	other := f.CreateProject("other", "backend", "go")
	issueOf := func(p testserver.Project, msg string) string {
		resp, err := http.Post(f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey+"&sentry_version=7", "application/json",
			strings.NewReader(`{"message":"`+msg+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		is := f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return len(is) == 1 })
		return is[0].ID
	}
	issue, otherIssue := issueOf(p, "link me"), issueOf(other, "not yours")

	if st, raw := f.Do("POST", "/api/0/users/", map[string]any{"email": "ann@example.com", "password": "ann's long password"}, nil); st != 201 {
		t.Fatalf("create ann: %d %s", st, raw)
	}
	admin, st, raw := login(t, f.URL, "root@example.com", adminPassword)
	if st != 200 {
		t.Fatalf("login: %d %s", st, raw)
	}
	ann, st, raw := login(t, f.URL, "ann@example.com", "ann's long password")
	if st != 200 {
		t.Fatalf("login ann: %d %s", st, raw)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(b *browser, path string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.URL+path, nil)
		if b != nil {
			req.AddCookie(&http.Cookie{Name: "session", Value: b.session})
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(body)
	}
	page := "/organizations/acme/issues/" + issue + "/"
	for _, c := range []struct {
		who      string
		b        *browser
		path     string
		status   int
		location string
	}{
		{"anonymous", nil, "/acme/web/issues/" + issue + "/", 303, "/login/?next=%2Facme%2Fweb%2Fissues%2F" + issue + "%2F"},
		{"anonymous, GitLab's form", nil, "/acme/web/issues/" + issue, 303, "/login/?next=%2Facme%2Fweb%2Fissues%2F" + issue},
		{"member", admin, "/acme/web/issues/" + issue + "/", 302, page},
		{"member, GitLab's form", admin, "/acme/web/issues/" + issue, 302, page},
		{"member, another project", admin, "/acme/api/issues/" + issue + "/", 404, ""},
		{"member, another organization", admin, "/other/web/issues/" + issue + "/", 404, ""},
		{"member, no such issue", admin, "/acme/web/issues/987654321/", 404, ""},
		{"member, not an id", admin, "/acme/web/issues/abc/", 404, ""},
		{"not a member", ann, "/acme/web/issues/" + issue + "/", 404, ""},
		{"not a member, other", ann, "/other/backend/issues/" + otherIssue + "/", 404, ""},
	} {
		st, loc, body := get(c.b, c.path)
		if st != c.status || loc != c.location {
			t.Errorf("%s: GET %s: %d %q, want %d %q", c.who, c.path, st, loc, c.status, c.location)
		}
		if st == 404 && !strings.Contains(body, "Page not found") {
			t.Errorf("%s: GET %s: not the 404 page: %.200s", c.who, c.path, body)
		}
	}
	// The login page sends the visitor back to the link.
	if st, _, body := get(nil, "/login/?next=%2Facme%2Fweb%2Fissues%2F"+issue+"%2F"); st != 200 || !strings.Contains(body, "/acme/web/issues/"+issue+"/") {
		t.Errorf("login page does not carry the link back: %d", st)
	}
	// Under /api/ the same shape stays the API's: JSON 404, no redirect.
	st, loc, body := get(nil, "/api/nosuch/issues/"+issue+"/")
	if st != 404 || loc != "" || !strings.Contains(body, `"detail"`) {
		t.Errorf("/api/nosuch/issues/: %d %q %s", st, loc, body)
	}
}
