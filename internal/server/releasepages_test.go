package server_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestReleasePages drives the web UI's release pages against a real
// server: releases, commits and deploys created through the API as
// sentry-cli sends them, an event from sentry-go naming the release, and
// a member's browser session fetching the list and the detail over HTTP.
// Commit messages, deploy names and URLs and the event's title carry
// markup: the pages show it as text.
func TestReleasePages(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "web", "go")
	f.CreateProject("acme", "api", "go")
	f.CreateProject("other", "shop", "go")
	const version = "web@1.0+build"
	const script = "<script>alert(1)</script>"
	must := func(st int, raw []byte, want int, what string) {
		t.Helper()
		if st != want {
			t.Fatalf("%s: %d %s", what, st, raw)
		}
	}
	st, raw := f.Do("POST", "/api/0/organizations/acme/releases/", map[string]any{
		"version": version, "projects": []string{"web"}, "ref": "deadbeef", "url": "javascript:alert(1)"}, nil)
	must(st, raw, 201, "create the release")
	rel := "/api/0/organizations/acme/releases/" + url.PathEscape(version) + "/"
	st, raw = f.Do("PUT", rel, map[string]any{"commits": []map[string]any{{
		"id": "0123456789abcdef0123456789abcdef01234567", "repository": "acme/web",
		"message":     "fix " + script + " in checkout\n\nthe second line of the message",
		"author_name": "Alice <b>", "author_email": "alice@example.com", "timestamp": "2026-12-01T10:00:00Z",
		"patch_set": []map[string]string{{"path": "a.go", "type": "M"}, {"path": "b.go", "type": "A"}},
	}}}, nil)
	must(st, raw, 200, "set the commits")
	st, raw = f.Do("POST", rel+"deploys/", map[string]any{"environment": "production", "name": "deploy <i>7</i>",
		"url": "https://deploy.example.com/7"}, nil)
	must(st, raw, 201, "create a deploy")
	// An older release of the other project, to filter by.
	st, raw = f.Do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": "api@2.0-beta", "projects": []string{"api"}}, nil)
	must(st, raw, 201, "create the api release")
	st, raw = f.Do("POST", "/api/0/organizations/other/releases/", map[string]any{"version": "shop@9", "projects": []string{"shop"}}, nil)
	must(st, raw, 201, "create other's release")

	// An event of the release, from the real SDK.
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport(), Release: version})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	hub.CaptureException(errors.New("checkout failed " + script))
	if !hub.Flush(5 * time.Second) {
		t.Fatal("sentry-go did not flush")
	}
	issues := f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return len(is) == 1 })

	newUser(t, f, "member@example.com", "acme", authz.Member, "team")
	b := sessionLogin(t, f, "member@example.com")
	get := func(path string, want int) string {
		t.Helper()
		st, raw, h := b.do(t, "GET", path, "")
		if st != want {
			t.Fatalf("GET %s: %d %s", path, st, raw)
		}
		if want == 200 && (h.Get("Content-Security-Policy") == "" || h.Get("Content-Type") != "text/html; charset=utf-8") {
			t.Errorf("GET %s: headers %v", path, h)
		}
		return string(raw)
	}
	escaped := "&lt;script&gt;alert(1)&lt;/script&gt;"

	t.Run("list", func(t *testing.T) {
		page := get("/organizations/acme/releases/", 200)
		for _, want := range []string{
			`href="/organizations/acme/releases/web@1.0&#43;build/"`, ">web@1.0&#43;build</a>", ">api@2.0-beta</a>",
			`<span class="rel-env">production</span>`, `/static/releases.`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("the list lacks %q:\n%s", want, page)
			}
		}
		if strings.Contains(page, "shop@9") {
			t.Error("the list shows another organization's release")
		}
		// The last deploy: "N ago", with the exact time in the title.
		if !regexp.MustCompile(`<time datetime="[0-9T:Z-]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">(just now|\d+ min ago)</time>`).MatchString(page) {
			t.Errorf("no relative time with its exact time:\n%s", page)
		}
		// One row per release: new issues 1 and commit count 1 for web@1.0+build.
		row := rowOf(t, page, ">web@1.0&#43;build</a>")
		if !regexp.MustCompile(`<td class="num">1</td>\s*<td class="num">1</td>`).MatchString(row) {
			t.Errorf("the release's row lacks its new issue and commit counts:\n%s", row)
		}
		// The filters go to the API: the version's text, and the project.
		page = get("/organizations/acme/releases/?query=beta", 200)
		if !strings.Contains(page, ">api@2.0-beta</a>") || strings.Contains(page, ">web@1.0&#43;build</a>") {
			t.Errorf("?query=beta:\n%s", page)
		}
		page = get("/organizations/acme/releases/?project="+p.ID, 200)
		if strings.Contains(page, ">api@2.0-beta</a>") || !strings.Contains(page, ">web@1.0&#43;build</a>") {
			t.Errorf("?project=%s:\n%s", p.ID, page)
		}
		if !strings.Contains(page, `<option value="`+p.ID+`" selected>web</option>`) {
			t.Errorf("the project filter does not show its choice:\n%s", page)
		}
		// A bad filter is a message, not an error page.
		if page := get("/organizations/acme/releases/?project=abc", 200); !strings.Contains(page, "Invalid project parameter.") {
			t.Errorf("?project=abc:\n%s", page)
		}
	})

	t.Run("detail", func(t *testing.T) {
		page := get("/organizations/acme/releases/web@1.0%2Bbuild/", 200)
		for _, want := range []string{
			`<h1 class="rel-title rel-version">web@1.0&#43;build</h1>`,
			"<code>deadbeef</code>",
			"<code>javascript:alert(1)</code>", // the release URL: not http(s), so text
			// The issue, its title escaped, linked to its page.
			`href="/organizations/acme/issues/` + issues[0].ID + `/"`, "checkout failed " + escaped,
			// The commit: short id, the message's first line escaped, author, repository, files.
			`<code title="0123456789abcdef0123456789abcdef01234567">0123456789ab</code>`,
			`<td class="rel-message">fix ` + escaped + ` in checkout</td>`,
			`Alice &lt;b&gt;`, "<td>acme/web</td>", `<td class="num">2</td>`,
			// The deploy, its URL a link.
			`<span class="rel-env">production</span>`, "<td>deploy &lt;i&gt;7&lt;/i&gt;</td>",
			`<a href="https://deploy.example.com/7" rel="noopener noreferrer">https://deploy.example.com/7</a>`,
			"<code>release:&#34;web@1.0&#43;build&#34;</code>",
		} {
			if !strings.Contains(page, want) {
				t.Errorf("the release's page lacks %q:\n%s", want, page)
			}
		}
		for _, bad := range []string{script, "<b>", "<i>7", `href="javascript:`, "the second line"} {
			if strings.Contains(page, bad) {
				t.Errorf("the release's page contains %q:\n%s", bad, page)
			}
		}
		// The same release without percent-encoding of "+".
		if p2 := get("/organizations/acme/releases/web@1.0+build/", 200); !strings.Contains(p2, "0123456789ab</code>") {
			t.Error("the release's page by its unencoded version")
		}
		// A release with no issues, commits or deploys says so.
		page = get("/organizations/acme/releases/api@2.0-beta/", 200)
		for _, want := range []string{"No issue has events in this release.", "No commits.", "No deploys."} {
			if !strings.Contains(page, want) {
				t.Errorf("the empty release's page lacks %q", want)
			}
		}
	})

	t.Run("not found", func(t *testing.T) {
		for _, path := range []string{
			"/organizations/other/releases/shop@9/", // another organization's release
			"/organizations/other/releases/",
			"/organizations/acme/releases/nosuch/",
			"/organizations/nosuch/releases/",
		} {
			if page := get(path, 404); !strings.Contains(page, "Page not found") || strings.Contains(page, "shop@9</") {
				t.Errorf("%s: %s", path, page)
			}
		}
	})

	t.Run("anonymous", func(t *testing.T) {
		anon := &apiSession{base: f.URL}
		for _, path := range []string{"/organizations/acme/releases/?query=web", "/organizations/acme/releases/web@1.0%2Bbuild/"} {
			st, raw, h := anon.do(t, "GET", path, "")
			if want := "/login/?next=" + url.QueryEscape(path); st != 303 || h.Get("Location") != want {
				t.Errorf("anonymous %s: %d %q %s, want 303 to %s", path, st, h.Get("Location"), raw, want)
			}
		}
	})
}

// TestReleaseListPaging pages through more releases than a page holds,
// following the list's own links.
func TestReleaseListPaging(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "web", "go")
	const n = 30
	for i := range n {
		if st, raw := f.Do("POST", "/api/0/organizations/acme/releases/", map[string]any{
			"version": fmt.Sprintf("r-%02d", i), "projects": []string{"web"}}, nil); st != 201 {
			t.Fatalf("release %d: %d %s", i, st, raw)
		}
	}
	newUser(t, f, "member@example.com", "acme", authz.Member, "team")
	b := sessionLogin(t, f, "member@example.com")
	seen := map[string]bool{}
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	version := regexp.MustCompile(`>(r-\d\d)</a>`)
	path := "/organizations/acme/releases/"
	for pages := 0; path != ""; pages++ {
		if pages > 3 {
			t.Fatal("more pages than releases")
		}
		st, raw, _ := b.do(t, "GET", path, "")
		if st != 200 {
			t.Fatalf("GET %s: %d %s", path, st, raw)
		}
		for _, m := range version.FindAllStringSubmatch(string(raw), -1) {
			if seen[m[1]] {
				t.Errorf("%s shown twice", m[1])
			}
			seen[m[1]] = true
		}
		path = ""
		if m := next.FindStringSubmatch(string(raw)); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if len(seen) != n {
		t.Errorf("saw %d releases over the pages, want %d", len(seen), n)
	}
}

// rowOf returns the table row of page that contains s.
func rowOf(t *testing.T, page, s string) string {
	t.Helper()
	i := strings.Index(page, s)
	if i < 0 {
		t.Fatalf("no %q in the page", s)
	}
	start := strings.LastIndex(page[:i], "<tr>")
	end := strings.Index(page[i:], "</tr>")
	if start < 0 || end < 0 {
		t.Fatalf("%q is in no row", s)
	}
	return page[start : i+end]
}

// BenchmarkReleasePages measures the release pages served to a member's
// session, API calls and queries included: 50 releases with 20 commits
// each and one deploy, and 20 issues of the newest release.
//
//	go test -run XXX -bench ReleasePages -benchtime 200x ./internal/server/
func BenchmarkReleasePages(b *testing.B) {
	f := testserver.Start(b, server.Config{})
	p := f.CreateProject("acme", "web", "go")
	for i := range 50 {
		v := fmt.Sprintf("web@1.%d.0", i)
		if st, raw := f.Do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": v, "projects": []string{"web"}}, nil); st != 201 {
			b.Fatalf("release: %d %s", st, raw)
		}
		var commits []map[string]any
		for c := range 20 {
			commits = append(commits, map[string]any{"id": fmt.Sprintf("%040x", i*100+c), "repository": "acme/web",
				"message": "change " + strconv.Itoa(c), "author_name": "Alice", "author_email": "alice@example.com"})
		}
		if st, raw := f.Do("PUT", "/api/0/organizations/acme/releases/"+v+"/", map[string]any{"commits": commits}, nil); st != 200 {
			b.Fatalf("commits: %d %s", st, raw)
		}
		if st, raw := f.Do("POST", "/api/0/organizations/acme/releases/"+v+"/deploys/", map[string]any{"environment": "production"}, nil); st != 201 {
			b.Fatalf("deploy: %d %s", st, raw)
		}
	}
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport(), Release: "web@1.49.0"})
	if err != nil {
		b.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	for i := range 20 {
		hub.WithScope(func(s *sentry.Scope) {
			s.SetFingerprint([]string{"failure", strconv.Itoa(i)})
			hub.CaptureMessage(fmt.Sprintf("failure %d", i))
		})
	}
	hub.Flush(5 * time.Second)
	f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return len(is) == 20 })
	// A member's session (newUser and sessionLogin take a *testing.T).
	if st, raw := f.Do("POST", "/api/0/users/", map[string]any{"email": "m@example.com", "password": "a long enough password"}, nil); st != 201 {
		b.Fatalf("user: %d %s", st, raw)
	}
	if st, raw := f.Do("POST", "/api/0/organizations/acme/members/", map[string]any{"email": "m@example.com", "orgRole": authz.Member, "teams": []string{"team"}}, nil); st != 201 {
		b.Fatalf("member: %d %s", st, raw)
	}
	resp, err := http.Post(f.URL+"/api/0/auth/login/", "application/json", strings.NewReader(`{"username":"m@example.com","password":"a long enough password"}`))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	for _, path := range []string{"/organizations/acme/releases/", "/organizations/acme/releases/web@1.49.0/"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest("GET", f.URL+path, nil)
				for _, c := range cookies {
					req.AddCookie(c)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(raw, []byte("web@1.49.0")) {
					b.Fatalf("%d %s", resp.StatusCode, raw)
				}
			}
		})
	}
}
