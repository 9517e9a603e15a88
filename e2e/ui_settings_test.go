package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestSettingsPagesInBrowser drives Chromium (clients/ui-settings.mjs)
// through the project and settings pages of a real server: a project
// created with the form, its DSN copied with the copy button, the test
// event sent and its issue opened, an API token created, used and
// revoked, with axe-core and screenshots (light and dark, 1280×800 and
// 390 px) of every page. What the browser did is checked through the API.
func TestSettingsPagesInBrowser(t *testing.T) {
	node := need(t, "node", "apt-get install nodejs")
	need(t, "/usr/bin/chromium", "apt-get install chromium")
	needModules(t)
	const email, password = "admin@example.com", "a long enough admin password"
	f := testserver.Start(t, server.Config{AdminEmail: email, AdminPassword: password})
	f.CreateProject("acme", "web", "go")
	shots, err := filepath.Abs("screenshots")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "ui-settings.mjs")
	cmd.Dir = "clients"
	cmd.Env = append(os.Environ(), "FAULTLINE_URL="+f.URL, "FAULTLINE_ORG=acme", "FAULTLINE_SCREENSHOTS="+shots,
		"UI_EMAIL="+email, "UI_PASSWORD="+password)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("browser run: %s", time.Since(start).Round(time.Millisecond))
	var sum struct {
		OK         bool
		Failures   []string
		DSN        string
		TestIssue  string
		Token      string
		Shots      int
		TokenAfter int
	}
	line := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if err := json.Unmarshal([]byte(line), &sum); err != nil || runErr != nil || !sum.OK {
		t.Fatalf("ui-settings.mjs: %v %v %v\nstdout: %s\nstderr: %s", runErr, err, sum.Failures, stdout.String(), stderr.String())
	}
	t.Logf("%d screenshots in %s", sum.Shots, shots)
	// The project the form created, with the DSN the page showed.
	var keys []struct {
		DSN struct{ Public string } `json:"dsn"`
	}
	if st, raw := f.Do("GET", "/api/0/projects/acme/checkout/keys/", nil, &keys); st != 200 || len(keys) != 1 || keys[0].DSN.Public != sum.DSN {
		t.Fatalf("the created project's keys: %d %s; the page copied %q", st, raw, sum.DSN)
	}
	// The test event's issue, in that project.
	issues := f.Issues(testserver.Project{Org: "acme", Slug: "checkout"})
	if len(issues) != 1 || !strings.Contains(issues[0].Title, "This is a test event") || !strings.HasSuffix(sum.TestIssue, "/"+issues[0].ID+"/") {
		t.Errorf("the test event's issue: %+v, the browser opened %s", issues, sum.TestIssue)
	}
	// The revoked token stays refused.
	req, _ := http.NewRequest("GET", f.URL+"/api/0/organizations/acme/", nil)
	req.Header.Set("Authorization", "Bearer "+sum.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || sum.TokenAfter != 401 {
		t.Errorf("the revoked token: %d (the browser saw %d), want 401", resp.StatusCode, sum.TokenAfter)
	}
}
