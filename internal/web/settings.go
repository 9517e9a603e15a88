package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/faultline/faultline/internal/route"
)

// The project, organization settings and usage pages (issue 13). Like
// every page they read and write through the API, called in process with
// the visitor's session (apicall.go): the API resolves the tenant, checks
// the role, the scope and the form's CSRF token, and 404s what the
// visitor may not see. Forms are POSTs that redirect after the change,
// except those whose answer shows a secret once (a new token, an
// invitation link), which render it.

func (ui *UI) settingsRoutes() []route.Route {
	page := func(method, path string, h http.HandlerFunc, tenant route.Tenant, scope, name string) route.Route {
		return route.Route{Method: method, Path: path, Handler: h, Auth: route.Session, Tenant: tenant, Scope: scope, Name: name}
	}
	org, project, user := route.TenantOrganization, route.TenantProject, route.TenantUser
	return []route.Route{
		page("GET", "/organizations/{org}/projects/", ui.projectNew, org, "project:write", "web: create a project (form)"),
		page("POST", "/organizations/{org}/projects/", ui.projectCreate, org, "project:write", "web: create a project"),
		page("GET", "/organizations/{org}/projects/{project}/", ui.projectPage, project, "project:read", "web: a project, its DSN and setup"),
		page("POST", "/organizations/{org}/projects/{project}/test-event/", ui.projectTestEvent, project, "project:read", "web: send a project a test event"),
		page("GET", "/settings/{org}/projects/{project}/", ui.projectSettings, project, "project:read", "web: a project's settings and keys"),
		page("POST", "/settings/{org}/projects/{project}/", ui.projectSettingsSave, project, "project:write", "web: change a project's settings"),
		page("POST", "/settings/{org}/projects/{project}/keys/", ui.projectKeyAction, project, "project:write", "web: create, disable, enable, rotate or delete a client key"),
		page("POST", "/settings/{org}/projects/{project}/delete/", ui.projectDelete, project, "project:admin", "web: delete a project, or cancel its deletion"),
		page("GET", "/settings/{org}/members/", ui.membersPage, org, "member:read", "web: the organization's members and invitations"),
		page("POST", "/settings/{org}/members/", ui.membersAction, org, "member:write", "web: invite, change or remove a member"),
		page("GET", "/settings/{org}/teams/", ui.teamsPage, org, "team:read", "web: the organization's teams"),
		page("POST", "/settings/{org}/teams/", ui.teamsAction, org, "team:write", "web: create a team, change its members and projects"),
		page("GET", "/settings/{org}/auth-tokens/", ui.orgTokensPage, org, "org:read", "web: the organization's tokens"),
		page("POST", "/settings/{org}/auth-tokens/", ui.orgTokensAction, org, "org:write", "web: create or revoke an organization token"),
		page("GET", "/settings/account/api/auth-tokens/", ui.apiTokensPage, user, "", "web: the visitor's API tokens"),
		page("POST", "/settings/account/api/auth-tokens/", ui.apiTokensAction, user, "", "web: create or revoke an API token"),
		page("GET", "/organizations/{org}/stats/", ui.usagePage, org, "org:read", "web: the organization's usage (outcomes per day)"),
	}
}

// maxForm bounds a settings form.
const maxForm = 64 << 10

// readForm parses a posted form, bounded; it answers a bad one itself.
func readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		securityHeaders(w.Header())
		http.Error(w, "bad form", http.StatusBadRequest)
		return false
	}
	return true
}

// seeOther goes to path after a change (redirect after post), with done
// naming the change for the page's notice (doneNotices).
func seeOther(w http.ResponseWriter, r *http.Request, path, done string) {
	securityHeaders(w.Header())
	if done != "" {
		path += "?done=" + url.QueryEscape(done)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// doneNotices are the notices a page shows after a change; the URL names
// one, so that no text of a link is shown.
var doneNotices = map[string]string{
	"project-created": "The project was created. Send it a first event with one of the snippets below.",
	"test-event":      "A test event was sent: it appears in the project's issues within seconds.",
	"settings":        "The settings were saved.",
	"key-created":     "A new key was created.",
	"key-disabled":    "The key was disabled: events sent with it are refused.",
	"key-enabled":     "The key was enabled.",
	"key-rotated":     "A new key replaces the old one, which is disabled. Update your DSN.",
	"key-deleted":     "The key was deleted.",
	"deletion":        "The project is scheduled for deletion. You can cancel it while it is pending.",
	"cancelled":       "The project's deletion was cancelled.",
	"role":            "The member's role was changed.",
	"removed":         "The member was removed.",
	"team-created":    "The team was created.",
	"team-changed":    "The team was changed.",
	"revoked":         "The token was revoked.",
}

func notice(r *http.Request) string { return doneNotices[r.URL.Query().Get("done")] }

// userError is the message of an API refusal a form shows on its page (a
// 400 or 409 with Sentry's detail), or "" for anything else.
func userError(err error) string {
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusConflict) {
		if ae.Detail == "" {
			return "The change was refused."
		}
		return ae.Detail
	}
	return ""
}

func orgPath(org string) string { return url.PathEscape(org) }
