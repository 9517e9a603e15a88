package process_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/store"
)

// send queues one event of the "checkout" site (one issue) and processes
// the queue until it is stored; it returns the issue id.
func (r *rig) send(t *testing.T, n int, extra string) uint64 {
	t.Helper()
	id := fmt.Sprintf("%032x", 0xabc000+n)
	body := `{"event_id":"` + id + `","platform":"python","exception":{"values":[{"type":"CheckoutError","value":"failed",` +
		`"stacktrace":{"frames":[{"module":"shop.checkout","function":"pay","in_app":true}]}}]}` + extra + `}`
	if err := r.q.Publish(context.Background(), &queue.Message{ProjectID: r.project.ID, EventID: id,
		Kind: queue.KindStore, Received: time.Now(), Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	var ev *store.StoredEvent
	r.run(t, r.s, 5*time.Second, func() bool {
		ev, _ = r.s.GetEvent(context.Background(), r.project.ID, id)
		return ev != nil
	})
	if ev == nil {
		t.Fatalf("event %d was not stored", n)
	}
	return ev.GroupID
}

func (r *rig) setStatus(t *testing.T, gid uint64, status, details string) {
	t.Helper()
	// Stored events carry their receive time to the second, so counts since
	// a change start at its second: begin a fresh one, so that the events
	// sent before the change are not counted after it.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	if err := r.s.SetStatus(context.Background(), []store.StatusChange{{ProjectID: r.project.ID, GroupID: gid,
		Status: status, Details: details, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // the next event is received after the change
}

func (r *rig) state(t *testing.T, gid uint64) store.GroupState {
	t.Helper()
	st, err := r.s.GroupStates(context.Background(), []uint64{r.project.ID}, []uint64{gid})
	if err != nil {
		t.Fatal(err)
	}
	return st[gid]
}

func expectState(t *testing.T, got store.GroupState, status, substatus string) {
	t.Helper()
	if got.Status != status || got.Substatus != substatus {
		t.Fatalf("status %q/%q, want %q/%q", got.Status, got.Substatus, status, substatus)
	}
}

// expectActivity checks the issue's newest activity, which the worker's
// change recorded.
func (r *rig) expectActivity(t *testing.T, gid uint64, typ string, n int) store.Activity {
	t.Helper()
	acts, err := r.s.ListActivity(context.Background(), r.project.ID, gid, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != n || acts[0].Type != typ || acts[0].UserID != 0 {
		t.Fatalf("activity %+v, want %d with the newest %s by nobody", acts, n, typ)
	}
	return acts[0]
}

func TestResolvedIssueRegresses(t *testing.T) {
	r := newRig(t)
	gid := r.send(t, 1, "")
	r.setStatus(t, gid, store.StatusResolved, "{}")
	if g2 := r.send(t, 2, ""); g2 != gid {
		t.Fatalf("second event in issue %d, want %d", g2, gid)
	}
	st := r.state(t, gid)
	expectState(t, st, store.StatusUnresolved, process.SubstatusRegressed)
	if st.Details != "{}" {
		t.Errorf("details %s", st.Details)
	}
	a := r.expectActivity(t, gid, store.ActivitySetRegression, 1)
	if a.Data != `{"event_id":"`+fmt.Sprintf("%032x", 0xabc000+2)+`","version":""}` {
		t.Errorf("regression data %s", a.Data)
	}
	// Another event of the unresolved issue decides nothing more.
	r.send(t, 3, "")
	r.expectActivity(t, gid, store.ActivitySetRegression, 1)
}

func TestResolvedInNextRelease(t *testing.T) {
	r := newRig(t)
	gid := r.send(t, 1, `,"release":"shop@1.0"`)
	r.setStatus(t, gid, store.StatusResolved, `{"inNextRelease":true}`)
	r.send(t, 2, `,"release":"shop@1.0"`) // the release that was current: still resolved
	r.send(t, 3, "")                      // no release: still resolved
	expectState(t, r.state(t, gid), store.StatusResolved, "")
	r.send(t, 4, `,"release":"shop@1.1"`) // a release first seen after the resolution
	expectState(t, r.state(t, gid), store.StatusUnresolved, process.SubstatusRegressed)
	if a := r.expectActivity(t, gid, store.ActivitySetRegression, 1); !strings.Contains(a.Data, `"version":"shop@1.1"`) {
		t.Errorf("regression data %s", a.Data)
	}

	first, last, err := r.s.IssueReleases(context.Background(), r.project.ID, gid)
	if err != nil || first == nil || first.Version != "shop@1.0" || last.Version != "shop@1.1" {
		t.Fatalf("first %+v last %+v err %v", first, last, err)
	}
	seen, err := r.s.ReleasesFirstSeen(context.Background(), r.project.ID, []string{"shop@1.0", "shop@1.1"})
	if err != nil || len(seen) != 2 || !seen["shop@1.0"].Before(seen["shop@1.1"]) {
		t.Fatalf("releases %v %v", seen, err)
	}
}

// TestResolvedInRelease: resolved in release X, an issue regresses only
// with an event of a release first seen after X.
func TestResolvedInRelease(t *testing.T) {
	r := newRig(t)
	gid := r.send(t, 1, `,"release":"shop@1.0"`)
	r.send(t, 2, `,"release":"shop@1.1"`)
	r.setStatus(t, gid, store.StatusResolved, `{"inRelease":"shop@1.1"}`)
	r.send(t, 3, `,"release":"shop@1.0"`)
	r.send(t, 4, `,"release":"shop@1.1"`)
	r.send(t, 5, "")
	expectState(t, r.state(t, gid), store.StatusResolved, "")
	r.send(t, 6, `,"release":"shop@1.2"`)
	expectState(t, r.state(t, gid), store.StatusUnresolved, process.SubstatusRegressed)
	if a := r.expectActivity(t, gid, store.ActivitySetRegression, 1); !strings.Contains(a.Data, `"version":"shop@1.2"`) {
		t.Errorf("regression data %s", a.Data)
	}
}

func TestIgnoreConditions(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		r := newRig(t)
		gid := r.send(t, 1, "")
		r.setStatus(t, gid, store.StatusIgnored, `{"ignoreCount":3}`)
		r.send(t, 2, "")
		r.send(t, 3, "")
		expectState(t, r.state(t, gid), store.StatusIgnored, "")
		r.send(t, 4, "")
		expectState(t, r.state(t, gid), store.StatusUnresolved, process.SubstatusEscalating)
		r.expectActivity(t, gid, store.ActivitySetEscalating, 1)
	})
	t.Run("users", func(t *testing.T) {
		r := newRig(t)
		gid := r.send(t, 1, `,"user":{"id":"u1"}`)
		r.setStatus(t, gid, store.StatusIgnored, `{"ignoreUserCount":2}`)
		r.send(t, 2, `,"user":{"id":"u1"}`)
		r.send(t, 3, `,"user":{"id":"u1"}`)
		r.send(t, 4, "")
		expectState(t, r.state(t, gid), store.StatusIgnored, "")
		r.send(t, 5, `,"user":{"id":"u2"}`)
		expectState(t, r.state(t, gid), store.StatusUnresolved, process.SubstatusEscalating)
	})
	t.Run("until", func(t *testing.T) {
		r := newRig(t)
		gid := r.send(t, 1, "")
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
		r.setStatus(t, gid, store.StatusIgnored, `{"ignoreUntil":"`+future+`"}`)
		r.send(t, 2, "")
		expectState(t, r.state(t, gid), store.StatusIgnored, "")
		past := time.Now().UTC().Format(time.RFC3339Nano)
		r.setStatus(t, gid, store.StatusIgnored, `{"ignoreUntil":"`+past+`"}`)
		r.send(t, 3, "")
		expectState(t, r.state(t, gid), store.StatusUnresolved, process.SubstatusOngoing)
		if a := r.expectActivity(t, gid, store.ActivitySetUnresolved, 1); !strings.Contains(a.Data, `"ignoreUntil"`) {
			t.Errorf("unignore data %s", a.Data)
		}
	})
	t.Run("forever", func(t *testing.T) {
		r := newRig(t)
		gid := r.send(t, 1, "")
		r.setStatus(t, gid, store.StatusIgnored, `{}`)
		r.send(t, 2, "")
		expectState(t, r.state(t, gid), store.StatusIgnored, "")
	})
}

// TestScrubbedBeforeStorage: with the default settings nothing sensitive
// reaches the stored body, the tags or the user columns; with IP
// scrubbing no IP address is stored.
func TestScrubbedBeforeStorage(t *testing.T) {
	r := newRig(t)
	extra := `,"message":"card 4111 1111 1111 1111","tags":{"session_token":"tok-1","region":"eu"},` +
		`"user":{"id":"u1","ip_address":"198.51.100.7"},"extra":{"password":"hunter2"},` +
		`"request":{"url":"https://x/","headers":{"Authorization":"Bearer sekrit","Cookie":"sid=abc"},"cookies":{"sid":"abc"}}`
	gid := r.send(t, 1, extra)
	ev, err := r.s.GetEvent(context.Background(), r.project.ID, fmt.Sprintf("%032x", 0xabc001))
	if err != nil || ev == nil {
		t.Fatal(ev, err)
	}
	for _, secret := range []string{"4111 1111", "tok-1", "hunter2", "sekrit", "sid=abc", `"abc"`} {
		if strings.Contains(ev.Body, secret) || strings.Contains(strings.Join(ev.TagValues, " "), secret) {
			t.Errorf("%q was stored: %s %v", secret, ev.Body, ev.TagValues)
		}
	}
	if !strings.Contains(ev.Body, "198.51.100.7") {
		t.Error("IP scrubbing is off by default, as in Sentry")
	}

	p := *r.project
	p.ScrubIPAddresses = true
	if err := r.m.UpdateProject(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
	r.send(t, 2, extra)
	ev, _ = r.s.GetEvent(context.Background(), r.project.ID, fmt.Sprintf("%032x", 0xabc002))
	if ev == nil || strings.Contains(ev.Body, "198.51.100.7") {
		t.Fatalf("an IP address was stored: %v", ev)
	}
	page, err := r.s.ListIssues(context.Background(), store.IssueQuery{ProjectIDs: []uint64{r.project.ID}, GroupIDs: []uint64{gid}})
	if err != nil || len(page.Issues) != 1 {
		t.Fatal(page, err)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(ev.Body), &body); err != nil {
		t.Fatal(err)
	}
	if u, _ := body["user"].(map[string]any); u["ip_address"] != nil {
		t.Errorf("user %v", u)
	}
}
