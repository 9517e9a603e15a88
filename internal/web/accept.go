package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/route"
)

// Invitations is what the invitation page reads and writes: pending
// memberships, checked by their token, and their organizations.
type Invitations interface {
	Invitation(memberID uint64, token string) (*meta.Member, error)
	AcceptInvitation(ctx context.Context, memberID uint64, token string, userID uint64) (*meta.Member, error)
	OrganizationByID(id uint64) (*meta.Organization, bool)
}

func (ui *UI) acceptRoutes() []route.Route {
	return []route.Route{
		{Method: "GET", Path: "/accept/{member_id}/{token}/", Handler: http.HandlerFunc(ui.acceptPage), Auth: route.Public,
			Name: "invitation page"},
		{Method: "POST", Path: "/accept/{member_id}/{token}/", Handler: http.HandlerFunc(ui.acceptSubmit), Auth: route.Public,
			Name: "accept an invitation (form)"},
	}
}

// invitation finds the pending membership the path names. An unknown
// member, a wrong token and a used invitation all answer the 404 page; an
// expired one (its token right) the page saying so, with 410.
func (ui *UI) invitation(w http.ResponseWriter, r *http.Request) (*meta.Member, *meta.Organization, bool) {
	id, err := strconv.ParseUint(r.PathValue("member_id"), 10, 64)
	token := r.PathValue("token")
	var m *meta.Member
	if err == nil && len(token) <= 128 {
		m, err = ui.acc.Invites.Invitation(id, token)
	}
	if errors.Is(err, meta.ErrInvitationExpired) {
		ui.render(w, r, http.StatusGone, "accept", formPage{
			Error: "This invitation has expired. Ask the organization's managers for a new one."})
		return nil, nil, false
	}
	var org *meta.Organization
	if err == nil {
		org, _ = ui.acc.Invites.OrganizationByID(m.OrgID)
	}
	if org == nil {
		ui.NotFound().ServeHTTP(w, r)
		return nil, nil, false
	}
	return m, org, true
}

func acceptForm(r *http.Request, m *meta.Member, org *meta.Organization, existing bool) formPage {
	return formPage{Org: org.Name, Email: m.Email, Action: r.URL.Path, Existing: existing}
}

// acceptPage shows the invitation: the organization, the invited e-mail,
// and a form to choose a name and password (or, when a user has that
// e-mail already, to join with it).
func (ui *UI) acceptPage(w http.ResponseWriter, r *http.Request) {
	m, org, ok := ui.invitation(w, r)
	if !ok {
		return
	}
	_, existing := ui.acc.Users.UserByEmail(m.Email)
	page := acceptForm(r, m, org, existing)
	page.CSRF = ui.formToken(w, r)
	ui.render(w, r, http.StatusOK, "accept", page)
}

// acceptSubmit creates the invited user, makes them the member the
// invitation made (role and teams kept, the link used up), logs them in
// and goes to /. When a user has the e-mail already, it joins that user
// and sends them to the login page instead: the form's password is not
// theirs to set.
func (ui *UI) acceptSubmit(w http.ResponseWriter, r *http.Request) {
	m, org, ok := ui.invitation(w, r)
	if !ok {
		return
	}
	want := ""
	if c, err := r.Cookie(csrfCookie); err == nil {
		want = c.Value
	}
	if !ui.checkForm(w, r, "accept", want) {
		return
	}
	ctx := r.Context()
	token := r.PathValue("token")
	f := r.PostForm
	if u, existing := ui.acc.Users.UserByEmail(m.Email); existing {
		ui.joinInvited(w, r, m, token, u.ID)
		return
	}
	page := acceptForm(r, m, org, false)
	page.CSRF, page.Name = want, f.Get("name")
	fail := func(status int, msg string) {
		page.Error = msg
		ui.render(w, r, status, "accept", page)
	}
	if f.Get("password") != f.Get("password2") {
		fail(http.StatusBadRequest, "The passwords do not match.")
		return
	}
	if err := meta.ValidatePassword(f.Get("password")); err != nil {
		fail(http.StatusBadRequest, strings.TrimPrefix(err.Error(), "meta: invalid: "))
		return
	}
	u, err := ui.acc.Users.CreateUser(ctx, m.Email, f.Get("name"), f.Get("password"), false)
	switch {
	case errors.Is(err, meta.ErrExists): // created meanwhile
		if u, ok := ui.acc.Users.UserByEmail(m.Email); ok {
			ui.joinInvited(w, r, m, token, u.ID)
			return
		}
		fail(http.StatusServiceUnavailable, "Faultline could not create the user; try again in a moment.")
		return
	case errors.Is(err, meta.ErrInvalid):
		fail(http.StatusBadRequest, strings.TrimPrefix(err.Error(), "meta: invalid: "))
		return
	case err != nil:
		ui.log.Error("accept: creating the invited user failed", "member", m.ID, "err", err)
		fail(http.StatusServiceUnavailable, "Faultline could not create the user; try again in a moment.")
		return
	}
	if !ui.accept(w, r, m, token, u.ID) {
		return
	}
	ui.log.Info("invitation accepted", "member", m.ID, "org", org.Slug, "user", u.ID)
	cookie, sess, err := ui.acc.Sessions.Create(ctx, u.ID, u.PasswordVersion)
	if err != nil {
		ui.log.Error("accept: starting a session failed", "user", u.ID, "err", err)
		http.Redirect(w, r, "/login/", http.StatusSeeOther)
		return
	}
	ui.startSession(w, cookie, sess)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// joinInvited makes an existing user the invited member and sends them
// to log in with their own password.
func (ui *UI) joinInvited(w http.ResponseWriter, r *http.Request, m *meta.Member, token string, userID uint64) {
	if !ui.accept(w, r, m, token, userID) {
		return
	}
	ui.log.Info("invitation accepted by an existing user", "member", m.ID, "user", userID)
	http.Redirect(w, r, "/login/", http.StatusSeeOther)
}

// accept turns the pending membership into the user's, or answers why
// not: the 404 page when the invitation was used meanwhile, the login
// page when the user is a member already.
func (ui *UI) accept(w http.ResponseWriter, r *http.Request, m *meta.Member, token string, userID uint64) bool {
	_, err := ui.acc.Invites.AcceptInvitation(r.Context(), m.ID, token, userID)
	switch {
	case err == nil:
		return true
	case errors.Is(err, meta.ErrNotFound):
		ui.NotFound().ServeHTTP(w, r)
	case errors.Is(err, meta.ErrExists):
		http.Redirect(w, r, "/login/", http.StatusSeeOther)
	case errors.Is(err, meta.ErrInvitationExpired):
		ui.render(w, r, http.StatusGone, "accept", formPage{
			Error: "This invitation has expired. Ask the organization's managers for a new one."})
	default:
		ui.log.Error("accept: joining the organization failed", "member", m.ID, "err", err)
		ui.render(w, r, http.StatusServiceUnavailable, "error", nil)
	}
	return false
}
