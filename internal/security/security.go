// Package security turns the reports browsers send to Sentry's security
// endpoint (Content-Security-Policy violations, HTTP Public Key Pinning,
// Expect-CT and Expect-Staple failures) into Sentry events, titled,
// tagged and grouped the way Relay and Sentry do it
// (relay-event-schema security_report.rs, sentry/grouping/strategies/
// security.py), so that each kind of violation becomes one issue.
//
// The input is attacker-controlled JSON: it is bounded by the caller (1 MiB,
// Sentry's event limit), decoded with encoding/json, and every string that
// reaches a title or a tag is cut to a sane length.
package security

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Event types, as Sentry names them.
const (
	TypeCSP          = "csp"
	TypeHPKP         = "hpkp"
	TypeExpectCT     = "expectct"
	TypeExpectStaple = "expectstaple"
)

// ErrInvalid means the body is not a security report Faultline understands.
var ErrInvalid = errors.New("invalid security report")

// Request is what the endpoint knows about the request that carried the
// reports.
type Request struct {
	Release     string // ?sentry_release=
	Environment string // ?sentry_environment=
	Origin      string // Origin (or Referer) header
	UserAgent   string
}

// ContentTypeAllowed reports whether Relay accepts a request with this
// Content-Type on the security endpoint (others get 415):
// application/json, application/csp-report, application/expect-ct-report
// (also +json), application/expect-staple-report, and the Reporting API's
// application/reports+json.
func ContentTypeAllowed(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "application/json", "application/csp-report", "application/expect-ct-report",
		"application/expect-ct-report+json", "application/expect-staple-report", "application/reports+json":
		return true
	}
	return false
}

// Event is the Sentry event built from one report. Fields not set stay out
// of the JSON.
type Event struct {
	EventID      string          `json:"event_id,omitempty"`
	Type         string          `json:"type"`
	Level        string          `json:"level,omitempty"`
	LogEntry     logEntry        `json:"logentry"`
	Culprit      string          `json:"culprit,omitempty"`
	Tags         [][2]string     `json:"tags"`
	Request      *request        `json:"request,omitempty"`
	Release      string          `json:"release,omitempty"`
	Environment  string          `json:"environment,omitempty"`
	Fingerprint  []string        `json:"fingerprint"`
	CSP          json.RawMessage `json:"csp,omitempty"`
	HPKP         json.RawMessage `json:"hpkp,omitempty"`
	ExpectCT     json.RawMessage `json:"expectct,omitempty"`
	ExpectStaple json.RawMessage `json:"expectstaple,omitempty"`
}

type logEntry struct {
	Formatted string `json:"formatted"`
}

type request struct {
	URL     string      `json:"url,omitempty"`
	Headers [][2]string `json:"headers,omitempty"`
}

// maxField bounds the strings copied into titles, culprits and tags.
const maxField = 1024

// Parse reads a request body and returns one event per supported report:
// a single report object, or a Reporting API array of reports (each
// {"type": ..., "body": ...}) of which only "csp-violation" ones are
// supported. A body with no supported report returns ErrInvalid.
func Parse(body []byte, req Request) ([]Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrInvalid)
	}
	if body[0] == '[' {
		var reports []json.RawMessage
		if err := json.Unmarshal(body, &reports); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		var out []Event
		for _, r := range reports {
			if len(out) >= maxReports {
				break
			}
			ev, err := parseOne(r, req)
			if err != nil {
				continue // other report types share the endpoint
			}
			out = append(out, ev)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: no supported report in the batch", ErrInvalid)
		}
		return out, nil
	}
	ev, err := parseOne(body, req)
	if err != nil {
		return nil, err
	}
	return []Event{ev}, nil
}

// maxReports bounds the events made from one Reporting API batch.
const maxReports = 100

func parseOne(data []byte, req Request) (Event, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var (
		ev  Event
		err error
	)
	// Relay's SecurityReportType::from_json, in its order.
	switch {
	case top["csp-report"] != nil:
		ev, err = csp(top["csp-report"])
	case stringField(top, "type") == "csp-violation":
		ev, err = csp(top["body"])
	case top["type"] != nil:
		return Event{}, fmt.Errorf("%w: unsupported report type %.40q", ErrInvalid, stringField(top, "type"))
	case top["known-pins"] != nil:
		ev, err = hpkp(top, data)
	case top["expect-staple-report"] != nil:
		ev, err = hostReport(TypeExpectStaple, "Expect-Staple failed for '%s'", top["expect-staple-report"])
	case top["expect-ct-report"] != nil:
		ev, err = hostReport(TypeExpectCT, "Expect-CT failed for '%s'", top["expect-ct-report"])
	default:
		return Event{}, fmt.Errorf("%w: not a CSP, HPKP, Expect-CT or Expect-Staple report", ErrInvalid)
	}
	if err != nil {
		return Event{}, err
	}
	ev.Release, ev.Environment = clip(req.Release), clip(req.Environment)
	if req.Origin != "" || req.UserAgent != "" {
		if ev.Request == nil {
			ev.Request = &request{}
		}
		if req.Origin != "" {
			ev.Request.Headers = append(ev.Request.Headers, [2]string{"Origin", clip(req.Origin)})
		}
		if req.UserAgent != "" {
			ev.Request.Headers = append(ev.Request.Headers, [2]string{"User-Agent", clip(req.UserAgent)})
		}
	}
	return ev, nil
}

// cspReport is the inner part of a CSP report, in the spellings browsers
// use: CSP level 2 (kebab-case), the Reporting API (camelCase) and
// snake_case.
type cspReport struct {
	EffectiveDirective string
	BlockedURI         string
	DocumentURI        string
	OriginalPolicy     string
	Referrer           string
	StatusCode         *uint64
	ViolatedDirective  string
	SourceFile         string
	LineNumber         *uint64
	ColumnNumber       *uint64
	ScriptSample       string
	Disposition        string
	other              map[string]json.RawMessage
}

// cspAliases lists each field's spellings, first the one Sentry stores.
var cspAliases = map[string][]string{
	"effective_directive": {"effective_directive", "effective-directive", "effectiveDirective"},
	"blocked_uri":         {"blocked_uri", "blocked-uri", "blockedURL"},
	"document_uri":        {"document_uri", "document-uri", "documentURL"},
	"original_policy":     {"original_policy", "original-policy", "originalPolicy"},
	"referrer":            {"referrer"},
	"status_code":         {"status_code", "status-code", "statusCode"},
	"violated_directive":  {"violated_directive", "violated-directive", "violatedDirective"},
	"source_file":         {"source_file", "source-file", "sourceFile"},
	"line_number":         {"line_number", "line-number", "lineNumber"},
	"column_number":       {"column_number", "column-number", "columnNumber"},
	"script_sample":       {"script_sample", "script-sample", "scriptSample", "sample"},
	"disposition":         {"disposition"},
}

func readCSP(raw json.RawMessage) (cspReport, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return cspReport{}, fmt.Errorf("%w: csp report is not an object", ErrInvalid)
	}
	var r cspReport
	known := map[string]bool{}
	get := func(field string) json.RawMessage {
		for _, k := range cspAliases[field] {
			known[k] = true
		}
		for _, k := range cspAliases[field] {
			if v, ok := m[k]; ok && string(v) != "null" {
				return v
			}
		}
		return nil
	}
	var err error
	str := func(field string) string {
		v := get(field)
		if v == nil || err != nil {
			return ""
		}
		var s string
		if e := json.Unmarshal(v, &s); e != nil {
			err = fmt.Errorf("%w: csp %s is not a string", ErrInvalid, field)
		}
		return s
	}
	num := func(field string) *uint64 {
		v := get(field)
		if v == nil || err != nil {
			return nil
		}
		n, e := numOrString(v)
		if e != nil {
			err = fmt.Errorf("%w: csp %s is not a number", ErrInvalid, field)
			return nil
		}
		return &n
	}
	r.EffectiveDirective = str("effective_directive")
	r.BlockedURI = str("blocked_uri")
	if get("blocked_uri") == nil {
		r.BlockedURI = "self" // Relay's default
	}
	r.DocumentURI = str("document_uri")
	r.OriginalPolicy = str("original_policy")
	r.Referrer = str("referrer")
	r.StatusCode = num("status_code")
	r.ViolatedDirective = str("violated_directive")
	r.SourceFile = str("source_file")
	r.LineNumber = num("line_number")
	r.ColumnNumber = num("column_number")
	r.ScriptSample = str("script_sample")
	r.Disposition = str("disposition")
	if err != nil {
		return cspReport{}, err
	}
	r.other = map[string]json.RawMessage{}
	for k, v := range m {
		if !known[k] && len(r.other) < 32 {
			r.other[k] = v
		}
	}
	return r, nil
}

// numOrString reads an unsigned integer sent as a number or a string.
func numOrString(v json.RawMessage) (uint64, error) {
	s := string(v)
	if len(s) > 0 && s[0] == '"' {
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, err
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

// directives Relay knows; an effective directive outside this list makes
// the report invalid, as in Relay.
var directives = map[string]bool{
	"base-uri": true, "child-src": true, "connect-src": true, "default-src": true, "fenced-frame-src": true,
	"font-src": true, "form-action": true, "frame-ancestors": true, "frame-src": true, "img-src": true,
	"manifest-src": true, "media-src": true, "object-src": true, "plugin-types": true, "prefetch-src": true,
	"referrer": true, "script-src": true, "script-src-attr": true, "script-src-elem": true, "style-src": true,
	"style-src-elem": true, "style-src-attr": true, "upgrade-insecure-requests": true, "worker-src": true,
	"sandbox": true, "navigate-to": true, "report-uri": true, "report-to": true, "block-all-mixed-content": true,
	"require-sri-for": true, "require-trusted-types-for": true, "trusted-types": true,
}

// effectiveDirective is Relay's CspRaw::effective_directive: the first
// word of effective-directive, else of violated-directive (Firefox sends
// only the latter).
func (r *cspReport) effectiveDirective() (string, bool) {
	for _, d := range []string{r.EffectiveDirective, r.ViolatedDirective} {
		first, _, _ := strings.Cut(d, " ")
		if directives[first] {
			return first, true
		}
	}
	return "", false
}

func isLocal(uri string) bool { return uri == "" || uri == "self" || uri == "'self'" }

// schemeUsesHost lists the schemes Python's urlunsplit writes with "//".
var schemeUsesHost = map[string]bool{
	"ftp": true, "http": true, "gopher": true, "nntp": true, "telnet": true, "imap": true, "wais": true,
	"file": true, "mms": true, "https": true, "shttp": true, "snews": true, "prospero": true, "rtsp": true,
	"rtspu": true, "rsync": true, "svn": true, "svn+ssh": true, "sftp": true, "nfs": true, "git": true,
	"git+ssh": true, "ws": true, "wss": true,
}

func unsplit(scheme, host string) string {
	switch {
	case host != "" || schemeUsesHost[scheme]:
		return scheme + "://" + host
	case scheme != "":
		return scheme + ":" + host
	}
	return ""
}

// normalizeURI is Relay's normalize_uri: 'self' for local values, the host
// (and port) for http(s) URLs, "scheme://host" for others.
func normalizeURI(v string) string {
	if isLocal(v) {
		return "'self'"
	}
	if !strings.Contains(v, ":") {
		return unsplit(v, "")
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" {
		return v
	}
	scheme := strings.ToLower(u.Scheme)
	host := u.Hostname()
	out := host
	if scheme != "http" && scheme != "https" {
		out = unsplit(scheme, host)
	}
	if p := u.Port(); p != "" && !defaultPort(scheme, p) {
		out += ":" + p
	}
	return out
}

func defaultPort(scheme, port string) bool {
	return scheme == "http" && port == "80" || scheme == "https" && port == "443"
}

var inlineMessages = map[string]string{
	"child-src":       "Blocked inline 'child'",
	"connect-src":     "Blocked inline 'connect'",
	"font-src":        "Blocked inline 'font'",
	"img-src":         "Blocked inline 'image'",
	"manifest-src":    "Blocked inline 'manifest'",
	"media-src":       "Blocked inline 'media'",
	"object-src":      "Blocked inline 'object'",
	"script-src-attr": "Blocked unsafe 'script' element",
	"script-src-elem": "Blocked inline script attribute",
	"style-src":       "Blocked inline 'style'",
	"style-src-elem":  "Blocked 'style' or 'link' element",
	"style-src-attr":  "Blocked style attribute",
	"script-src":      "Blocked unsafe (eval() or inline) 'script'",
}

var fromMessages = map[string]string{
	"child-src":       "Blocked 'child' from '%s'",
	"connect-src":     "Blocked 'connect' from '%s'",
	"font-src":        "Blocked 'font' from '%s'",
	"form-action":     "Blocked 'form' action to '%s'",
	"img-src":         "Blocked 'image' from '%s'",
	"manifest-src":    "Blocked 'manifest' from '%s'",
	"media-src":       "Blocked 'media' from '%s'",
	"object-src":      "Blocked 'object' from '%s'",
	"script-src":      "Blocked 'script' from '%s'",
	"script-src-attr": "Blocked inline script attribute from '%s'",
	"script-src-elem": "Blocked 'script' from '%s'",
	"style-src":       "Blocked 'style' from '%s'",
	"style-src-elem":  "Blocked 'style' from '%s'",
	"style-src-attr":  "Blocked style attribute from '%s'",
}

// message is Relay's CspRaw::get_message.
func (r *cspReport) message(directive string) string {
	if directive == "script-src" {
		switch r.BlockedURI {
		case "inline":
			return "Blocked unsafe inline 'script'"
		case "eval":
			return "Blocked unsafe eval() 'script'"
		}
	}
	if isLocal(r.BlockedURI) {
		if m, ok := inlineMessages[directive]; ok {
			return m
		}
		return "Blocked inline '" + directive + "'"
	}
	uri := normalizeURI(r.BlockedURI)
	if f, ok := fromMessages[directive]; ok {
		return fmt.Sprintf(f, uri)
	}
	return "Blocked '" + directive + "' from '" + uri + "'"
}

// culprit is Relay's CspRaw::get_culprit: the violated directive with its
// sources normalized against the document's origin.
func (r *cspReport) culprit() string {
	bits := strings.Fields(r.ViolatedDirective)
	if len(bits) == 0 {
		return ""
	}
	doc := normalizeURI(r.DocumentURI)
	out := bits[0]
	for _, b := range bits[1:] {
		out += " " + r.normalizeValue(b, doc)
	}
	return out
}

func (r *cspReport) normalizeValue(v, doc string) string {
	switch v {
	case "'none'", "'self'", "'unsafe-inline'", "'unsafe-eval'":
		return v
	}
	for _, p := range []string{"data:", "mediastream:", "blob:", "filesystem:", "http:", "https:", "file:"} {
		if strings.HasPrefix(v, p) {
			if doc == normalizeURI(v) {
				return "'self'"
			}
			return v
		}
	}
	if v == doc {
		return "'self'"
	}
	scheme, _, found := strings.Cut(r.DocumentURI, ":")
	if !found || scheme == "http" || scheme == "https" {
		return v
	}
	return unsplit(scheme, v)
}

// localScriptViolation is Sentry's Csp.local_script_violation_type: for a
// script blocked from the page itself, which unsafe- keyword the violated
// directive names ("" if none).
func (r *cspReport) localScriptViolation(directive string) string {
	if r.ViolatedDirective == "" || directive != "script-src" || normalizeURI(r.BlockedURI) != "'self'" {
		return ""
	}
	switch {
	case strings.Contains(r.ViolatedDirective, "'unsafe-inline'"):
		return "unsafe-inline"
	case strings.Contains(r.ViolatedDirective, "'unsafe-eval'"):
		return "unsafe-eval"
	}
	return ""
}

func csp(raw json.RawMessage) (Event, error) {
	if raw == nil {
		return Event{}, fmt.Errorf("%w: csp report has no body", ErrInvalid)
	}
	r, err := readCSP(raw)
	if err != nil {
		return Event{}, err
	}
	directive, ok := r.effectiveDirective()
	if !ok {
		return Event{}, fmt.Errorf("%w: unknown csp directive %.40q", ErrInvalid, r.ViolatedDirective)
	}
	ev := Event{Type: TypeCSP, LogEntry: logEntry{clip(r.message(directive))}, Culprit: clip(r.culprit())}
	blocked := r.BlockedURI
	// Sentry's workaround for Stripe, which puts secrets in query strings.
	if strings.HasPrefix(blocked, "https://api.stripe.com/") {
		if i := strings.IndexAny(blocked, "#?"); i >= 0 {
			blocked = blocked[:i]
		}
	}
	ev.Tags = [][2]string{{"effective-directive", directive}, {"blocked-uri", clip(blocked)}}
	if u, err := url.Parse(r.BlockedURI); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != "" {
		ev.Tags = append(ev.Tags, [2]string{"blocked-host", clip(u.Hostname())})
	}
	if r.DocumentURI != "" || r.Referrer != "" {
		ev.Request = &request{URL: clip(r.DocumentURI)}
		if r.Referrer != "" {
			ev.Request.Headers = [][2]string{{"Referer", clip(r.Referrer)}}
		}
	}
	// Sentry groups CSP reports by directive and by the violation (for
	// inline scripts) or the normalized blocked URI.
	uri := normalizeURI(r.BlockedURI)
	if v := r.localScriptViolation(directive); v != "" {
		uri = "'" + v + "'"
	}
	ev.Fingerprint = []string{"csp", directive, clip(uri)}
	iface := map[string]any{"effective_directive": directive, "blocked_uri": r.BlockedURI,
		"violated_directive": r.ViolatedDirective}
	for k, v := range map[string]string{"document_uri": r.DocumentURI, "original_policy": r.OriginalPolicy,
		"referrer": r.Referrer, "source_file": r.SourceFile, "script_sample": r.ScriptSample, "disposition": r.Disposition} {
		if v != "" {
			iface[k] = v
		}
	}
	for k, v := range map[string]*uint64{"status_code": r.StatusCode, "line_number": r.LineNumber, "column_number": r.ColumnNumber} {
		if v != nil {
			iface[k] = *v
		}
	}
	for k, v := range r.other {
		iface[k] = v
	}
	if ev.CSP, err = json.Marshal(iface); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return ev, nil
}

// hostFields are the fields HPKP, Expect-CT and Expect-Staple reports
// share, in kebab-case as browsers send them.
type hostFields struct {
	Hostname          string   `json:"hostname"`
	Port              *int64   `json:"port"`
	IncludeSubdomains *bool    `json:"include-subdomains"`
	ResponseStatus    string   `json:"response-status"`
	CertStatus        string   `json:"cert-status"`
	KnownPins         []string `json:"known-pins"`
}

// snakeKeys copies a report object with its kebab-case keys in Sentry's
// snake_case, keeping at most 32 members.
func snakeKeys(raw json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		if len(out) >= 32 {
			break
		}
		out[strings.ReplaceAll(k, "-", "_")] = v
	}
	return json.Marshal(out)
}

// hostTags are the tags Relay gives the host-based reports.
func (h *hostFields) tags() [][2]string {
	tags := [][2]string{{"hostname", clip(h.Hostname)}}
	if h.Port != nil {
		tags = append(tags, [2]string{"port", strconv.FormatInt(*h.Port, 10)})
	}
	return tags
}

func hpkp(top map[string]json.RawMessage, raw []byte) (Event, error) {
	var h hostFields
	if err := json.Unmarshal(raw, &h); err != nil {
		return Event{}, fmt.Errorf("%w: hpkp: %v", ErrInvalid, err)
	}
	if _, ok := top["hostname"]; !ok {
		return Event{}, fmt.Errorf("%w: hpkp report has no hostname", ErrInvalid)
	}
	ev := Event{Type: TypeHPKP, LogEntry: logEntry{clip(fmt.Sprintf("Public key pinning validation failed for '%s'", h.Hostname))},
		Tags: h.tags(), Request: &request{URL: clip(h.Hostname)}, Fingerprint: []string{"hpkp", clip(h.Hostname)}}
	if h.IncludeSubdomains != nil {
		ev.Tags = append(ev.Tags, [2]string{"include-subdomains", strconv.FormatBool(*h.IncludeSubdomains)})
	}
	var err error
	if ev.HPKP, err = snakeKeys(raw); err != nil {
		return Event{}, fmt.Errorf("%w: hpkp: %v", ErrInvalid, err)
	}
	return ev, nil
}

// hostReport builds an Expect-CT or Expect-Staple event.
func hostReport(typ, format string, raw json.RawMessage) (Event, error) {
	var h hostFields
	if err := json.Unmarshal(raw, &h); err != nil {
		return Event{}, fmt.Errorf("%w: %s: %v", ErrInvalid, typ, err)
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(raw, &probe) != nil || probe["hostname"] == nil {
		return Event{}, fmt.Errorf("%w: %s report has no hostname", ErrInvalid, typ)
	}
	ev := Event{Type: typ, LogEntry: logEntry{clip(fmt.Sprintf(format, h.Hostname))}, Culprit: clip(h.Hostname),
		Tags: h.tags(), Request: &request{URL: clip(h.Hostname)}}
	// Sentry's salts are "expect-ct" and "expect-staple".
	salt := "expect-ct"
	if typ == TypeExpectStaple {
		salt = "expect-staple"
		if h.ResponseStatus != "" {
			ev.Tags = append(ev.Tags, [2]string{"response_status", clip(h.ResponseStatus)})
		}
		if h.CertStatus != "" {
			ev.Tags = append(ev.Tags, [2]string{"cert_status", clip(h.CertStatus)})
		}
	}
	ev.Fingerprint = []string{salt, clip(h.Hostname)}
	iface, err := snakeKeys(raw)
	if err != nil {
		return Event{}, fmt.Errorf("%w: %s: %v", ErrInvalid, typ, err)
	}
	if typ == TypeExpectCT {
		ev.ExpectCT = iface
	} else {
		ev.ExpectStaple = iface
	}
	return ev, nil
}

func stringField(m map[string]json.RawMessage, k string) string {
	var s string
	if v, ok := m[k]; ok {
		json.Unmarshal(v, &s) //nolint:errcheck // not a string: ""
	}
	return s
}

// clip bounds a string taken from a report.
func clip(s string) string {
	if len(s) <= maxField {
		return s
	}
	s = s[:maxField]
	for len(s) > 0 && s[len(s)-1]&0xc0 == 0x80 { // do not end inside a UTF-8 sequence
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xc0 {
		s = s[:len(s)-1]
	}
	return s
}
