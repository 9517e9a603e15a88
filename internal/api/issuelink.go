package api

import (
	"errors"
	"net/http"

	"github.com/faultline/faultline/internal/route"
)

// IssuePage resolves GitLab's "View in Sentry" link,
// {public URL}/{org}/{project}/issues/{id}/, for the request's caller (a
// login session, or a user token with event:read): it returns the path of
// the web UI's issue page and 200, 401 without credentials, or 404 for an
// issue that does not exist, is not in that project, or that the caller
// may not see (the same check as the API's issue routes).
func (a *API) IssuePage(r *http.Request) (string, int) {
	c, err := a.authenticate(r)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
			return "", http.StatusUnauthorized
		}
		a.log.Warn("issue link: authentication failed", "err", err)
		return "", http.StatusNotFound
	}
	if checkScope(route.Route{Scope: "event:read"}, c) != nil {
		return "", http.StatusNotFound
	}
	o, p, gid, err := a.issue(r.Context(), r, c)
	if err != nil || p.Slug != r.PathValue("project") {
		return "", http.StatusNotFound
	}
	return "/organizations/" + o.Slug + "/issues/" + id(gid) + "/", http.StatusOK
}
