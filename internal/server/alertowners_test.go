package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/notify"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// TestAlertOwnersAndStatus: IssueOwners are the project's team members
// until the issue is assigned, then its assignee (here a member of no
// team of the project); the rule's JSON shows its lastTriggered, its
// firedCount and each action's last delivery with its idempotency key.
func TestAlertOwnersAndStatus(t *testing.T) {
	box, addr := startMailbox(t)
	f := testserver.Start(t, server.Config{Notify: notify.Config{
		SMTP: notify.SMTPConfig{URL: "smtp://" + addr, From: "faultline@example.org"}, WebhookAllowPrivate: true}})
	p := f.CreateProject("acme", "shop", "go")
	// ops is a manager in no team: it sees every project, so it may be
	// assigned, but it is not one of the project's team members.
	for _, u := range []struct {
		email, role string
		teams       []string
	}{{"dev@example.org", "member", []string{"team"}}, {"ops@example.org", "manager", []string{}}} {
		if st, raw := f.Do("POST", "/api/0/users/", map[string]any{"email": u.email, "name": u.email,
			"password": "a long enough password"}, nil); st != 201 {
			t.Fatalf("create user: %d %s", st, raw)
		}
		if st, raw := f.Do("POST", "/api/0/organizations/acme/members/", map[string]any{"email": u.email,
			"orgRole": u.role, "teams": u.teams}, nil); st != 201 {
			t.Fatalf("add member: %d %s", st, raw)
		}
	}
	base := "/api/0/projects/acme/shop/rules/"
	regression := map[string]any{"name": "regressions to the owners", "frequency": 5,
		"conditions": []any{map[string]any{"id": "sentry.rules.conditions.regression_event.RegressionEventCondition"}},
		"filters": []any{map[string]any{"id": "sentry.rules.filters.issue_occurrences.IssueOccurrencesFilter", "value": 2},
			map[string]any{"id": "sentry.rules.filters.age_comparison.AgeComparisonFilter", "comparison_type": "newer", "value": 1, "time": "hour"}},
		"actions": []any{map[string]any{"id": "sentry.mail.actions.NotifyEmailAction", "targetType": "IssueOwners"}}}
	if st, raw := f.Do("POST", base, regression, nil); st != 201 {
		t.Fatalf("create rule: %d %s", st, raw)
	}

	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	hub.CaptureMessage("stock sync failed")
	is := f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return len(is) == 1 })
	waitUntil(t, "the new issue's mail", func() bool { return box.count() >= 1 })
	box.mu.Lock()
	if len(box.to) != 1 || box.to[0] != "dev@example.org" {
		t.Errorf("new issue mailed to %v, want the team's member dev@example.org", box.to)
	}
	box.mu.Unlock()

	type delivery struct {
		Status, Error, IdempotencyKey string
		Attempts                      int
	}
	type ruleJSON struct {
		ID            string      `json:"id"`
		Name          string      `json:"name"`
		LastTriggered *string     `json:"lastTriggered"`
		FiredCount    int         `json:"firedCount"`
		Deliveries    []*delivery `json:"deliveries"`
	}
	var rules []ruleJSON
	waitUntil(t, "the default rule's delivery status", func() bool {
		rules = nil
		f.Do("GET", base, nil, &rules)
		return len(rules) == 2 && len(rules[0].Deliveries) == 1 && rules[0].Deliveries[0] != nil
	})
	def := rules[0]
	if def.LastTriggered == nil || def.FiredCount != 1 || def.Deliveries[0].Status != "sent" ||
		!strings.HasPrefix(def.Deliveries[0].IdempotencyKey, "rule:"+def.ID+":group:") {
		t.Errorf("default rule after one new issue: %+v %+v", def, def.Deliveries[0])
	}
	if rules[1].LastTriggered != nil || rules[1].FiredCount != 0 || rules[1].Deliveries[0] != nil {
		t.Errorf("the regression rule never fired: %+v", rules[1])
	}

	// Assigned to ops, resolved, then seen again: the regression mails
	// the assignee only.
	issue := "/api/0/organizations/acme/issues/" + is[0].ID + "/"
	if st, raw := f.Do("PUT", issue, map[string]any{"assignedTo": "ops@example.org", "status": "resolved"}, nil); st != 200 {
		t.Fatalf("assign and resolve: %d %s", st, raw)
	}
	time.Sleep(1100 * time.Millisecond) // the next event's second is after the resolution's
	hub.CaptureMessage("stock sync failed")
	waitUntil(t, "the regression's mail", func() bool { return box.count() >= 2 })
	box.mu.Lock()
	if len(box.to) != 2 || box.to[1] != "ops@example.org" {
		t.Errorf("regression mailed to %v, want the assignee ops@example.org", box.to[1:])
	}
	box.mu.Unlock()
	var r ruleJSON
	waitUntil(t, "the regression rule's status", func() bool {
		f.Do("GET", base+rules[1].ID+"/", nil, &r)
		return len(r.Deliveries) == 1 && r.Deliveries[0] != nil
	})
	if r.LastTriggered == nil || r.FiredCount != 1 || r.Deliveries[0].Status != "sent" ||
		!strings.Contains(r.Deliveries[0].IdempotencyKey, ":regression:") {
		t.Errorf("regression rule: %+v %+v", r, r.Deliveries[0])
	}
}
