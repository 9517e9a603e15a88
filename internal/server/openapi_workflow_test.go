package server_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestOpenAPIWorkflowContract drives every issue-19 route (assignment,
// bookmarks and subscriptions in the issue's and the bulk PUT, comments,
// activities, hashes, merge, unmerge and its job, discard) on a running
// server and validates each real answer, and each request body, against
// the served document: a field of the wrong type or a missing one in
// Faultline's answer fails the test.
func TestOpenAPIWorkflowContract(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "web", "python")
	storePageEvent(t, f, p, `{"event_id":"000000000000000000000000000000a1","message":"contract one","level":"error"}`)
	storePageEvent(t, f, p, `{"event_id":"000000000000000000000000000000a2","message":"contract two","level":"error"}`)
	storePageEvent(t, f, p, `{"event_id":"000000000000000000000000000000a3","message":"contract two","level":"error"}`)
	issues := f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 3 })
	if len(issues) != 2 {
		t.Fatalf("%d issues", len(issues))
	}
	do, c := contractDo(t, f)
	one, two := issues[0].ID, issues[1].ID
	var me struct {
		ID string `json:"id"`
	}
	if st, raw := f.Do("GET", "/api/0/users/me/", nil, &me); st != 200 {
		t.Fatalf("me: %d %s", st, raw)
	}
	for _, org := range []string{"", "/organizations/acme"} {
		issue := "/api/0" + org + "/issues/" + one + "/"
		if st, raw := do("PUT", issue, map[string]any{"assignedTo": "user:" + me.ID, "isBookmarked": true, "isSubscribed": true}, nil); st != 200 {
			t.Fatalf("assign: %d %s", st, raw)
		}
		var assigned struct {
			AssignedTo *struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			} `json:"assignedTo"`
		}
		if st, raw := do("GET", issue, nil, &assigned); st != 200 || assigned.AssignedTo == nil || assigned.AssignedTo.ID != me.ID {
			t.Fatalf("issue: %d %s", st, raw)
		}
		var note struct {
			ID string `json:"id"`
		}
		if st, raw := do("POST", issue+"comments/", map[string]any{"text": "contract"}, &note); st != 201 {
			t.Fatalf("comment: %d %s", st, raw)
		}
		if st, raw := do("PUT", issue+"comments/"+note.ID+"/", map[string]any{"text": "contract, edited"}, nil); st != 200 {
			t.Fatalf("edit: %d %s", st, raw)
		}
		if st, raw := do("GET", issue+"comments/", nil, nil); st != 200 {
			t.Fatalf("comments: %d %s", st, raw)
		}
		if st, raw := do("DELETE", issue+"comments/"+note.ID+"/", nil, nil); st != 204 {
			t.Fatalf("delete: %d %s", st, raw)
		}
		if st, raw := do("GET", issue+"activities/", nil, nil); st != 200 {
			t.Fatalf("activities: %d %s", st, raw)
		}
		if st, raw := do("GET", issue+"hashes/", nil, nil); st != 200 {
			t.Fatalf("hashes: %d %s", st, raw)
		}
	}
	for _, bulk := range []string{"/api/0/projects/acme/web/issues/", "/api/0/organizations/acme/issues/"} {
		if st, raw := do("PUT", bulk+"?id="+one+"&id="+two, map[string]any{"isBookmarked": false, "assignedTo": ""}, nil); st != 200 {
			t.Fatalf("bulk workflow: %d %s", st, raw)
		}
	}
	if st, raw := do("PUT", "/api/0/projects/acme/web/issues/?id="+one+"&id="+two, map[string]any{"merge": 1}, nil); st != 200 {
		t.Fatalf("merge: %d %s", st, raw)
	}
	survivor := f.Issues(p)[0].ID
	var hashes []struct {
		ID string `json:"id"`
	}
	if st, raw := do("GET", "/api/0/issues/"+survivor+"/hashes/", nil, &hashes); st != 200 || len(hashes) != 2 {
		t.Fatalf("hashes: %d %s", st, raw)
	}
	var job struct {
		ID string `json:"id"`
	}
	raw := c.call("DELETE", "/api/0/organizations/acme/issues/"+survivor+"/hashes/?id="+hashes[0].ID, "", "", 202)
	if err := json.Unmarshal(raw, &job); err != nil || job.ID == "" {
		t.Fatalf("unmerge: %s", raw)
	}
	c.call("GET", "/api/0/deletions/"+job.ID+"/", "", "", 200)
	c.call("GET", "/api/0/organizations/acme/deletions/", "", "", 200)
	if st, raw := do("PUT", "/api/0/issues/"+survivor+"/", map[string]any{"discard": true}, nil); st != 204 {
		t.Fatalf("discard: %d %s", st, raw)
	}
}
