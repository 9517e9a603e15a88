package web

import (
	"encoding/json"
	"net/url"
	"testing"
)

// TestRuleFormKeepsTheRule: a rule shown in the form and saved unchanged
// is the same rule: every node the form shows comes back with the fields
// it does not edit, and the nodes it cannot show (a second tag filter, an
// unknown action) are carried as they were.
func TestRuleFormKeepsTheRule(t *testing.T) {
	env := "prod"
	stored := &apiRule{ID: "7", Name: "r", ActionMatch: "any", FilterMatch: "all", Frequency: 60, Environment: &env,
		Conditions: []map[string]any{{"id": idFirstSeen, "name": "A new issue is created"},
			{"id": idFrequency, "value": float64(100), "interval": "1h", "comparisonType": "count"}},
		Filters: []map[string]any{{"id": idTagged, "key": "region", "match": "eq", "value": "eu"},
			{"id": idTagged, "key": "browser", "match": "co", "value": "Chrome"},
			{"id": idAge, "comparison_type": "older", "value": float64(2), "time": "day"},
			{"id": idOccurrences, "value": float64(10)}, {"id": idLatest}},
		Actions: []map[string]any{{"id": idEmail, "targetType": "IssueOwners", "targetIdentifier": "", "fallthroughType": "ActiveMembers"},
			{"id": idSlack, "webhookUrl": "https://hooks.example.com/x"}, {"id": "sentry.rules.actions.later.Thing", "x": "y"}}}
	f := formOfRule(stored)
	if len(f.Kept) != 2 {
		t.Fatalf("kept %+v, want the second tag filter and the unknown action", f.Kept)
	}
	// The browser posts the form back as it was shown.
	v := url.Values{"name": {f.Name}, "environment": {f.Environment}, "actionMatch": {f.ActionMatch},
		"filterMatch": {f.FilterMatch}, "frequency": {f.Frequency}, "firstSeen": {"1"},
		"freqOn": {"1"}, "freqValue": {f.FreqValue}, "freqInterval": {f.FreqInterval},
		"tagOn": {"1"}, "tagKey": {f.TagKey}, "tagMatch": {f.TagMatch}, "tagValue": {f.TagValue},
		"ageOn": {"1"}, "ageCmp": {f.AgeCmp}, "ageValue": {f.AgeValue}, "ageTime": {f.AgeTime},
		"occOn": {"1"}, "occValue": {f.OccValue}, "latestRelease": {"1"},
		"emailOn": {"1"}, "emailTarget": {f.EmailTarget}, "emailIdentifier": {f.EmailIdentifier}, "slackUrl": {f.SlackURL}}
	for _, k := range f.Kept {
		v.Add("keep", k.List+":"+k.JSON)
	}
	back := parseRuleForm(v)
	got, _ := json.Marshal(back.body(stored))
	var b struct {
		Name, ActionMatch, FilterMatch string
		Environment                    *string
		Frequency                      int
		Conditions, Filters, Actions   []map[string]any
	}
	if err := json.Unmarshal(got, &b); err != nil {
		t.Fatal(err)
	}
	if b.Name != "r" || b.ActionMatch != "any" || b.Frequency != 60 || b.Environment == nil || *b.Environment != "prod" {
		t.Errorf("rule fields: %s", got)
	}
	strip := func(list []map[string]any) string {
		for _, n := range list {
			delete(n, "name")
		}
		s, _ := json.Marshal(list)
		return string(s)
	}
	for _, c := range []struct {
		name      string
		got, want []map[string]any
	}{{"conditions", b.Conditions, stored.Conditions}, {"filters", b.Filters, stored.Filters}, {"actions", b.Actions, stored.Actions}} {
		// Same nodes, the form's first and the kept ones last: compare as sets.
		g, w := map[string]bool{}, map[string]bool{}
		for _, n := range c.got {
			g[strip([]map[string]any{n})] = true
		}
		for _, n := range c.want {
			cp := map[string]any{}
			for k, v := range n {
				cp[k] = v
			}
			w[strip([]map[string]any{cp})] = true
		}
		if len(g) != len(w) {
			t.Errorf("%s: %s, want %v", c.name, got, w)
		}
		for k := range w {
			if !g[k] {
				t.Errorf("%s: lost %s; got %s", c.name, k, got)
			}
		}
	}
}

// FuzzRuleForm: any posted form turns into a rule body without a panic;
// what it carries is JSON (the API validates it).
func FuzzRuleForm(f *testing.F) {
	f.Add("name=x&firstSeen=1&emailOn=1&emailTarget=IssueOwners")
	f.Add("keep=filters:{\"id\":\"x\"}&keep=actions:[1]&keep=nope:{}&freqOn=1&freqValue=-1&occOn=1&occValue=1e99")
	f.Fuzz(func(t *testing.T, form string) {
		v, err := url.ParseQuery(form)
		if err != nil {
			return
		}
		fm := parseRuleForm(v)
		if _, err := json.Marshal(fm.body(nil)); err != nil {
			t.Fatal(err)
		}
	})
}
