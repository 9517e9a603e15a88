package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/deletion"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// storeEvent sends one event to the project's store endpoint and returns
// the status ingest answered.
func storeEvent(t *testing.T, f *testserver.Faultline, p testserver.Project, msg string) int {
	t.Helper()
	resp, err := http.Post(f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey+"&sentry_version=7", "application/json",
		strings.NewReader(`{"message":"`+msg+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// job reads a deletion job through its status URL.
func job(t *testing.T, f *testserver.Faultline, location string) deletionJSON {
	t.Helper()
	var j deletionJSON
	if st, raw := f.Do("GET", strings.TrimPrefix(location, f.URL), nil, &j); st != 200 {
		t.Fatalf("GET %s: %d %s", location, st, raw)
	}
	return j
}

// drainRunner schedules a job that is due at once (erasing a user that
// sent nothing) and waits for it: runners take due jobs oldest first, so
// every earlier job that was due has been looked at.
func drainRunner(t *testing.T, f *testserver.Faultline, org, project string) {
	t.Helper()
	resp, body := do(t, f, "POST", "/api/0/projects/"+org+"/"+project+"/user-deletions/", `{"email":"nobody@example.com"}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("user deletion: %d %s", resp.StatusCode, body)
	}
	waitDeletion(t, f, resp.Header.Get("Location"))
}

type orgJSON struct {
	Slug, Name string
	Status     struct{ ID string }
}

type projectJSON struct {
	Slug, Name, Status string
}

// TestCancelProjectDeletion deletes a project with events, cancels the
// deletion within the delay, and waits past the delay with the runner
// running: the project and its events are still there, and ingest takes
// its events again.
func TestCancelProjectDeletion(t *testing.T) {
	const delay = time.Second
	f := testserver.Start(t, server.Config{DeletionDelay: delay, Deletion: deletion.Config{Poll: 50 * time.Millisecond}})
	p := f.CreateProject("acme", "api", "go")
	sendAsUsers(t, p.DSN, map[string][]string{"disk full": {"ann", "bob"}})
	f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 2 })

	resp, _ := do(t, f, "DELETE", "/api/0/projects/acme/api/", "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE project: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if st := storeEvent(t, f, p, "while pending"); st != http.StatusForbidden {
		t.Errorf("ingest into a project pending deletion: %d", st)
	}
	// Other changes wait for the cancellation.
	if resp, body := do(t, f, "PUT", "/api/0/projects/acme/api/", `{"name":"renamed"}`); resp.StatusCode != http.StatusConflict ||
		!strings.Contains(body, "cancelDeletion") {
		t.Errorf("PUT on a pending project: %d %s", resp.StatusCode, body)
	}
	var got projectJSON
	if st, raw := f.Do("PUT", "/api/0/projects/acme/api/", map[string]any{"cancelDeletion": true, "name": "API v2"}, &got); st != 200 ||
		got.Status != "active" || got.Name != "API v2" {
		t.Fatalf("cancel: %d %s", st, raw)
	}
	if j := job(t, f, loc); j.Status != deletion.StatusCancelled {
		t.Errorf("job after the cancel: %+v", j)
	}
	var list []deletionJSON
	if f.Do("GET", "/api/0/organizations/acme/deletions/", nil, &list); len(list) != 1 || list[0].Status != deletion.StatusCancelled {
		t.Errorf("organization's deletions: %+v", list)
	}

	time.Sleep(delay) // past the delay, with the runner running
	drainRunner(t, f, "acme", "api")
	if st, raw := f.Do("GET", "/api/0/projects/acme/api/", nil, &got); st != 200 || got.Status != "active" {
		t.Fatalf("project after the delay: %d %s", st, raw)
	}
	if n := testserver.TotalCount(f.Issues(p)); n != 2 {
		t.Errorf("%d events after the delay, want 2", n)
	}
	if j := job(t, f, loc); j.Status != deletion.StatusCancelled {
		t.Errorf("job after the delay: %+v", j)
	}
	if st := storeEvent(t, f, p, "after the cancel"); st != http.StatusOK {
		t.Fatalf("ingest after the cancel: %d", st)
	}
	f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 3 })
	// Cancelling what is not pending changes nothing.
	if st, raw := f.Do("PUT", "/api/0/projects/acme/api/", map[string]any{"cancelDeletion": true}, &got); st != 200 || got.Status != "active" {
		t.Errorf("cancel again: %d %s", st, raw)
	}
}

// TestCancelOrganizationDeletion: cancelling an organization's deletion
// restores it and its projects that were pending only because of it; a
// project deleted on its own before stays pending and is deleted.
func TestCancelOrganizationDeletion(t *testing.T) {
	const delay = time.Second
	f := testserver.Start(t, server.Config{DeletionDelay: delay, Deletion: deletion.Config{Poll: 50 * time.Millisecond}})
	api := f.CreateProject("acme", "api", "go")
	web := f.CreateProject("acme", "web", "javascript")
	sendAsUsers(t, api.DSN, map[string][]string{"disk full": {"ann", "bob"}})
	sendAsUsers(t, web.DSN, map[string][]string{"undefined is not a function": {"cy"}})
	f.WaitIssues(api, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 2 })
	f.WaitIssues(web, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 1 })

	resp, _ := do(t, f, "DELETE", "/api/0/projects/acme/web/", "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE project: %d", resp.StatusCode)
	}
	webJob := resp.Header.Get("Location")
	resp, body := do(t, f, "DELETE", "/api/0/organizations/acme/", "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE organization: %d %s", resp.StatusCode, body)
	}
	orgJob := resp.Header.Get("Location")
	if st := storeEvent(t, f, api, "while pending"); st != http.StatusForbidden {
		t.Errorf("ingest into a project of an organization pending deletion: %d", st)
	}
	// A project of a pending organization is restored with it.
	if resp, body := do(t, f, "PUT", "/api/0/projects/acme/api/", `{"cancelDeletion": true}`); resp.StatusCode != http.StatusConflict ||
		!strings.Contains(body, "organization") {
		t.Errorf("cancel a project of a pending organization: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, f, "PUT", "/api/0/organizations/acme/", `{"name":"Acme 2"}`); resp.StatusCode != http.StatusConflict {
		t.Errorf("rename a pending organization: %d %s", resp.StatusCode, body)
	}
	var o orgJSON
	if st, raw := f.Do("PUT", "/api/0/organizations/acme/", map[string]any{"cancelDeletion": true}, &o); st != 200 ||
		o.Status.ID != "active" || o.Slug != "acme" {
		t.Fatalf("cancel: %d %s", st, raw)
	}
	if j := job(t, f, orgJob); j.Status != deletion.StatusCancelled {
		t.Errorf("organization job: %+v", j)
	}
	var p projectJSON
	if f.Do("GET", "/api/0/projects/acme/api/", nil, &p); p.Status != "active" {
		t.Errorf("api project: %+v", p)
	}
	if f.Do("GET", "/api/0/projects/acme/web/", nil, &p); p.Status != "pending_deletion" {
		t.Errorf("web project, deleted on its own: %+v", p)
	}

	if j := waitDeletion(t, f, webJob); j.Kind != deletion.KindProject {
		t.Errorf("web job %+v", j)
	}
	drainRunner(t, f, "acme", "api")
	if st, raw := f.Do("GET", "/api/0/organizations/acme/", nil, &o); st != 200 || o.Status.ID != "active" {
		t.Errorf("organization after the delay: %d %s", st, raw)
	}
	if st, _ := f.Do("GET", "/api/0/projects/acme/web/", nil, nil); st != 404 {
		t.Errorf("web project after its deletion: %d", st)
	}
	if n := testserver.TotalCount(f.Issues(api)); n != 2 {
		t.Errorf("api project: %d events, want 2", n)
	}
	if j := job(t, f, orgJob); j.Status != deletion.StatusCancelled {
		t.Errorf("organization job after the delay: %+v", j)
	}
	if st := storeEvent(t, f, api, "after the cancel"); st != http.StatusOK {
		t.Fatalf("ingest after the cancel: %d", st)
	}
	f.WaitIssues(api, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 3 })
}

// TestCancelTooLate: once the runner started deleting, a cancel answers
// 409 "too late", changes nothing, and the deletion completes.
func TestCancelTooLate(t *testing.T) {
	mutating := make(chan deletion.Job, 1)
	release := make(chan struct{})
	f := testserver.Start(t, server.Config{DeletionDelay: 100 * time.Millisecond, Deletion: deletion.Config{
		Poll: 50 * time.Millisecond,
		StepHook: func(step string, j deletion.Job) {
			if step == deletion.StepMutating && j.Kind == deletion.KindOrganization {
				mutating <- j
				<-release
			}
		},
	}})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the server stops
	p := f.CreateProject("acme", "api", "go")
	sendAsUsers(t, p.DSN, map[string][]string{"disk full": {"ann"}})
	f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 1 })

	resp, body := do(t, f, "DELETE", "/api/0/organizations/acme/", "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE organization: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	select {
	case <-mutating:
	case <-time.After(time.Minute):
		t.Fatal("the runner did not start the job")
	}
	resp, body = do(t, f, "PUT", "/api/0/organizations/acme/", `{"cancelDeletion": true}`)
	var e struct{ Detail string }
	json.Unmarshal([]byte(body), &e) //nolint:errcheck
	if resp.StatusCode != http.StatusConflict || !strings.HasPrefix(e.Detail, "Too late") {
		t.Errorf("cancel while deleting: %d %s", resp.StatusCode, body)
	}
	if j := job(t, f, loc); j.Status != deletion.StatusInProgress {
		t.Errorf("job after a late cancel: %+v", j)
	}
	var o orgJSON
	if f.Do("GET", "/api/0/organizations/acme/", nil, &o); o.Status.ID != "pending_deletion" {
		t.Errorf("organization after a late cancel: %+v", o)
	}
	once.Do(func() { close(release) })
	waitDeletion(t, f, loc)
	if st, _ := f.Do("GET", "/api/0/organizations/acme/", nil, nil); st != 404 {
		t.Errorf("organization after its deletion: %d", st)
	}
	if st, _ := f.Do("GET", "/api/0/projects/acme/api/", nil, nil); st != 404 {
		t.Errorf("project after its organization's deletion: %d", st)
	}
}

// TestUpdateOrganization renames an organization through Sentry's PUT,
// refuses bad values and unknown organizations without changing anything.
func TestUpdateOrganization(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "api", "go")
	if st, raw := f.Do("POST", "/api/0/organizations/", map[string]string{"name": "Taken", "slug": "taken"}, nil); st != 201 {
		t.Fatalf("create: %d %s", st, raw)
	}
	orgs := func() string {
		_, raw := f.Do("GET", "/api/0/organizations/", nil, nil)
		return string(raw)
	}
	before := orgs()
	for _, tc := range []struct {
		name, path, body string
		status           int
	}{
		{"unknown organization", "/api/0/organizations/nope/", `{"name":"Nope","slug":"nope2"}`, 404},
		{"unknown organization, cancel", "/api/0/organizations/nope/", `{"cancelDeletion":true}`, 404},
		{"taken slug", "/api/0/organizations/acme/", `{"slug":"taken"}`, 409},
		{"invalid slug", "/api/0/organizations/acme/", `{"slug":"Not A Slug"}`, 400},
		{"empty name", "/api/0/organizations/acme/", `{"name":""}`, 400},
		{"wrong type", "/api/0/organizations/acme/", `{"name":5}`, 400},
		{"malformed", "/api/0/organizations/acme/", `{"name":`, 400},
	} {
		resp, body := do(t, f, "PUT", tc.path, tc.body)
		if resp.StatusCode != tc.status || !strings.Contains(body, `"detail"`) {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.status)
		}
		if after := orgs(); after != before {
			t.Errorf("%s changed the organizations:\n%s\n%s", tc.name, before, after)
		}
	}
	var o orgJSON
	if st, raw := f.Do("PUT", "/api/0/organizations/acme/",
		map[string]any{"name": "Acme Inc", "slug": "acme-inc", "isEarlyAdopter": true, "unknownField": []int{1}}, &o); st != 200 ||
		o.Name != "Acme Inc" || o.Slug != "acme-inc" || o.Status.ID != "active" {
		t.Fatalf("rename: %d %s", st, raw)
	}
	if st, _ := f.Do("GET", "/api/0/organizations/acme/", nil, nil); st != 404 {
		t.Errorf("old slug: %d", st)
	}
	if st, raw := f.Do("GET", "/api/0/organizations/acme-inc/", nil, &o); st != 200 || o.Name != "Acme Inc" {
		t.Errorf("new slug: %d %s", st, raw)
	}
	if st, _ := f.Do("GET", "/api/0/projects/acme-inc/api/", nil, nil); st != 200 {
		t.Errorf("project under the new slug: %d", st)
	}
	// The old slug is free again.
	if st, raw := f.Do("POST", "/api/0/organizations/", map[string]string{"name": "Acme", "slug": "acme"}, nil); st != 201 {
		t.Errorf("old slug not freed: %d %s", st, raw)
	}
}
