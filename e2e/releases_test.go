package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/internal/testserver"
)

// cliLine is one sentry-cli release line: the binary and what it offers.
type cliLine struct {
	name string
	bin  string
	// modern is 3.x: it has `deploys new|list -r VERSION`, and keeps
	// `releases deploys VERSION new|list` as a hidden alias; 2.x has only
	// the latter.
	modern bool
}

func cliLines(t *testing.T) []cliLine {
	t.Helper()
	need(t, "git", "apt-get install git")
	var out []cliLine
	for _, l := range []cliLine{
		{name: "3.x", bin: "clients/node_modules/.bin/sentry-cli", modern: true},
		{name: "2.x", bin: "clients/cli2/node_modules/.bin/sentry-cli"},
	} {
		abs, err := filepath.Abs(l.bin)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(abs); err != nil {
			testenv.Missing(t, "sentry-cli "+l.name+" is not installed (run `make clients`)")
			continue
		}
		l.bin = abs
		out = append(out, l)
	}
	return out
}

// sentryCLI runs sentry-cli against the server with a token, offline, in
// dir; it returns stdout and fails the test on a non-zero exit unless
// wantFail.
func sentryCLI(t *testing.T, f *testserver.Faultline, bin, token, dir string, wantFail bool, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	env := []string{"SENTRY_URL=" + f.URL, "SENTRY_AUTH_TOKEN=" + token, "SENTRY_ORG=acme",
		"SENTRY_DISABLE_UPDATE_CHECK=true", "SENTRY_LOAD_DOTENV=0", "SENTRY_NO_PROGRESS_BAR=1", "SENTRY_LOG_LEVEL=warn",
		"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if (err != nil) != wantFail {
		t.Fatalf("sentry-cli %s: %v (want failure %v)\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, wantFail, stdout.String(), stderr.String())
	}
	return stdout.String() + stderr.String()
}

// gitRepo is a local repository with an origin, whose commits
// set-commits --local sends.
type gitRepo struct {
	t   *testing.T
	dir string
	n   int
}

func newGitRepo(t *testing.T, origin string) *gitRepo {
	g := &gitRepo{t: t, dir: t.TempDir()}
	g.run("init", "-q", "-b", "main")
	g.run("remote", "add", "origin", origin)
	return g
}

func (g *gitRepo) run(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit adds a file in a commit by the author and returns its id.
func (g *gitRepo) commit(name, email string) string {
	g.t.Helper()
	g.n++
	file := fmt.Sprintf("file%d.txt", g.n)
	if err := os.WriteFile(filepath.Join(g.dir, file), []byte(file), 0o644); err != nil {
		g.t.Fatal(err)
	}
	g.run("add", file)
	g.run("-c", "user.name="+name, "-c", "user.email="+email, "commit", "-q", "-m", "change "+file)
	return g.run("rev-parse", "HEAD")
}

type apiRelease struct {
	Version      string  `json:"version"`
	ShortVersion string  `json:"shortVersion"`
	DateCreated  string  `json:"dateCreated"`
	DateReleased *string `json:"dateReleased"`
	CommitCount  int     `json:"commitCount"`
	DeployCount  int     `json:"deployCount"`
	LastCommit   *struct {
		ID string `json:"id"`
	} `json:"lastCommit"`
	LastDeploy *struct {
		Environment string `json:"environment"`
	} `json:"lastDeploy"`
	Authors  []struct{ Email string } `json:"authors"`
	Projects []struct{ Slug string }  `json:"projects"`
	Data     map[string]any           `json:"data"`
}

func getRelease(t *testing.T, f *testserver.Faultline, version string) (int, apiRelease) {
	t.Helper()
	var r apiRelease
	st, _ := f.Do("GET", "/api/0/organizations/acme/releases/"+version+"/", nil, &r)
	return st, r
}

func slugsOf(r apiRelease) string {
	var s []string
	for _, p := range r.Projects {
		s = append(s, p.Slug)
	}
	return strings.Join(s, ",")
}

// TestSentryCLIReleases drives both sentry-cli lines through info,
// projects, releases, commits and deploys, with a user token and with an
// organization token, and checks every result through the API.
func TestSentryCLIReleases(t *testing.T) {
	lines := cliLines(t)
	f := testserver.Start(t, server.Config{})
	web := f.CreateProject("acme", "web", "javascript")
	// An issue seen in a release: deleting that release is refused.
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: web.DSN, Release: "shop@with-issue", Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	id := client.CaptureMessage("a release with an issue", nil, sentry.NewScope())
	f.WaitEvent(t, web, string(*id), nil)
	f.CreateProject("acme", "api", "go")
	var user struct{ Token string }
	if st, raw := f.Do("POST", "/api/0/api-tokens/", map[string]any{"name": "cli",
		"scopes": []string{"project:releases", "project:read", "org:read", "org:write"}}, &user); st != 201 {
		t.Fatalf("user token: %d %s", st, raw)
	}
	var org struct{ Token string }
	if st, raw := f.Do("POST", "/api/0/organizations/acme/org-auth-tokens/", map[string]string{"name": "ci"}, &org); st != 201 {
		t.Fatalf("org token: %d %s", st, raw)
	}
	if st, raw := f.Do("POST", "/api/0/organizations/acme/repos/", map[string]string{"name": "acme/web"}, nil); st != 201 {
		t.Fatalf("repo: %d %s", st, raw)
	}
	repo := newGitRepo(t, "https://github.com/acme/web.git")
	first := []string{repo.commit("Ann", "ann@example.com"), repo.commit("Bob", "bob@example.com")}
	runs := 0
	for _, l := range lines {
		for _, tok := range []struct{ kind, token string }{{"user", user.Token}, {"org", org.Token}} {
			t.Run(l.name+"/"+tok.kind, func(t *testing.T) {
				cli := func(args ...string) string { return sentryCLI(t, f, l.bin, tok.token, repo.dir, false, args...) }
				v := func(s string) string {
					return "shop@" + strings.ReplaceAll(l.name, ".x", "") + "." + tok.kind + "." + s
				}

				out := cli("info")
				wantScope := "project:releases"
				if tok.kind == "org" {
					wantScope = "org:ci"
				}
				if !strings.Contains(out, wantScope) || !strings.Contains(out, f.URL) {
					t.Errorf("info:\n%s", out)
				}
				out = cli("projects", "list")
				if !strings.Contains(out, "web") || !strings.Contains(out, "api") {
					t.Errorf("projects list:\n%s", out)
				}

				// One project, then several.
				cli("releases", "new", v("1"), "-p", "web")
				cli("releases", "new", v("2"), "-p", "web", "-p", "api")
				if st, r := getRelease(t, f, v("2")); st != 200 || slugsOf(r) != "api,web" && slugsOf(r) != "web,api" || r.DateReleased != nil {
					t.Errorf("release 2: %d %+v", st, r)
				}
				cli("releases", "finalize", v("2"))
				if st, r := getRelease(t, f, v("2")); st != 200 || r.DateReleased == nil {
					t.Errorf("finalized release 2: %d %+v", st, r)
				}
				out = cli("releases", "list")
				if !strings.Contains(out, v("1")) || !strings.Contains(out, v("2")) {
					t.Errorf("releases list:\n%s", out)
				}
				if out = cli("releases", "list", "-p", "api"); strings.Contains(out, v("1")) || !strings.Contains(out, v("2")) {
					t.Errorf("releases list -p api:\n%s", out)
				}
				if out = cli("releases", "info", v("2")); !strings.Contains(out, v("2")) {
					t.Errorf("releases info:\n%s", out)
				}
				sentryCLI(t, f, l.bin, tok.token, repo.dir, true, "releases", "info", v("nosuch"))

				// Commits from the local repository: the first time all of
				// them, then those since the previous release with commits.
				head := repo.commit("Ann", "ann@example.com")
				wantCount, wantAuthors := 1, 1
				if runs == 0 {
					wantCount, wantAuthors = len(first)+1, 2
				}
				runs++
				out = cli("releases", "set-commits", v("2"), "--local")
				if st, r := getRelease(t, f, v("2")); st != 200 || r.CommitCount != wantCount || r.LastCommit == nil ||
					r.LastCommit.ID != head || len(r.Authors) != wantAuthors {
					t.Errorf("commits of release 2: %d %+v, want %d commits, the last %s", st, r, wantCount, head)
				}
				var cs []struct {
					ID     string
					Author struct{ Email string }
					Files  []struct{ Path, Type string }
				}
				if st, raw := f.Do("GET", "/api/0/organizations/acme/releases/"+v("2")+"/commits/", nil, &cs); st != 200 ||
					len(cs) != wantCount || cs[0].ID != head || cs[0].Author.Email != "ann@example.com" || len(cs[0].Files) != 1 {
					t.Errorf("commits: %d %s", st, raw)
				}
				cli("releases", "new", v("3"), "-p", "web")
				out = cli("releases", "set-commits", v("3"), "--commit", "acme/web@"+head)
				if !strings.Contains(out, head[:12]) {
					t.Errorf("set-commits --commit:\n%s", out)
				}
				if st, r := getRelease(t, f, v("3")); st != 200 || r.Data["refs"] == nil {
					t.Errorf("refs of release 3: %d %+v", st, r)
				}

				// Deploys: each line's command, and 3.x's hidden alias too.
				envs := []string{"production"}
				if l.modern {
					cli("deploys", "new", "-r", v("2"), "-e", "production", "-n", "first")
					cli("releases", "deploys", v("2"), "new", "-e", "staging")
					envs = append(envs, "staging")
					out = cli("deploys", "list", "-r", v("2"))
				} else {
					cli("releases", "deploys", v("2"), "new", "-e", "production", "-n", "first")
					out = cli("releases", "deploys", v("2"), "list")
				}
				for _, e := range envs {
					if !strings.Contains(out, e) {
						t.Errorf("deploys list has no %s:\n%s", e, out)
					}
				}
				if l.modern {
					if alias := cli("releases", "deploys", v("2"), "list"); !strings.Contains(alias, "staging") {
						t.Errorf("releases deploys list:\n%s", alias)
					}
				}
				if st, r := getRelease(t, f, v("2")); st != 200 || r.DeployCount != len(envs) || r.LastDeploy == nil {
					t.Errorf("deploys of release 2: %d %+v", st, r)
				}
				var deps []struct{ Environment, Name string }
				if st, raw := f.Do("GET", "/api/0/organizations/acme/releases/"+v("2")+"/deploys/", nil, &deps); st != 200 ||
					len(deps) < len(envs) {
					t.Errorf("deploys: %d %s", st, raw)
				}

				out = sentryCLI(t, f, l.bin, tok.token, repo.dir, true, "releases", "delete", "shop@with-issue")
				if !strings.Contains(out, "referenced by active issues") {
					t.Errorf("deleting a release with an issue:\n%s", out)
				}
				if st, _ := getRelease(t, f, "shop@with-issue"); st != 200 {
					t.Errorf("the refused deletion deleted it: %d", st)
				}
				cli("releases", "delete", v("1"))
				if st, _ := getRelease(t, f, v("1")); st != 404 {
					t.Errorf("deleted release 1: %d", st)
				}
			})
		}
	}
	var all []apiRelease
	if st, raw := f.Do("GET", "/api/0/organizations/acme/releases/", nil, &all); st != 200 {
		t.Fatalf("list: %d %s", st, raw)
	}
	b, _ := json.Marshal(all)
	t.Logf("releases: %s", b)
}
