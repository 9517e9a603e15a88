package server_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/deletion"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestMergeUnmergeDiscardDelete drives the issue workflow's merge,
// unmerge, discard and delete with events of the real sentry-go SDK: two
// issues merged add up in the list, the details, the stats, the events
// and the hashes, and new events of either fingerprint land in the
// survivor; the merged id answers as the survivor; unmerged again, the
// original counts return in a new issue; after a discard the error is
// dropped and counted as filtered, and after a plain delete it comes back
// as a new issue with a new id and short id.
func TestMergeUnmergeDiscardDelete(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "backend", "go")
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	send := func(parse, charge int) {
		t.Helper()
		for i := 0; i < parse; i++ {
			hub.Scope().SetUser(sentry.User{ID: "p" + strconv.Itoa(i)})
			parseConfig(hub, "port-x")
		}
		for i := 0; i < charge; i++ {
			hub.Scope().SetUser(sentry.User{ID: "c" + strconv.Itoa(i%2)})
			chargeCard(hub, 100+i)
		}
		if !hub.Flush(5 * time.Second) {
			t.Fatal("sentry-go did not flush")
		}
	}
	send(3, 4)
	issues := f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 7 })
	if len(issues) != 2 {
		t.Fatalf("%d issues, want 2", len(issues))
	}
	byCount := map[string]testserver.Issue{}
	for _, is := range issues {
		byCount[is.Count] = is
	}
	parse, charge := byCount["3"], byCount["4"]
	if parse.ID == "" || charge.ID == "" {
		t.Fatalf("issues: %+v", issues)
	}
	base := "/api/0/projects/acme/backend/issues/"

	// A merge of one issue is refused; of both, the one with more events
	// survives.
	if st, raw := f.Do("PUT", base+"?id="+parse.ID, map[string]any{"merge": 1}, nil); st != 400 {
		t.Fatalf("merging one issue: %d %s", st, raw)
	}
	var merged struct {
		Merge struct {
			Parent   string   `json:"parent"`
			Children []string `json:"children"`
		} `json:"merge"`
	}
	if st, raw := f.Do("PUT", base+"?id="+parse.ID+"&id="+charge.ID, map[string]any{"merge": 1}, &merged); st != 200 {
		t.Fatalf("merge: %d %s", st, raw)
	}
	if merged.Merge.Parent != charge.ID || len(merged.Merge.Children) != 1 || merged.Merge.Children[0] != parse.ID {
		t.Fatalf("merge answer: %+v", merged)
	}
	expect := func(id string, count, users int) {
		t.Helper()
		var is struct {
			testserver.Issue
			Stats map[string][][2]int `json:"stats"`
		}
		if st, raw := f.Do("GET", "/api/0/issues/"+id+"/", nil, &is); st != 200 {
			t.Fatalf("issue %s: %d %s", id, st, raw)
		}
		sum := 0
		for _, b := range is.Stats["24h"] {
			sum += b[1]
		}
		if is.Count != strconv.Itoa(count) || is.UserCount != users || sum != count {
			t.Fatalf("issue %s: count %s, users %d, 24h stats %d; want %d, %d", id, is.Count, is.UserCount, sum, count, users)
		}
		var evs []map[string]any
		if st, raw := f.Do("GET", "/api/0/issues/"+id+"/events/?limit=100", nil, &evs); st != 200 || len(evs) != count {
			t.Fatalf("issue %s events: %d, %d events, want %d: %s", id, st, len(evs), count, raw)
		}
	}
	listed := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, is := range f.Issues(p) {
			out[is.ID] = is.Count
		}
		return out
	}
	expect(charge.ID, 7, 5)
	if l := listed(); len(l) != 1 || l[charge.ID] != "7" {
		t.Fatalf("list after the merge: %v", l)
	}
	// The merged id answers 200 with the survivor's JSON.
	var via testserver.Issue
	if st, raw := f.Do("GET", "/api/0/issues/"+parse.ID+"/", nil, &via); st != 200 || via.ID != charge.ID {
		t.Fatalf("merged id: %d %s", st, raw)
	}
	// New events of either fingerprint land in the survivor.
	send(1, 1)
	f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 9 })
	expect(charge.ID, 9, 5)
	if l := listed(); len(l) != 1 {
		t.Fatalf("list after new events: %v", l)
	}
	var hashes []struct {
		ID          string         `json:"id"`
		LatestEvent map[string]any `json:"latestEvent"`
	}
	if st, raw := f.Do("GET", "/api/0/issues/"+charge.ID+"/hashes/", nil, &hashes); st != 200 || len(hashes) != 2 {
		t.Fatalf("hashes: %d %s", st, raw)
	}
	var parseHash string
	for _, h := range hashes {
		if h.LatestEvent == nil {
			t.Fatalf("hash %s has no latest event", h.ID)
		}
		if fmt.Sprint(h.LatestEvent["title"]) != charge.Title {
			parseHash = h.ID
		}
	}
	if parseHash == "" {
		t.Fatalf("no hash of the parse error in %+v", hashes)
	}

	// Unmerge: the parse error's events (4) leave for a new issue.
	if st, raw := f.Do("DELETE", "/api/0/issues/"+charge.ID+"/hashes/?id="+parseHash, nil, nil); st != 202 {
		t.Fatalf("unmerge: %d %s", st, raw)
	}
	l := listed()
	if len(l) != 2 || l[charge.ID] != "5" {
		t.Fatalf("list after the unmerge: %v", l)
	}
	var split string
	for id := range l {
		if id != charge.ID {
			split = id
		}
	}
	if split == parse.ID {
		t.Fatal("the unmerge revived the merged id")
	}
	expect(charge.ID, 5, 2)
	expect(split, 4, 3)
	if st, raw := f.Do("DELETE", "/api/0/issues/"+charge.ID+"/hashes/?id=nope", nil, nil); st != 404 {
		t.Fatalf("unmerging an unknown hash: %d %s", st, raw)
	}

	// Discard the parse error: its next event is dropped and filtered.
	before := outcomes(t, f, "acme")["filtered/error"]
	if st, raw := f.Do("PUT", "/api/0/issues/"+split+"/", map[string]any{"discard": true}, nil); st != 204 {
		t.Fatalf("discard: %d %s", st, raw)
	}
	send(2, 0)
	waitOutcomes(t, f, "acme", func(o map[string]uint64) bool { return o["filtered/error"] == before+2 })
	if l := listed(); len(l) != 1 {
		t.Fatalf("list after the discard: %v", l)
	}

	// A plain delete: the charge error comes back as a new issue.
	if st, raw := f.Do("DELETE", "/api/0/issues/"+charge.ID+"/", nil, nil); st != 202 {
		t.Fatalf("delete: %d %s", st, raw)
	}
	send(0, 1)
	again := f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool { return len(is) == 1 && is[0].ID != charge.ID })
	if again[0].Count != "1" || again[0].ShortID == charge.ShortID {
		t.Fatalf("after the delete: %+v (was %+v)", again[0], charge)
	}
}

// TestUnmergeJob: with every unmerge left to a background job, the
// unmerge answers 202 with the pending job, whose status the job route
// serves until a worker's runner has moved the events (the counts then
// return, and the activity says so); a merge carries the child's comments
// to the survivor.
func TestUnmergeJob(t *testing.T) {
	// The runner holds the unmerge once claimed until the issue page has
	// shown it in progress.
	release := make(chan struct{})
	hold := func(step string, job deletion.Job) {
		if job.Kind == deletion.KindUnmerge && step == deletion.StepClaimed {
			select {
			case <-release:
			case <-time.After(30 * time.Second):
			}
		}
	}
	f := testserver.Start(t, server.Config{UnmergeInlineMax: -1, Deletion: deletion.Config{Poll: 50 * time.Millisecond, StepHook: hold}})
	p := f.CreateProject("acme", "backend", "go")
	newUser(t, f, "member@example.com", "acme", authz.Member, "team")
	member := sessionLogin(t, f, "member@example.com")
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	for i := 0; i < 3; i++ {
		parseConfig(hub, "port-x")
	}
	for i := 0; i < 4; i++ {
		chargeCard(hub, 100+i)
	}
	if !hub.Flush(5 * time.Second) {
		t.Fatal("sentry-go did not flush")
	}
	issues := f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 7 })
	byCount := map[string]testserver.Issue{}
	for _, is := range issues {
		byCount[is.Count] = is
	}
	parse, charge := byCount["3"], byCount["4"]
	if st, raw := f.Do("POST", "/api/0/issues/"+parse.ID+"/comments/", map[string]any{"text": "parse: seen in staging"}, nil); st != 201 {
		t.Fatalf("comment: %d %s", st, raw)
	}
	if st, raw := f.Do("PUT", "/api/0/projects/acme/backend/issues/?id="+parse.ID+"&id="+charge.ID, map[string]any{"merge": 1}, nil); st != 200 {
		t.Fatalf("merge: %d %s", st, raw)
	}
	var notes []struct {
		ID   string `json:"id"`
		Data struct {
			Text string `json:"text"`
		} `json:"data"`
	}
	if st, raw := f.Do("GET", "/api/0/issues/"+charge.ID+"/comments/", nil, &notes); st != 200 || len(notes) != 1 || notes[0].Data.Text != "parse: seen in staging" {
		t.Fatalf("the survivor's comments: %d %s", st, raw)
	}
	var hashes []struct {
		ID          string         `json:"id"`
		LatestEvent map[string]any `json:"latestEvent"`
	}
	if st, raw := f.Do("GET", "/api/0/issues/"+charge.ID+"/hashes/", nil, &hashes); st != 200 || len(hashes) != 2 {
		t.Fatalf("hashes: %d %s", st, raw)
	}
	var parseHash string
	for _, h := range hashes {
		if fmt.Sprint(h.LatestEvent["title"]) != charge.Title {
			parseHash = h.ID
		}
	}
	var job struct {
		ID          string `json:"id"`
		Kind        string `json:"kind"`
		Status      string `json:"status"`
		Issue       string `json:"issue"`
		Destination string `json:"destination"`
		EventsMoved int    `json:"eventsMoved"`
	}
	if st, raw := f.Do("DELETE", "/api/0/issues/"+charge.ID+"/hashes/?id="+parseHash, nil, &job); st != 202 ||
		job.Kind != "unmerge" || job.Issue != charge.ID || job.Destination == "" || job.ID == "" {
		t.Fatalf("unmerge: %d %s", st, raw)
	}
	// (The new issue has no page until its first events arrive.)
	st, raw, _ := member.do(t, "GET", "/organizations/acme/issues/"+charge.ID+"/", "")
	close(release)
	if st != 200 || !strings.Contains(string(raw), "Unmerge in progress: events are moving to") {
		t.Fatalf("issue page during the unmerge: %d, no progress notice", st)
	}
	deadline := time.Now().Add(time.Minute)
	for job.Status != "done" {
		if time.Now().After(deadline) {
			t.Fatalf("the unmerge job did not finish: %+v", job)
		}
		time.Sleep(50 * time.Millisecond)
		if st, raw := f.Do("GET", "/api/0/deletions/"+job.ID+"/", nil, &job); st != 200 {
			t.Fatalf("job: %d %s", st, raw)
		}
	}
	if st, raw, _ := member.do(t, "GET", "/organizations/acme/issues/"+charge.ID+"/", ""); st != 200 || strings.Contains(string(raw), "Unmerge in progress") {
		t.Fatalf("issue page after the unmerge: %d, still in progress", st)
	}
	if job.EventsMoved != 3 {
		t.Fatalf("the job moved %d events, want 3", job.EventsMoved)
	}
	counts := map[string]string{}
	for _, is := range f.Issues(p) {
		counts[is.ID] = is.Count
	}
	if len(counts) != 2 || counts[charge.ID] != "4" || counts[job.Destination] != "3" {
		t.Fatalf("after the unmerge job: %v (new issue %s)", counts, job.Destination)
	}
	var acts struct {
		Activity []struct {
			Type string `json:"type"`
		} `json:"activity"`
	}
	if st, raw := f.Do("GET", "/api/0/issues/"+job.Destination+"/", nil, &acts); st != 200 {
		t.Fatalf("new issue: %d %s", st, raw)
	}
	found := false
	for _, a := range acts.Activity {
		found = found || a.Type == "unmerge_source"
	}
	if !found {
		t.Fatalf("the new issue's activity: %+v", acts.Activity)
	}
}
