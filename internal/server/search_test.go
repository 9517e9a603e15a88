package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/store"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/internal/testserver"
)

// TestIssueSearchAPI drives every operator of the issue search through
// the project's issue list (GET /api/0/projects/{org}/{project}/issues/)
// on a real server, on chDB and on the ClickHouse server, with events
// sent by sentry-go:
//
//	checkout: 4 events now, error, prod, release 1.0, user a@x.io, browser Chrome;
//	login:    1 event now, warning, staging, release 2.0, browser Firefox, no user; resolved;
//	cart:     2 events 10 days ago and 1 now, fatal, prod, release 2.0, user b@x.io,
//	          no browser; resolved before the last one, so it regressed.
func TestIssueSearchAPI(t *testing.T) {
	t.Run("chdb", func(t *testing.T) { searchAPI(t, testserver.Start(t, server.Config{})) })
	t.Run("server", func(t *testing.T) {
		u := testenv.ClickHouseURL(t)
		db := fmt.Sprintf("faultline_search_%d", rand.Uint64())
		t.Cleanup(func() { dropDatabase(t, u, db) })
		searchAPI(t, testserver.Start(t, server.Config{Store: store.Config{URL: u, Database: db}}))
	})
}

func dropDatabase(t *testing.T, u, db string) {
	opts, err := clickhouse.ParseDSN(u)
	if err != nil {
		t.Error(err)
		return
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS `"+db+"`"); err != nil {
		t.Error(err)
	}
}

func searchAPI(t *testing.T, f *testserver.Faultline) {
	p := f.CreateProject("acme", "web", "go")
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	now := time.Now().UTC()
	send := func(msg string, level sentry.Level, env, release, email string, tags map[string]string, at time.Time) {
		e := sentry.NewEvent()
		e.Message, e.Level, e.Environment, e.Release, e.Tags, e.Timestamp = msg, level, env, release, tags, at
		if email != "" {
			e.User = sentry.User{Email: email, ID: strings.Split(email, "@")[0]}
		}
		if hub.CaptureEvent(e) == nil {
			t.Fatalf("%s: not sent", msg)
		}
	}
	for range 4 {
		send("checkout failed", sentry.LevelError, "prod", "1.0", "a@x.io", map[string]string{"browser": "Chrome"}, now)
	}
	send("login slow", sentry.LevelWarning, "staging", "2.0", "", map[string]string{"browser": "Firefox"}, now)
	for i := range 2 {
		send("cart crashed", sentry.LevelFatal, "prod", "2.0", "b@x.io", nil, now.Add(-240*time.Hour+time.Duration(i)*time.Minute))
	}
	issues := f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 7 })
	ids := map[string]string{}
	for _, is := range issues {
		ids[strings.Fields(is.Title)[0]] = is.ID
	}
	for _, name := range []string{"login", "cart"} {
		if st, raw := f.Do("PUT", "/api/0/projects/acme/web/issues/?id="+ids[name], map[string]string{"status": "resolved"}, nil); st != 200 {
			t.Fatalf("resolve %s: %d %s", name, st, raw)
		}
	}
	send("cart crashed", sentry.LevelFatal, "prod", "2.0", "b@x.io", nil, time.Now().UTC()) // after the resolution: a regression
	f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool {
		return testserver.TotalCount(is) == 8 && slices.ContainsFunc(is, func(i testserver.Issue) bool {
			return i.ID == ids["cart"] && i.Status == "unresolved"
		})
	})
	names := map[string]string{}
	for n, id := range ids {
		names[id] = n
	}
	list := func(path string) ([]string, int, string) {
		var got []testserver.Issue
		st, raw := f.Do("GET", path, nil, &got)
		var out []string
		for _, is := range got {
			out = append(out, names[is.ID])
		}
		return out, st, string(raw)
	}
	old := now.Add(-11 * 24 * time.Hour).Format("2006-01-02T15:04:05")
	for _, tc := range []struct {
		query string
		want  []string // sorted
	}{
		{"", []string{"cart", "checkout", "login"}},
		{"is:unresolved", []string{"cart", "checkout"}},
		{"is:resolved", []string{"login"}},
		{"is:regressed", []string{"cart"}},
		{"is:ignored", nil},
		{"is:new", []string{"checkout", "login"}}, // first seen in the last 7 days
		{"level:error", []string{"checkout"}},
		{"!level:error", []string{"cart", "login"}},
		{"level:[warning,fatal]", []string{"cart", "login"}},
		{"!level:[warning,fatal]", []string{"checkout"}},
		{"release:1.0", []string{"checkout"}},
		{"release:latest", []string{"cart", "login"}},
		{"!release:latest", []string{"checkout"}},
		{"release:[1.0,2.0]", []string{"cart", "checkout", "login"}},
		{"environment:staging", []string{"login"}},
		{"!environment:staging", []string{"cart", "checkout"}},
		{"user.email:b@x.io", []string{"cart"}},
		{"user.id:a", []string{"checkout"}},
		{"has:user.email", []string{"cart", "checkout"}},
		{"!has:user.email", []string{"login"}},
		{"has:browser", []string{"checkout", "login"}},
		{"browser:Chrome", []string{"checkout"}},
		{"!browser:Chrome", []string{"cart", "login"}},
		{"!browser:[Chrome,Firefox]", []string{"cart"}},
		{"tags[browser]:Firefox", []string{"login"}},
		{"timesSeen:>3", []string{"checkout"}},
		{"timesSeen:>=3", []string{"cart", "checkout"}},
		{"timesSeen:<2", []string{"login"}},
		{"timesSeen:3", []string{"cart"}},
		{"firstSeen:+7d", []string{"cart"}},
		{"firstSeen:-24h", []string{"checkout", "login"}},
		{"age:-24h level:error", []string{"checkout"}},
		{"lastSeen:+1d", nil},
		{"lastSeen:-1h", []string{"cart", "checkout", "login"}},
		{"firstSeen:<" + old, nil},
		{"firstSeen:>" + old, []string{"cart", "checkout", "login"}},
		{`"checkout failed"`, []string{"checkout"}},
		{"CRASHED", []string{"cart"}},
		{"checkout !browser:Chrome", nil},
		{"is:unresolved level:fatal firstSeen:+7d", []string{"cart"}},
		{"is:unresolved browser:Chrome timesSeen:>1", []string{"checkout"}},
		// Wildcards, through the same parser.
		{"release:1.*", []string{"checkout"}},
		{"release:*", []string{"cart", "checkout", "login"}},
		{"!release:2*", []string{"checkout"}},
		{"browser:*ire*", []string{"login"}},
		{"browser:[Chr*,x]", []string{"checkout"}},
		{"environment:stag*", []string{"login"}},
		{"message:*out*FAIL*", []string{"checkout"}},
		{"c*d", []string{"cart", "checkout"}}, // "cart crashed", "checkout failed"
		{"user.email:*@x.io", []string{"cart", "checkout"}},
	} {
		got, st, raw := list("/api/0/projects/acme/web/issues/?query=" + url.QueryEscape(tc.query))
		slices.Sort(got)
		if st != 200 || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %d %v, want %v (%s)", tc.query, st, got, tc.want, raw)
		}
	}
	// Refusals: 400 with Sentry's detail naming the term.
	for _, q := range []string{"is:bogus", "timesSeen:>many", "firstSeen:yesterday", "lastSeen:-3x", "level:>error", `"unclosed`, "browser:[a,b", "has:br*"} {
		var detail struct{ Detail string }
		st, raw := f.Do("GET", "/api/0/projects/acme/web/issues/?query="+url.QueryEscape(q), nil, nil)
		json.Unmarshal(raw, &detail) //nolint:errcheck
		term := q
		switch q {
		case `"unclosed`:
			term = "unbalanced quotes"
		case "browser:[a,b":
			term = "browser:[a,b"
		}
		if st != 400 || !strings.Contains(detail.Detail, term) {
			t.Errorf("%q: %d %s, want 400 naming %q", q, st, raw, term)
		}
	}
	// Sorts: events, then first seen.
	if got, _, raw := list("/api/0/projects/acme/web/issues/?query=&sort=freq"); !slices.Equal(got, []string{"checkout", "cart", "login"}) {
		t.Errorf("sort=freq: %v %s", got, raw)
	}
	if got, _, raw := list("/api/0/projects/acme/web/issues/?query=&sort=new"); len(got) != 3 || got[2] != "cart" {
		t.Errorf("sort=new: %v %s", got, raw)
	}
	// Time ranges: the organization's list takes statsPeriod, start and
	// end; the project's start and end.
	startEnd := "&start=" + now.Add(-11*24*time.Hour).Format(time.RFC3339) + "&end=" + now.Add(-9*24*time.Hour).Format(time.RFC3339)
	for path, want := range map[string][]string{
		"/api/0/organizations/acme/issues/?query=&statsPeriod=24h":                  {"cart", "checkout", "login"},
		"/api/0/organizations/acme/issues/?query=&statsPeriod=24h&sort=freq":        {"checkout", "cart", "login"},
		"/api/0/organizations/acme/issues/?query=" + startEnd:                       {"cart"},
		"/api/0/projects/acme/web/issues/?query=" + startEnd:                        {"cart"},
		"/api/0/organizations/acme/issues/?query=is:unresolved&environment=staging": nil,
	} {
		got, st, raw := list(path)
		if !strings.Contains(path, "sort=freq") {
			slices.Sort(got)
		}
		if st != 200 || !slices.Equal(got, want) {
			t.Errorf("%s: %d %v, want %v (%s)", path, st, got, want, raw)
		}
	}
	// In the range, counts are the range's: cart has 2 events 10 days ago.
	var ranged []testserver.Issue
	if st, raw := f.Do("GET", "/api/0/organizations/acme/issues/?query="+startEnd, nil, &ranged); st != 200 || len(ranged) != 1 || ranged[0].Count != "2" {
		t.Errorf("ranged counts: %d %s", st, raw)
	}
	for _, bad := range []string{"statsPeriod=7x", "start=2026-01-01", "start=yesterday&end=today", "start=2026-01-02&end=2026-01-01"} {
		if st, raw := f.Do("GET", "/api/0/organizations/acme/issues/?"+bad, nil, nil); st != 400 {
			t.Errorf("%s: %d %s, want 400", bad, st, raw)
		}
	}
	// The tabs' counts follow the query, the environment and the range.
	var counts map[string]int
	if st, raw := f.Do("GET", "/api/0/organizations/acme/issues-count/?query=is:unresolved&query=is:regressed&query=is:resolved&query=&environment=prod&statsPeriod=14d", nil, &counts); st != 200 {
		t.Fatalf("issues-count: %d %s", st, raw)
	}
	if fmt.Sprint(counts) != fmt.Sprint(map[string]int{"is:unresolved": 2, "is:regressed": 1, "is:resolved": 0, "": 2}) {
		t.Errorf("issues-count: %v", counts)
	}
	// Environments, organization and project, as Sentry shapes them.
	var envs []map[string]any
	if st, raw := f.Do("GET", "/api/0/organizations/acme/environments/", nil, &envs); st != 200 || len(envs) != 2 ||
		envs[0]["name"] != "prod" || envs[1]["name"] != "staging" || envs[0]["id"] == "" {
		t.Errorf("organization environments: %d %s", st, raw)
	}
	if st, raw := f.Do("GET", "/api/0/projects/acme/web/environments/", nil, &envs); st != 200 || len(envs) != 2 || envs[1]["isHidden"] != false {
		t.Errorf("project environments: %d %s", st, raw)
	}
	if st, raw := f.Do("GET", "/api/0/projects/acme/web/environments/?visibility=hidden", nil, &envs); st != 200 || len(envs) != 0 {
		t.Errorf("hidden environments: %d %s", st, raw)
	}
}
