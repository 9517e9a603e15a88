package process_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/alert"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/store"
)

// recorder is a real Notifier that keeps what it is handed (the
// notification queue is another part's).
type recorder struct {
	mu    sync.Mutex
	fired []alert.Fired
}

func (rec *recorder) Enqueue(_ context.Context, fired []alert.Fired) error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.fired = append(rec.fired, fired...)
	return nil
}

func (rec *recorder) all() []alert.Fired {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]alert.Fired(nil), rec.fired...)
}

// enableAlerts evaluates the project's rules with a real action
// interval bucket and records what fires.
func (r *rig) enableAlerts(t *testing.T) *recorder {
	t.Helper()
	iv, err := alert.OpenIntervals(context.Background(), r.q.JetStream(), 1)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	r.alerts, r.notifier = alert.NewEvaluator(r.m, iv, r.s), rec
	return rec
}

func (r *rig) addRule(t *testing.T, rule *meta.Rule) *meta.Rule {
	t.Helper()
	rule.ProjectID = r.project.ID
	if p := alert.Validate(rule); p != nil {
		t.Fatalf("rule %q: %v", rule.Name, p)
	}
	saved, err := r.m.CreateRule(context.Background(), rule)
	if err != nil {
		t.Fatal(err)
	}
	return saved
}

func raws(nodes ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(nodes))
	for i, n := range nodes {
		out[i] = json.RawMessage(n)
	}
	return out
}

const emailOwners = `{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"IssueOwners"}`

// sendAcked is send, waiting also until the queue is drained: the worker
// evaluates the rules after the insert, before the ack.
func (r *rig) sendAcked(t *testing.T, n int, extra string) uint64 {
	t.Helper()
	id := sentID(n)
	body := `{"event_id":"` + id + `","platform":"python","exception":{"values":[{"type":"CheckoutError","value":"failed",` +
		`"stacktrace":{"frames":[{"module":"shop.checkout","function":"pay","in_app":true}]}}]}` + extra + `}`
	if err := r.q.Publish(context.Background(), &queue.Message{ProjectID: r.project.ID, EventID: id,
		Kind: queue.KindStore, Received: time.Now(), Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	r.run(t, r.s, 5*time.Second, r.drained(t))
	ev, err := r.s.GetEvent(context.Background(), r.project.ID, id)
	if err != nil || ev == nil || !r.drained(t)() {
		t.Fatalf("event %d was not stored and acked: %v", n, err)
	}
	return ev.GroupID
}

func sentID(n int) string { return fmt.Sprintf("%032x", 0xabc000+n) }

func defaultRuleID(t *testing.T, r *rig) uint64 {
	t.Helper()
	rules := r.m.Rules(r.project.ID)
	if len(rules) != 1 || rules[0].Name != meta.DefaultRule(0).Name {
		t.Fatalf("a new project has rules %+v, want the default rule", rules)
	}
	return rules[0].ID
}

// TestNewIssueFiresOnce: the default rule fires for a new issue, with the
// issue and the event, and not for the issue's next event.
func TestNewIssueFiresOnce(t *testing.T) {
	r := newRig(t)
	rec := r.enableAlerts(t)
	def := defaultRuleID(t, r)
	gid := r.sendAcked(t, 1, "")
	r.sendAcked(t, 2, "")
	got := rec.all()
	if len(got) != 1 {
		t.Fatalf("fired %d times, want once: %+v", len(got), got)
	}
	f := got[0]
	wantKey := fmt.Sprintf("rule:%d:group:%d:new_issue:", def, gid)
	if f.Key != wantKey || f.Trigger != alert.TriggerNewIssue || f.GroupID != gid || f.EventID != sentID(1) ||
		f.ProjectID != r.project.ID || f.RuleID != strconv.FormatUint(def, 10) {
		t.Fatalf("fired %+v, want key %s for event %s", f, wantKey, sentID(1))
	}
	if f.Issue.Title != "CheckoutError: failed" || f.Issue.ShortID != "P-1" || len(f.Issue.Frames) != 1 ||
		f.Issue.Frames[0].Function != "pay" || len(f.Actions) != 1 {
		t.Fatalf("issue summary %+v, actions %s", f.Issue, f.Actions)
	}
	if !strings.Contains(string(f.Event), sentID(1)) {
		t.Fatalf("the event JSON is not the event's: %.200s", f.Event)
	}
}

// TestNewIssueAlertSurvivesRedelivery: a worker that dies between the
// insert and the ack queued the alert; the redelivery finds the event
// stored and the issue allocated, and queues it again with the same key.
func TestNewIssueAlertSurvivesRedelivery(t *testing.T) {
	r := newRig(t)
	rec := r.enableAlerts(t)
	r.publish(t, 1)
	r.crashAfterFirstInsert(t)
	first := rec.all()
	if len(first) != 1 || first[0].Trigger != alert.TriggerNewIssue {
		t.Fatalf("before the crash: %+v, want one new issue alert", first)
	}
	r.run(t, r.s, 2*time.Second, r.drained(t))
	got := rec.all()
	if len(got) != 2 || got[1].Key != first[0].Key || got[1].EventID != first[0].EventID {
		t.Fatalf("after the redelivery: %+v, want the same alert again, with key %s", got, first[0].Key)
	}
	if n := r.total(t); n != 1 {
		t.Fatalf("stored %d events, want 1", n)
	}
}

// TestRegressionAlerts: a late event older than the resolution does not
// regress the issue (and fires nothing); a new one does, and the alert
// carries that event; a second regression within the rule's interval is
// suppressed.
func TestRegressionAlerts(t *testing.T) {
	r := newRig(t)
	rec := r.enableAlerts(t)
	gid := r.sendAcked(t, 1, "")
	rule := r.addRule(t, &meta.Rule{Name: "Regressions", ActionMatch: "any", Frequency: 60,
		Conditions: raws(`{"id":"` + alert.CondRegression + `"}`), Actions: raws(emailOwners)})
	r.setStatus(t, gid, store.StatusResolved, "{}")
	old := float64(time.Now().Add(-time.Hour).Unix())
	r.sendAcked(t, 2, fmt.Sprintf(`,"timestamp":%.0f`, old))
	expectState(t, r.state(t, gid), store.StatusResolved, "")
	if got := rec.all(); len(got) != 1 {
		t.Fatalf("a late event fired %+v", got[1:])
	}
	r.sendAcked(t, 3, "")
	expectState(t, r.state(t, gid), store.StatusUnresolved, "regressed")
	got := rec.all()
	if len(got) != 2 {
		t.Fatalf("fired %+v, want the new issue and the regression", got)
	}
	f := got[1]
	if f.Trigger != alert.TriggerRegression || f.EventID != sentID(3) || f.RuleID != strconv.FormatUint(rule.ID, 10) ||
		!strings.HasPrefix(f.Key, fmt.Sprintf("rule:%d:group:%d:regression:", rule.ID, gid)) {
		t.Fatalf("regression alert %+v, want rule %d with event %s", f, rule.ID, sentID(3))
	}
	// Regresses again, within the rule's 60 minutes: no second alert.
	r.setStatus(t, gid, store.StatusResolved, "{}")
	r.sendAcked(t, 4, "")
	expectState(t, r.state(t, gid), store.StatusUnresolved, "regressed")
	if got := rec.all(); len(got) != 2 {
		t.Fatalf("the action interval let through %+v", got[2:])
	}
}

// TestAlertFilters: a rule fires only when its filters match the event.
func TestAlertFilters(t *testing.T) {
	r := newRig(t)
	rec := r.enableAlerts(t)
	def := defaultRuleID(t, r)
	first := `{"id":"` + alert.CondFirstSeen + `"}`
	fatal := r.addRule(t, &meta.Rule{Name: "fatal only", Conditions: raws(first), Actions: raws(emailOwners),
		Filters: raws(`{"id":"` + alert.FilterLevel + `","match":"gte","level":"50"}`)})
	python := r.addRule(t, &meta.Rule{Name: "python and tagged", Conditions: raws(first), Actions: raws(emailOwners),
		Filters: raws(`{"id":"`+alert.FilterAttribute+`","attribute":"platform","match":"eq","value":"Python"}`,
			`{"id":"`+alert.FilterTagged+`","key":"region","match":"sw","value":"eu-"}`)})
	notProd := r.addRule(t, &meta.Rule{Name: "production", Environment: "production", Conditions: raws(first),
		Actions: raws(emailOwners)})
	anyOf := r.addRule(t, &meta.Rule{Name: "any filter", FilterMatch: "any", Conditions: raws(first),
		Actions: raws(emailOwners), Filters: raws(
			`{"id":"`+alert.FilterTagged+`","key":"region","match":"eq","value":"us-east"}`,
			`{"id":"`+alert.FilterAttribute+`","attribute":"message","match":"co","value":"FAIL"}`)})
	r.sendAcked(t, 1, `,"tags":{"region":"eu-west"},"environment":"staging"`)
	fired := map[string]bool{}
	for _, f := range rec.all() {
		fired[f.RuleID] = true
	}
	for _, c := range []struct {
		id   uint64
		want bool
	}{{def, true}, {fatal.ID, false}, {python.ID, true}, {notProd.ID, false}, {anyOf.ID, true}} {
		if fired[strconv.FormatUint(c.id, 10)] != c.want {
			t.Errorf("rule %d fired: %v, want %v", c.id, !c.want, c.want)
		}
	}
}

// TestFrequencyAlerts: a rule "more than 3 events in an hour" fires once,
// when the fourth event arrives, and a rule on distinct users when the
// second user is seen; the counters are the store's per-minute ones.
func TestFrequencyAlerts(t *testing.T) {
	r := newRig(t)
	rec := r.enableAlerts(t)
	events := r.addRule(t, &meta.Rule{Name: "busy", Frequency: 5, Actions: raws(emailOwners),
		Conditions: raws(`{"id":"` + alert.CondFrequency + `","value":3,"interval":"1h","comparisonType":"count"}`)})
	users := r.addRule(t, &meta.Rule{Name: "users", Frequency: 5, Actions: raws(emailOwners),
		Conditions: raws(`{"id":"` + alert.CondUniqueUsers + `","value":1,"interval":"5m"}`)})
	count := func(rule *meta.Rule) (n int, last alert.Fired) {
		for _, f := range rec.all() {
			if f.RuleID == strconv.FormatUint(rule.ID, 10) {
				n, last = n+1, f
			}
		}
		return n, last
	}
	var gid uint64
	for i := 1; i <= 6; i++ {
		user := "alice"
		if i >= 3 {
			user = "bob"
		}
		gid = r.sendAcked(t, i, `,"user":{"id":"`+user+`"}`)
		n, f := count(events)
		switch {
		case i < 4 && n != 0:
			t.Fatalf("after %d events the count rule fired", i)
		case i >= 4 && (n != 1 || f.EventID != sentID(4) || f.Trigger != alert.TriggerFrequency || f.GroupID != gid):
			t.Fatalf("after %d events: %d firings, last %+v; want one, for event 4", i, n, f)
		}
		n, f = count(users)
		switch {
		case i < 3 && n != 0:
			t.Fatalf("after %d events (one user) the users rule fired", i)
		case i >= 3 && (n != 1 || f.EventID != sentID(3)):
			t.Fatalf("after %d events: users rule fired %d times, last %+v; want once, for event 3 (all: %v)", i, n, f, rec.all())
		}
	}
}

// TestReappearedAlert: an ignored issue whose ignore condition is met
// comes back, and a reappeared rule fires with the event that did it.
func TestReappearedAlert(t *testing.T) {
	r := newRig(t)
	rec := r.enableAlerts(t)
	rule := r.addRule(t, &meta.Rule{Name: "back", Conditions: raws(`{"id":"` + alert.CondReappeared + `"}`),
		Actions: raws(emailOwners)})
	gid := r.sendAcked(t, 1, "")
	r.setStatus(t, gid, store.StatusIgnored, `{"ignoreCount":2}`)
	r.sendAcked(t, 2, "")
	if n := len(rec.all()); n != 1 {
		t.Fatalf("fired %d times while the ignore holds, want only the new issue", n)
	}
	r.sendAcked(t, 3, "")
	expectState(t, r.state(t, gid), store.StatusUnresolved, "escalating")
	got := rec.all()
	if len(got) != 2 || got[1].Trigger != alert.TriggerReappeared || got[1].EventID != sentID(3) ||
		got[1].RuleID != strconv.FormatUint(rule.ID, 10) {
		t.Fatalf("fired %+v, want the reappearance with event 3", got)
	}
}
