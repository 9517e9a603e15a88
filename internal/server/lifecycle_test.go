package server_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

func reportCheckout(hub *sentry.Hub) { hub.CaptureException(errors.New("checkout failed")) }

type issueDetail struct {
	testserver.Issue
	Substatus     string         `json:"substatus"`
	StatusDetails map[string]any `json:"statusDetails"`
	FirstRelease  *struct {
		Version string `json:"version"`
	} `json:"firstRelease"`
	LastRelease *struct {
		Version string `json:"version"`
	} `json:"lastRelease"`
}

// TestIssueLifecycleWithSentryGo drives the issue lifecycle through the
// API with events from the real sentry-go SDK: scrubbing settings, first
// and last release, grouping info, ignoring until a count, and resolving
// in the next release.
func TestIssueLifecycleWithSentryGo(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "shop", "go")
	base := "/api/0/projects/acme/shop/"

	// Scrubbing settings, with Sentry's field names.
	var proj map[string]any
	if st, raw := f.Do("PUT", base, map[string]any{"sensitiveFields": []string{"card_holder"}, "safeFields": []string{"session"},
		"scrubIPAddresses": true}, &proj); st != 200 {
		t.Fatalf("PUT project: %d %s", st, raw)
	}
	if proj["dataScrubber"] != true || proj["dataScrubberDefaults"] != true || proj["scrubIPAddresses"] != true ||
		proj["groupingConfig"] != "newstyle:2023-01-11" || len(proj["sensitiveFields"].([]any)) != 1 {
		t.Fatalf("project %v", proj)
	}
	if st, raw := f.Do("PUT", base, map[string]any{"sensitiveFields": []string{strings.Repeat("x", 300)}}, nil); st != 400 || !strings.Contains(string(raw), `"detail"`) {
		t.Fatalf("oversized field: %d %s", st, raw)
	}

	send := func(release string, n int) {
		client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport(), Release: release})
		if err != nil {
			t.Fatal(err)
		}
		hub := sentry.NewHub(client, sentry.NewScope())
		// Built at run time: the secrets must not be in the source lines
		// that sentry-go sends with each frame.
		hub.Scope().SetUser(sentry.User{ID: "u-1", IPAddress: strings.Join([]string{"198", "51", "100", "4"}, ".")})
		hub.Scope().SetContext("payment", sentry.Context{"db_password": "hun" + "ter2", "card_holder": "Alice" + " Example"})
		for i := 0; i < n; i++ {
			reportCheckout(hub)
		}
		if !hub.Flush(5 * time.Second) {
			t.Fatal("flush")
		}
	}
	total := 0
	wait := func(n int) testserver.Issue {
		total += n
		is := f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == total })
		if len(is) != 1 {
			t.Fatalf("issues %+v", is)
		}
		return is[0]
	}
	detail := func(id string) issueDetail {
		var d issueDetail
		if st, raw := f.Do("GET", "/api/0/issues/"+id+"/", nil, &d); st != 200 {
			t.Fatalf("issue: %d %s", st, raw)
		}
		return d
	}

	send("shop@1.0", 1)
	is := wait(1)
	d := detail(is.ID)
	if d.FirstRelease == nil || d.FirstRelease.Version != "shop@1.0" || d.LastRelease == nil || d.LastRelease.Version != "shop@1.0" {
		t.Fatalf("releases: %+v %+v", d.FirstRelease, d.LastRelease)
	}

	// The stored event is scrubbed.
	_, raw := f.Do("GET", "/api/0/issues/"+is.ID+"/events/latest/", nil, nil)
	for _, secret := range []string{"hunter2", "Alice Example", "198.51.100.4"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("%q is in the stored event: %s", secret, raw)
		}
	}
	var ev struct {
		EventID      string   `json:"eventID"`
		Fingerprints []string `json:"fingerprints"`
	}
	f.Do("GET", "/api/0/issues/"+is.ID+"/events/latest/", nil, &ev)

	// Grouping info, for the issue and for the event, in Sentry's shape.
	for _, path := range []string{"/api/0/issues/" + is.ID + "/grouping-info/", base + "events/" + ev.EventID + "/grouping-info/"} {
		var info map[string]struct {
			Hash         *string `json:"hash"`
			Contributes  bool    `json:"contributes"`
			HashMismatch bool    `json:"hashMismatch"`
			Description  string  `json:"description"`
			Component    struct {
				ID string `json:"id"`
			} `json:"component"`
		}
		if st, raw := f.Do("GET", path, nil, &info); st != 200 {
			t.Fatalf("%s: %d %s", path, st, raw)
		}
		app, ok := info["app_chained_exception_stacktrace"]
		if !ok {
			app = info["app_exception_stacktrace"]
		}
		if app.Hash == nil || len(ev.Fingerprints) != 1 || *app.Hash != ev.Fingerprints[0] || !app.Contributes || app.HashMismatch || app.Component.ID != "app" {
			t.Errorf("%s: %+v (event fingerprints %v)", path, info, ev.Fingerprints)
		}
	}

	// Ignore until two more events; a bad condition is refused.
	if st, raw := f.Do("PUT", "/api/0/issues/"+is.ID+"/", map[string]any{"status": "ignored", "statusDetails": map[string]any{"ignoreCount": -1}}, nil); st != 400 || !strings.Contains(string(raw), "ignoreCount") {
		t.Fatalf("bad ignoreCount: %d %s", st, raw)
	}
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second))) // counts start at the second of the ignore
	var upd issueDetail
	if st, raw := f.Do("PUT", "/api/0/issues/"+is.ID+"/", map[string]any{"status": "ignored", "statusDetails": map[string]any{"ignoreCount": 2}}, &upd); st != 200 {
		t.Fatalf("ignore: %d %s", st, raw)
	}
	if upd.Status != "ignored" || upd.Substatus != "archived_until_condition_met" || upd.StatusDetails["ignoreCount"] != float64(2) {
		t.Fatalf("ignored issue %+v", upd)
	}
	send("shop@1.0", 1)
	wait(1)
	if d := detail(is.ID); d.Status != "ignored" {
		t.Fatalf("after one event: %s/%s", d.Status, d.Substatus)
	}
	send("shop@1.0", 1)
	wait(1)
	if d := detail(is.ID); d.Status != "unresolved" || d.Substatus != "escalating" {
		t.Fatalf("after two events: %s/%s", d.Status, d.Substatus)
	}

	// Resolve in the next release: the current release does not reopen it,
	// a new one does, as a regression.
	if st, raw := f.Do("PUT", "/api/0/issues/"+is.ID+"/", map[string]any{"status": "resolved", "statusDetails": map[string]any{"inNextRelease": true}}, &upd); st != 200 || upd.StatusDetails["inNextRelease"] != true {
		t.Fatalf("resolve in next release: %d %s", st, raw)
	}
	time.Sleep(5 * time.Millisecond)
	send("shop@1.0", 1)
	wait(1)
	if d := detail(is.ID); d.Status != "resolved" {
		t.Fatalf("an event of the current release reopened it: %s/%s", d.Status, d.Substatus)
	}
	send("shop@2.0", 1)
	wait(1)
	d = detail(is.ID)
	if d.Status != "unresolved" || d.Substatus != "regressed" || d.LastRelease == nil || d.LastRelease.Version != "shop@2.0" || d.FirstRelease.Version != "shop@1.0" {
		t.Fatalf("after a new release: %s/%s first %+v last %+v", d.Status, d.Substatus, d.FirstRelease, d.LastRelease)
	}

	// ignoreDuration becomes Sentry's ignoreUntil; unresolving clears it.
	before := time.Now()
	if st, raw := f.Do("PUT", "/api/0/issues/"+is.ID+"/", map[string]any{"status": "ignored", "statusDetails": map[string]any{"ignoreDuration": 30}}, &upd); st != 200 {
		t.Fatalf("ignore for 30 minutes: %d %s", st, raw)
	}
	until, err := time.Parse(time.RFC3339, upd.StatusDetails["ignoreUntil"].(string))
	if err != nil || until.Before(before.Add(29*time.Minute)) || until.After(time.Now().Add(31*time.Minute)) || upd.Substatus != "archived_until_condition_met" {
		t.Fatalf("ignored for 30 minutes: %+v (%v)", upd, err)
	}
	var ignored []testserver.Issue
	if st, _ := f.Do("GET", base+"issues/?query=is:ignored", nil, &ignored); st != 200 || len(ignored) != 1 {
		t.Fatalf("is:ignored lists %d issues", len(ignored))
	}
	if st, raw := f.Do("PUT", "/api/0/issues/"+is.ID+"/", map[string]any{"status": "resolvedInNextRelease"}, &upd); st != 200 || upd.Status != "resolved" || upd.StatusDetails["inNextRelease"] != true {
		t.Fatalf("resolvedInNextRelease: %d %s", st, raw)
	}
	upd = issueDetail{}
	if st, raw := f.Do("PUT", "/api/0/issues/"+is.ID+"/", map[string]any{"status": "unresolved"}, &upd); st != 200 || len(upd.StatusDetails) != 0 || upd.Substatus != "ongoing" {
		t.Fatalf("unresolve: %d %s", st, raw)
	}
}
