package web

import (
	"net/http"
	"net/url"

	"github.com/faultline/faultline/internal/route"
)

// IssueLinks resolves the issue links GitLab's Sentry integration builds
// ("View in Sentry"): the API implements it with its own authentication
// and visibility checks.
type IssueLinks interface {
	// IssuePage returns the UI's page for the request's
	// {org}/{project}/issues/{id} and 200, or 401 (no credentials) or 404
	// (no such issue there, or not the caller's to see).
	IssuePage(r *http.Request) (path string, status int)
}

// SetIssueLinks turns on the /{org}/{project}/issues/{id}/ redirect;
// Routes returns it from then on.
func (ui *UI) SetIssueLinks(l IssueLinks) { ui.links = l }

func (ui *UI) issueLinkRoutes() []route.Route {
	var rs []route.Route
	// GitLab drops the trailing slash of the links it builds; Sentry's
	// own links have it. Both lead to the issue.
	for _, p := range []string{"/{org}/{project}/issues/{id}/", "/{org}/{project}/issues/{id}"} {
		rs = append(rs, route.Route{Method: "GET", Path: p, Handler: http.HandlerFunc(ui.issueLink), Auth: route.User,
			Tenant: route.TenantIssue, Scope: "event:read", Name: "GitLab's \"View in Sentry\" link: redirects to the issue's page"})
	}
	return rs
}

// issueLink redirects to the issue's page in the UI: an anonymous visitor
// logs in first (and comes back here), and an issue the caller may not
// see is the 404 page, as one that does not exist.
func (ui *UI) issueLink(w http.ResponseWriter, r *http.Request) {
	if route.IsAPI(r.URL.Path) {
		// An unknown API path of this shape: the API's 404, never a redirect.
		route.WriteDetail(w, http.StatusNotFound, "The requested resource does not exist")
		return
	}
	target, status := ui.links.IssuePage(r)
	switch status {
	case http.StatusOK:
		securityHeaders(w.Header())
		http.Redirect(w, r, target, http.StatusFound)
	case http.StatusUnauthorized:
		securityHeaders(w.Header())
		http.Redirect(w, r, "/login/?next="+url.QueryEscape(r.URL.EscapedPath()), http.StatusSeeOther)
	default:
		ui.NotFound().ServeHTTP(w, r)
	}
}
