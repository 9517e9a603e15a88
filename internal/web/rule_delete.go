package web

import (
	"net/http"
	"net/url"
)

// ruleDeletePage is the confirmation of a rule's deletion.
type ruleDeletePage struct {
	projectHeader
	Rule   apiRule
	Action string
}

// ruleDeleteConfirm (GET .../{rule_id}/delete/) asks before deleting.
func (ui *UI) ruleDeleteConfirm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pp, err := ui.projectNav(ctx, r)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	var rule apiRule
	if _, err := ui.callAPI(ctx, r, "GET", pp.ProjectAPIPath+"rules/"+url.PathEscape(r.PathValue("rule_id"))+"/", nil, &rule); err != nil {
		ui.fail(w, r, err)
		return
	}
	ui.render(w, r, http.StatusOK, "rule_delete", &ruleDeletePage{projectHeader: pp, Rule: rule,
		Action: pp.RulesHref + url.PathEscape(rule.ID) + "/delete/"})
}

// ruleDelete (POST .../{rule_id}/delete/) deletes the rule through the
// API and goes back to the list.
func (ui *UI) ruleDelete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pp, ok := ui.projectForm(w, r, 64<<10)
	if !ok {
		return
	}
	apiPath := pp.ProjectAPIPath + "rules/" + url.PathEscape(r.PathValue("rule_id")) + "/"
	if _, err := ui.callAPI(ctx, r, "GET", apiPath, nil, nil); err != nil {
		ui.fail(w, r, err)
		return
	}
	if _, err := ui.callAPI(ctx, r, "DELETE", apiPath, nil, nil); err != nil {
		ui.fail(w, r, err)
		return
	}
	securityHeaders(w.Header())
	http.Redirect(w, r, pp.RulesHref+"?done=deleted", http.StatusSeeOther)
}
