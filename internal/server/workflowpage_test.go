package server_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestIssueWorkflowPages drives the workflow's forms of the issue page
// and the list as a member in a session: assign, bookmark, subscribe and
// comment show in the API and on the page (a comment's markup as text,
// only its http(s) links as links); merge from the list's bulk form adds
// the two issues up; a discard needs its box ticked.
func TestIssueWorkflowPages(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "web", "python")
	newUser(t, f, "member@example.com", "acme", authz.Member, "team")
	b := sessionLogin(t, f, "member@example.com")
	for i, msg := range []string{"first failure", "second failure", "second failure"} {
		storePageEvent(t, f, p, fmt.Sprintf(`{"event_id":"%032x","message":%q,"level":"error","platform":"python"}`, i+1, msg))
	}
	issues := f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 3 })
	if len(issues) != 2 {
		t.Fatalf("%d issues", len(issues))
	}
	one, two := issues[0].ID, issues[1].ID
	page := "/organizations/acme/issues/" + one + "/"
	var me struct {
		ID string `json:"id"`
	}
	if st, raw, _ := b.do(t, "GET", "/api/0/users/me/", ""); st != 200 || json.Unmarshal(raw, &me) != nil {
		t.Fatalf("me: %d %s", st, raw)
	}
	for _, v := range []url.Values{
		{"action": {"assign"}, "assignedTo": {"user:" + me.ID}},
		{"action": {"bookmark"}},
		{"action": {"subscribe"}},
		{"action": {"comment"}, "text": {`see https://example.com/a?b=1 <script>alert(1)</script> javascript:alert(2)`}},
	} {
		if st, raw, h := b.form(t, page, v); st != 303 || !strings.HasPrefix(h.Get("Location"), page) {
			t.Fatalf("%v: %d %s", v, st, raw)
		}
	}
	var is struct {
		IsBookmarked bool `json:"isBookmarked"`
		IsSubscribed bool `json:"isSubscribed"`
		NumComments  int  `json:"numComments"`
		AssignedTo   *struct {
			ID string `json:"id"`
		} `json:"assignedTo"`
	}
	if st, raw, _ := b.do(t, "GET", "/api/0/issues/"+one+"/", ""); st != 200 || json.Unmarshal(raw, &is) != nil {
		t.Fatalf("issue: %d %s", st, raw)
	}
	if !is.IsBookmarked || !is.IsSubscribed || is.NumComments != 1 || is.AssignedTo == nil || is.AssignedTo.ID != me.ID {
		t.Fatalf("after the forms: %+v", is)
	}
	st, raw, _ := b.do(t, "GET", page, "")
	if st != 200 {
		t.Fatalf("page: %d", st)
	}
	body := string(raw)
	for _, want := range []string{
		`<a href="https://example.com/a?b=1" rel="nofollow noopener noreferrer">https://example.com/a?b=1</a>`,
		`&lt;script&gt;alert(1)&lt;/script&gt; javascript:alert(2)`,
		`id="bookmark" aria-pressed="true">Bookmarked`,
		`id="subscribe" aria-pressed="true">Subscribed`,
		`<option value="user:` + me.ID + `" selected>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(body, "<script>alert(1)") || strings.Contains(body, `href="javascript:`) {
		t.Error("the comment's markup reached the page")
	}

	// Merge from the list.
	if st, raw, _ := b.form(t, "/organizations/acme/issues/", url.Values{"action": {"merge"}, "id": {one, two}}); st != 303 {
		t.Fatalf("bulk merge: %d %s", st, raw)
	}
	after := f.Issues(p)
	if len(after) != 1 || after[0].Count != "3" {
		t.Fatalf("after the merge: %+v", after)
	}
	survivor := "/organizations/acme/issues/" + after[0].ID + "/"
	// Discard without the box: refused, nothing changes; with it: gone.
	if st, _, _ := b.form(t, survivor, url.Values{"action": {"discard"}}); st != 400 {
		t.Fatalf("unconfirmed discard: %d", st)
	}
	if len(f.Issues(p)) != 1 {
		t.Fatal("an unconfirmed discard changed the issue")
	}
	if st, raw, h := b.form(t, survivor, url.Values{"action": {"discard"}, "confirm": {"yes"}}); st != 303 || h.Get("Location") != "/organizations/acme/issues/" {
		t.Fatalf("discard: %d %s %v", st, raw, h)
	}
	if l := f.Issues(p); len(l) != 0 {
		t.Fatalf("after the discard: %+v", l)
	}
}

// TestCommentEditPages: on the issue page a user may edit and delete
// their own comments through forms (no JavaScript), and gets no such
// controls for another's; the forms and the API both refuse a change to
// another user's comment (404), which stays as it was.
func TestCommentEditPages(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "web", "python")
	newUser(t, f, "alice@example.com", "acme", authz.Member, "team")
	newUser(t, f, "bob@example.com", "acme", authz.Member, "team")
	alice, bob := sessionLogin(t, f, "alice@example.com"), sessionLogin(t, f, "bob@example.com")
	storePageEvent(t, f, p, `{"event_id":"000000000000000000000000000000e1","message":"commented failure","level":"error"}`)
	is := f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool { return len(is) == 1 })[0]
	page := "/organizations/acme/issues/" + is.ID + "/"
	api := "/api/0/issues/" + is.ID + "/comments/"
	if st, raw, _ := alice.form(t, page, url.Values{"action": {"comment"}, "text": {"alice was here"}}); st != 303 {
		t.Fatalf("alice's comment: %d %s", st, raw)
	}
	if st, raw, _ := bob.form(t, page, url.Values{"action": {"comment"}, "text": {"bob was here"}}); st != 303 {
		t.Fatalf("bob's comment: %d %s", st, raw)
	}
	type note struct {
		ID   string `json:"id"`
		User struct {
			Email string `json:"email"`
		} `json:"user"`
		Data struct {
			Text string `json:"text"`
		} `json:"data"`
	}
	notes := func() map[string]note { // by author
		t.Helper()
		var ns []note
		if st, raw, _ := alice.do(t, "GET", api, ""); st != 200 || json.Unmarshal(raw, &ns) != nil {
			t.Fatalf("comments: %d %s", st, raw)
		}
		out := map[string]note{}
		for _, n := range ns {
			out[n.User.Email] = n
		}
		return out
	}
	ns := notes()
	mine, theirs := ns["alice@example.com"].ID, ns["bob@example.com"].ID
	if mine == "" || theirs == "" {
		t.Fatalf("comments: %+v", ns)
	}
	st, raw, _ := alice.do(t, "GET", page, "")
	if st != 200 {
		t.Fatalf("page: %d", st)
	}
	body := string(raw)
	if !strings.Contains(body, `name="comment" value="`+mine+`"`) {
		t.Error("no edit form for alice's own comment")
	}
	if strings.Contains(body, `name="comment" value="`+theirs+`"`) {
		t.Error("alice is offered to edit bob's comment")
	}

	// Bob cannot change alice's comment, by the API or the forms.
	if st, raw, _ := bob.do(t, "PUT", api+mine+"/", `{"text":"bob rewrote it"}`); st != 404 {
		t.Fatalf("bob edits alice's comment: %d %s", st, raw)
	}
	if st, raw, _ := bob.do(t, "DELETE", api+mine+"/", ""); st != 404 {
		t.Fatalf("bob deletes alice's comment: %d %s", st, raw)
	}
	if st, _, _ := bob.form(t, page, url.Values{"action": {"editComment"}, "comment": {mine}, "text": {"bob rewrote it"}}); st != 404 {
		t.Fatalf("bob's edit form on alice's comment: %d", st)
	}
	if st, _, _ := bob.form(t, page, url.Values{"action": {"deleteComment"}, "comment": {mine}}); st != 404 {
		t.Fatalf("bob's delete form on alice's comment: %d", st)
	}
	if n := notes()["alice@example.com"]; n.Data.Text != "alice was here" {
		t.Fatalf("alice's comment after bob's attempts: %+v", n)
	}

	// Alice edits, then deletes, her own.
	if st, raw, h := alice.form(t, page, url.Values{"action": {"editComment"}, "comment": {mine}, "text": {"alice fixed it"}}); st != 303 ||
		h.Get("Location") != page+"#activity" {
		t.Fatalf("edit: %d %s", st, raw)
	}
	if n := notes()["alice@example.com"]; n.Data.Text != "alice fixed it" || n.ID != mine {
		t.Fatalf("alice's comment after her edit: %+v", n)
	}
	if st, raw, _ := alice.form(t, page, url.Values{"action": {"deleteComment"}, "comment": {mine}}); st != 303 {
		t.Fatalf("delete: %d %s", st, raw)
	}
	if ns := notes(); len(ns) != 1 || ns["bob@example.com"].Data.Text != "bob was here" {
		t.Fatalf("after alice's delete: %+v", ns)
	}
}
