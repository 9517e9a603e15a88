package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// sentryRuleExample is the body of Sentry's documented example for
// "Create an Issue Alert Rule for a Project" (Member target with a
// numeric targetIdentifier, as Sentry's docs send it).
const sentryRuleExample = `{
  "name": "My Example Alert",
  "actionMatch": "any",
  "filterMatch": "all",
  "frequency": 1440,
  "environment": "production",
  "conditions": [
    {"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"},
    {"id": "sentry.rules.conditions.regression_event.RegressionEventCondition"}
  ],
  "filters": [
    {"id": "sentry.rules.filters.level.LevelFilter", "match": "gte", "level": "40"},
    {"id": "sentry.rules.filters.tagged_event.TaggedEventFilter", "key": "browser", "match": "co", "value": "Chrome"}
  ],
  "actions": [
    {"id": "sentry.mail.actions.NotifyEmailAction", "targetType": "Member", "fallthroughType": "ActiveMembers", "targetIdentifier": 1},
    {"id": "sentry.rules.actions.notify_event_service.NotifyEventServiceAction", "service": "webhooks"}
  ]
}`

// TestRuleShapes: a new project has the default rule; the rules routes
// answer Sentry's shapes (golden), replace and delete.
func TestRuleShapes(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "api", "python")
	tok := testserver.AdminToken
	base := "/api/0/projects/acme/api/rules/"
	st, _, raw := call(t, f, "GET", base, "", tok)
	if st != 200 {
		t.Fatalf("list: %d %s", st, raw)
	}
	var list []map[string]any
	if err := json.Unmarshal(raw, &list); err != nil || len(list) != 1 {
		t.Fatalf("a new project's rules: %s", raw)
	}
	defID := list[0]["id"].(string)
	golden(t, "rules-default", raw, map[string]string{defID: "<id>"})

	st, _, raw = call(t, f, "POST", base, sentryRuleExample, tok)
	if st != 201 {
		t.Fatalf("create: %d %s", st, raw)
	}
	var rule map[string]any
	json.Unmarshal(raw, &rule) //nolint:errcheck
	id := rule["id"].(string)
	golden(t, "rule", raw, map[string]string{id: "<id>"})
	if st, _, got := call(t, f, "GET", base+id+"/", "", tok); st != 200 || string(got) != string(raw) {
		t.Fatalf("get: %d %s, want %s", st, got, raw)
	}
	// PUT replaces the rule.
	put := strings.Replace(sentryRuleExample, `"My Example Alert"`, `"Renamed"`, 1)
	put = strings.Replace(put, `"environment": "production",`, ``, 1)
	st, _, raw = call(t, f, "PUT", base+id+"/", put, tok)
	if st != 200 || !strings.Contains(string(raw), `"name":"Renamed"`) || !strings.Contains(string(raw), `"environment":null`) {
		t.Fatalf("put: %d %s", st, raw)
	}
	if st, _, got := call(t, f, "GET", base+id+"/", "", tok); st != 200 || string(got) != string(raw) {
		t.Fatalf("get after put: %d %s", st, got)
	}
	if st, _, raw := call(t, f, "DELETE", base+id+"/", "", tok); st != 202 {
		t.Fatalf("delete: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "GET", base+id+"/", "", tok); st != 404 {
		t.Fatalf("get after delete: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "GET", base, "", tok); st != 200 || strings.Count(string(raw), `"id":"`+defID+`"`) != 1 ||
		strings.Contains(string(raw), "Renamed") {
		t.Fatalf("list after delete: %d %s", st, raw)
	}
}

// TestRuleValidation: what Sentry's serializer refuses is a 400 naming
// the field, and nothing is stored.
func TestRuleValidation(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "api", "python")
	tok := testserver.AdminToken
	base := "/api/0/projects/acme/api/rules/"
	first := `{"id":"sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}`
	mail := `{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"IssueOwners"}`
	for _, c := range []struct{ name, body, field string }{
		{"no name", `{"conditions":[` + first + `],"actions":[` + mail + `]}`, "name"},
		{"bad actionMatch", `{"name":"x","actionMatch":"some","conditions":[` + first + `],"actions":[` + mail + `]}`, "actionMatch"},
		{"bad filterMatch", `{"name":"x","filterMatch":"most","conditions":[` + first + `],"actions":[` + mail + `]}`, "filterMatch"},
		{"frequency too low", `{"name":"x","frequency":1,"conditions":[` + first + `],"actions":[` + mail + `]}`, "frequency"},
		{"frequency too high", `{"name":"x","frequency":50000,"conditions":[` + first + `],"actions":[` + mail + `]}`, "frequency"},
		{"no actions", `{"name":"x","conditions":[` + first + `],"actions":[]}`, "actions"},
		{"unknown condition", `{"name":"x","conditions":[{"id":"sentry.rules.conditions.nope"}],"actions":[` + mail + `]}`, "conditions"},
		{"condition without id", `{"name":"x","conditions":[{"value":1}],"actions":[` + mail + `]}`, "conditions"},
		{"frequency interval", `{"name":"x","conditions":[{"id":"sentry.rules.conditions.event_frequency.EventFrequencyCondition","value":10,"interval":"2h"}],"actions":[` + mail + `]}`, "conditions"},
		{"frequency percent", `{"name":"x","conditions":[{"id":"sentry.rules.conditions.event_frequency.EventFrequencyCondition","value":10,"interval":"1h","comparisonType":"percent"}],"actions":[` + mail + `]}`, "conditions"},
		{"bad age filter", `{"name":"x","conditions":[` + first + `],"filters":[{"id":"sentry.rules.filters.age_comparison.AgeComparisonFilter","comparison_type":"older","value":1,"time":"year"}],"actions":[` + mail + `]}`, "filters"},
		{"bad level filter", `{"name":"x","conditions":[` + first + `],"filters":[{"id":"sentry.rules.filters.level.LevelFilter","match":"gt","level":"40"}],"actions":[` + mail + `]}`, "filters"},
		{"unknown attribute", `{"name":"x","conditions":[` + first + `],"filters":[{"id":"sentry.rules.filters.event_attribute.EventAttributeFilter","attribute":"nope","match":"eq","value":"a"}],"actions":[` + mail + `]}`, "filters"},
		{"bad email target", `{"name":"x","conditions":[` + first + `],"actions":[{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"Everyone"}]}`, "actions"},
		{"slack without url", `{"name":"x","conditions":[` + first + `],"actions":[{"id":"faultline.actions.slack"}]}`, "actions"},
		{"unknown action", `{"name":"x","conditions":[` + first + `],"actions":[{"id":"sentry.rules.actions.nope"}]}`, "actions"},
	} {
		st, _, raw := call(t, f, "POST", base, c.body, tok)
		var body map[string][]string
		if st != 400 || json.Unmarshal(raw, &body) != nil || len(body[c.field]) == 0 {
			t.Errorf("%s: %d %s, want 400 naming %q", c.name, st, raw, c.field)
		}
	}
	if st, _, raw := call(t, f, "POST", base, `{"name":`, tok); st != 400 || !strings.Contains(string(raw), "detail") {
		t.Errorf("malformed JSON: %d %s", st, raw)
	}
	st, _, raw := call(t, f, "GET", base, "", tok)
	var list []any
	if st != 200 || json.Unmarshal(raw, &list) != nil || len(list) != 1 {
		t.Fatalf("refused rules were stored: %s", raw)
	}
}

// TestWebhookPlugin: PUT stores the URLs (one per line) and the secret,
// POST enables the plugin; the secret is never shown.
func TestWebhookPlugin(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	f.CreateProject("acme", "api", "python")
	tok := testserver.AdminToken
	path := "/api/0/projects/acme/api/plugins/webhooks/"
	st, _, raw := call(t, f, "PUT", path, `{"urls":"https://hooks.example.com/a\n\n  https://hooks.example.com/b  \n","secret":"s3cret"}`, tok)
	if st != 200 || !strings.Contains(string(raw), `"enabled":false`) || strings.Contains(string(raw), "s3cret") ||
		!strings.Contains(string(raw), `https://hooks.example.com/a\nhttps://hooks.example.com/b`) {
		t.Fatalf("put: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "POST", path, "", tok); st != 200 || !strings.Contains(string(raw), `"enabled":true`) {
		t.Fatalf("enable: %d %s", st, raw)
	}
	st, _, raw = call(t, f, "GET", path, "", tok)
	if st != 200 || !strings.Contains(string(raw), `"enabled":true`) || !strings.Contains(string(raw), `hooks.example.com/b`) ||
		strings.Contains(string(raw), "s3cret") {
		t.Fatalf("get: %d %s", st, raw)
	}
	if st, _, raw := call(t, f, "PUT", path, `{"urls":"ftp://x"}`, tok); st != 400 || !strings.Contains(string(raw), `"urls"`) {
		t.Fatalf("a bad URL: %d %s", st, raw)
	}
	// A test-fire is delivered at once and answers what each action did
	// (a success is in e2e's TestRulePagesInBrowser): without SMTP, the
	// e-mail action's error names it. An action that isn't valid is
	// refused first.
	body := `{"actions":[{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"IssueOwners"}]}`
	if st, _, raw := call(t, f, "POST", "/api/0/projects/acme/api/rule-actions/", body, tok); st != 400 ||
		!strings.Contains(string(raw), `"Action 1 (sentry.mail.actions.NotifyEmailAction): SMTP not configured"`) {
		t.Fatalf("test-fire without SMTP: %d %s", st, raw)
	}
	bad := `{"actions":[{"id":"sentry.rules.actions.no_such_action"}]}`
	if st, _, raw := call(t, f, "POST", "/api/0/projects/acme/api/rule-actions/", bad, tok); st != 400 {
		t.Fatalf("test-fire of an unknown action: %d %s", st, raw)
	}
}
