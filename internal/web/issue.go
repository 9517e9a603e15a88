package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/faultline/faultline/internal/route"
)

// The issue page: /organizations/{org}/issues/{id}/ shows the issue with
// its latest event, /organizations/{org}/issues/{id}/events/{event_id}/
// with one of its events ("oldest" and "latest" too). Everything on it is
// read through the API, as the visitor (apicall.go): the organization
// (the header), the issue, the event, the issue's tag distributions, the
// grouping info and the attachments: seven calls, whatever the event.
//
// Query parameters, so that the page works without a script: view (app,
// full, raw: the stack trace), chart (24h or 30d), crumbCategory and
// crumbLevel (the breadcrumbs shown; issue.js filters in place).

// maxTagKeys bounds the tag distributions a page shows.
const maxTagKeys = 12

func (ui *UI) issueRoutes() []route.Route {
	return []route.Route{
		{Method: "GET", Path: "/organizations/{org}/issues/{id}/", Handler: http.HandlerFunc(ui.issuePage), Auth: route.Session,
			Tenant: route.TenantIssue, Scope: "event:read", Name: "issue page (its latest event)"},
		{Method: "GET", Path: "/organizations/{org}/issues/{id}/events/{event_id}/", Handler: http.HandlerFunc(ui.issuePage),
			Auth: route.Session, Tenant: route.TenantIssue, Scope: "event:read", Name: "issue page with one of its events"},
		{Method: "GET", Path: "/organizations/{org}/issues/{id}/events/", Handler: http.HandlerFunc(ui.issueEvents), Auth: route.Session,
			Tenant: route.TenantIssue, Scope: "event:read", Name: "issue page's events tab (search by tag)"},
		{Method: "POST", Path: "/organizations/{org}/issues/{id}/", Handler: http.HandlerFunc(ui.issueAction), Auth: route.Session,
			Tenant: route.TenantIssue, Scope: "event:write", Name: "change an issue's status (form)"},
		{Method: "GET", Path: "/organizations/{org}/projects/{project}/events/{event_id}/", Handler: http.HandlerFunc(ui.eventRedirect),
			Auth: route.Session, Tenant: route.TenantEvent, Scope: "event:read", Name: "an event (the Airbrake notice url): redirects to it within its issue"},
	}
}

// issuePage renders the issue page.
func (ui *UI) issuePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	nav, err := ui.orgNav(ctx, r, "issues")
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	org, gid := r.PathValue("org"), r.PathValue("id")
	base := "/api/0/organizations/" + url.PathEscape(org) + "/issues/" + url.PathEscape(gid) + "/"
	var is issueJSON
	if _, err := ui.callAPI(ctx, r, "GET", base, nil, &is); err != nil {
		ui.fail(w, r, err)
		return
	}
	which := r.PathValue("event_id")
	if which == "" {
		which = "latest"
	}
	var ev apiEvent
	if _, err := ui.callAPI(ctx, r, "GET", base+"events/"+url.PathEscape(which)+"/", nil, &ev); err != nil {
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || which != "latest" {
			ui.fail(w, r, err)
			return
		}
		ev = apiEvent{} // an issue whose events are gone: the header alone
	}
	var tags []apiTagKey
	if _, err := ui.callAPI(ctx, r, "GET", base+"tags/?limit=5", nil, &tags); err != nil {
		ui.fail(w, r, err)
		return
	}
	var grouping map[string]apiGroupingVariant
	var attachments []apiAttachment
	if ev.EventID != "" {
		evBase := "/api/0/projects/" + url.PathEscape(org) + "/" + url.PathEscape(is.Project.Slug) + "/events/" + url.PathEscape(ev.EventID) + "/"
		if _, err := ui.callAPI(ctx, r, "GET", evBase+"grouping-info/", nil, &grouping); err != nil {
			ui.fail(w, r, err)
			return
		}
		if _, err := ui.callAPI(ctx, r, "GET", evBase+"attachments/", nil, &attachments); err != nil {
			ui.fail(w, r, err)
			return
		}
	}
	viewer, sess := ui.sessionUser(r)
	csrf := ""
	if sess != nil {
		csrf = sess.CSRF
	}
	q := r.URL.Query()
	opts := issueOptions{View: strings.ToLower(q.Get("view")), Chart: q.Get("chart"),
		CrumbCategory: q.Get("crumbCategory"), CrumbLevel: q.Get("crumbLevel")}
	page := buildIssuePage(org, &is, &ev, tags, grouping, attachments, opts, csrf)
	page.Nav = nav
	page.Assignable = ui.assignable(r, org, &is)
	page.Moves = ui.moves(r, org, is.ID)
	if viewer != nil && csrf != "" {
		// Only one's own comments can be edited or deleted (the API
		// refuses others'): only they get the forms.
		me := strconv.FormatUint(viewer.ID, 10)
		for i := range page.Activity {
			a := &page.Activity[i]
			a.Own = a.CommentID != "" && a.UserID == me
		}
	}
	ui.render(w, r, http.StatusOK, "issue", page)
}

// assignable is the assignee picker's choices: the organization's members
// with an account, as the API lists them to the visitor (none when it
// does not); the API decides who may be assigned.
func (ui *UI) assignable(r *http.Request, org string, is *issueJSON) []memberOption {
	var members []struct {
		Email   string `json:"email"`
		Name    string `json:"name"`
		Pending bool   `json:"pending"`
		User    *struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if _, err := ui.callAPI(r.Context(), r, "GET", "/api/0/organizations/"+url.PathEscape(org)+"/members/", nil, &members); err != nil {
		return nil
	}
	out := []memberOption{{Value: "", Label: "Nobody", Selected: is.AssignedTo == nil}}
	for _, m := range members {
		if m.Pending || m.User == nil {
			continue
		}
		sel := is.AssignedTo != nil && is.AssignedTo.Type == "user" && is.AssignedTo.ID == m.User.ID
		out = append(out, memberOption{Value: "user:" + m.User.ID, Label: orStr(m.Name, m.Email), Selected: sel})
	}
	return out
}

// moves lists the issue's unfinished merges and unmerges, as the API's
// jobs route shows them to the visitor (none when it does not).
func (ui *UI) moves(r *http.Request, org, issueID string) []moveView {
	var jobs []struct {
		Kind        string  `json:"kind"`
		Status      string  `json:"status"`
		Issue       *string `json:"issue"`
		Destination *string `json:"destination"`
		Error       *string `json:"error"`
	}
	if _, err := ui.callAPI(r.Context(), r, "GET", "/api/0/organizations/"+url.PathEscape(org)+"/deletions/", nil, &jobs); err != nil {
		return nil
	}
	var out []moveView
	for _, j := range jobs {
		if (j.Kind != "merge" && j.Kind != "unmerge") || j.Status == "done" || j.Status == "cancelled" || j.Issue == nil {
			continue
		}
		m := moveView{Kind: j.Kind, Status: strings.ReplaceAll(j.Status, "_", " ")}
		if j.Error != nil {
			m.Error = *j.Error
		}
		other := ""
		switch {
		case *j.Issue == issueID:
			m.Outgoing = j.Kind == "unmerge"
			if j.Destination != nil {
				other = *j.Destination
			}
		case j.Destination != nil && *j.Destination == issueID:
			other = *j.Issue
		default:
			continue
		}
		if other != "" {
			m.Other = "/organizations/" + url.PathEscape(org) + "/issues/" + url.PathEscape(other) + "/"
		}
		out = append(out, m)
	}
	return out
}
