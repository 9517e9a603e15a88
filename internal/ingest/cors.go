package ingest

import (
	"net/http"
	"net/url"
	"strings"
)

// cors adds the headers browser SDKs need to read the answer, error
// answers included: the rate-limit headers tell an SDK to back off.
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = "*"
	}
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Add("Vary", "Origin")
	hd.Set("Access-Control-Expose-Headers", "X-Sentry-Error, X-Sentry-Rate-Limits, Retry-After")
}

// preflight answers CORS preflight requests for the ingest endpoints, with
// the methods and headers Relay allows. Whether an origin may send is
// decided per project when the request itself comes (403 otherwise), as in
// Relay, because a preflight carries no key.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) {
	h.cors(w, r)
	hd := w.Header()
	hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "X-Sentry-Auth, X-Requested-With, X-Forwarded-For, Origin, Referer, "+
		"Accept, Content-Type, Authentication, Authorization, Content-Encoding, Transfer-Encoding, Sentry-Trace, Baggage")
	hd.Set("Access-Control-Max-Age", "3600")
	w.WriteHeader(http.StatusOK)
}

// originAllowed matches an origin ("scheme://host[:port]") against a
// project's allowed origins, as Relay's is_valid_origin does: "*" allows
// any; an entry may be a host ("example.com"), a host pattern
// ("*.example.com", which also matches example.com), or a full origin
// ("https://example.com:8443"). An empty list allows none.
func originAllowed(allowed []string, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == "*":
			return true
		case strings.Contains(a, "://"):
			if a == strings.ToLower(origin) || strings.TrimSuffix(a, "/") == strings.ToLower(origin) {
				return true
			}
		case strings.HasPrefix(a, "*."):
			if host == a[2:] || strings.HasSuffix(host, a[1:]) {
				return true
			}
		case a == host || a == strings.ToLower(u.Host):
			return true
		}
	}
	return false
}
