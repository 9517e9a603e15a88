package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/oidc"
	"github.com/faultline/faultline/internal/route"
	"github.com/faultline/faultline/internal/session"
)

// ssoCookie holds a sign-on in progress: a random value whose hash names
// the flow the server keeps (state, nonce, PKCE verifier).
const ssoCookie = "faultline_sso"

// SignOn is the single sign-on flow the login pages use.
type SignOn interface {
	Config() oidc.Config
	Begin(ctx context.Context, addr, next string) (cookie, authURL string, err error)
	Finish(ctx context.Context, cookie string, query url.Values) (*oidc.Identity, error)
}

// SSOUsers is what a sign-on reads and writes of users and memberships.
type SSOUsers interface {
	UserByEmail(email string) (*meta.User, bool)
	UserByIdentity(issuer, subject string) (*meta.User, bool)
	LinkIdentity(ctx context.Context, userID uint64, id meta.Identity) (*meta.User, error)
	CreateSSOUser(ctx context.Context, email, name string, id meta.Identity) (*meta.User, error)
	Organization(slug string) (*meta.Organization, bool)
	InviteMember(ctx context.Context, orgID uint64, email, role string, teams []uint64) (*meta.Member, string, error)
}

func (ui *UI) ssoRoutes() []route.Route {
	return []route.Route{
		{Method: "GET", Path: oidc.LoginPath, Handler: http.HandlerFunc(ui.ssoLogin), Auth: route.Public,
			Name: "single sign-on: go to the provider"},
		{Method: "GET", Path: oidc.CallbackPath, Handler: http.HandlerFunc(ui.ssoCallback), Auth: route.Public,
			Name: "single sign-on: the provider's answer"},
	}
}

// ssoName is the login button's provider name ("" without sign-on).
func (ui *UI) ssoName() string {
	if ui.acc == nil || ui.acc.SSO == nil {
		return ""
	}
	return ui.acc.SSO.Config().Name
}

type ssoErrorPage struct{ Title, Message string }

func (ui *UI) ssoError(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	ui.render(w, r, status, "sso_error", ssoErrorPage{Title: title, Message: msg})
}

func (ui *UI) setSSOCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: value, Path: "/auth/oidc/", MaxAge: maxAge,
		HttpOnly: true, Secure: ui.acc.secure, SameSite: http.SameSiteLaxMode})
}

// ssoLogin starts a sign-on: it keeps the flow and sends the browser to
// the provider.
func (ui *UI) ssoLogin(w http.ResponseWriter, r *http.Request) {
	sso := ui.acc.SSO
	cookie, authURL, err := sso.Begin(r.Context(), session.ClientAddr(r, ui.acc.TrustForwarded), localNext(r.URL.Query().Get("next")))
	if err != nil {
		if errors.Is(err, oidc.ErrTooMany) {
			w.Header().Set("Retry-After", strconv.Itoa(int(sso.Config().FlowTTL.Seconds())))
			ui.ssoError(w, r, http.StatusTooManyRequests, "Too many sign-ons",
				"Too many sign-ons were started from your address. Try again later.")
			return
		}
		if errors.Is(err, oidc.ErrUnavailable) {
			ui.log.Warn("single sign-on: the provider cannot be reached", "issuer", sso.Config().Issuer, "err", err)
			ui.ssoError(w, r, http.StatusServiceUnavailable, "Single sign-on is unavailable",
				"Faultline cannot reach "+sso.Config().Name+" right now. Try again in a moment, or log in with a password.")
			return
		}
		ui.log.Error("single sign-on: starting failed", "err", err)
		ui.ssoError(w, r, http.StatusServiceUnavailable, "Single sign-on is unavailable",
			"Faultline could not start the sign-on; try again in a moment.")
		return
	}
	ui.setSSOCookie(w, cookie, int(sso.Config().FlowTTL.Seconds()))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// ssoCallback finishes a sign-on: the flow must match this browser's
// cookie and the answer's state; the provider's identity then logs in the
// user it is linked to, or links to the user with its verified e-mail, or
// creates a user without a password.
func (ui *UI) ssoCallback(w http.ResponseWriter, r *http.Request) {
	sso := ui.acc.SSO
	cfg := sso.Config()
	var cookie string
	if c, err := r.Cookie(ssoCookie); err == nil {
		cookie = c.Value
	}
	id, err := sso.Finish(r.Context(), cookie, r.URL.Query())
	if !errors.Is(err, oidc.ErrState) {
		// Used up; a forged answer (wrong state) leaves the login alone.
		ui.setSSOCookie(w, "", -1)
	}
	switch {
	case errors.Is(err, oidc.ErrNoFlow):
		ui.ssoError(w, r, http.StatusBadRequest, "Single sign-on failed",
			"This answer does not match a sign-on started from this browser, or it expired or was already used. Start again from the login page.")
		return
	case errors.Is(err, oidc.ErrUnavailable):
		ui.ssoError(w, r, http.StatusServiceUnavailable, "Single sign-on is unavailable",
			"Faultline cannot reach "+cfg.Name+" right now. Try again in a moment.")
		return
	case errors.Is(err, oidc.ErrProvider):
		ui.log.Warn("single sign-on: the provider's answer was refused", "issuer", cfg.Issuer, "err", err)
		ui.ssoError(w, r, http.StatusBadRequest, "Single sign-on failed",
			cfg.Name+" did not sign you in. Start again from the login page.")
		return
	case err != nil:
		ui.log.Error("single sign-on: finishing failed", "err", err)
		ui.ssoError(w, r, http.StatusServiceUnavailable, "Single sign-on failed",
			"Faultline could not finish the sign-on; try again in a moment.")
		return
	}
	u, status, msg := ui.ssoUser(r.Context(), id)
	if u == nil {
		ui.ssoError(w, r, status, "Single sign-on refused", msg)
		return
	}
	cookieValue, sess, err := ui.acc.Sessions.Create(r.Context(), u.ID, u.PasswordVersion)
	if err != nil {
		ui.log.Error("single sign-on: creating the session failed", "err", err)
		ui.ssoError(w, r, http.StatusServiceUnavailable, "Single sign-on failed",
			"Faultline could not log you in; try again in a moment.")
		return
	}
	ui.startSession(w, cookieValue, sess)
	http.Redirect(w, r, localNext(id.Next), http.StatusSeeOther)
}

// ssoUser finds or makes the user a provider's identity logs in as. On a
// refusal it returns nil, the status and the page's message.
//
// An identity already linked logs in its user. Otherwise the e-mail must
// be verified by the provider: only then does it link to the user who has
// it, or create one. An unverified e-mail is refused, since the allowed
// domains mean nothing for an address nobody checked, and an address is a
// user's identity here (unique, and what invitations go to).
func (ui *UI) ssoUser(ctx context.Context, id *oidc.Identity) (*meta.User, int, string) {
	sso, users := ui.acc.SSO, ui.acc.SSOUsers
	cfg := sso.Config()
	link := meta.Identity{Issuer: id.Issuer, Subject: id.Subject}
	if !cfg.DomainAllowed(id.Email) {
		if id.Email == "" {
			return nil, http.StatusForbidden, cfg.Name + " did not share your e-mail address, which Faultline needs to sign you in. Ask its administrator."
		}
		ui.log.Info("single sign-on refused: e-mail domain not allowed", "subject", id.Subject)
		return nil, http.StatusForbidden, "Your e-mail address " + id.Email + " is not in a domain allowed to sign in to this Faultline. Ask its administrator."
	}
	if u, ok := users.UserByIdentity(link.Issuer, link.Subject); ok {
		return u, 0, ""
	}
	switch {
	case id.Email == "":
		return nil, http.StatusForbidden, cfg.Name + " did not share your e-mail address, which Faultline needs to sign you in. Ask its administrator."
	case !id.EmailVerified:
		return nil, http.StatusForbidden, cfg.Name + " has not verified your e-mail address " + id.Email +
			", so Faultline cannot sign you in with it. Verify it at " + cfg.Name + ", then try again."
	}
	for attempt := 0; attempt < 3; attempt++ {
		if existing, ok := users.UserByEmail(id.Email); ok {
			u, err := users.LinkIdentity(ctx, existing.ID, link)
			if err == nil {
				ui.log.Info("single sign-on linked to an existing user by a verified e-mail", "user", u.ID)
				return u, 0, ""
			}
			if errors.Is(err, meta.ErrExists) {
				return nil, http.StatusConflict, "Another " + cfg.Name + " account is already linked to this Faultline user."
			}
			ui.log.Error("single sign-on: linking failed", "err", err)
			return nil, http.StatusServiceUnavailable, "Faultline could not sign you in; try again in a moment."
		}
		u, err := users.CreateSSOUser(ctx, id.Email, id.Name, link)
		if errors.Is(err, meta.ErrExists) {
			// Another node signed the same person in at the same time.
			if u, ok := users.UserByIdentity(link.Issuer, link.Subject); ok {
				return u, 0, ""
			}
			continue
		}
		if err != nil {
			ui.log.Error("single sign-on: creating the user failed", "err", err)
			return nil, http.StatusServiceUnavailable, "Faultline could not sign you in; try again in a moment."
		}
		ui.log.Info("single sign-on created a user", "user", u.ID)
		ui.joinDefaultOrg(ctx, u)
		return u, 0, ""
	}
	return nil, http.StatusServiceUnavailable, "Faultline could not sign you in; try again in a moment."
}

// joinDefaultOrg makes a user created by a sign-on a member of
// --oidc-default-org with --oidc-default-role.
func (ui *UI) joinDefaultOrg(ctx context.Context, u *meta.User) {
	cfg := ui.acc.SSO.Config()
	if cfg.DefaultOrg == "" {
		return
	}
	org, ok := ui.acc.SSOUsers.Organization(cfg.DefaultOrg)
	if !ok {
		ui.log.Warn("single sign-on: --oidc-default-org names no organization; the new user joined none", "org", cfg.DefaultOrg)
		return
	}
	if _, _, err := ui.acc.SSOUsers.InviteMember(ctx, org.ID, u.Email, cfg.DefaultRole, nil); err != nil && !errors.Is(err, meta.ErrExists) {
		ui.log.Error("single sign-on: joining the default organization failed", "org", cfg.DefaultOrg, "user", u.ID, "err", err)
	}
}
