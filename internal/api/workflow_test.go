package api_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// workflowIssue is what the workflow tests read of an issue.
type workflowIssue struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	AssignedTo *struct {
		Type  string `json:"type"`
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"assignedTo"`
	IsBookmarked bool `json:"isBookmarked"`
	IsSubscribed bool `json:"isSubscribed"`
	HasSeen      bool `json:"hasSeen"`
	NumComments  int  `json:"numComments"`
	Activity     []struct {
		ID   string         `json:"id"`
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
		User *struct {
			Email string `json:"email"`
		} `json:"user"`
	} `json:"activity"`
}

func (is workflowIssue) assignee() string {
	if is.AssignedTo == nil {
		return "nobody"
	}
	return is.AssignedTo.Type + ":" + is.AssignedTo.ID
}

func (is workflowIssue) activityTypes() string {
	var out []string
	for _, a := range is.Activity {
		who := "-"
		if a.User != nil {
			who = a.User.Email
		}
		out = append(out, a.Type+"/"+who)
	}
	return strings.Join(out, " ")
}

// TestIssueWorkflow drives assignment, bookmarks, subscriptions, the seen
// state and comments through the API of a real server, as two members
// of the project's team, a member on no team and another organization's
// owner: who may be assigned, per-user state, the search terms, comment
// ownership, and tenancy.
func TestIssueWorkflow(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	web := f.CreateProject("acme", "web", "go")
	other := f.CreateProject("other", "x", "go")
	admin := testserver.AdminToken
	alice := addUser(t, f, 4001, "alice@example.com")
	bob := addUser(t, f, 4002, "bob@example.com")
	addUser(t, f, 4003, "carol@example.com")
	outsider := addUser(t, f, 4004, "outsider@example.com")
	for _, m := range []struct{ org, email, role, teams string }{
		{"acme", "alice@example.com", "member", `["team"]`},
		{"acme", "bob@example.com", "member", `["team"]`},
		{"acme", "carol@example.com", "member", `[]`}, // on no team: does not see web
		{"other", "outsider@example.com", "owner", `["team"]`},
	} {
		if st, _, raw := call(t, f, "POST", "/api/0/organizations/"+m.org+"/members/",
			fmt.Sprintf(`{"email":%q,"orgRole":%q,"teams":%s}`, m.email, m.role, m.teams), admin); st != 201 {
			t.Fatalf("add %s: %d %s", m.email, st, raw)
		}
	}
	if st, _, raw := call(t, f, "POST", "/api/0/organizations/acme/teams/", `{"name":"bravo","slug":"bravo"}`, admin); st != 201 {
		t.Fatalf("team bravo: %d %s", st, raw)
	}
	var teams []struct{ ID, Slug string }
	if st, _, raw := call(t, f, "GET", "/api/0/organizations/acme/teams/", "", admin); st != 200 || json.Unmarshal(raw, &teams) != nil {
		t.Fatalf("teams: %d %s", st, raw)
	}
	teamID := map[string]string{}
	for _, tm := range teams {
		teamID[tm.Slug] = tm.ID
	}
	ids := issuesByTitle(t, f, web, "one", "two", "three")
	w1, w2, w3 := ids["one"], ids["two"], ids["three"]
	o1 := issuesByTitle(t, f, other, "elsewhere")["elsewhere"]

	get := func(token, id string) workflowIssue {
		t.Helper()
		var is workflowIssue
		st, _, raw := call(t, f, "GET", "/api/0/issues/"+id+"/", "", token)
		if st != 200 || json.Unmarshal(raw, &is) != nil {
			t.Fatalf("issue %s: %d %s", id, st, raw)
		}
		return is
	}
	put := func(token, path, body string, want int) []byte {
		t.Helper()
		st, _, raw := call(t, f, "PUT", path, body, token)
		if st != want {
			t.Fatalf("PUT %s %s: %d %s, want %d", path, body, st, raw, want)
		}
		return raw
	}
	search := func(token, path, q string) []string {
		t.Helper()
		var list []workflowIssue
		st, _, raw := call(t, f, "GET", path+"?query="+url.QueryEscape(q), "", token)
		if st != 200 || json.Unmarshal(raw, &list) != nil {
			t.Fatalf("%s %q: %d %s", path, q, st, raw)
		}
		var out []string
		for _, is := range list {
			out = append(out, is.Title)
		}
		slices.Sort(out)
		return out
	}

	// Assignment: by e-mail, answered with the issue and Sentry's shape.
	var is workflowIssue
	if err := json.Unmarshal(put(alice, "/api/0/issues/"+w1+"/", `{"assignedTo":"bob@example.com"}`, 200), &is); err != nil {
		t.Fatal(err)
	}
	if is.AssignedTo == nil || *is.AssignedTo != (struct {
		Type  string `json:"type"`
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	}{"user", "4002", "User bob@example.com", "bob@example.com"}) {
		t.Fatalf("assignedTo = %+v", is.AssignedTo)
	}
	// Who cannot be assigned: nothing changes.
	for _, c := range []struct{ body, detail string }{
		{`{"assignedTo":"carol@example.com"}`, "assignedTo: Cannot assign to non-team member"},
		{`{"assignedTo":"outsider@example.com"}`, "assignedTo: Cannot assign to non-team member"},
		{`{"assignedTo":"user:4004","status":"resolved"}`, "assignedTo: Cannot assign to non-team member"},
		{`{"assignedTo":"nobody@example.com"}`, "assignedTo: Unknown actor input"},
		{`{"assignedTo":"team:` + teamID["bravo"] + `"}`, "assignedTo: Cannot assign to a team without access to the project"},
		{`{"assignedTo":"team:987654"}`, "assignedTo: Unknown actor input"},
	} {
		st, _, raw := call(t, f, "PUT", "/api/0/issues/"+w1+"/", c.body, alice)
		if st != 400 || detail(t, raw) != c.detail {
			t.Errorf("%s: %d %s", c.body, st, raw)
		}
	}
	if is := get(alice, w1); is.assignee() != "user:4002" {
		t.Fatalf("after refused assignments: %s", is.assignee())
	}
	// Another organization's owner sees none of it: 404, nothing changed.
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/api/0/issues/" + w1 + "/", `{"assignedTo":"outsider@example.com"}`},
		{"PUT", "/api/0/issues/" + w1 + "/", `{"isBookmarked":true}`},
		{"PUT", "/api/0/projects/acme/web/issues/?id=" + w1, `{"assignedTo":""}`},
		{"GET", "/api/0/issues/" + w1 + "/comments/", ``},
		{"POST", "/api/0/issues/" + w1 + "/comments/", `{"text":"spam"}`},
		{"GET", "/api/0/issues/" + w1 + "/activities/", ``},
	} {
		if st, _, raw := call(t, f, c.method, c.path, c.body, outsider); st != 404 {
			t.Errorf("outsider %s %s: %d %s", c.method, c.path, st, raw)
		}
	}
	// And acme's issues are not theirs to name in their own bulk route.
	if st, _, raw := call(t, f, "PUT", "/api/0/organizations/other/issues/?id="+w1, `{"assignedTo":"me"}`, outsider); st != 204 {
		t.Errorf("outsider's bulk with acme's id: %d %s", st, raw)
	}
	if is := get(alice, w1); is.assignee() != "user:4002" || is.NumComments != 0 || is.IsBookmarked {
		t.Fatalf("after the outsider: %+v", is)
	}

	// Bulk: a team, by id (the answer names the changed fields).
	raw := put(alice, "/api/0/projects/acme/web/issues/?id="+w2+"&id="+o1, `{"assignedTo":"team:`+teamID["team"]+`"}`, 200)
	var ans map[string]any
	json.Unmarshal(raw, &ans)
	if at, _ := ans["assignedTo"].(map[string]any); at["type"] != "team" || at["id"] != teamID["team"] || at["name"] != "team" || len(ans) != 1 {
		t.Fatalf("bulk assign answer: %s", raw)
	}
	if is := get(admin, o1); is.assignee() != "nobody" {
		t.Fatalf("the other organization's issue was assigned: %s", is.assignee())
	}

	// Bookmarks, subscriptions and the seen state are each user's.
	raw = put(alice, "/api/0/organizations/acme/issues/?id="+w1, `{"isBookmarked":true,"hasSeen":true}`, 200)
	if string(raw) != `{"hasSeen":true,"isBookmarked":true}`+"\n" {
		t.Errorf("bulk bookmark answer: %s", raw)
	}
	a1, b1 := get(alice, w1), get(bob, w1)
	if !a1.IsBookmarked || !a1.HasSeen || a1.IsSubscribed {
		t.Errorf("alice's view: %+v", a1)
	}
	if b1.IsBookmarked || b1.HasSeen || !b1.IsSubscribed { // bob was assigned: subscribed
		t.Errorf("bob's view: %+v", b1)
	}
	put(bob, "/api/0/issues/"+w1+"/", `{"isSubscribed":false}`, 200)
	if is := get(bob, w1); is.IsSubscribed {
		t.Error("bob unsubscribed, still subscribed")
	}

	// The search terms, at project and organization level.
	for _, c := range []struct {
		token, q string
		want     []string
	}{
		{bob, "assigned:me", []string{"one"}},
		{alice, "assigned:me", nil},
		{alice, "assigned:bob@example.com", []string{"one"}},
		{alice, "assigned:#team", []string{"two"}},
		{alice, "assigned:#bravo", nil},
		{alice, "assigned:none", []string{"three"}},
		{alice, "is:unassigned", []string{"three"}},
		{alice, "is:assigned", []string{"one", "two"}},
		{alice, "!assigned:me is:assigned", []string{"one", "two"}},
		{alice, "bookmarks:me", []string{"one"}},
		{bob, "bookmarks:me", nil},
		{bob, "bookmarks:alice@example.com", []string{"one"}},
		{alice, "assigned:nobody@example.com", nil},
		{alice, "assigned:outsider@example.com", nil},
	} {
		for _, path := range []string{"/api/0/projects/acme/web/issues/", "/api/0/organizations/acme/issues/"} {
			if got := search(c.token, path, c.q); !slices.Equal(got, c.want) {
				t.Errorf("%s %q: %v, want %v", path, c.q, got, c.want)
			}
		}
	}
	// A bulk change by query: every unassigned issue to alice.
	put(bob, "/api/0/projects/acme/web/issues/?query=is:unassigned", `{"assignedTo":"alice@example.com"}`, 200)
	if is := get(alice, w3); is.assignee() != "user:4001" {
		t.Errorf("bulk by query: %s", is.assignee())
	}

	// Unassigning records its activity; assigning the same again none.
	put(alice, "/api/0/issues/"+w1+"/", `{"assignedTo":""}`, 200)
	put(alice, "/api/0/issues/"+w1+"/", `{"assignedTo":null}`, 200)
	if is := get(alice, w1); is.assignee() != "nobody" ||
		is.activityTypes() != "unassigned/alice@example.com assigned/alice@example.com first_seen/-" {
		t.Errorf("after unassigning: %s, %s", is.assignee(), is.activityTypes())
	}

	// Comments: two users; each may change only their own.
	note := func(token, text string) string {
		t.Helper()
		var n struct {
			ID   string
			Type string
			Data struct{ Text string }
		}
		st, _, raw := call(t, f, "POST", "/api/0/issues/"+w1+"/comments/", fmt.Sprintf(`{"text":%q}`, text), token)
		if st != 201 || json.Unmarshal(raw, &n) != nil || n.Type != "note" || n.Data.Text != text || n.ID == "" {
			t.Fatalf("comment: %d %s", st, raw)
		}
		return n.ID
	}
	na := note(alice, `looks like <script>alert(1)</script> "x"`)
	nb := note(bob, "on it")
	for _, body := range []string{`{}`, `{"text":"  "}`, `[]`} {
		if st, _, raw := call(t, f, "POST", "/api/0/issues/"+w1+"/comments/", body, alice); st != 400 {
			t.Errorf("comment %s: %d %s", body, st, raw)
		}
	}
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/api/0/issues/" + w1 + "/comments/" + na + "/", `{"text":"bob was here"}`},
		{"DELETE", "/api/0/issues/" + w1 + "/comments/" + na + "/", ``},
		{"PUT", "/api/0/issues/" + w2 + "/comments/" + nb + "/", `{"text":"wrong issue"}`},
		{"DELETE", "/api/0/issues/" + w1 + "/comments/987654321/", ``},
	} {
		if st, _, raw := call(t, f, c.method, c.path, c.body, bob); st != 404 {
			t.Errorf("bob %s %s: %d %s, want 404", c.method, c.path, st, raw)
		}
	}
	if st, _, raw := call(t, f, "PUT", "/api/0/organizations/acme/issues/"+w1+"/comments/"+na+"/", `{"text":"edited"}`, alice); st != 200 ||
		!strings.Contains(string(raw), `"text":"edited"`) {
		t.Errorf("alice edits hers: %d %s", st, raw)
	}
	var notes []struct {
		ID   string
		Data struct{ Text string }
		User struct{ Email string }
	}
	st, _, raw := call(t, f, "GET", "/api/0/issues/"+w1+"/comments/", "", bob)
	if st != 200 || json.Unmarshal(raw, &notes) != nil || len(notes) != 2 || notes[0].ID != nb || notes[0].User.Email != "bob@example.com" ||
		notes[1].Data.Text != "edited" || notes[1].User.Email != "alice@example.com" {
		t.Fatalf("comments: %d %s", st, raw)
	}
	if is := get(alice, w1); is.NumComments != 2 || !is.IsSubscribed || !strings.HasPrefix(is.activityTypes(), "note/bob@example.com note/alice@example.com unassigned") {
		t.Errorf("with comments: %d comments, subscribed %v, %s", is.NumComments, is.IsSubscribed, is.activityTypes())
	}
	if st, _, raw := call(t, f, "DELETE", "/api/0/issues/"+w1+"/comments/"+nb+"/", "", bob); st != 204 {
		t.Errorf("bob deletes his: %d %s", st, raw)
	}
	var acts struct {
		Activity []struct{ Type string } `json:"activity"`
	}
	if st, _, raw := call(t, f, "GET", "/api/0/issues/"+w1+"/activities/", "", bob); st != 200 || json.Unmarshal(raw, &acts) != nil ||
		len(acts.Activity) != 4 || acts.Activity[0].Type != "note" || acts.Activity[3].Type != "first_seen" {
		t.Errorf("activities: %d %s", st, raw)
	}
	if is := get(bob, w1); is.NumComments != 1 {
		t.Errorf("after deleting: %d comments", is.NumComments)
	}
}
