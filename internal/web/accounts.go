package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/route"
	"github.com/faultline/faultline/internal/session"
)

// Cookie and form field names, the API's too.
const (
	sessionCookie = session.Cookie
	csrfCookie    = session.CSRFCookie
	csrfField     = session.CSRFFormField
)

// Accounts is what the login, logout and first-admin setup pages need.
type Accounts struct {
	Sessions *session.Store
	Users    AccountUsers
	// PublicURL is how browsers reach Faultline: forms are accepted from
	// its origin only, and cookies are Secure when it is https.
	PublicURL string
	// SetupCode is the one-time code the first-admin setup page asks for
	// (the server logs it at start); empty leaves the page out.
	SetupCode string
	// TrustForwarded counts login failures by the address a trusted proxy
	// appended to X-Forwarded-For.
	TrustForwarded bool
	// Invites turns on the invitation page, /accept/{member_id}/{token}/
	// (nil: none).
	Invites Invitations
	// SSO turns on single sign-on, /auth/oidc/login/ and its callback,
	// with SSOUsers (nil: none).
	SSO      SignOn
	SSOUsers SSOUsers
	// Orgs lists the organizations on the start page (nil: none listed).
	Orgs AccountOrgs

	origin string
	secure bool
}

// AccountUsers is the user accounts the pages read and write.
type AccountUsers interface {
	User(id uint64) (*meta.User, bool)
	UserByEmail(email string) (*meta.User, bool)
	HasPasswordUser() bool
	CreateUser(ctx context.Context, email, name, password string, superuser bool) (*meta.User, error)
}

// SetAccounts turns on the login, logout and setup pages; Routes returns
// them from then on.
func (ui *UI) SetAccounts(a *Accounts) error {
	u, err := url.Parse(strings.TrimRight(a.PublicURL, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("web: public URL %q must be like http://host:port", a.PublicURL)
	}
	if a.Sessions == nil || a.Users == nil {
		return errors.New("web: accounts need sessions and users")
	}
	if a.SSO != nil && a.SSOUsers == nil {
		return errors.New("web: single sign-on needs its users")
	}
	a.origin, a.secure = u.Scheme+"://"+u.Host, u.Scheme == "https"
	ui.acc = a
	return nil
}

func (ui *UI) accountRoutes() []route.Route {
	rs := []route.Route{
		{Method: "GET", Path: "/login/", Handler: http.HandlerFunc(ui.loginPage), Auth: route.Public, Name: "login page"},
		{Method: "POST", Path: "/login/", Handler: http.HandlerFunc(ui.loginSubmit), Auth: route.Public, Name: "log in (form)"},
		{Method: "POST", Path: "/logout/", Handler: http.HandlerFunc(ui.logout), Auth: route.Session, Name: "log out (form)"},
		ui.homeRoute(),
	}
	if ui.acc.SetupCode != "" {
		rs = append(rs,
			route.Route{Method: "GET", Path: "/setup/", Handler: http.HandlerFunc(ui.setupPage), Auth: route.Public, Name: "first-admin setup page"},
			route.Route{Method: "POST", Path: "/setup/", Handler: http.HandlerFunc(ui.setupSubmit), Auth: route.Public, Name: "create the first admin (form)"},
		)
	}
	if ui.acc.Invites != nil {
		rs = append(rs, ui.acceptRoutes()...)
	}
	if ui.acc.SSO != nil {
		rs = append(rs, ui.ssoRoutes()...)
	}
	return rs
}

// formPage is the data of the login and setup pages.
type formPage struct {
	CSRF, Error, Email, Name, Next string
	// Org, Action and Existing are the invitation page's: the
	// organization's name, the form's path, and whether a user has the
	// invited e-mail already.
	Org, Action string
	Existing    bool
	// SSO is the single sign-on provider's name on the login page's
	// button ("": no button).
	SSO string
}

func (ui *UI) setCookie(w http.ResponseWriter, name, value string, maxAge int, httpOnly bool) {
	http.SetCookie(w, session.NewCookie(name, value, maxAge, httpOnly, ui.acc.secure))
}

// formToken returns the browser's csrftoken cookie, or sets a new one: a
// form posted before any session carries it back (double submit).
func (ui *UI) formToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && validToken(c.Value) {
		return c.Value
	}
	t := session.NewToken()
	ui.setCookie(w, csrfCookie, t, int(ui.acc.Sessions.Config().MaxAge/time.Second), false)
	return t
}

func validToken(s string) bool {
	if len(s) != 43 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkForm parses a posted form (at most 64 KiB) and checks that it comes
// from our origin and carries the token want (the csrftoken cookie's, or
// the session's). It answers the refusal itself and reports false.
func (ui *UI) checkForm(w http.ResponseWriter, r *http.Request, page string, want string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		ui.render(w, r, http.StatusBadRequest, page, formPage{Error: "The form could not be read."})
		return false
	}
	_, _, sameOrigin := session.CheckOrigin(r, ui.acc.origin)
	if !sameOrigin || !session.TokensMatch(r.PostForm.Get(csrfField), want) {
		ui.render(w, r, http.StatusForbidden, page, formPage{CSRF: ui.formToken(w, r),
			Error: "The form's security check failed (CSRF). Reload the page and try again."})
		return false
	}
	return true
}

// localNext is where to go after logging in: a path on this site only.
func localNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}

func (ui *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	ui.render(w, r, http.StatusOK, "login", formPage{CSRF: ui.formToken(w, r), Next: localNext(r.URL.Query().Get("next")),
		SSO: ui.ssoName()})
}

func (ui *UI) loginSubmit(w http.ResponseWriter, r *http.Request) {
	want := ""
	if c, err := r.Cookie(csrfCookie); err == nil {
		want = c.Value
	}
	if !ui.checkForm(w, r, "login", want) {
		return
	}
	email, next := r.PostForm.Get("username"), localNext(r.PostForm.Get("next"))
	page := formPage{CSRF: want, Email: email, Next: next, SSO: ui.ssoName()}
	if email == "" || r.PostForm.Get("password") == "" {
		page.Error = "Enter your e-mail and password."
		ui.render(w, r, http.StatusBadRequest, "login", page)
		return
	}
	_, cookie, sess, err := ui.acc.Sessions.Login(r.Context(), ui.acc.Users, email, r.PostForm.Get("password"),
		session.ClientAddr(r, ui.acc.TrustForwarded))
	var locked *session.LockedError
	switch {
	case errors.As(err, &locked):
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((locked.RetryAfter+time.Second-1)/time.Second))))
		page.Error = "Too many failed attempts. Try again later."
		ui.render(w, r, http.StatusTooManyRequests, "login", page)
		return
	case errors.Is(err, session.ErrBadLogin):
		page.Error = "Invalid e-mail or password."
		ui.render(w, r, http.StatusBadRequest, "login", page)
		return
	case err != nil:
		ui.log.Error("login failed", "err", err)
		page.Error = "Faultline could not log you in; try again in a moment."
		ui.render(w, r, http.StatusServiceUnavailable, "login", page)
		return
	}
	ui.startSession(w, cookie, sess)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (ui *UI) startSession(w http.ResponseWriter, cookie string, sess *session.Session) {
	maxAge := int(ui.acc.Sessions.Config().MaxAge / time.Second)
	ui.setCookie(w, sessionCookie, cookie, maxAge, true)
	ui.setCookie(w, csrfCookie, sess.CSRF, maxAge, false)
}

// logout ends the session of a form that carries its CSRF token, and goes
// to the login page.
func (ui *UI) logout(w http.ResponseWriter, r *http.Request) {
	var sess *session.Session
	if c, err := r.Cookie(sessionCookie); err == nil {
		sess, _ = ui.acc.Sessions.Get(r.Context(), c.Value, func(id uint64) (uint64, bool) {
			u, ok := ui.acc.Users.User(id)
			if !ok {
				return 0, false
			}
			return u.PasswordVersion, true
		})
	}
	if sess == nil {
		http.Redirect(w, r, "/login/", http.StatusSeeOther)
		return
	}
	if !ui.checkForm(w, r, "login", sess.CSRF) {
		return
	}
	if err := ui.acc.Sessions.Delete(r.Context(), sess); err != nil {
		ui.log.Error("logout failed", "err", err)
		ui.render(w, r, http.StatusServiceUnavailable, "error", nil)
		return
	}
	ui.setCookie(w, sessionCookie, "", -1, true)
	ui.setCookie(w, csrfCookie, "", -1, false)
	http.Redirect(w, r, "/login/", http.StatusSeeOther)
}

// setupPage offers the first-admin form while no user has a password.
func (ui *UI) setupPage(w http.ResponseWriter, r *http.Request) {
	if ui.acc.Users.HasPasswordUser() {
		ui.NotFound().ServeHTTP(w, r)
		return
	}
	ui.render(w, r, http.StatusOK, "setup", formPage{CSRF: ui.formToken(w, r)})
}

// setupSubmit creates the first superuser, given the setup code from the
// server's log, and logs them in. Wrong codes count toward the client
// address's lockout.
func (ui *UI) setupSubmit(w http.ResponseWriter, r *http.Request) {
	if ui.acc.Users.HasPasswordUser() {
		ui.NotFound().ServeHTTP(w, r)
		return
	}
	want := ""
	if c, err := r.Cookie(csrfCookie); err == nil {
		want = c.Value
	}
	if !ui.checkForm(w, r, "setup", want) {
		return
	}
	ctx := r.Context()
	f := r.PostForm
	page := formPage{CSRF: want, Email: f.Get("email"), Name: f.Get("name")}
	addr := session.ClientAddr(r, ui.acc.TrustForwarded)
	lockKey := "setup-code " + addr
	if wait, err := ui.acc.Sessions.Locked(ctx, lockKey, addr); err != nil || wait > 0 {
		if wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(wait/time.Second))))
		}
		page.Error = "Too many failed attempts. Try again later."
		ui.render(w, r, http.StatusTooManyRequests, "setup", page)
		return
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(f.Get("code"))), []byte(ui.acc.SetupCode)) != 1 {
		ui.acc.Sessions.Fail(ctx, lockKey, addr) //nolint:errcheck // the answer is the same
		page.Error = "The setup code is not the one in the server's log."
		ui.render(w, r, http.StatusForbidden, "setup", page)
		return
	}
	if f.Get("password") != f.Get("password2") {
		page.Error = "The passwords do not match."
		ui.render(w, r, http.StatusBadRequest, "setup", page)
		return
	}
	u, err := ui.acc.Users.CreateUser(ctx, f.Get("email"), f.Get("name"), f.Get("password"), true)
	if err != nil {
		status := http.StatusBadRequest
		page.Error = strings.TrimPrefix(err.Error(), "meta: invalid: ")
		switch {
		case errors.Is(err, meta.ErrExists):
			page.Error = "A user with this e-mail already exists."
		case !errors.Is(err, meta.ErrInvalid):
			ui.log.Error("setup: creating the first admin failed", "err", err)
			page.Error, status = "Faultline could not create the user; try again in a moment.", http.StatusServiceUnavailable
		}
		ui.render(w, r, status, "setup", page)
		return
	}
	ui.log.Info("first admin created through /setup/", "user", u.ID)
	cookie, sess, err := ui.acc.Sessions.Create(ctx, u.ID, u.PasswordVersion)
	if err != nil {
		http.Redirect(w, r, "/login/", http.StatusSeeOther)
		return
	}
	ui.startSession(w, cookie, sess)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
