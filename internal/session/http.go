package session

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
)

// Cookie and field names, Django's (and so Sentry's), shared by the API and
// the pages.
const (
	Cookie     = "session"
	CSRFCookie = "csrftoken"
	// CSRFHeader and CSRFFormField carry the csrftoken back on writes.
	CSRFHeader    = "X-CSRFToken"
	CSRFFormField = "csrfmiddlewaretoken"
)

// NewCookie is a cookie of the site: for every path, SameSite=Lax, Secure
// when the public URL is https.
func NewCookie(name, value string, maxAge int, httpOnly, secure bool) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: httpOnly,
		Secure: secure, SameSite: http.SameSiteLaxMode}
}

// CheckOrigin reports whether a request comes from origin
// ("scheme://host[:port]"): its Origin header, or without one its Referer,
// must name it. A request with neither passes (scripts); the CSRF token
// still guards it. On a refusal it returns the header that failed and its
// value.
func CheckOrigin(r *http.Request, origin string) (header, value string, ok bool) {
	if o := r.Header.Get("Origin"); o != "" {
		return "Origin", o, strings.EqualFold(o, origin)
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		u, err := url.Parse(ref)
		return "Referer", ref, err == nil && strings.EqualFold(u.Scheme+"://"+u.Host, origin)
	}
	return "", "", true
}

// TokensMatch compares a CSRF token sent back with the expected one, in
// constant time; an empty one never matches.
func TokensMatch(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
