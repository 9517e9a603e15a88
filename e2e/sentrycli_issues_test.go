package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/internal/testserver"
)

// sentryCLIs are the sentry-cli lines tested: the current 3.x and the
// last 2.x (`make clients` installs both).
var sentryCLIs = []struct{ name, path string }{
	{"3.x", "clients/node_modules/.bin/sentry-cli"},
	{"2.x", "clients/cli2/node_modules/.bin/sentry-cli"},
}

// issueState is what the test reads of an issue through the API.
type issueState struct {
	ID            string         `json:"id"`
	ShortID       string         `json:"shortId"`
	Title         string         `json:"title"`
	Status        string         `json:"status"`
	Substatus     string         `json:"substatus"`
	StatusDetails map[string]any `json:"statusDetails"`
	Activity      []struct {
		Type string `json:"type"`
		User *struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"activity"`
}

// TestSentryCLIIssues drives `sentry-cli issues` of both lines with a
// user token: list (all, -s, -i, --query), resolve -i, mute -i, unresolve -i and
// resolve --all, each checked through the API, with the activity each
// change records.
func TestSentryCLIIssues(t *testing.T) {
	for _, cli := range sentryCLIs {
		t.Run(cli.name, func(t *testing.T) {
			bin, err := filepath.Abs(cli.path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(bin); err != nil {
				testenv.Missing(t, "sentry-cli "+cli.name+" is not installed (run `make clients`)")
			}
			f := testserver.Start(t, server.Config{})
			p := f.CreateProject("acme", "cli", "go")
			f.CreateProject("other", "cli", "go")
			var tok struct{ Token string }
			if st, raw := f.Do("POST", "/api/0/api-tokens/", map[string]any{"name": "cli",
				"scopes": []string{"org:read", "project:read", "event:read", "event:write"}}, &tok); st != 201 {
				t.Fatalf("token: %d %s", st, raw)
			}
			titles := []string{"cli issue alpha", "cli issue beta", "cli issue gamma"}
			for _, title := range titles {
				storeEvent(t, f, p, fmt.Sprintf(`{"message":%q}`, title))
			}
			ids := map[string]string{}
			for _, is := range f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return len(is) == 3 }) {
				ids[is.Title] = is.ID
			}
			alpha, beta, gamma := ids[titles[0]], ids[titles[1]], ids[titles[2]]
			run := func(args ...string) string {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, append([]string{"issues"}, args...)...)
				cmd.Dir = t.TempDir()
				cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir, "SENTRY_URL=" + f.URL,
					"SENTRY_AUTH_TOKEN=" + tok.Token, "SENTRY_ORG=acme", "SENTRY_PROJECT=cli",
					"SENTRY_DISABLE_UPDATE_CHECK=true", "SENTRY_LOAD_DOTENV=0", "SENTRY_NO_PROGRESS_BAR=1"}
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil {
					t.Fatalf("sentry-cli issues %v: %v\n%s", args, err, out.String())
				}
				t.Logf("sentry-cli issues %v:\n%s", args, out.String())
				return out.String()
			}
			state := func(id string) issueState {
				t.Helper()
				var is issueState
				if st, raw := f.Do("GET", "/api/0/issues/"+id+"/", nil, &is); st != 200 {
					t.Fatalf("issue %s: %d %s", id, st, raw)
				}
				return is
			}
			expect := func(want map[string]string) {
				t.Helper()
				for id, status := range want {
					if got := state(id).Status; got != status {
						t.Errorf("issue %s: %s, want %s", id, got, status)
					}
				}
			}

			out := run("list")
			for _, id := range []string{alpha, beta, gamma} {
				if !strings.Contains(out, state(id).ShortID) {
					t.Errorf("issues list does not show %s:\n%s", state(id).ShortID, out)
				}
			}
			if out := run("list", "-i", alpha); !strings.Contains(out, state(alpha).ShortID) {
				t.Errorf("issues list -i %s:\n%s", alpha, out)
			}

			run("resolve", "-i", alpha)
			expect(map[string]string{alpha: "resolved", beta: "unresolved", gamma: "unresolved"})
			// Both lines send `list -s` and `list -i` as ?query= (every issue,
			// narrowed by nothing): the table shows each issue's status.
			row := func(out, id string) string {
				for _, l := range strings.Split(out, "\n") {
					if strings.Contains(l, " "+state(id).ShortID+" ") {
						return l
					}
				}
				return ""
			}
			if out := run("list", "-s", "resolved"); !strings.Contains(row(out, alpha), " resolved ") ||
				!strings.Contains(row(out, beta), " unresolved ") {
				t.Errorf("issues list -s resolved:\n%s", out)
			}
			if out := run("list", "--query", "is:resolved"); row(out, alpha) == "" || row(out, beta) != "" || row(out, gamma) != "" {
				t.Errorf("issues list --query is:resolved:\n%s", out)
			}

			// sentry-cli sends {"status":"muted","snoozeDuration":null}:
			// ignored until further notice.
			run("mute", "-i", beta)
			expect(map[string]string{alpha: "resolved", beta: "ignored", gamma: "unresolved"})
			if is := state(beta); is.Substatus != "archived_forever" || is.StatusDetails["ignoreUntil"] != nil {
				t.Errorf("muted: %+v", is)
			}
			run("unresolve", "-i", beta)
			expect(map[string]string{alpha: "resolved", beta: "unresolved", gamma: "unresolved"})

			run("resolve", "--all")
			expect(map[string]string{alpha: "resolved", beta: "resolved", gamma: "resolved"})

			var types []string
			for _, a := range state(beta).Activity {
				if a.Type != "first_seen" && a.User == nil {
					t.Errorf("activity %s without the token's user", a.Type)
				}
				types = append(types, a.Type)
			}
			if got := strings.Join(types, " "); got != "set_resolved set_unresolved set_ignored first_seen" {
				t.Errorf("activity of %s: %s", beta, got)
			}
			if got := len(state(alpha).Activity); got != 2 {
				t.Errorf("alpha has %d activities, want 2 (resolved once, first seen)", got)
			}
			// The other organization's issues were never reachable.
			var others []issueState
			if st, raw := f.Do("GET", "/api/0/projects/other/cli/issues/?query=", nil, &others); st != 200 || len(others) != 0 {
				t.Errorf("other: %d %s", st, raw)
			}
		})
	}
}

// storeEvent sends one event to the project's store endpoint.
func storeEvent(t *testing.T, f *testserver.Faultline, p testserver.Project, body string) {
	t.Helper()
	resp, err := http.Post(f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey+"&sentry_version=7", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("store: %d", resp.StatusCode)
	}
}
