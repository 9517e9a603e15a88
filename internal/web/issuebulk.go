package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxBulkForm bounds the bulk form's body: 100 ids, the action, the token
// and the list's query.
const maxBulkForm = 16 << 10

// maxBulkIDs is how many issues one form changes (a page's worth).
const maxBulkIDs = 100

// bulkActions maps the form's action to the API's mutation body.
var bulkActions = map[string]map[string]any{
	"resolve":              {"status": "resolved"},
	"resolveInNextRelease": {"status": "resolvedInNextRelease"},
	"ignore":               {"status": "ignored"},
	"unresolve":            {"status": "unresolved"},
	"merge":                {"merge": 1},
}

// noticePage is a message with a way back.
type noticePage struct {
	Nav           navData
	Title, Detail string
	Back          string
}

func (p *noticePage) navData() *navData { return &p.Nav }

// issueBulk is the issue list's form: the selected issues (id, repeated)
// get the action through the API's bulk change (PUT
// /api/0/organizations/{org}/issues/?id=...), with the visitor's CSRF
// token, then the browser goes back to the list (POST, redirect, GET).
func (ui *UI) issueBulk(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxBulkForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	// The organization first: a visitor who may not see it gets the 404
	// page whatever the form holds.
	nav, err := ui.orgNav(ctx, r, "issues")
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	back, err := url.ParseQuery(r.PostFormValue("back"))
	if err != nil {
		back = url.Values{}
	}
	list := "/organizations/" + url.PathEscape(nav.Org.Slug) + "/issues/?" + back.Encode()
	action := r.PostFormValue("action")
	body, ok := bulkActions[action]
	switch action {
	case "ignore":
		// Forever, for a while, or until N more events or users, as on
		// the issue page.
		body, ok = issueActionBody(r.PostForm)
	case "delete":
		body, ok = nil, true
	}
	ids := r.PostForm["id"]
	all := r.PostFormValue("all") == "1"
	problem := ""
	switch {
	case !ok && action == "ignore":
		problem = "Ignore until: give a whole number of events or users."
	case !ok:
		problem = "Choose one of the actions."
	case all && action == "merge":
		problem = "Select the issues to merge; merging every matching issue is not offered."
	case all:
	case len(ids) == 0:
		problem = "Select one or more issues first."
	case len(ids) > maxBulkIDs:
		problem = "Select at most " + strconv.Itoa(maxBulkIDs) + " issues."
	}
	q := url.Values{}
	if all {
		// Every issue the list's search matches (the API changes at most
		// 1,000), in the list's projects.
		q = bulkQuery(back)
	} else {
		for _, id := range ids {
			if _, err := strconv.ParseUint(id, 10, 64); err != nil {
				problem = "The selection is not valid."
			}
			q.Add("id", id)
		}
	}
	if problem == "" && action == "delete" && r.PostFormValue("confirm") != "yes" {
		// Deleting cannot be undone: a page that says what goes, and a
		// ticked box, first.
		ui.render(w, r, http.StatusOK, "issue_bulk_delete", &bulkDeletePage{Nav: nav, IDs: ids, All: all,
			Search: q.Get("query"), Back: r.PostFormValue("back"), List: list})
		return
	}
	if problem == "" {
		method := "PUT"
		if action == "delete" {
			method = "DELETE"
		}
		_, err = ui.callAPI(ctx, r, method, "/api/0/organizations/"+url.PathEscape(nav.Org.Slug)+"/issues/?"+q.Encode(), body, nil)
		var ae *APIError
		switch {
		case err == nil:
			securityHeaders(w.Header())
			http.Redirect(w, r, list, http.StatusSeeOther)
			return
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
			problem = ae.Detail
		default:
			ui.fail(w, r, err)
			return
		}
	}
	ui.render(w, r, http.StatusBadRequest, "notice", &noticePage{Nav: nav, Title: "Nothing changed", Detail: problem, Back: list})
}

// bulkDeletePage confirms a bulk deletion.
type bulkDeletePage struct {
	Nav        navData
	IDs        []string
	All        bool
	Search     string
	Back, List string
}

func (p *bulkDeletePage) navData() *navData { return &p.Nav }

// bulkQuery is the API's bulk parameters for every issue the list (its
// parameters, back) shows: its search (is:unresolved without one, as the
// list), with its environment and time range as search terms, in its
// project.
func bulkQuery(back url.Values) url.Values {
	query := "is:unresolved"
	if _, set := back["query"]; set {
		query = back.Get("query")
	}
	quote := func(v string) string {
		return `"` + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `"`, `\"`) + `"`
	}
	var terms []string
	if e := back.Get("environment"); e != "" {
		terms = append(terms, "environment:"+quote(e))
	}
	switch p := back.Get("statsPeriod"); {
	case p == "24h" || p == "14d" || p == "30d":
		terms = append(terms, "lastSeen:-"+p)
	case p == "custom" || (p == "" && (back.Get("start") != "" || back.Get("end") != "")):
		if v := back.Get("start"); v != "" {
			terms = append(terms, "lastSeen:>="+v)
		}
		if v := back.Get("end"); v != "" {
			terms = append(terms, "lastSeen:<="+v)
		}
	default:
		terms = append(terms, "lastSeen:-14d") // the list's default range
	}
	q := url.Values{"query": {strings.TrimSpace(query + " " + strings.Join(terms, " "))}}
	if p := back.Get("project"); p != "" {
		q.Set("project", p)
	}
	return q
}
