package web

import (
	"net/http"
	"net/url"
)

// eventRedirect is /organizations/{org}/projects/{project}/events/{event_id}/,
// the url of an Airbrake notice: it finds the event through the API, as
// the visitor, and redirects to it within its issue.
func (ui *UI) eventRedirect(w http.ResponseWriter, r *http.Request) {
	org := r.PathValue("org")
	var ev struct {
		EventID string `json:"eventID"`
		GroupID string `json:"groupID"`
	}
	path := "/api/0/projects/" + url.PathEscape(org) + "/" + url.PathEscape(r.PathValue("project")) +
		"/events/" + url.PathEscape(r.PathValue("event_id")) + "/"
	if _, err := ui.callAPI(r.Context(), r, "GET", path, nil, &ev); err != nil {
		ui.fail(w, r, err)
		return
	}
	securityHeaders(w.Header())
	http.Redirect(w, r, "/organizations/"+url.PathEscape(org)+"/issues/"+url.PathEscape(ev.GroupID)+
		"/events/"+url.PathEscape(ev.EventID)+"/", http.StatusFound)
}
