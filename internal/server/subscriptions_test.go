package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/quotedprintable"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/notify"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestSubscriberMail: with SMTP configured, an issue's subscribers get a
// mail through the notification queue on a comment and on an
// assignment, never the one who made the change; commenters and
// assignees are subscribed by it.
func TestSubscriberMail(t *testing.T) {
	box, addr := startMailbox(t)
	f := testserver.Start(t, server.Config{Notify: notify.Config{
		SMTP: notify.SMTPConfig{URL: "smtp://" + addr, From: "faultline@example.org"}}})
	p := f.CreateProject("acme", "web", "python")
	newUser(t, f, "alice@example.com", "acme", authz.Member, "team")
	newUser(t, f, "bob@example.com", "acme", authz.Member, "team")
	alice, bob := sessionLogin(t, f, "alice@example.com"), sessionLogin(t, f, "bob@example.com")
	storePageEvent(t, f, p, `{"event_id":"0000000000000000000000000000000a","message":"subscribed failure","level":"error"}`)
	is := f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool { return len(is) == 1 })[0]
	issue := "/api/0/issues/" + is.ID + "/"

	// Bob subscribes; Alice comments: Bob gets the comment, Alice nothing.
	if st, raw, _ := bob.do(t, "PUT", issue, `{"isSubscribed": true}`); st != 200 {
		t.Fatalf("subscribe: %d %s", st, raw)
	}
	if st, raw, _ := alice.do(t, "POST", issue+"comments/", `{"text":"looking into it"}`); st != 201 {
		t.Fatalf("comment: %d %s", st, raw)
	}
	waitUntil(t, "the comment's mail", func() bool { return len(mails(box, "looking into it")) == 1 })
	if to := mails(box, "looking into it"); to[0] != "bob@example.com" {
		t.Fatalf("comment mailed to %v", to)
	}
	// Alice, a commenter, is subscribed now: Bob assigns the issue to
	// himself, Alice is told (Bob is not: he made the change).
	var me struct {
		ID string `json:"id"`
	}
	if st, raw, _ := bob.do(t, "GET", "/api/0/users/me/", ""); st != 200 || json.Unmarshal(raw, &me) != nil {
		t.Fatalf("me: %d", st)
	}
	if st, raw, _ := bob.do(t, "PUT", issue, fmt.Sprintf(`{"assignedTo": "user:%s"}`, me.ID)); st != 200 {
		t.Fatalf("assign: %d %s", st, raw)
	}
	waitUntil(t, "the assignment's mail", func() bool { return len(mails(box, "assigned the issue to")) == 1 })
	if to := mails(box, "assigned the issue to"); to[0] != "alice@example.com" {
		t.Fatalf("assignment mailed to %v", to)
	}
	time.Sleep(500 * time.Millisecond) // nothing else arrives
	if to := mails(box, "subscribed to the issue"); len(to) != 2 {
		t.Fatalf("subscriber mails to %v", to)
	}
}

// mails returns the recipients of the mails received whose decoded body
// contains text (invitations are mailed too).
func mails(box *mailbox, text string) []string {
	box.mu.Lock()
	defer box.mu.Unlock()
	var out []string
	for i, d := range box.data {
		body, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(d)))
		if bytes.Contains(body, []byte(text)) {
			out = append(out, box.to[i])
		}
	}
	return out
}

// TestRegressionMail: when a resolved issue gets a new event, the worker
// mails each subscriber once through the notification queue (the
// release in the line); a further event of the now unresolved issue
// mails nothing.
func TestRegressionMail(t *testing.T) {
	box, addr := startMailbox(t)
	f := testserver.Start(t, server.Config{Notify: notify.Config{
		SMTP: notify.SMTPConfig{URL: "smtp://" + addr, From: "faultline@example.org"}}})
	p := f.CreateProject("acme", "web", "python")
	newUser(t, f, "alice@example.com", "acme", authz.Member, "team")
	newUser(t, f, "bob@example.com", "acme", authz.Member, "team")
	newUser(t, f, "carol@example.com", "acme", authz.Member, "team")
	alice, bob := sessionLogin(t, f, "alice@example.com"), sessionLogin(t, f, "bob@example.com")
	storePageEvent(t, f, p, `{"event_id":"0000000000000000000000000000000b","message":"regressing failure","level":"error","release":"1.0"}`)
	is := f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool { return len(is) == 1 })[0]
	issue := "/api/0/issues/" + is.ID + "/"
	for _, s := range []*apiSession{alice, bob} {
		if st, raw, _ := s.do(t, "PUT", issue, `{"isSubscribed": true}`); st != 200 {
			t.Fatalf("subscribe: %d %s", st, raw)
		}
	}
	if st, raw, _ := alice.do(t, "PUT", issue, `{"status": "resolved"}`); st != 200 {
		t.Fatalf("resolve: %d %s", st, raw)
	}
	storePageEvent(t, f, p, `{"event_id":"0000000000000000000000000000000c","message":"regressing failure","level":"error","release":"1.1"}`)
	waitUntil(t, "the regression's mails", func() bool { return len(mails(box, "Regressed in release 1.1")) == 2 })
	storePageEvent(t, f, p, `{"event_id":"0000000000000000000000000000000d","message":"regressing failure","level":"error","release":"1.1"}`)
	f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool { return len(is) == 1 && is[0].Count == "3" })
	time.Sleep(500 * time.Millisecond) // nothing else arrives
	to := mails(box, "Regressed")
	if len(to) != 2 || to[0] == to[1] {
		t.Fatalf("regression mailed to %v, want alice and bob once each", to)
	}
	for _, r := range to {
		if r != "alice@example.com" && r != "bob@example.com" {
			t.Fatalf("regression mailed to %s, not a subscriber", r)
		}
	}
}
