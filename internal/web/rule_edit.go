package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// ruleEditPage is the data of rule_edit.html.
type ruleEditPage struct {
	projectHeader
	New    bool
	Action string // where the form posts
	Form   ruleForm
	// Problems are the API's validation messages, by field.
	Problems []string
	// Choices of the selects.
	Matches, Intervals, LevelMatches, Levels, Operators, Attributes, AgeCmps, AgeTimes, Targets []option
}

var (
	matchChoices    = []option{{"all", "all"}, {"any", "any"}, {"none", "none"}}
	intervalChoices = []option{{"1m", "1 minute"}, {"5m", "5 minutes"}, {"15m", "15 minutes"}, {"1h", "1 hour"},
		{"1d", "1 day"}, {"1w", "1 week"}, {"30d", "30 days"}}
	levelMatchChoices = []option{{"eq", "equal to"}, {"gte", "at least"}, {"lte", "at most"}}
	levelChoices      = []option{{"10", "debug"}, {"20", "info"}, {"30", "warning"}, {"40", "error"}, {"50", "fatal"}}
	operatorChoices   = []option{{"eq", "equals"}, {"ne", "does not equal"}, {"co", "contains"}, {"nc", "does not contain"},
		{"sw", "starts with"}, {"nsw", "does not start with"}, {"ew", "ends with"}, {"new", "does not end with"},
		{"is", "is set"}, {"ns", "is not set"}}
	attributeChoices = []option{{"message", "message"}, {"title", "title"}, {"culprit", "culprit"}, {"type", "exception type"},
		{"error.value", "exception value"}, {"platform", "platform"}, {"environment", "environment"}, {"level", "level"},
		{"release", "release"}, {"logger", "logger"}}
	ageCmpChoices  = []option{{"older", "older than"}, {"newer", "newer than"}}
	ageTimeChoices = []option{{"minute", "minutes"}, {"hour", "hours"}, {"day", "days"}, {"week", "weeks"}}
	targetChoices  = []option{{"IssueOwners", "the issue's owners (its assignee, else the project's teams)"},
		{"Team", "a team (id)"}, {"Member", "a member (user id)"}}
)

func (ui *UI) ruleEditPage(pp projectHeader, isNew bool, action string, f ruleForm) *ruleEditPage {
	return &ruleEditPage{projectHeader: pp, New: isNew, Action: action, Form: f, Matches: matchChoices,
		Intervals: intervalChoices, LevelMatches: levelMatchChoices, Levels: levelChoices, Operators: operatorChoices,
		Attributes: attributeChoices, AgeCmps: ageCmpChoices, AgeTimes: ageTimeChoices, Targets: targetChoices}
}

// ruleEdit is the form of a new rule (.../alerts/rules/new/) or of a
// stored one (.../alerts/rules/{rule_id}/).
func (ui *UI) ruleEdit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pp, err := ui.projectNav(ctx, r)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	id := r.PathValue("rule_id")
	if id == "" {
		ui.render(w, r, http.StatusOK, "rule_edit", ui.ruleEditPage(pp, true, pp.RulesHref+"new/", newRuleForm()))
		return
	}
	var rule apiRule
	if _, err := ui.callAPI(ctx, r, "GET", pp.ProjectAPIPath+"rules/"+url.PathEscape(id)+"/", nil, &rule); err != nil {
		ui.fail(w, r, err)
		return
	}
	ui.render(w, r, http.StatusOK, "rule_edit", ui.ruleEditPage(pp, false, pp.RulesHref+url.PathEscape(rule.ID)+"/", formOfRule(&rule)))
}

// ruleSave creates (POST .../new/) or replaces (POST .../{rule_id}/) a
// rule through the API; what the API refuses is shown on the form again,
// with its messages.
func (ui *UI) ruleSave(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var err error
	pp, ok := ui.projectForm(w, r, 256<<10)
	if !ok {
		return
	}
	id := r.PathValue("rule_id")
	var stored *apiRule
	method, apiPath, action, done := "POST", pp.ProjectAPIPath+"rules/", pp.RulesHref+"new/", "created"
	if id != "" {
		stored = &apiRule{}
		apiPath = pp.ProjectAPIPath + "rules/" + url.PathEscape(id) + "/"
		if _, err := ui.callAPI(ctx, r, "GET", apiPath, nil, stored); err != nil {
			ui.fail(w, r, err)
			return
		}
		method, action, done = "PUT", pp.RulesHref+url.PathEscape(stored.ID)+"/", "saved"
	}
	f := parseRuleForm(r.PostForm)
	_, err = ui.callAPI(ctx, r, method, apiPath, f.body(stored), nil)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		page := ui.ruleEditPage(pp, id == "", action, f)
		if ae.Detail != "" {
			page.Problems = append(page.Problems, ae.Detail)
		}
		fields := make([]string, 0, len(ae.Fields))
		for k := range ae.Fields {
			fields = append(fields, k)
		}
		slices.Sort(fields)
		for _, k := range fields {
			page.Problems = append(page.Problems, k+": "+strings.Join(ae.Fields[k], " "))
		}
		ui.render(w, r, http.StatusBadRequest, "rule_edit", page)
		return
	}
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	securityHeaders(w.Header())
	http.Redirect(w, r, pp.RulesHref+"?done="+done, http.StatusSeeOther)
}
