package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/store"
	"github.com/faultline/faultline/internal/testserver"
)

// issueJSON is what the bulk tests read of an issue.
type issueJSON struct {
	ID            string         `json:"id"`
	Title         string         `json:"title"`
	Status        string         `json:"status"`
	Substatus     string         `json:"substatus"`
	StatusDetails map[string]any `json:"statusDetails"`
	Project       struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
	} `json:"project"`
	Activity []struct {
		ID   string         `json:"id"`
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
		User *struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		} `json:"user"`
		DateCreated string `json:"dateCreated"`
	} `json:"activity"`
}

func getIssue(t *testing.T, f *testserver.Faultline, id string) issueJSON {
	t.Helper()
	var is issueJSON
	if st, raw := f.Do("GET", "/api/0/issues/"+id+"/", nil, &is); st != 200 {
		t.Fatalf("issue %s: %d %s", id, st, raw)
	}
	return is
}

func listIssues(t *testing.T, f *testserver.Faultline, path string) []issueJSON {
	t.Helper()
	var out []issueJSON
	if st, raw := f.Do("GET", path, nil, &out); st != 200 {
		t.Fatalf("%s: %d %s", path, st, raw)
	}
	return out
}

// issuesByTitle sends one event per title and waits for their issues.
func issuesByTitle(t *testing.T, f *testserver.Faultline, p testserver.Project, titles ...string) map[string]string {
	t.Helper()
	for _, title := range titles {
		sendEvent(t, f, p, fmt.Sprintf(`{"message":%q,"level":"error"}`, title))
	}
	out := map[string]string{}
	for _, is := range f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return len(is) == len(titles) }) {
		out[is.Title] = is.ID
	}
	return out
}

func statuses(t *testing.T, f *testserver.Faultline, ids ...string) string {
	t.Helper()
	var s []string
	for _, id := range ids {
		s = append(s, getIssue(t, f, id).Status)
	}
	return strings.Join(s, " ")
}

// TestBulkMutations drives the bulk routes at project and organization
// level: ids, status and query filters, the answer's shape, tenancy (an
// id of another organization's issue is never touched), the activity each
// change records, and bulk deletion.
func TestBulkMutations(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	web := f.CreateProject("acme", "web", "go")
	api := f.CreateProject("acme", "api", "go")
	other := f.CreateProject("other", "x", "go")
	w := issuesByTitle(t, f, web, "web one", "web two")
	a := issuesByTitle(t, f, api, "api one")
	o := issuesByTitle(t, f, other, "other one")
	w1, w2, a1, o1 := w["web one"], w["web two"], a["api one"], o["other one"]
	tok := testserver.AdminToken

	// Bad bodies and unsupported fields change nothing.
	for _, c := range []struct{ body, detail string }{
		{`[]`, "Invalid request body: expected an object."},
		{`{"status":"nope"}`, `status: "nope" is not a valid choice.`},
		{`{"hasSeen":1}`, "hasSeen: Must be a valid boolean."},
		{`{"status":"resolved","assignedTo":"nobody@example.com"}`, "assignedTo: Unknown actor input"},
		{`{"status":"resolved","merge":1}`, "Only a single issue was given: merging needs at least two."},
	} {
		st, _, raw := call(t, f, "PUT", "/api/0/projects/acme/web/issues/?id="+w1, c.body, tok)
		if st != 400 || detail(t, raw) != c.detail {
			t.Errorf("%s: %d %s", c.body, st, raw)
		}
	}
	many := strings.Repeat("id=1&", 1001)
	if st, _, raw := call(t, f, "PUT", "/api/0/projects/acme/web/issues/?"+many, `{"status":"resolved"}`, tok); st != 400 ||
		detail(t, raw) != "At most 1000 issues may be changed at once." {
		t.Errorf("1001 ids: %d %s", st, raw)
	}
	if got := statuses(t, f, w1, w2, a1, o1); got != "unresolved unresolved unresolved unresolved" {
		t.Fatalf("after refused calls: %s", got)
	}

	// By id: the other organization's issue (and an unknown id) is skipped.
	st, _, raw := call(t, f, "PUT", "/api/0/projects/acme/web/issues/?id="+w1+"&id="+o1+"&id=987654321", `{"status":"resolved","snoozeDuration":null}`, tok)
	if st != 200 || string(raw) != `{"status":"resolved","statusDetails":{},"substatus":""}`+"\n" {
		t.Fatalf("resolve by id: %d %s", st, raw)
	}
	// Only ids of other organizations, or of another project: nothing, 204.
	for _, path := range []string{"/api/0/projects/acme/web/issues/?id=" + o1, "/api/0/projects/acme/web/issues/?id=" + a1,
		"/api/0/organizations/acme/issues/?id=" + o1} {
		if st, _, raw := call(t, f, "PUT", path, `{"status":"ignored"}`, tok); st != 204 || len(raw) != 0 {
			t.Errorf("%s: %d %s, want 204", path, st, raw)
		}
	}
	if got := statuses(t, f, w1, w2, a1, o1); got != "resolved unresolved unresolved unresolved" {
		t.Fatalf("after resolving %s: %s", w1, got)
	}

	// Organization level, ids across projects: sentry-cli's mute.
	before := time.Now().UTC()
	st, _, raw = call(t, f, "PUT", "/api/0/organizations/acme/issues/?id="+w2+"&id="+a1+"&id="+o1, `{"status":"muted","snoozeDuration":30}`, tok)
	var ans struct {
		Status        string `json:"status"`
		StatusDetails struct {
			IgnoreUntil time.Time `json:"ignoreUntil"`
		} `json:"statusDetails"`
	}
	if st != 200 || json.Unmarshal(raw, &ans) != nil || ans.Status != "ignored" ||
		ans.StatusDetails.IgnoreUntil.Before(before.Add(29*time.Minute)) || ans.StatusDetails.IgnoreUntil.After(time.Now().Add(31*time.Minute)) {
		t.Fatalf("mute: %d %s", st, raw)
	}
	if got := statuses(t, f, w1, w2, a1, o1); got != "resolved ignored ignored unresolved" {
		t.Fatalf("after muting: %s", got)
	}
	if is := getIssue(t, f, a1); is.Substatus != "archived_until_condition_met" || is.StatusDetails["ignoreUntil"] == nil {
		t.Errorf("muted issue: %+v", is)
	}

	// The organization's list: every project, narrowed by project= ids.
	ignored := listIssues(t, f, "/api/0/organizations/acme/issues/?query=is:ignored")
	if len(ignored) != 2 {
		t.Fatalf("ignored across acme: %+v", ignored)
	}
	slugs := map[string]string{}
	for _, is := range ignored {
		slugs[is.ID] = is.Project.Slug
	}
	if slugs[w2] != "web" || slugs[a1] != "api" {
		t.Errorf("projects of the listed issues: %v", slugs)
	}
	if got := listIssues(t, f, "/api/0/organizations/acme/issues/?query=&project="+api.ID); len(got) != 1 || got[0].ID != a1 {
		t.Errorf("project=%s: %+v", api.ID, got)
	}
	if got := listIssues(t, f, "/api/0/organizations/acme/issues/"); len(got) != 0 {
		t.Errorf("unresolved across acme (the default query): %+v", got)
	}
	if st, _, raw := call(t, f, "GET", "/api/0/organizations/acme/issues/?project="+other.ID, "", tok); st != 404 {
		t.Errorf("another organization's project: %d %s", st, raw)
	}

	// No filter: the default query, is:unresolved (sentry-cli --all),
	// here none in acme: 204. Then by status.
	if st, _, raw := call(t, f, "PUT", "/api/0/organizations/acme/issues/", `{"status":"resolved"}`, tok); st != 204 {
		t.Errorf("resolve every unresolved issue of acme: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "PUT", "/api/0/organizations/acme/issues/?status=ignored", `{"status":"unresolved"}`, tok); st != 200 ||
		string(raw) != `{"status":"unresolved","statusDetails":{},"substatus":"ongoing"}`+"\n" {
		t.Errorf("unresolve the ignored: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "PUT", "/api/0/projects/acme/web/issues/?query=is:resolved", `{"status":"resolvedInNextRelease"}`, tok); st != 200 ||
		!strings.Contains(string(raw), `"statusDetails":{"inNextRelease":true}`) {
		t.Errorf("resolve in next release by query: %d %s", st, raw)
	}
	if got := statuses(t, f, w1, w2, a1, o1); got != "resolved unresolved unresolved unresolved" {
		t.Fatalf("after unresolving: %s", got)
	}

	// The activity, newest first, with who did it; the first sighting last.
	is := getIssue(t, f, w2)
	var types []string
	for _, act := range is.Activity {
		types = append(types, act.Type)
	}
	if strings.Join(types, " ") != "set_unresolved set_ignored first_seen" {
		t.Fatalf("activity of %s: %v", w2, types)
	}
	if u := is.Activity[0].User; u == nil || u.ID == "" {
		t.Errorf("activity without its user: %+v", is.Activity[0])
	}
	if is.Activity[1].Data["ignoreDuration"] != float64(30) || is.Activity[1].Data["ignoreUntil"] == nil {
		t.Errorf("set_ignored data: %v", is.Activity[1].Data)
	}
	if is.Activity[2].User != nil || is.Activity[2].ID != "0" {
		t.Errorf("first seen: %+v", is.Activity[2])
	}
	is = getIssue(t, f, w1)
	if len(is.Activity) != 3 || is.Activity[0].Type != "set_resolved_in_release" || is.Activity[0].Data["version"] != "" ||
		is.Activity[1].Type != "set_resolved" {
		t.Errorf("activity of %s: %+v", w1, is.Activity)
	}
	// Setting the same status again records nothing.
	if st, _, raw := call(t, f, "PUT", "/api/0/issues/"+a1+"/", `{"status":"unresolved"}`, tok); st != 200 {
		t.Fatalf("single PUT: %d %s", st, raw)
	}
	if is := getIssue(t, f, a1); len(is.Activity) != 3 {
		t.Errorf("activity after a PUT that changed nothing: %+v", is.Activity)
	}
	if is := getIssue(t, f, o1); len(is.Activity) != 1 {
		t.Errorf("another organization's issue has activity: %+v", is.Activity)
	}

	// Deletion: never without a filter; by id, the other organization's
	// issue stays.
	if st, _, raw := call(t, f, "DELETE", "/api/0/projects/acme/web/issues/", "", tok); st != 400 {
		t.Errorf("delete without a filter: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "DELETE", "/api/0/organizations/acme/issues/?id="+w2+"&id="+o1, "", tok); st != 204 {
		t.Errorf("delete by id: %d %s", st, raw)
	}
	if got := listIssues(t, f, "/api/0/organizations/acme/issues/?query="); len(got) != 2 {
		t.Errorf("acme after deleting %s: %+v", w2, got)
	}
	if st, _ := f.Do("GET", "/api/0/issues/"+o1+"/", nil, nil); st != 200 {
		t.Errorf("the other organization's issue: %d", st)
	}
}

// TestBulkCap: a query changes at most 1000 issues per call, the most
// recently seen first; the next call changes the rest.
func TestBulkCap(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "many", "go")
	var pid uint64
	fmt.Sscan(p.ID, &pid)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	var evs []store.Event
	var groups []store.Group
	for i := 0; i < 1001; i++ {
		gid := uint64(50_000_000 + i)
		at := now.Add(-time.Duration(i) * time.Second)
		evs = append(evs, store.Event{ProjectID: pid, GroupID: gid, EventID: fmt.Sprintf("%032x", gid), Timestamp: at,
			Received: at, Type: "error", Level: "error", Platform: "go", Title: fmt.Sprint("error ", i), RetentionDays: 90, Body: "{}"})
		groups = append(groups, store.Group{ProjectID: pid, GroupID: gid, ShortID: uint64(i + 1), Title: fmt.Sprint("error ", i),
			Metadata: "{}", Version: 1, LastSeen: at})
	}
	s := f.Server.Store()
	if err := s.UpsertGroups(ctx, groups); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	count := func(status string) int {
		n, cursor := 0, ""
		for {
			page, err := s.ListIssues(ctx, store.IssueQuery{ProjectIDs: []uint64{pid}, Status: status, Limit: 100, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			n += len(page.Issues)
			if cursor = page.Next; cursor == "" {
				return n
			}
		}
	}
	start := time.Now()
	if st, _, raw := call(t, f, "PUT", "/api/0/projects/acme/many/issues/", `{"status":"resolved"}`, testserver.AdminToken); st != 200 {
		t.Fatalf("resolve all: %d %s", st, raw)
	}
	t.Logf("resolving 1000 issues by query took %v", time.Since(start)) // reported, never asserted
	if n := count(store.StatusUnresolved); n != 1 {
		t.Fatalf("%d unresolved after one call, want 1", n)
	}
	if page, _ := s.ListIssues(ctx, store.IssueQuery{ProjectIDs: []uint64{pid}, Status: store.StatusUnresolved}); len(page.Issues) != 1 ||
		page.Issues[0].GroupID != 50_000_000+1000 {
		t.Errorf("the one left is not the least recently seen: %+v", page.Issues)
	}
	if st, _, raw := call(t, f, "PUT", "/api/0/projects/acme/many/issues/", `{"status":"resolved"}`, testserver.AdminToken); st != 200 {
		t.Fatalf("resolve the rest: %d %s", st, raw)
	}
	if n := count(store.StatusResolved); n != 1001 {
		t.Fatalf("%d resolved, want 1001", n)
	}
}
