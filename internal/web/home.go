package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/route"
	"github.com/faultline/faultline/internal/session"
)

// AccountOrgs lists the organizations, for the start page.
type AccountOrgs interface {
	Organizations() []*meta.Organization
}

func (ui *UI) homeRoute() route.Route {
	return route.Route{Method: "GET", Path: "/", Handler: http.HandlerFunc(ui.home), Auth: route.Session,
		Name: "start page: first-admin setup, the login page, or the caller's organizations"}
}

// homePage is the data of the start page.
type homePage struct {
	Name, CSRF string
	Orgs       []*meta.Organization
}

// home is /: on a fresh install (no user with a password yet) the
// first-admin setup page; for an anonymous visitor the login page; for a
// logged-in user a list of their organizations (the web UI's own landing
// page replaces it).
func (ui *UI) home(w http.ResponseWriter, r *http.Request) {
	if ui.acc.SetupCode != "" && !ui.acc.Users.HasPasswordUser() {
		http.Redirect(w, r, "/setup/", http.StatusSeeOther)
		return
	}
	u, sess := ui.sessionUser(r)
	if u == nil {
		http.Redirect(w, r, "/login/", http.StatusSeeOther)
		return
	}
	page := homePage{Name: u.Name, CSRF: sess.CSRF}
	if page.Name == "" {
		page.Name = u.Email
	}
	if ui.acc.Orgs != nil {
		for _, o := range ui.acc.Orgs.Organizations() {
			if o.Status != meta.StatusPendingDeletion && (u.Superuser || o.HasMember(u.ID)) {
				page.Orgs = append(page.Orgs, o)
			}
		}
		slices.SortFunc(page.Orgs, func(a, b *meta.Organization) int { return strings.Compare(a.Slug, b.Slug) })
	}
	ui.render(w, r, http.StatusOK, "home", page)
}

// sessionUser returns the user of the request's session, or nil.
func (ui *UI) sessionUser(r *http.Request) (*meta.User, *session.Session) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, err := ui.acc.Sessions.Get(r.Context(), c.Value, func(id uint64) (uint64, bool) {
		u, ok := ui.acc.Users.User(id)
		if !ok {
			return 0, false
		}
		return u.PasswordVersion, true
	})
	if err != nil || sess == nil {
		return nil, nil
	}
	u, ok := ui.acc.Users.User(sess.UserID)
	if !ok {
		return nil, nil
	}
	return u, sess
}
