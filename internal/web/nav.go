package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/faultline/faultline/internal/route"
)

// The layout's header of the pages inside an organization: who is logged
// in, the organization switcher and the navigation.

// navData is the header of an organization's pages.
type navData struct {
	User, CSRF string
	Org        orgRef
	Orgs       []orgRef // every organization the visitor sees, for the switcher
	Section    string   // "issues" or "projects": the current one, for aria-current
}

// orgRef is an organization as the API lists it.
type orgRef struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// navPage is a page whose layout shows the organization's header.
type navPage interface{ navData() *navData }

// navOf is the layout's "nav" function: the header of a page that has one,
// else nil (the login, setup and error pages).
func navOf(data any) *navData {
	if p, ok := data.(navPage); ok {
		return p.navData()
	}
	return nil
}

// orgRoutes are the pages of an organization.
func (ui *UI) orgRoutes() []route.Route {
	return []route.Route{
		{Method: "GET", Path: "/organizations/{org}/", Handler: http.HandlerFunc(ui.orgHome), Auth: route.Session,
			Tenant: route.TenantOrganization, Scope: "org:read", Name: "organization page: its projects"},
		{Method: "GET", Path: "/organizations/{org}/issues/", Handler: http.HandlerFunc(ui.issueList), Auth: route.Session,
			Tenant: route.TenantOrganization, Scope: "event:read", Name: "issue list of an organization"},
		{Method: "POST", Path: "/organizations/{org}/issues/", Handler: http.HandlerFunc(ui.issueBulk), Auth: route.Session,
			Tenant: route.TenantOrganization, Scope: "event:write", Name: "change the selected issues (form)"},
	}
}

// orgNav resolves the page's organization through the API (which answers
// 401, or 404 for one the visitor may not see) and fills the header.
func (ui *UI) orgNav(ctx context.Context, r *http.Request, section string) (navData, error) {
	slug := r.PathValue("org")
	var n navData
	if _, err := ui.callAPI(ctx, r, "GET", "/api/0/organizations/"+url.PathEscape(slug)+"/", nil, &n.Org); err != nil {
		return n, err
	}
	if _, err := ui.callAPI(ctx, r, "GET", "/api/0/organizations/", nil, &n.Orgs); err != nil {
		return n, err
	}
	slices.SortFunc(n.Orgs, func(a, b orgRef) int { return strings.Compare(a.Slug, b.Slug) })
	n.Section = section
	if u, sess := ui.sessionUser(r); u != nil {
		n.User, n.CSRF = u.Name, sess.CSRF
		if n.User == "" {
			n.User = u.Email
		}
	}
	return n, nil
}

// fail answers a page whose API call failed: an anonymous visitor logs in
// and comes back, what the visitor may not see is the 404 page, what they
// may not do the 403 page, and anything else the 500 page.
func (ui *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusUnauthorized:
			securityHeaders(w.Header())
			next := r.URL.EscapedPath()
			if r.Method == http.MethodGet && r.URL.RawQuery != "" {
				next += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, "/login/?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		case http.StatusNotFound:
			ui.NotFound().ServeHTTP(w, r)
			return
		case http.StatusForbidden:
			ui.render(w, r, http.StatusForbidden, "forbidden", struct{ Detail string }{ae.Detail})
			return
		}
	}
	if !errors.Is(err, context.Canceled) { // the visitor went away
		ui.log.Error("a page's API call failed", "path", r.URL.Path, "err", err) // an APIError carries its status and detail
	}
	ui.render(w, r, http.StatusInternalServerError, "error", struct{ RequestID string }{})
}
