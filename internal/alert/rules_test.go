package alert

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

func rule(actionMatch, filterMatch string, conds, filts []string) *meta.Rule {
	r := &meta.Rule{ID: 7, Name: "r", ActionMatch: actionMatch, FilterMatch: filterMatch, Frequency: 30,
		Actions: []json.RawMessage{json.RawMessage(`{"id":"` + ActionEmail + `","targetType":"IssueOwners"}`)}}
	for _, c := range conds {
		r.Conditions = append(r.Conditions, json.RawMessage(c))
	}
	for _, f := range filts {
		r.Filters = append(r.Filters, json.RawMessage(f))
	}
	return r
}

const (
	first   = `{"id":"` + CondFirstSeen + `"}`
	regress = `{"id":"` + CondRegression + `"}`
	reapp   = `{"id":"` + CondReappeared + `"}`
)

func TestMatches(t *testing.T) {
	c := &Candidate{Trigger: TriggerNewIssue, Level: "warning", Environment: "prod", Platform: "python",
		Message: "Connection refused", ExceptionType: "OSError", Tags: [][2]string{{"browser", "Chrome 120"}, {"region", "eu"}}}
	level := func(match, lvl string) string {
		return `{"id":"` + FilterLevel + `","match":"` + match + `","level":"` + lvl + `"}`
	}
	tag := func(key, match, value string) string {
		return `{"id":"` + FilterTagged + `","key":"` + key + `","match":"` + match + `","value":"` + value + `"}`
	}
	attr := func(a, match, value string) string {
		return `{"id":"` + FilterAttribute + `","attribute":"` + a + `","match":"` + match + `","value":"` + value + `"}`
	}
	for _, tc := range []struct {
		name  string
		r     *meta.Rule
		env   string
		match bool
	}{
		{"new issue", rule("all", "all", []string{first}, nil), "", true},
		{"regression only", rule("all", "all", []string{regress}, nil), "", false},
		{"any of two", rule("any", "all", []string{regress, first}, nil), "", true},
		{"all of two triggers", rule("all", "all", []string{regress, first}, nil), "", false},
		{"none", rule("none", "all", []string{regress, reapp}, nil), "", true},
		{"no condition", rule("all", "all", nil, nil), "", false},
		{"environment", rule("all", "all", []string{first}, nil), "prod", true},
		{"other environment", rule("all", "all", []string{first}, nil), "staging", false},
		{"level eq", rule("all", "all", []string{first}, []string{level("eq", "30")}), "", true},
		{"level gte error", rule("all", "all", []string{first}, []string{level("gte", "40")}), "", false},
		{"level lte error", rule("all", "all", []string{first}, []string{level("lte", "40")}), "", true},
		{"tag contains", rule("all", "all", []string{first}, []string{tag("browser", "co", "chrome")}), "", true},
		{"tag equals", rule("all", "all", []string{first}, []string{tag("browser", "eq", "Chrome")}), "", false},
		{"tag starts", rule("all", "all", []string{first}, []string{tag("browser", "sw", "Chrome")}), "", true},
		{"tag ends", rule("all", "all", []string{first}, []string{tag("browser", "ew", "120")}), "", true},
		{"tag not equal", rule("all", "all", []string{first}, []string{tag("region", "ne", "us")}), "", true},
		{"tag set", rule("all", "all", []string{first}, []string{tag("region", "is", "")}), "", true},
		{"tag not set", rule("all", "all", []string{first}, []string{tag("os", "ns", "")}), "", true},
		{"tag missing", rule("all", "all", []string{first}, []string{tag("os", "eq", "linux")}), "", false},
		{"attribute", rule("all", "all", []string{first}, []string{attr("message", "co", "refused")}), "", true},
		{"attribute type", rule("all", "all", []string{first}, []string{attr("error.type", "eq", "ValueError")}), "", false},
		{"filters all", rule("all", "all", []string{first}, []string{attr("platform", "eq", "python"), tag("os", "is", "")}), "", false},
		{"filters any", rule("all", "any", []string{first}, []string{attr("platform", "eq", "python"), tag("os", "is", "")}), "", true},
		{"filters none", rule("all", "none", []string{first}, []string{tag("os", "is", "")}), "", true},
		{"filter among conditions", rule("all", "all", []string{first, level("gte", "40")}, nil), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.Environment = tc.env
			if got := Matches(tc.r, c); got != tc.match {
				t.Fatalf("Matches = %v, want %v", got, tc.match)
			}
		})
	}
}

func TestKeyIsStable(t *testing.T) {
	c := &Candidate{Trigger: TriggerRegression, Window: "1700000000000", GroupID: 42}
	if k := Key(7, c); k != "rule:7:group:42:regression:1700000000000" {
		t.Fatalf("key %s", k)
	}
	f := Fire(rule("all", "all", []string{regress}, nil), c)
	if f.Key != Key(7, c) || f.RuleID != "7" || f.Trigger != TriggerRegression || len(f.Actions) != 1 {
		t.Fatalf("fired %+v", f)
	}
}

func TestValidateDefaults(t *testing.T) {
	r := rule("", "", []string{first}, nil)
	r.Frequency = 0
	if p := Validate(r); p != nil {
		t.Fatal(p)
	}
	if r.ActionMatch != "all" || r.FilterMatch != "all" || r.Frequency != 30 || r.Filters == nil {
		t.Fatalf("defaults not filled: %+v", r)
	}
	if p := Validate(meta.DefaultRule(1)); p != nil {
		t.Fatalf("the default rule is invalid: %v", p)
	}
}

// FuzzValidate: any body a client sends validates or is refused, without
// a panic, and what validates evaluates without one.
func FuzzValidate(f *testing.F) {
	f.Add(`{"name":"x","conditions":[{"id":"` + CondFirstSeen + `"}],"actions":[{"id":"` + ActionEmail + `","targetType":"IssueOwners"}]}`)
	f.Add(`{"name":"x","conditions":[{"id":"` + FilterTagged + `","key":"a","match":"eq","value":1}],"filters":[{"id":"` + FilterLevel + `","match":"gte","level":40}],"actions":[{"id":"faultline.actions.slack","webhookUrl":"https://x"}]}`)
	f.Add(`{"conditions":[null,1,"x",{}],"actions":[[]]}`)
	f.Fuzz(func(t *testing.T, body string) {
		var r meta.Rule
		if json.Unmarshal([]byte(body), &r) != nil {
			return
		}
		if Validate(&r) != nil {
			return
		}
		for _, trig := range []string{TriggerNewIssue, TriggerRegression, TriggerReappeared} {
			Matches(&r, &Candidate{Trigger: trig, Tags: [][2]string{{"a", "1"}}, Level: "error"})
		}
	})
}

// BenchmarkMatches is one rule with a condition and two filters checked
// against one candidate: the in-memory part of evaluating a rule.
func BenchmarkMatches(b *testing.B) {
	r := rule("all", "all", []string{first}, []string{
		`{"id":"` + FilterLevel + `","match":"gte","level":"40"}`,
		`{"id":"` + FilterTagged + `","key":"browser","match":"co","value":"chrome"}`})
	c := &Candidate{Trigger: TriggerNewIssue, Level: "error", Tags: [][2]string{{"browser", "Chrome 120"}}}
	for i := 0; i < b.N; i++ {
		if !Matches(r, c) {
			b.Fatal("no match")
		}
	}
}

// TestIssueFilters: the age, occurrences and release filters read the
// issue's totals and the project's latest release that Evaluate fills, in
// Sentry's field names.
func TestIssueFilters(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	age := func(cmp, v, unit string) string {
		return `{"id":"` + FilterAge + `","comparison_type":"` + cmp + `","value":` + v + `,"time":"` + unit + `"}`
	}
	occ := func(v string) string { return `{"id":"` + FilterOccurrences + `","value":"` + v + `"}` }
	latest := `{"id":"` + FilterRelease + `"}`
	tagRel := func(v string) string {
		return `{"id":"` + FilterTagged + `","key":"release","match":"eq","value":"` + v + `"}`
	}
	old := &Candidate{Trigger: TriggerRegression, At: now, Release: "1.2.0", latestRelease: "1.2.0", hasTotals: true,
		totals: store.IssueTotal{TimesSeen: 12, FirstSeen: now.Add(-3 * 24 * time.Hour)}}
	fresh := &Candidate{Trigger: TriggerNewIssue, At: now, Release: "1.1.0", latestRelease: "1.2.0", hasTotals: true}
	for _, tc := range []struct {
		name   string
		filter string
		c      *Candidate
		match  bool
	}{
		{"older than 2 days", age("older", "2", "day"), old, true},
		{"older than 1 week", age("older", "1", "week"), old, false},
		{"newer than 1 week", age("newer", "1", "week"), old, true},
		{"new issue is newer than 1 minute", age("newer", "1", "minute"), fresh, true},
		{"new issue is not older than 1 minute", age("older", "1", "minute"), fresh, false},
		{"seen 12+1 >= 10", occ("10"), old, true},
		{"seen 12+1 >= 13", occ("13"), old, true},
		{"seen 12+1 < 14", occ("14"), old, false},
		{"new issue seen once", occ("1"), fresh, true},
		{"new issue not seen twice", occ("2"), fresh, false},
		{"latest release", latest, old, true},
		{"not the latest release", latest, fresh, false},
		{"a given release", tagRel("1.1.0"), fresh, true},
		{"not the given release", tagRel("1.1.0"), old, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rule("any", "all", []string{first, regress}, []string{tc.filter})
			if p := Validate(r); p != nil {
				t.Fatalf("invalid: %v", p)
			}
			if got := Matches(r, tc.c); got != tc.match {
				t.Fatalf("Matches = %v, want %v", got, tc.match)
			}
		})
	}
	for _, bad := range []string{age("younger", "1", "day"), age("older", "0", "day"), age("older", "1", "year"), occ("x")} {
		if p := Validate(rule("all", "all", []string{first}, []string{bad})); p == nil {
			t.Errorf("%s validated", bad)
		}
	}
}
