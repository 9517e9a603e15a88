package api

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/route"
	"github.com/faultline/faultline/internal/session"
)

// Cookie and field names, Django's (and so Sentry's).
const (
	SessionCookie = session.Cookie
	CSRFCookie    = session.CSRFCookie
	CSRFHeader    = session.CSRFHeader
	CSRFFormField = session.CSRFFormField
)

// Sessions keeps login sessions and the login lockout counters.
type Sessions interface {
	Create(ctx context.Context, userID, passwordVersion uint64) (string, *session.Session, error)
	Get(ctx context.Context, cookie string, passwordVersion func(userID uint64) (uint64, bool)) (*session.Session, error)
	Delete(ctx context.Context, s *session.Session) error
	Renew(ctx context.Context, s *session.Session, passwordVersion uint64) error
	Locked(ctx context.Context, email, addr string) (time.Duration, error)
	Fail(ctx context.Context, email, addr string) error
	Succeed(ctx context.Context, email string) error
	Login(ctx context.Context, users session.Users, username, password, addr string) (*meta.User, string, *session.Session, error)
	Config() session.Config
}

// publicKey marks, in a request's context, a public route's request:
// authenticate lets it through without credentials.
type publicKey struct{}

// publicRoute declares a route anyone may call (logging in): its handler
// gets a caller without a user.
func (a *API) publicRoute(method, path string, fn handlerFunc, name string) route.Route {
	r := route.Route{Method: method, Path: path, Auth: route.Public, Name: name}
	h := a.wrap(r, fn)
	r.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), publicKey{}, true)))
	})
	return r
}

// authenticateSession authenticates a request by its session cookie, and
// a write by its CSRF token and origin. ok is false when the request has no
// session cookie (or sessions are off).
func (a *API) authenticateSession(r *http.Request) (c *caller, ok bool, err error) {
	if a.cfg.Sessions == nil || a.cfg.Users == nil {
		return nil, false, nil
	}
	ck, cerr := r.Cookie(SessionCookie)
	if cerr != nil || ck.Value == "" {
		return nil, false, nil
	}
	sess, err := a.cfg.Sessions.Get(r.Context(), ck.Value, func(id uint64) (uint64, bool) {
		u, ok := a.cfg.Users.User(id)
		if !ok {
			return 0, false
		}
		return u.PasswordVersion, true
	})
	if errors.Is(err, session.ErrNoSession) {
		return nil, true, errorf(http.StatusUnauthorized, "Authentication credentials were not provided.")
	}
	if err != nil {
		return nil, true, err
	}
	u, found := a.cfg.Users.User(sess.UserID)
	if !found {
		return nil, true, errorf(http.StatusUnauthorized, "Authentication credentials were not provided.")
	}
	if unsafeMethod(r.Method) {
		if err := a.checkOrigin(r); err != nil {
			return nil, true, err
		}
		if err := checkCSRFToken(r, sess.CSRF); err != nil {
			return nil, true, err
		}
	}
	return &caller{user: u, session: sess}, true, nil
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions && m != http.MethodTrace
}

// checkOrigin refuses a request whose Origin (or, without one, Referer) is
// not the public URL's origin. A request with neither passes (scripts); the
// CSRF token still guards it.
func (a *API) checkOrigin(r *http.Request) error {
	if header, value, ok := session.CheckOrigin(r, a.public.Scheme+"://"+a.public.Host); !ok {
		return errorf(http.StatusForbidden, "CSRF Failed: %s checking failed - %s does not match any trusted origins.", header, truncate(value, 200))
	}
	return nil
}

// checkCSRFToken compares the token sent back (header, or the form field of
// an HTML form) with the session's.
func checkCSRFToken(r *http.Request, want string) error {
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" || ct == "multipart/form-data" {
			r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
			got = r.PostFormValue(CSRFFormField)
		}
	}
	if got == "" {
		return errorf(http.StatusForbidden, "CSRF Failed: CSRF token missing.")
	}
	if !session.TokensMatch(got, want) {
		return errorf(http.StatusForbidden, "CSRF Failed: CSRF token incorrect.")
	}
	return nil
}

// clientAddr is the address login failures are counted by.
func (a *API) clientAddr(r *http.Request) string { return session.ClientAddr(r, a.cfg.TrustForwarded) }

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

var errBadLogin = errorf(http.StatusBadRequest, "Invalid username or password.")

// login is Sentry's POST /api/0/auth/login/: {"username": EMAIL,
// "password": ...}. A wrong password and an unknown e-mail get the same
// answer after the same work (the password is always hashed, against a
// dummy hash for an unknown e-mail). It sets the session and csrftoken
// cookies.
func (a *API) login(ctx context.Context, r *http.Request, _ *caller) (*response, error) {
	if err := a.checkOrigin(r); err != nil {
		return nil, err
	}
	var b loginRequest
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if b.Username == "" || b.Password == "" {
		return nil, errBadLogin
	}
	u, cookie, sess, err := a.cfg.Sessions.Login(ctx, a.cfg.Users, b.Username, b.Password, a.clientAddr(r))
	var locked *session.LockedError
	switch {
	case errors.As(err, &locked):
		return tooManyAttempts(locked.RetryAfter), nil
	case errors.Is(err, session.ErrBadLogin):
		return nil, errBadLogin
	case err != nil:
		return nil, err
	}
	a.log.Info("user logged in", "user", u.ID)
	h := http.Header{}
	maxAge := int(a.cfg.Sessions.Config().MaxAge / time.Second)
	h.Add("Set-Cookie", a.cookie(SessionCookie, cookie, maxAge, true).String())
	h.Add("Set-Cookie", a.cookie(CSRFCookie, sess.CSRF, maxAge, false).String())
	h.Set("Cache-Control", "no-store")
	return &response{status: http.StatusOK, header: h, body: map[string]any{"nextUri": "/", "user": serializeAccount(u)}}, nil
}

func tooManyAttempts(wait time.Duration) *response {
	secs := int((wait + time.Second - 1) / time.Second)
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(max(secs, 1)))
	return &response{status: http.StatusTooManyRequests, header: h,
		body: map[string]string{"detail": "You have made too many failed authentication attempts. Please try again later."}}
}

func (a *API) cookie(name, value string, maxAge int, httpOnly bool) *http.Cookie {
	return session.NewCookie(name, value, maxAge, httpOnly, a.public.Scheme == "https")
}

// logout is Sentry's DELETE /api/0/auth/: it ends the caller's session
// and clears its cookies (204). With a token there is no session to end.
func (a *API) logout(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	if c.session != nil {
		if err := a.cfg.Sessions.Delete(ctx, c.session); err != nil {
			return nil, err
		}
	}
	h := http.Header{}
	h.Add("Set-Cookie", a.cookie(SessionCookie, "", -1, true).String())
	h.Add("Set-Cookie", a.cookie(CSRFCookie, "", -1, false).String())
	return &response{status: http.StatusNoContent, header: h}, nil
}
