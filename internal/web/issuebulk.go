package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
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
	body, ok := bulkActions[r.PostFormValue("action")]
	ids := r.PostForm["id"]
	problem := ""
	switch {
	case !ok:
		problem = "Choose one of the actions."
	case len(ids) == 0:
		problem = "Select one or more issues first."
	case len(ids) > maxBulkIDs:
		problem = "Select at most " + strconv.Itoa(maxBulkIDs) + " issues."
	}
	q := url.Values{}
	for _, id := range ids {
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			problem = "The selection is not valid."
		}
		q.Add("id", id)
	}
	if problem == "" {
		_, err = ui.callAPI(ctx, r, "PUT", "/api/0/organizations/"+url.PathEscape(nav.Org.Slug)+"/issues/?"+q.Encode(), body, nil)
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
