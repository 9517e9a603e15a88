package envelope

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Auth is the client's credentials, from whichever source carried them.
type Auth struct {
	PublicKey string
	SecretKey string // optional legacy sentry_secret
	Version   string // sentry_version
	Client    string // sentry_client (e.g. "sentry.go/0.46.2")
	Timestamp string // sentry_timestamp (legacy v5)
	Source    string // "header" | "authorization" | "query" | "envelope"
}

// Auth sources, as recorded in Auth.Source.
const (
	sourceHeader        = "header"
	sourceAuthorization = "authorization"
	sourceQuery         = "query"
	sourceEnvelope      = "envelope"
)

// maxKeyLen bounds sentry_key and sentry_secret. Real keys are 32 hex
// digits (Relay refuses anything else); we only insist on a sane length and
// printable ASCII, because the key becomes a cache and database lookup key
// and a log field.
const maxKeyLen = 256

// MaxClientLen bounds sentry_client. It travels with the event in a queue
// message header, whose size is limited; real values ("sentry.go/0.46.2")
// are a few dozen bytes.
const MaxClientLen = 512

// ErrBadClient means a sentry_client that is too long or not printable:
// 400, since no retry will fix it.
var ErrBadClient = errors.New("invalid sentry_client")

// printableASCII reports whether s is printable ASCII (spaces allowed).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// ParseAuthHeader parses a Sentry auth header value such as
// "Sentry sentry_key=abc, sentry_version=7, sentry_client=x/1.0".
//
// The "Sentry " scheme prefix is optional and case-insensitive. Pairs are
// separated by commas; like Relay, spaces around keys, '=' and values are
// ignored. Beyond Relay, values may be double-quoted (with backslash
// escapes), and a missing comma is tolerated where whitespace is followed by
// another "key=" pair, because hand-written and very old clients produce
// both. Unknown keys are ignored. As in Relay, a missing sentry_key and a
// sentry_version whose major part is not a number are errors (ErrBadAuth).
// Source is set to "header".
func ParseAuthHeader(v string) (Auth, error) {
	s := strings.TrimSpace(v)
	if len(s) >= 6 && strings.EqualFold(s[:6], "sentry") &&
		(len(s) == 6 || s[6] == ' ' || s[6] == '\t' || s[6] == ',') {
		s = s[6:]
	}
	a := Auth{Source: sourceHeader}
	var seenVersion bool
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ',' || s[i] == ' ' || s[i] == '\t') {
			i++
		}
		ks := i
		for i < len(s) && isKeyChar(s[i]) {
			i++
		}
		key := s[ks:i]
		j := skipBlank(s, i)
		if key == "" || j >= len(s) || s[j] != '=' {
			// Not a pair: skip this token (at least one byte, so the
			// loop always progresses).
			i = max(i, ks+1)
			for i < len(s) && s[i] != ',' && s[i] != ' ' && s[i] != '\t' {
				i++
			}
			continue
		}
		i = skipBlank(s, j+1)
		var val string
		if i < len(s) && s[i] == '"' {
			var ok bool
			if val, i, ok = readQuoted(s, i); !ok {
				return Auth{}, fmt.Errorf("%w: unterminated quoted value for %.32s", ErrBadAuth, key)
			}
		} else {
			vs := i
			for i < len(s) && s[i] != ',' {
				if (s[i] == ' ' || s[i] == '\t') && s[i-1] != ' ' && s[i-1] != '\t' && startsPair(s, i) {
					break
				}
				i++
			}
			val = strings.TrimRight(s[vs:i], " \t")
		}
		switch strings.ToLower(key) {
		case "sentry_key":
			a.PublicKey = val
		case "sentry_secret":
			a.SecretKey = val
		case "sentry_version":
			a.Version, seenVersion = val, true
		case "sentry_client":
			a.Client = val
		case "sentry_timestamp":
			a.Timestamp = val
		}
	}
	if err := checkAuth(&a, seenVersion); err != nil {
		return Auth{}, err
	}
	return a, nil
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func skipBlank(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// startsPair reports whether s[i:] is blanks, a key and '=': the start of
// a new pair after a missing comma. Callers only ask at the first blank of
// a run, so each byte is examined a bounded number of times.
func startsPair(s string, i int) bool {
	i = skipBlank(s, i)
	ks := i
	for i < len(s) && isKeyChar(s[i]) {
		i++
	}
	if i == ks {
		return false
	}
	i = skipBlank(s, i)
	return i < len(s) && s[i] == '='
}

// readQuoted reads a double-quoted value starting at s[i] == '"', undoing
// backslash escapes, and returns it with the index past the closing quote.
func readQuoted(s string, i int) (string, int, bool) {
	var b strings.Builder
	for i++; i < len(s); i++ {
		switch s[i] {
		case '"':
			return b.String(), i + 1, true
		case '\\':
			if i+1 < len(s) {
				i++
			}
		}
		b.WriteByte(s[i])
	}
	return "", i, false
}

// ProtocolVersion is the newest protocol version Relay speaks; a request that
// claims a newer one is refused rather than misread.
const ProtocolVersion = 7

// checkAuth applies the checks Relay makes (sentry-types Auth::from_pairs and
// RequestMeta): the key must be present, and a present sentry_version must
// start with a u16 (e.g. "7" or "7.0") no newer than ProtocolVersion.
func checkAuth(a *Auth, seenVersion bool) error {
	if a.PublicKey == "" {
		return fmt.Errorf("%w: missing sentry_key", ErrBadAuth)
	}
	if !validKey(a.PublicKey) {
		return fmt.Errorf("%w: malformed sentry_key", ErrBadAuth)
	}
	if a.SecretKey != "" && !validKey(a.SecretKey) {
		return fmt.Errorf("%w: malformed sentry_secret", ErrBadAuth)
	}
	if len(a.Client) > MaxClientLen || !printableASCII(a.Client) {
		return fmt.Errorf("%w: sentry_client is longer than %d bytes or not printable ASCII", ErrBadClient, MaxClientLen)
	}
	if seenVersion {
		major, _, _ := strings.Cut(a.Version, ".")
		v, err := strconv.ParseUint(major, 10, 16)
		if err != nil {
			return fmt.Errorf("%w: invalid sentry_version %.16q", ErrBadAuth, a.Version)
		}
		if v > ProtocolVersion {
			return fmt.Errorf("%w (%d)", ErrUnsupportedVersion, v)
		}
	}
	return nil
}

// validKey accepts printable ASCII without spaces, up to maxKeyLen bytes.
func validKey(k string) bool {
	if len(k) > maxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return false
		}
	}
	return true
}

// hasSentryScheme reports whether an Authorization value uses the "Sentry"
// scheme (case-insensitive), as Relay's get_auth_header checks.
func hasSentryScheme(v string) bool {
	v = strings.TrimLeft(v, " \t")
	return len(v) > 7 && strings.EqualFold(v[:6], "sentry") && (v[6] == ' ' || v[6] == '\t')
}

// AuthFromRequest finds the client's credentials the way Relay's
// auth_from_parts does, in its order:
//
//   - the X-Sentry-Auth header;
//   - an Authorization header with the "Sentry" scheme (other schemes such
//     as Bearer belong to someone else and are ignored);
//   - an Authorization header with the "Basic" scheme whose user name is the
//     public key (base64 of "key:" or "key:secret");
//   - query parameters (sentry_key, sentry_version, sentry_client,
//     sentry_secret, sentry_timestamp), how browser SDKs authenticate since
//     they cannot always set headers. As in Relay, the query counts as soon
//     as any parameter starts with "sentry_", so a header plus a stray
//     sentry_version in the URL is two sources.
//
// Credentials in more than one place fail with ErrMultipleAuth, as in Relay:
// guessing which one is meant would let one override the other. No
// credentials at all yield Auth{} and ErrMissingAuth; only then may the
// caller use the envelope header's dsn (AuthFromDSN). Present but unusable
// credentials (no sentry_key, a malformed version) yield ErrBadAuth, and a
// protocol version newer than Relay's yields ErrUnsupportedVersion.
func AuthFromRequest(h http.Header, q url.Values) (Auth, error) {
	var (
		a     Auth
		found bool
	)
	if v := strings.TrimSpace(h.Get("X-Sentry-Auth")); v != "" {
		var err error
		if a, err = ParseAuthHeader(v); err != nil {
			return Auth{}, err
		}
		found = true
	}
	authz := h.Get("Authorization")
	if hasSentryScheme(authz) {
		if found {
			return Auth{}, fmt.Errorf("%w: both X-Sentry-Auth and Authorization are set", ErrMultipleAuth)
		}
		var err error
		if a, err = ParseAuthHeader(authz); err != nil {
			return Auth{}, err
		}
		a.Source = sourceAuthorization
		found = true
	} else if key, secret, ok := basicAuthKey(authz); ok {
		if found {
			return Auth{}, fmt.Errorf("%w: both X-Sentry-Auth and Authorization are set", ErrMultipleAuth)
		}
		// The password is the secret key, checked like sentry_secret.
		a = Auth{PublicKey: key, SecretKey: secret, Source: sourceAuthorization}
		if err := checkAuth(&a, false); err != nil {
			return Auth{}, err
		}
		found = true
	}
	if hasSentryParam(q) {
		if found {
			return Auth{}, fmt.Errorf("%w: credentials in both a header and the query string", ErrMultipleAuth)
		}
		// The last value wins, as in Relay's from_pairs.
		last := func(k string) string {
			vs := q[k]
			if len(vs) == 0 {
				return ""
			}
			return strings.TrimSpace(vs[len(vs)-1])
		}
		a = Auth{
			PublicKey: last("sentry_key"),
			SecretKey: last("sentry_secret"),
			Version:   last("sentry_version"),
			Client:    last("sentry_client"),
			Timestamp: last("sentry_timestamp"),
			Source:    sourceQuery,
		}
		if err := checkAuth(&a, q.Has("sentry_version")); err != nil {
			return Auth{}, err
		}
		found = true
	}
	if !found {
		return Auth{}, ErrMissingAuth
	}
	return a, nil
}

// hasSentryParam reports whether any query parameter is one of Sentry's
// (its name starts with "sentry_"). Relay tests the raw query string for the
// substring; testing names is the same for every real client and does not
// trip over a value that happens to contain it.
func hasSentryParam(q url.Values) bool {
	for k := range q {
		if strings.HasPrefix(k, "sentry_") {
			return true
		}
	}
	return false
}

// basicAuthKey reads the public key and the secret from "Authorization:
// Basic base64(key:secret)", which Relay accepts for clients that can only
// do HTTP basic authentication. Anything that does not decode to
// "user:..." is not ours and is ignored, as Relay ignores it.
func basicAuthKey(v string) (key, secret string, ok bool) {
	v = strings.TrimLeft(v, " \t")
	if len(v) < 6 || !strings.EqualFold(v[:6], "basic ") || len(v) > 2*maxKeyLen+16 {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[6:]))
	if err != nil || !utf8.Valid(raw) {
		return "", "", false
	}
	key, secret, ok = strings.Cut(string(raw), ":")
	return key, secret, ok
}

// AuthFromDSN extracts credentials from a DSN such as
// "https://public@host/42" or "http://public:secret@host:8000/path/42", as
// found in an envelope header when no request credentials were sent (e.g.
// envelopes relayed through a tunnel endpoint). It also returns the project
// id, the last path segment, which must be numeric as Relay requires. The
// scheme must be http or https and the public key non-empty; anything else
// is ErrBadAuth. Source is set to "envelope".
func AuthFromDSN(dsn string) (Auth, string, error) {
	if len(dsn) > 2048 {
		return Auth{}, "", fmt.Errorf("%w: DSN too long", ErrBadAuth)
	}
	u, err := url.Parse(strings.TrimSpace(dsn))
	if err != nil {
		return Auth{}, "", fmt.Errorf("%w: invalid DSN", ErrBadAuth)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Auth{}, "", fmt.Errorf("%w: DSN scheme must be http or https", ErrBadAuth)
	}
	if u.Host == "" || u.User == nil {
		return Auth{}, "", fmt.Errorf("%w: DSN has no host or no public key", ErrBadAuth)
	}
	a := Auth{PublicKey: u.User.Username(), Source: sourceEnvelope}
	a.SecretKey, _ = u.User.Password()
	path := strings.TrimRight(u.Path, "/")
	projectID := path[strings.LastIndexByte(path, '/')+1:]
	if projectID == "" || len(projectID) > 20 {
		return Auth{}, "", fmt.Errorf("%w: DSN has no project id", ErrBadAuth)
	}
	if _, err := strconv.ParseUint(projectID, 10, 64); err != nil {
		return Auth{}, "", fmt.Errorf("%w: DSN project id is not a number", ErrBadAuth)
	}
	if err := checkAuth(&a, false); err != nil {
		return Auth{}, "", err
	}
	return a, projectID, nil
}
