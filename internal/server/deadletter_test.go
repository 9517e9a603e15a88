package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

type deadLetterJSON struct {
	ID, ProjectID, EventID, Kind, Reason, Stage, Error, Stack, FailedAt string
	Attempts, Size                                                      int
}

// call sends an API request with token and returns the status, the Link
// header and the body.
func call(t *testing.T, f *testserver.Faultline, token, method, path string) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, f.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Link"), raw
}

func listDeadLetters(t *testing.T, f *testserver.Faultline) []deadLetterJSON {
	t.Helper()
	var out []deadLetterJSON
	if st, raw := f.Do("GET", "/api/0/internal/dead-letters/", nil, &out); st != 200 {
		t.Fatalf("list dead letters: %d %s", st, raw)
	}
	return out
}

func waitDeadLetters(t *testing.T, f *testserver.Faultline, n int) []deadLetterJSON {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ls := listDeadLetters(t, f)
		if len(ls) == n {
			return ls
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters, want %d: %+v", len(ls), n, ls)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sendEvent(t *testing.T, f *testserver.Faultline, p testserver.Project, id string) {
	t.Helper()
	body := fmt.Sprintf(`{"event_id":%q,"message":"m %s","exception":{"values":[{"type":"E","value":"v"}]}}`, id, id)
	resp, err := http.Post(f.URL+"/api/"+p.ID+"/store/?sentry_key="+p.PublicKey+"&sentry_version=7", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("store: %d", resp.StatusCode)
	}
}

// plainUserToken adds a user who is not a superuser, with a token, to the
// metadata bucket, as the accounts' routes would.
func plainUserToken(t *testing.T, f *testserver.Faultline) string {
	t.Helper()
	ctx := context.Background()
	kv, err := f.Server.Queue().JetStream().KeyValue(ctx, "faultline-meta")
	if err != nil {
		t.Fatal(err)
	}
	const token = "plain-user-token-0123456789abcdef0123456789"
	u, _ := json.Marshal(meta.User{ID: 900001, Email: "plain@example.com", Name: "plain", DateCreated: time.Now()})
	tok, _ := json.Marshal(meta.Token{Hash: meta.HashToken(token), UserID: 900001, Name: "t", Scopes: []string{"*"}, DateCreated: time.Now()})
	if _, err := kv.Put(ctx, "users.900001", u); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "tokens."+meta.HashToken(token), tok); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, ok := f.Server.Meta().Authenticate(token); ok {
			return token
		}
		if time.Now().After(deadline) {
			t.Fatal("the plain user's token never became valid")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDeadLetters: an event that panics in a stage is dead-lettered while
// the others are stored; the superuser routes list it with its stage and
// stack, replay it (stored once the bug is gone) and delete it; /readyz
// counts dead letters; a project's deletion purges its dead letters.
func TestDeadLetters(t *testing.T) {
	var armed atomic.Bool
	armed.Store(true)
	poison := func(id string) bool { return strings.HasPrefix(id, "bad") || strings.HasPrefix(id, "0bad") }
	f := testserver.Start(t, server.Config{DeletionDelay: 100 * time.Millisecond, Worker: processConfig(func(stage string, m jetstream.Msg) {
		if stage == "normalize" && armed.Load() && poison(strings.TrimLeft(m.Headers().Get("Fl-Event-Id"), "0")) {
			panic("a bug in a stage")
		}
	})})
	p := f.CreateProject("acme", "api", "python")
	bad := "0bad0000000000000000000000000001"
	for i := 0; i < 5; i++ {
		sendEvent(t, f, p, fmt.Sprintf("%032x", i+1))
	}
	sendEvent(t, f, p, bad)
	f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 5 })
	ls := waitDeadLetters(t, f, 1)
	l := ls[0]
	if l.EventID != bad || l.ProjectID != p.ID || l.Stage != "normalize" || l.Reason != "internal" || l.Kind != "store" ||
		!strings.Contains(l.Stack, "goroutine") || !strings.Contains(l.Error, "a bug in a stage") || l.Attempts != 1 || l.Size == 0 || l.FailedAt == "" {
		t.Fatalf("dead letter %+v", l)
	}
	if got := testserver.TotalCount(f.Issues(p)); got != 5 {
		t.Fatalf("%d events stored, want 5", got)
	}

	// /readyz counts it.
	var ready struct {
		DeadLetters struct{ Count, Bytes int } `json:"dead_letters"`
	}
	if st, raw := f.Do("GET", "/readyz", nil, &ready); st != 200 || ready.DeadLetters.Count != 1 || ready.DeadLetters.Bytes == 0 {
		t.Fatalf("readyz: %d %s", st, raw)
	}

	// Superusers only; unknown ids are 404.
	plain := plainUserToken(t, f)
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/0/internal/dead-letters/"},
		{"POST", "/api/0/internal/dead-letters/" + l.ID + "/replay/"},
		{"DELETE", "/api/0/internal/dead-letters/" + l.ID + "/"},
	} {
		st, _, raw := call(t, f, plain, c.method, c.path)
		var body struct{ Detail string }
		if st != 403 || json.Unmarshal(raw, &body) != nil || body.Detail == "" {
			t.Fatalf("%s %s as a plain user: %d %s", c.method, c.path, st, raw)
		}
	}
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/0/internal/dead-letters/99999/replay/"},
		{"DELETE", "/api/0/internal/dead-letters/99999/"},
		{"DELETE", "/api/0/internal/dead-letters/abc/"},
	} {
		if st, _, raw := call(t, f, testserver.AdminToken, c.method, c.path); st != 404 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, st, raw)
		}
	}

	// Replayed once the bug is fixed, it is stored and leaves the dead letter.
	armed.Store(false)
	if st, _, raw := call(t, f, testserver.AdminToken, "POST", "/api/0/internal/dead-letters/"+l.ID+"/replay/"); st != 202 {
		t.Fatalf("replay: %d %s", st, raw)
	}
	f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 6 })
	var ev struct{ EventID string }
	f.WaitEvent(t, p, bad, &ev)
	waitDeadLetters(t, f, 0)

	// Two more, paged newest first with Link cursors; one deleted.
	armed.Store(true)
	sendEvent(t, f, p, "0bad0000000000000000000000000002")
	sendEvent(t, f, p, "0bad0000000000000000000000000003")
	waitDeadLetters(t, f, 2)
	st, link, raw := call(t, f, testserver.AdminToken, "GET", "/api/0/internal/dead-letters/?per_page=1")
	var page []deadLetterJSON
	if st != 200 || json.Unmarshal(raw, &page) != nil || len(page) != 1 || !strings.Contains(link, `rel="next"; results="true"`) {
		t.Fatalf("first page: %d %s %s", st, link, raw)
	}
	next := link[strings.LastIndex(link, `cursor="`)+len(`cursor="`):]
	next = next[:strings.Index(next, `"`)]
	st, link, raw = call(t, f, testserver.AdminToken, "GET", "/api/0/internal/dead-letters/?per_page=1&cursor="+next)
	var page2 []deadLetterJSON
	if st != 200 || json.Unmarshal(raw, &page2) != nil || len(page2) != 1 || page2[0].ID >= page[0].ID && len(page2[0].ID) >= len(page[0].ID) ||
		!strings.Contains(link, `rel="next"; results="false"`) {
		t.Fatalf("second page: %d %s %s (first %s)", st, link, raw, page[0].ID)
	}
	if st, _, raw := call(t, f, testserver.AdminToken, "DELETE", "/api/0/internal/dead-letters/"+page[0].ID+"/"); st != 204 {
		t.Fatalf("delete: %d %s", st, raw)
	}
	waitDeadLetters(t, f, 1)

	// Deleting the project purges its dead letters.
	if st, raw := f.Do("DELETE", "/api/0/projects/acme/api/", nil, nil); st != 204 {
		t.Fatalf("delete project: %d %s", st, raw)
	}
	waitDeadLetters(t, f, 0)
}

func processConfig(hook func(string, jetstream.Msg)) process.Config {
	return process.Config{StageHook: hook}
}
