package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestIssueCounts checks the counts behind the issue list's tabs
// (issues-count) and the organization's page (the project list's
// statsPeriod=24h) against issues sent by sentry-go and changed through
// the API.
func TestIssueCounts(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	web := f.CreateProject("acme", "web", "go")
	api := f.CreateProject("acme", "api", "go")
	send := func(p testserver.Project, msgs ...string) {
		client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport()})
		if err != nil {
			t.Fatal(err)
		}
		hub := sentry.NewHub(client, sentry.NewScope())
		for _, m := range msgs {
			hub.CaptureMessage(m)
		}
	}
	send(web, "checkout failed", "login failed", "cart failed", "cart failed")
	send(api, "timeout talking to db")
	issues := f.WaitIssues(web, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 4 })
	f.WaitIssues(api, 30*time.Second, func(is []testserver.Issue) bool { return len(is) == 1 })
	if st, raw := f.Do("PUT", "/api/0/organizations/acme/issues/?id="+issues[0].ID, map[string]string{"status": "resolved"}, nil); st != 200 {
		t.Fatalf("resolve: %d %s", st, raw)
	}
	for _, c := range []struct {
		params string
		want   map[string]int
	}{
		{"query=is:unresolved&query=is:resolved&query=is:ignored&query=", map[string]int{"is:unresolved": 3, "is:resolved": 1, "is:ignored": 0, "": 4}},
		{"query=failed&query=cart+is:unresolved&project=" + api.ID, map[string]int{"failed": 0, "cart is:unresolved": 0}},
		{"query=failed&project=" + web.ID, map[string]int{"failed": 3}},
	} {
		var got map[string]int
		if st, raw := f.Do("GET", "/api/0/organizations/acme/issues-count/?"+c.params, nil, &got); st != 200 {
			t.Fatalf("%s: %d %s", c.params, st, raw)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.params, got, c.want)
		}
	}
	if st, raw := f.Do("GET", "/api/0/organizations/acme/issues-count/?query=is:nonsense", nil, nil); st != 400 {
		t.Errorf("a bad query: %d %s, want 400", st, raw)
	}
	var projects []struct {
		Slug            string
		Stats           [][2]int64
		UnresolvedCount *int
	}
	if st, raw := f.Do("GET", "/api/0/organizations/acme/projects/?statsPeriod=24h", nil, &projects); st != 200 {
		t.Fatalf("projects: %d %s", st, raw)
	}
	want := map[string][2]int{"web": {2, 4}, "api": {1, 1}}
	for _, p := range projects {
		var sum int64
		for _, b := range p.Stats {
			sum += b[1]
		}
		if p.UnresolvedCount == nil || len(p.Stats) != 24 || [2]int{*p.UnresolvedCount, int(sum)} != want[p.Slug] {
			t.Errorf("project %s: unresolved %v, %d buckets, %d events; want %v", p.Slug, p.UnresolvedCount, len(p.Stats), sum, want[p.Slug])
		}
	}
	if len(projects) != 2 {
		t.Errorf("%d projects", len(projects))
	}
	if st, _ := f.Do("GET", "/api/0/organizations/acme/projects/?statsPeriod=7w", nil, nil); st != 400 {
		t.Errorf("a bad statsPeriod: %d, want 400", st)
	}
}
