package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/deletion"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// sendAsUsers reports messages with the real sentry-go SDK, each as a user.
func sendAsUsers(t *testing.T, dsn string, msgs map[string][]string) {
	t.Helper()
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: dsn, Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	for msg, users := range msgs {
		for _, u := range users {
			hub := sentry.NewHub(client, sentry.NewScope())
			hub.Scope().SetUser(sentry.User{ID: u, Email: u + "@example.com"})
			hub.CaptureMessage(msg)
		}
	}
	client.Flush(5 * time.Second)
}

type deletionJSON struct {
	ID            string `json:"id"`
	Kind          string `json:"kind"`
	Status        string `json:"status"`
	EventsDeleted int    `json:"eventsDeleted"`
}

// waitDeletion polls a job's status URL until it is done.
func waitDeletion(t *testing.T, f *testserver.Faultline, location string) deletionJSON {
	t.Helper()
	path := strings.TrimPrefix(location, f.URL)
	deadline := time.Now().Add(time.Minute)
	for {
		var j deletionJSON
		if st, raw := f.Do("GET", path, nil, &j); st != 200 {
			t.Fatalf("GET %s: %d %s", path, st, raw)
		}
		if j.Status == deletion.StatusDone {
			return j
		}
		if j.Status == deletion.StatusFailed || time.Now().After(deadline) {
			t.Fatalf("deletion %+v", j)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// do is f.Do that also returns the response headers.
func do(t *testing.T, f *testserver.Faultline, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testserver.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, b.String()
}

// TestDeletionThroughTheAPI deletes an issue, one user's data, a project
// and an organization through Sentry's routes (and Faultline's admin route
// for user data), with events sent by sentry-go, and follows each job to
// its end through its status URL.
func TestDeletionThroughTheAPI(t *testing.T) {
	f := testserver.Start(t, server.Config{DeletionDelay: 100 * time.Millisecond,
		Deletion: deletion.Config{Poll: 50 * time.Millisecond}})
	p := f.CreateProject("acme", "api", "go")
	sendAsUsers(t, p.DSN, map[string][]string{"disk full": {"ann", "bob"}, "timeout": {"ann", "bob", "cy"}})
	issues := f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 5 })
	byTitle := map[string]testserver.Issue{}
	for _, is := range issues {
		byTitle[is.Title] = is
	}
	doomed, kept := byTitle["disk full"], byTitle["timeout"]
	var values []struct {
		Key, Value string
		Count      int
	}
	if st, raw := f.Do("GET", "/api/0/issues/"+kept.ID+"/tags/user/values/", nil, &values); st != 200 || len(values) != 3 ||
		values[0].Key != "user" || values[0].Count != 1 || !strings.HasPrefix(values[0].Value, "id:") {
		t.Fatalf("tag values: %d %s", st, raw)
	}

	// An issue: 202 without a body, gone from the lists at once.
	resp, body := do(t, f, "DELETE", "/api/0/issues/"+doomed.ID+"/", "")
	if resp.StatusCode != http.StatusAccepted || body != "" || resp.Header.Get("Location") == "" {
		t.Fatalf("DELETE issue: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if is := f.Issues(p); len(is) != 1 || is[0].ID != kept.ID {
		t.Fatalf("issues right after the delete: %+v", is)
	}
	if j := waitDeletion(t, f, resp.Header.Get("Location")); j.Kind != deletion.KindIssue {
		t.Errorf("job %+v", j)
	}
	if st, _ := f.Do("GET", "/api/0/issues/"+doomed.ID+"/", nil, nil); st != 404 {
		t.Errorf("GET deleted issue: %d", st)
	}

	// One user's data.
	resp, body = do(t, f, "POST", "/api/0/projects/acme/api/user-deletions/", `{"email": "ann@example.com"}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("user deletion: %d %s", resp.StatusCode, body)
	}
	if j := waitDeletion(t, f, resp.Header.Get("Location")); j.EventsDeleted != 1 {
		t.Errorf("user deletion job %+v, want 1 event deleted", j)
	}
	var is testserver.Issue
	if st, raw := f.Do("GET", "/api/0/issues/"+kept.ID+"/", nil, &is); st != 200 || is.Count != "2" || is.UserCount != 2 {
		t.Errorf("issue after the user's erasure: %d %s", st, raw)
	}
	if resp, _ := do(t, f, "POST", "/api/0/projects/acme/api/user-deletions/", `{}`); resp.StatusCode != 400 {
		t.Errorf("empty user deletion: %d", resp.StatusCode)
	}

	// A project: 204, hidden at once, its DSN refused, then gone.
	p2 := f.CreateProject("acme", "web", "javascript")
	resp, _ = do(t, f, "DELETE", "/api/0/projects/acme/web/", "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE project: %d", resp.StatusCode)
	}
	if st, raw := f.Do("GET", "/api/0/projects/acme/web/", nil, nil); st != 200 || !strings.Contains(string(raw), `"status":"pending_deletion"`) {
		t.Errorf("GET project pending deletion: %d %s", st, raw)
	}
	ingest, _ := http.Post(f.URL+"/api/"+p2.ID+"/store/?sentry_key="+p2.PublicKey+"&sentry_version=7", "application/json",
		strings.NewReader(`{"message":"late"}`))
	if ingest.StatusCode != http.StatusForbidden {
		t.Errorf("ingest into a deleted project: %d", ingest.StatusCode)
	}
	ingest.Body.Close()
	waitDeletion(t, f, resp.Header.Get("Location"))
	if st, _ := f.Do("GET", "/api/0/projects/acme/web/", nil, nil); st != 404 {
		t.Errorf("GET deleted project: %d", st)
	}
	var projects []map[string]any
	f.Do("GET", "/api/0/organizations/acme/projects/", nil, &projects)
	if len(projects) != 1 {
		t.Errorf("projects after deletion: %v", projects)
	}

	// The organization: 202 with its JSON, pending deletion.
	resp, body = do(t, f, "DELETE", "/api/0/organizations/acme/", "")
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(body, `"pending_deletion"`) {
		t.Fatalf("DELETE organization: %d %s", resp.StatusCode, body)
	}
	if st, raw := f.Do("GET", "/api/0/organizations/acme/", nil, nil); st != 200 || !strings.Contains(string(raw), `"pending_deletion"`) {
		t.Errorf("GET organization pending deletion: %d %s", st, raw)
	}
	if st, _ := f.Do("GET", "/api/0/organizations/acme/projects/", nil, nil); st != 404 {
		t.Errorf("other routes of an organization pending deletion: %d", st)
	}
	waitDeletion(t, f, resp.Header.Get("Location"))
	if st, _ := f.Do("GET", "/api/0/organizations/acme/", nil, nil); st != 404 {
		t.Errorf("GET deleted organization: %d", st)
	}
	if st, raw := f.Do("POST", "/api/0/organizations/", map[string]string{"name": "Acme", "slug": "acme"}, nil); st != 201 {
		t.Errorf("the slug is not free again: %d %s", st, raw)
	}
}

// TestIssueDeletionDeletesAttachments sends an event with an attachment
// through sentry-go, deletes its issue, and checks that the attachment is
// gone from the API, from ClickHouse and from the object store.
func TestIssueDeletionDeletesAttachments(t *testing.T) {
	f := testserver.Start(t, server.Config{Deletion: deletion.Config{Poll: 50 * time.Millisecond}})
	p := f.CreateProject("acme", "api", "go")
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	hub.Scope().AddAttachment(&sentry.Attachment{Filename: "state.txt", ContentType: "text/plain", Payload: []byte("private state")})
	eventID := string(*hub.CaptureMessage("crash with state"))
	client.Flush(5 * time.Second)
	issues := f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return len(is) == 1 })
	path := "/api/0/projects/acme/api/events/" + eventID + "/attachments/"
	var atts []struct {
		ID string `json:"id"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(atts) == 0 && time.Now().Before(deadline) {
		f.Do("GET", path, nil, &atts)
		time.Sleep(50 * time.Millisecond)
	}
	if len(atts) != 1 {
		t.Fatalf("attachments before the deletion: %+v", atts)
	}
	objects := func() int {
		os, err := f.Server.Queue().JetStream().ObjectStore(context.Background(), deletion.AttachmentsBucket)
		if err != nil {
			t.Fatal(err)
		}
		list, _ := os.List(context.Background())
		n := 0
		for _, o := range list {
			if strings.HasPrefix(o.Name, p.ID+"/"+eventID+"/") && !o.Deleted {
				n++
			}
		}
		return n
	}
	if objects() != 1 {
		t.Fatal("the attachment is not in the object store")
	}
	resp, _ := do(t, f, "DELETE", "/api/0/issues/"+issues[0].ID+"/", "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE issue: %d", resp.StatusCode)
	}
	waitDeletion(t, f, resp.Header.Get("Location"))
	if st, raw := f.Do("GET", path+atts[0].ID+"/?download=1", nil, nil); st != 404 {
		t.Errorf("download after deletion: %d %s", st, raw)
	}
	if n := objects(); n != 0 {
		t.Errorf("%d attachment objects remain", n)
	}
}
