// Package scrub removes sensitive data from events before anything is
// stored, as Relay's default data scrubbers do: values under keys that
// look like passwords, secrets or tokens, credit card numbers, private
// keys, credentials in URLs, user names in paths, US social security
// numbers and bearer tokens become "[Filtered]"; the Authorization and
// Cookie headers and cookies too. With IP scrubbing, no IP address is
// kept. Each project controls it with Sentry's own settings.
package scrub

import (
	"bytes"
	"net/url"
	"regexp"
	"strings"

	gojson "github.com/goccy/go-json"

	"github.com/faultline/faultline/internal/event"
)

// Filtered replaces what is scrubbed, as in Sentry.
const Filtered = "[Filtered]"

// Config is a project's data scrubbing settings, Sentry's project fields
// of the same names.
type Config struct {
	// DataScrubber turns on scrubbing (dataScrubber).
	DataScrubber bool
	// Defaults adds the default rules (dataScrubberDefaults); without it
	// only SensitiveFields are scrubbed.
	Defaults bool
	// SensitiveFields are more keys whose values are scrubbed.
	SensitiveFields []string
	// SafeFields are keys never scrubbed.
	SafeFields []string
	// ScrubIPAddresses removes every IP address (scrubIPAddresses).
	ScrubIPAddresses bool
}

// Scrubber applies one project's Config. It is immutable and safe for
// concurrent use.
type Scrubber struct {
	cfg Config
	// keys are the lowercase substrings that make a key sensitive; empty
	// when none is.
	keys      []string
	safe      map[string]bool
	patterns  bool // the default value patterns
	replaceIP bool
	// words and pathWords are mayMatch's prescan for ASCII values (nil
	// when a sensitive field is not ASCII): the sensitive keys and the
	// patterns' words, and the words of user paths.
	words, pathWords *wordSet
	// keyWords are the sensitive keys alone (nil when one is not ASCII).
	keyWords *wordSet
}

// defaultKeys are Relay's PASSWORD_KEY_REGEX alternatives (a key that
// contains one, in any case, is sensitive), with "session" and "cookie"
// (Sentry's legacy defaults) added.
var defaultKeys = []string{"password", "secret", "passwd", "api_key", "apikey", "auth", "credentials",
	"mysql_pwd", "privatekey", "private_key", "set-cookie", "token", "session", "cookie"}

// New compiles cfg.
func New(cfg Config) *Scrubber {
	s := &Scrubber{cfg: cfg, safe: map[string]bool{}}
	if cfg.DataScrubber {
		if cfg.Defaults {
			s.keys = append(s.keys, defaultKeys...)
			s.patterns = true
		}
		for _, f := range cfg.SensitiveFields {
			if f = strings.TrimSpace(f); f != "" {
				s.keys = append(s.keys, strings.ToLower(f))
			}
		}
	}
	for _, f := range cfg.SafeFields {
		if f = strings.TrimSpace(f); f != "" {
			s.safe[strings.ToLower(f)] = true
		}
	}
	s.replaceIP = cfg.ScrubIPAddresses
	words := s.keys
	if s.patterns {
		words = append(words[:len(words):len(words)], "-----begin", "bearer")
	}
	if len(words) > 0 {
		s.words = newWordSet(words...)
	} else {
		s.words = &wordSet{}
	}
	s.keyWords = newWordSet(s.keys...)
	s.pathWords = newWordSet("users", "home", "profiles", "documents and settings")
	return s
}

// Active reports whether the scrubber changes anything at all.
func (s *Scrubber) Active() bool { return len(s.keys) > 0 || s.patterns || s.replaceIP }

// sensitiveKey reports whether a key contains a sensitive word, in any
// case, and is not a safe field.
func (s *Scrubber) sensitiveKey(k string) bool {
	if len(s.keys) == 0 || k == "" {
		return false
	}
	lk := strings.ToLower(k)
	if s.safe[lk] {
		return false
	}
	for _, w := range s.keys {
		if strings.Contains(lk, w) {
			return true
		}
	}
	return false
}

// Value patterns: Relay's @common:filter rules. Each replaces its match
// (or one group of it) with [Filtered].
var (
	creditCardRE = regexp.MustCompile(`\b(?:3[47]\d|4\d{3}|5[1-5]\d\d|65\d\d|6011)(?:[-\s]?\d){12}\b`)
	pemKeyRE     = regexp.MustCompile(`(?s)(-----BEGIN[A-Z ]+(?:PRIVATE|PUBLIC) KEY-----[\t ]*\r?\n?)(.+?)(\r?\n?-----END[A-Z ]+(?:PRIVATE|PUBLIC) KEY-----)`)
	// urlPasswordRE is Relay's @urlauth:legacy (Sentry's URL_PASSWORD_RE):
	// the password of user:password@ is filtered, the user kept. The
	// password may hold any character a URL's userinfo can (Relay's class
	// is narrower and lets "p!ss" through).
	urlPasswordRE = regexp.MustCompile(`\b((?:[a-z0-9+-]+:)?//[a-zA-Z0-9%_.+-]+:)([^\s/?#@'"<>\[\]]+)@`)
	// urlAuthRE is Relay's @urlauth: userinfo without a password (a token,
	// a DSN key) is filtered whole.
	urlAuthRE = regexp.MustCompile(`\b((?:[a-z0-9+-]+:)?//)([a-zA-Z0-9%_.-]+(?::[a-zA-Z0-9%_.-]+)?)@`)
	// queryParamRE is one key=value of a query string inside a URL or a
	// message ("?a=1&password=x").
	queryParamRE = regexp.MustCompile(`([?&;])([^?&;=#\s'"<>]+)=([^&;#\s'"<>]*)`)
	userPathRE   = regexp.MustCompile(`(?i)((?:\b(?:[a-zA-Z]:[\\/])?(?:users|home|documents and settings|[^/\\]+[/\\]profiles)[\\/])|(?:/(?:home|users)/))([^/\\]+)`)
	usSSNRE      = regexp.MustCompile(`\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b`)
	bearerRE     = regexp.MustCompile(`(?i)\b(bearer\s+)([A-Za-z0-9._~+/=-]+)`)
	emailRE      = regexp.MustCompile(`\b[a-zA-Z0-9.!#$%&'*+/=?^_` + "`" + `{|}~-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*\b`)
	ipv4RE       = regexp.MustCompile(`\b(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\b`)
	ipv6RE       = regexp.MustCompile(`(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b|\b(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4}\b|::ffff:(?:\d{1,3}\.){3}\d{1,3}\b|(?:^|[\s\[(=,;])::1\b`)
)

func digits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

// String scrubs the patterns out of one value. Cheap tests guard each
// regular expression, since most strings match none.
func (s *Scrubber) String(v string) string {
	if v == "" {
		return v
	}
	v = s.urlSecrets(v)
	if s.patterns {
		n := digits(v)
		if n >= 13 {
			v = creditCardRE.ReplaceAllString(v, Filtered)
		}
		if n >= 9 && strings.IndexByte(v, '-') >= 0 {
			v = usSSNRE.ReplaceAllString(v, Filtered)
		}
		if strings.Contains(v, "-----BEGIN") {
			v = pemKeyRE.ReplaceAllString(v, "${1}"+Filtered+"${3}")
		}
		if strings.ContainsAny(v, `/\`) && (containsFold(v, "users") || containsFold(v, "home") || containsFold(v, "profiles") || containsFold(v, "documents and settings")) {
			v = userPathRE.ReplaceAllString(v, "${1}"+Filtered)
		}
		if containsFold(v, "bearer") {
			v = bearerRE.ReplaceAllString(v, "${1}"+Filtered)
		}
	}
	return s.ip(v)
}

// urlSecrets filters the secrets a URL carries, wherever the URL is (a
// request's or a breadcrumb's url, a message, an exception value): the
// password of user:password@ (Relay's @urlauth:legacy), userinfo without a
// password, and the value of every query parameter whose key is sensitive
// ("?user=bob&password=x" becomes "?user=bob&password=[Filtered]"). The rest
// of the URL is kept.
func (s *Scrubber) urlSecrets(v string) string {
	if s.patterns && strings.Contains(v, "//") && strings.IndexByte(v, '@') >= 0 {
		v = urlPasswordRE.ReplaceAllString(v, "${1}"+Filtered+"@")
		v = urlAuthRE.ReplaceAllString(v, "${1}"+Filtered+"@")
	}
	if len(s.keys) > 0 && strings.IndexByte(v, '=') >= 0 && strings.ContainsAny(v, "?&;") && s.mayHaveSensitiveKey(v) {
		v = queryParamRE.ReplaceAllStringFunc(v, func(m string) string {
			k, val, _ := strings.Cut(m[1:], "=")
			if uk, err := url.QueryUnescape(k); err == nil {
				k = uk
			}
			if val == "" || val == Filtered || !s.sensitiveKey(k) {
				return m
			}
			return m[:len(m)-len(val)] + Filtered
		})
	}
	return v
}

// mayHaveSensitiveKey is urlSecrets' prescan: a query parameter can only
// be sensitive if its key holds a sensitive word, so a value without one
// (most lines of code that have a '=' and a ';') skips the expression.
// Percent-escapes and '+' can spell a word, and lowercasing other than
// ASCII can make one, so values with them take the full path.
func (s *Scrubber) mayHaveSensitiveKey(v string) bool {
	if s.keyWords == nil || strings.ContainsAny(v, "%+") || !isASCII(v) {
		return true
	}
	return hasWord(s.keyWords, v)
}

func (s *Scrubber) ip(v string) string {
	if !s.replaceIP {
		return v
	}
	if strings.IndexByte(v, '.') >= 0 && digits(v) >= 4 {
		v = ipv4RE.ReplaceAllString(v, "[ip]")
	}
	if strings.Count(v, ":") >= 2 {
		v = ipv6RE.ReplaceAllStringFunc(v, func(m string) string {
			// Keep a leading delimiter matched by the ::1 form.
			if i := strings.Index(m, "::1"); i > 0 && len(m) == i+3 {
				return m[:i] + "[ip]"
			}
			return "[ip]"
		})
	}
	return v
}

// replaceOnly is for the fields Relay keeps readable (the formatted
// message): values are replaced by their kind, never filtered whole.
func (s *Scrubber) replaceOnly(v string) string {
	if s.patterns && v != "" {
		if strings.IndexByte(v, '@') >= 0 {
			v = emailRE.ReplaceAllString(v, "[email]")
		}
		n := digits(v)
		if n >= 13 {
			v = creditCardRE.ReplaceAllString(v, "[creditcard]")
		}
		if n >= 9 && strings.IndexByte(v, '-') >= 0 {
			v = usSSNRE.ReplaceAllString(v, "[us-ssn]")
		}
		if containsFold(v, "bearer") {
			v = bearerRE.ReplaceAllString(v, "${1}[token]")
		}
	}
	return s.ip(v)
}

// pair scrubs a value under key: all of it when the key is sensitive.
func (s *Scrubber) pair(key, v string) string {
	if s.sensitiveKey(key) {
		return Filtered
	}
	return s.String(v)
}

// Raw scrubs a JSON value: every value under a sensitive key becomes
// [Filtered] (objects and lists whole), every string is scrubbed of the
// patterns. It returns raw unchanged when nothing was scrubbed, so that
// unchanged data keeps its bytes.
func (s *Scrubber) Raw(raw event.Raw) event.Raw {
	if len(raw) == 0 || !s.Active() || !s.mayMatch(raw) {
		return raw
	}
	var v any
	dec := gojson.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	nv, changed := s.walk(v, 0)
	if !changed {
		return raw
	}
	out, err := gojson.Marshal(nv)
	if err != nil {
		return raw
	}
	return out
}

// mayMatch is a cheap necessary condition for Raw to change anything:
// most context, extra and breadcrumb data has no sensitive key and
// nothing a pattern could match, and is then not decoded at all.
func (s *Scrubber) mayMatch(b []byte) bool {
	if s.words == nil || !isASCII(b) {
		return s.mayMatchUnicode(b)
	}
	if hasWord(s.words, b) {
		return true
	}
	if s.patterns {
		if longestDigitRun(b) >= 13 || hasSSNShape(b) || bytes.Contains(b, []byte("//")) && bytes.IndexByte(b, '@') >= 0 {
			return true
		}
		if bytes.IndexAny(b, `/\`) >= 0 && hasWord(s.pathWords, b) {
			return true
		}
	}
	return s.replaceIP && (bytes.IndexByte(b, '.') >= 0 && digitsBytes(b) >= 4 || bytes.Count(b, []byte(":")) >= 2)
}

// mayMatchUnicode is mayMatch for any text: lowercased with Unicode's
// rules, as String's matching is.
func (s *Scrubber) mayMatchUnicode(b []byte) bool {
	lb := b
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			lb = bytes.ToLower(b)
			break
		}
	}
	for _, w := range s.keys {
		if bytes.Contains(lb, []byte(w)) {
			return true
		}
	}
	if s.patterns {
		if longestDigitRun(b) >= 13 || hasSSNShape(b) || bytes.Contains(lb, []byte("-----begin")) ||
			bytes.Contains(lb, []byte("bearer")) || bytes.Contains(b, []byte("//")) && bytes.IndexByte(b, '@') >= 0 {
			return true
		}
		if bytes.IndexAny(b, `/\`) >= 0 && (bytes.Contains(lb, []byte("users")) || bytes.Contains(lb, []byte("home")) ||
			bytes.Contains(lb, []byte("profiles")) || bytes.Contains(lb, []byte("documents and settings"))) {
			return true
		}
	}
	if s.replaceIP && (bytes.IndexByte(b, '.') >= 0 && digits(string(b)) >= 4 || bytes.Count(b, []byte(":")) >= 2) {
		return true
	}
	return false
}

// longestDigitRun counts the digits of the longest run of digits, spaces
// and dashes: a card number needs 13.
func longestDigitRun(b []byte) int {
	best, n := 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n++
			best = max(best, n)
		case c == ' ' || c == '-' || c == '\t':
		default:
			n = 0
		}
	}
	return best
}

// hasSSNShape reports a "ddd-dd-dddd" anywhere.
func hasSSNShape(b []byte) bool {
	isD := func(i int) bool { return i >= 0 && i < len(b) && b[i] >= '0' && b[i] <= '9' }
	for i := 3; i+7 < len(b); i++ {
		if b[i] == '-' && b[i+3] == '-' && isD(i-1) && isD(i-2) && isD(i-3) && isD(i+1) && isD(i+2) &&
			isD(i+4) && isD(i+5) && isD(i+6) && isD(i+7) {
			return true
		}
	}
	return false
}

// maxDepth bounds recursion on hostile input; deeper values are filtered.
const maxDepth = 64

func (s *Scrubber) walk(v any, depth int) (any, bool) {
	if depth > maxDepth {
		return Filtered, true
	}
	switch t := v.(type) {
	case string:
		n := s.String(t)
		return n, n != t
	case map[string]any:
		changed := false
		for k, val := range t {
			if s.safe[strings.ToLower(k)] {
				continue
			}
			if s.sensitiveKey(k) {
				if str, ok := val.(string); !ok || str != Filtered {
					t[k], changed = Filtered, true
				}
				continue
			}
			if nv, c := s.walk(val, depth+1); c {
				t[k], changed = nv, true
			}
		}
		return t, changed
	case []any:
		changed := false
		for i, val := range t {
			if nv, c := s.walk(val, depth+1); c {
				t[i], changed = nv, true
			}
		}
		return t, changed
	}
	return v, false
}

// filterAll replaces every value of a JSON object (or the whole value) by
// [Filtered]: for cookies, which are credentials by nature.
func filterAll(raw event.Raw) event.Raw {
	if len(raw) == 0 || string(raw) == "null" {
		return raw
	}
	var m map[string]any
	if gojson.Unmarshal(raw, &m) == nil {
		for k := range m {
			m[k] = Filtered
		}
		out, _ := gojson.Marshal(m)
		return out
	}
	var pairs [][]any
	if gojson.Unmarshal(raw, &pairs) == nil {
		for _, p := range pairs {
			if len(p) == 2 {
				p[1] = Filtered
			}
		}
		out, _ := gojson.Marshal(pairs)
		return out
	}
	return event.Raw(`"` + Filtered + `"`)
}

// Event scrubs e in place. It runs after normalization and before the
// event is grouped and stored, as Relay scrubs before Sentry groups.
//
// As in Relay, exception values, frame file names and the user agent
// are left alone (the formatted message gets only its e-mail addresses,
// card numbers, social security numbers and bearer tokens replaced),
// except that IP scrubbing, when on, reaches them too, and that the
// secrets of URLs (a password in user:password@, a sensitive query
// parameter) are filtered in exception values and the formatted message
// as everywhere else.
func (s *Scrubber) Event(e *event.Event) {
	if !s.Active() {
		return
	}
	for _, m := range []*event.Message{e.LogEntry, e.Message} {
		if m == nil {
			continue
		}
		m.Message = s.String(m.Message)
		m.Formatted = s.replaceOnly(s.urlSecrets(m.Formatted))
		m.Params = s.Raw(m.Params)
	}
	e.Transaction = s.String(e.Transaction)
	e.Culprit = s.String(e.Culprit)
	e.ServerName = s.String(e.ServerName)
	if e.Exception != nil {
		for i := range e.Exception.Values {
			ex := &e.Exception.Values[i]
			ex.Value = event.FlexString(s.ip(s.urlSecrets(string(ex.Value))))
			s.stacktrace(ex.Stacktrace)
			s.stacktrace(ex.RawStack)
			if ex.Mechanism != nil {
				ex.Mechanism.Data = s.Raw(ex.Mechanism.Data)
			}
		}
	}
	s.stacktrace(e.Stacktrace)
	if e.Threads != nil {
		for i := range e.Threads.Values {
			s.stacktrace(e.Threads.Values[i].Stacktrace)
		}
	}
	if e.Breadcrumbs != nil {
		for i := range e.Breadcrumbs.Values {
			b := &e.Breadcrumbs.Values[i]
			b.Message = s.String(b.Message)
			b.Data = s.Raw(b.Data)
		}
	}
	for i := range e.Tags {
		e.Tags[i][1] = s.pair(e.Tags[i][0], e.Tags[i][1])
	}
	if u := e.User; u != nil {
		u.ID = event.FlexString(s.String(string(u.ID)))
		u.Username = event.FlexString(s.String(string(u.Username)))
		u.Name = s.String(u.Name)
		u.Data = s.Raw(u.Data)
		if s.cfg.ScrubIPAddresses {
			u.IPAddress = ""
			u.Geo = nil
		}
	}
	if r := e.Request; r != nil {
		r.URL = s.String(r.URL)
		r.QueryString = s.queryString(r.QueryString)
		r.Data = s.Raw(r.Data)
		r.Env = s.Raw(r.Env)
		if s.cfg.ScrubIPAddresses {
			r.Env = dropKey(r.Env, "REMOTE_ADDR")
		}
		if s.patterns {
			r.Cookies = filterAll(r.Cookies)
		} else {
			r.Cookies = s.Raw(r.Cookies)
		}
		for i := range r.Headers {
			h := &r.Headers[i]
			if strings.EqualFold(h[0], "User-Agent") {
				continue
			}
			h[1] = s.pair(h[0], h[1])
		}
	}
	for k, v := range e.Extra {
		if s.sensitiveKey(k) {
			e.Extra[k] = event.Raw(`"` + Filtered + `"`)
		} else {
			e.Extra[k] = s.Raw(v)
		}
	}
	for k, v := range e.Contexts {
		e.Contexts[k] = s.Raw(v)
	}
}

func (s *Scrubber) stacktrace(st *event.Stacktrace) {
	if st == nil {
		return
	}
	for i := range st.Frames {
		f := &st.Frames[i]
		f.Vars = s.Raw(f.Vars)
		f.ContextLine = s.String(f.ContextLine)
		for j := range f.PreContext {
			f.PreContext[j] = s.String(f.PreContext[j])
		}
		for j := range f.PostContext {
			f.PostContext[j] = s.String(f.PostContext[j])
		}
	}
}

// queryString scrubs a request's query string by key, as Relay does after
// turning it into pairs: "a=1&password=x" becomes
// [["a","1"],["password","[Filtered]"]] (the API renders pairs anyway).
func (s *Scrubber) queryString(raw event.Raw) event.Raw {
	if len(raw) == 0 || !s.Active() {
		return raw
	}
	var pairs [][2]string
	var str string
	switch {
	case gojson.Unmarshal(raw, &str) == nil:
		for _, part := range strings.Split(strings.TrimPrefix(str, "?"), "&") {
			if part == "" {
				continue
			}
			k, v, _ := strings.Cut(part, "=")
			if uk, err := url.QueryUnescape(k); err == nil {
				k = uk
			}
			if uv, err := url.QueryUnescape(v); err == nil {
				v = uv
			}
			pairs = append(pairs, [2]string{k, v})
		}
	case gojson.Unmarshal(raw, &pairs) == nil:
	default:
		return s.Raw(raw) // an object: keys are keys
	}
	for i := range pairs {
		pairs[i][1] = s.pair(pairs[i][0], pairs[i][1])
	}
	out, err := gojson.Marshal(pairs)
	if err != nil {
		return raw
	}
	return out
}

func dropKey(raw event.Raw, key string) event.Raw {
	if len(raw) == 0 {
		return raw
	}
	var m map[string]event.Raw
	if gojson.Unmarshal(raw, &m) != nil {
		return raw
	}
	if _, ok := m[key]; !ok {
		return raw
	}
	delete(m, key)
	out, _ := gojson.Marshal(m)
	return out
}
