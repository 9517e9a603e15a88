package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// lockedBuffer collects the server's log, written from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// xssTitle is an event message that would run if it were not escaped.
const xssTitle = `<script>alert(1)</script><img src=x onerror=alert(2)> {{.Nav}}`

// uiSummary is what ui-browser.mjs reports.
type uiSummary struct {
	OK             bool           `json:"ok"`
	Failures       []string       `json:"failures"`
	Console        []string       `json:"console"`
	ResolvedByBulk string         `json:"resolvedByBulk"`
	ResolvedByKey  string         `json:"resolvedByKey"`
	KeptByKey      string         `json:"keptByKey"`
	Timings        map[string]any `json:"timings"`
	Pages          int            `json:"pages"`
	Paged          int            `json:"paged"`
	Projects       []struct {
		Name       string `json:"name"`
		Unresolved int    `json:"unresolved"`
		Bars       int    `json:"bars"`
	} `json:"projects"`
}

// TestWebUI drives the web UI in Chromium (ui-browser.mjs) against a real
// server: the first admin set up through /setup/ with the code from the
// log, 115 issues sent by sentry-go in two projects, then the organization
// page, the issue list's search, tabs, bulk resolve, keyboard shortcuts,
// paging and themes, with no console error (a CSP violation is one). What
// the clicks and keys changed is checked through the API. Screenshots go
// to e2e/screenshots/ (git-ignored).
func TestWebUI(t *testing.T) {
	node := need(t, "node", "apt-get install nodejs")
	need(t, "/usr/bin/chromium", "apt-get install chromium")
	needModules(t)
	var logBuf lockedBuffer
	f := testserver.StartWithLog(t, server.Config{}, &logBuf)
	m := regexp.MustCompile(`setup_code=(\S+)`).FindStringSubmatch(logBuf.String())
	if m == nil {
		t.Fatal("no setup code in the server's log")
	}
	web := f.CreateProject("acme", "web", "go")
	api := f.CreateProject("acme", "api", "go")
	send := func(p testserver.Project, release string, msgs ...string) {
		client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Release: release, Environment: "prod",
			Transport: sentry.NewHTTPSyncTransport()})
		if err != nil {
			t.Fatal(err)
		}
		hub := sentry.NewHub(client, sentry.NewScope())
		for _, msg := range msgs {
			// One issue per message: message grouping would fold the
			// numbered ones together.
			hub.WithScope(func(scope *sentry.Scope) {
				scope.SetFingerprint([]string{msg})
				hub.CaptureMessage(msg)
			})
		}
	}
	start := time.Now()
	var filler []string
	for i := range 110 {
		filler = append(filler, fmt.Sprintf("background job %03d failed", i))
	}
	send(web, "1.0", filler...)
	send(web, "1.0", "checkout failed in 1.0")
	send(web, "2.0", "checkout failed in 2.0 (card)", "checkout failed in 2.0 (address)", "checkout failed in 2.0 (card)")
	send(api, "2.0", "timeout talking to the database")
	// Event data is the attacker's: shown as text, never run.
	send(web, "1.0", xssTitle)
	// 114 issues (an issue list shows 100 at most: count them instead).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var n map[string]int
		if st, raw := f.Do("GET", "/api/0/organizations/acme/issues-count/?query=", nil, &n); st != 200 {
			t.Fatalf("issues-count: %d %s", st, raw)
		}
		if n[""] == 115 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d issues, want 115", n[""])
		}
	}

	sent := time.Since(start).Round(time.Millisecond)
	shots, err := filepath.Abs("screenshots")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "ui-browser.mjs")
	cmd.Dir = "clients"
	cmd.Env = append(os.Environ(), "FAULTLINE_URL="+f.URL, "FAULTLINE_SETUP_CODE="+m[1], "FAULTLINE_ORG=acme",
		"FAULTLINE_SCREENSHOTS="+shots, "FAULTLINE_XSS="+xssTitle)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var s uiSummary
	line := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if err := json.Unmarshal([]byte(line), &s); err != nil || runErr != nil {
		t.Fatalf("ui-browser.mjs: %v %v\nstdout: %s\nstderr: %s", runErr, err, stdout.String(), stderr.String())
	}
	for _, fl := range s.Failures {
		t.Error(fl)
	}
	t.Logf("paged through %d issues in %d pages; projects %+v; browser ms since start %v; events sent and stored in %v",
		s.Paged, s.Pages, s.Projects, s.Timings, sent)

	// The organization page showed each project's unresolved issues and
	// 24 hourly bars.
	want := map[string]int{"web": 114, "api": 1}
	for _, p := range s.Projects {
		if p.Unresolved != want[p.Name] || p.Bars != 24 {
			t.Errorf("organization page: project %s showed %d unresolved and %d bars, want %d and 24", p.Name, p.Unresolved, p.Bars, want[p.Name])
		}
	}
	// What the browser changed, through the API.
	status := func(id string) string {
		var is testserver.Issue
		if st, raw := f.Do("GET", "/api/0/organizations/acme/issues/"+id+"/", nil, &is); st != 200 {
			t.Fatalf("issue %s: %d %s", id, st, raw)
		}
		return is.Status
	}
	for id, wantStatus := range map[string]string{s.ResolvedByBulk: "resolved", s.ResolvedByKey: "resolved", s.KeptByKey: "unresolved"} {
		if id == "" {
			t.Errorf("the browser reported no issue for %q", wantStatus)
			continue
		}
		if got := status(id); got != wantStatus {
			t.Errorf("issue %s is %s, want %s", id, got, wantStatus)
		}
	}
	if s.Paged != 113 || s.Pages != 5 {
		t.Errorf("paging: %d issues on %d pages, want 113 on 5", s.Paged, s.Pages)
	}
}
