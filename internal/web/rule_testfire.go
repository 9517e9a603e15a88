package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
)

// ruleTestPage is a test-fire's result.
type ruleTestPage struct {
	projectHeader
	Rule    apiRule
	Results []testResult
	// Problems are what the API answered other than per action.
	Problems []string
}

// testResult is one action's result.
type testResult struct {
	Label, Error string
	OK           bool
}

// ruleTestFire (POST .../{rule_id}/test/) sends the rule's actions
// through the API's test-fire (POST .../rule-actions/), which delivers
// them at once, and shows what each did.
func (ui *UI) ruleTestFire(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var err error
	pp, ok := ui.projectForm(w, r, 64<<10)
	if !ok {
		return
	}
	var rule apiRule
	if _, err := ui.callAPI(ctx, r, "GET", pp.ProjectAPIPath+"rules/"+url.PathEscape(r.PathValue("rule_id"))+"/", nil, &rule); err != nil {
		ui.fail(w, r, err)
		return
	}
	actions := make([]map[string]any, len(rule.Actions))
	for i, a := range rule.Actions {
		cp := map[string]any{}
		for k, v := range a {
			if k != "name" {
				cp[k] = v
			}
		}
		actions[i] = cp
	}
	page := &ruleTestPage{projectHeader: pp, Rule: rule}
	_, err = ui.callAPI(ctx, r, "POST", pp.ProjectAPIPath+"rule-actions/", map[string]any{"actions": actions, "name": rule.Name}, nil)
	var ae *APIError
	status := http.StatusOK
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		// Each failed action's message starts "Action N (id): ...".
		failed := map[int]string{}
		for _, msg := range ae.Fields["actions"] {
			var n int
			var rest string
			if k, _ := fmtSscanAction(msg, &n, &rest); k && n >= 1 && n <= len(actions) {
				failed[n-1] = msg
			} else {
				page.Problems = append(page.Problems, msg)
			}
		}
		if ae.Detail != "" {
			page.Problems = append(page.Problems, ae.Detail)
		}
		for i, a := range rule.Actions {
			msg, bad := failed[i]
			page.Results = append(page.Results, testResult{Label: nodeLabel(a), OK: !bad && len(page.Problems) == 0, Error: msg})
		}
		status = http.StatusBadRequest
		slices.Sort(page.Problems)
	case err != nil:
		ui.fail(w, r, err)
		return
	default:
		for _, a := range rule.Actions {
			page.Results = append(page.Results, testResult{Label: nodeLabel(a), OK: true})
		}
	}
	ui.render(w, r, status, "rule_test", page)
}

// fmtSscanAction reads the action number of an "Action N (...): ..."
// message.
func fmtSscanAction(msg string, n *int, rest *string) (bool, error) {
	const prefix = "Action "
	if len(msg) <= len(prefix) || msg[:len(prefix)] != prefix {
		return false, nil
	}
	i := len(prefix)
	v := 0
	for i < len(msg) && msg[i] >= '0' && msg[i] <= '9' && v < 1000 {
		v = v*10 + int(msg[i]-'0')
		i++
	}
	if i == len(prefix) {
		return false, nil
	}
	*n, *rest = v, msg[i:]
	return true, nil
}
