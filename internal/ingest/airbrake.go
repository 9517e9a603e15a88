package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/faultline/faultline/internal/airbrake"
	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/limits"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/route"
)

// Airbrake's notifier API, served beside Sentry's endpoints with the same
// keys (a project's public DSN key is its Airbrake project key), limits and
// queue. A notice is queued as it arrived and becomes an event in the
// worker, like a Sentry event. Answers and refusals are Airbrake's: 201
// {"id","url"} for a notice, {"message"} bodies, 429 with X-RateLimit-Delay
// (seconds), which the notifiers obey.

// AirbrakeConfig configures the Airbrake endpoints.
type AirbrakeConfig struct {
	// PublicURL is how people reach Faultline (e.g. https://faultline.example.com);
	// the link a notice's answer carries is built from it.
	PublicURL string
}

// Validate checks the configuration.
func (c *AirbrakeConfig) Validate() error {
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("ingest: public URL %q must be like http://host:port", c.PublicURL)
	}
	return nil
}

// Orgs finds organizations, for the links notices are answered with.
type Orgs interface {
	OrganizationByID(id uint64) (*meta.Organization, bool)
}

// Kinds of performance statistics the notifiers post; each is counted.
var statsKinds = []string{"routes-stats", "routes-breakdowns", "queries-stats", "queues-stats"}

// maxStatsSize bounds a performance statistics body.
const maxStatsSize = 1 << 20

// Airbrake serves Airbrake's notifier API. It shares its Handler's keys,
// queue and admission limit.
type Airbrake struct {
	h    *Handler
	cfg  AirbrakeConfig
	orgs Orgs
	// stats counts accepted statistics posts by kind. The map is filled
	// once by NewAirbrake and only read afterwards.
	stats map[string]*atomic.Int64
}

// NewAirbrake returns the Airbrake endpoints of h.
func NewAirbrake(cfg AirbrakeConfig, h *Handler, orgs Orgs) (*Airbrake, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Airbrake{h: h, cfg: cfg, orgs: orgs, stats: map[string]*atomic.Int64{}}
	for _, k := range statsKinds {
		a.stats[k] = new(atomic.Int64)
	}
	return a, nil
}

// Routes returns the Airbrake routes, for the route table.
func (a *Airbrake) Routes() []route.Route {
	var rs []route.Route
	add := func(method, path string, h http.Handler, name string) {
		rs = append(rs, route.Route{Method: method, Path: path, Handler: h, Auth: route.DSNKey,
			Tenant: route.TenantProject, Name: name})
		if method == http.MethodPost {
			rs = append(rs, route.Route{Method: http.MethodOptions, Path: path, Handler: http.HandlerFunc(a.preflight),
				Auth: route.Public, Name: "CORS preflight"})
		}
	}
	notice := a.wrap(a.notice, a.authenticateV3, false)
	add("POST", "/api/v3/projects/{project_id}/notices", notice, "Airbrake notice")
	add("POST", "/api/v3/projects/{project_id}/create-notice", notice, "Airbrake notice")
	v2 := a.wrap(a.noticeV2, a.authenticateV2, true)
	add("POST", "/notifier_api/v2/notices", v2, "Airbrake XML notice")
	rs = append(rs, route.Route{Method: "POST", Path: "/notifier_api/v2/notices/", Handler: v2, Auth: route.DSNKey,
		Tenant: route.TenantProject, Name: "Airbrake XML notice"})
	add("POST", "/api/v4/projects/{project_id}/deploys", a.wrap(a.deploy, a.authenticateV3, false), "Airbrake deploy")
	for _, k := range statsKinds {
		// The docs say PUT, @airbrake/node sends POST.
		h := a.wrap(a.statsHandler(k), a.authenticateV3, false)
		add("POST", "/api/v5/projects/{project_id}/"+k, h, "Airbrake "+k)
		add("PUT", "/api/v5/projects/{project_id}/"+k, h, "Airbrake "+k)
	}
	return rs
}

// Stats returns how many statistics posts of each kind were accepted.
func (a *Airbrake) Stats() map[string]int64 {
	out := make(map[string]int64, len(a.stats))
	for k, v := range a.stats {
		out[k] = v.Load()
	}
	return out
}

// abReply is a successful answer.
type abReply struct {
	status      int
	contentType string
	body        []byte
}

func abJSON(status int, v any) *abReply {
	b, _ := json.Marshal(v) // maps of strings always encode
	return &abReply{status: status, contentType: "application/json", body: b}
}

type airbrakeEndpoint func(ctx context.Context, r *http.Request, req *request) (*abReply, error)

// wrap admits a request as Sentry's endpoints do (the per-client cap,
// then auth, which reads no body but a bounded peek, then a slot shared
// with them), runs fn and writes its answer or its refusal in Airbrake's
// shape: {"message": ...}, or for the v2 XML API
// <errors><error>...</error></errors>.
func (a *Airbrake) wrap(fn airbrakeEndpoint, auth func(context.Context, *http.Request, *request) error, xmlErrors bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.cors(w, r)
		ctx, cancel := context.WithTimeout(r.Context(), a.h.cfg.Timeout)
		defer cancel()
		req := &request{received: a.h.now().UTC(), rc: http.NewResponseController(w)}
		defer func() { envelope.Release(req.decoded); a.h.uncharge(req) }()
		refuse := func(err error) {
			var e *Error
			if !errors.As(err, &e) {
				a.h.log.Error("airbrake ingest failed", "err", err, "project_id", req.projectID)
				e = fail(http.StatusInternalServerError, "internal error")
			}
			writeAirbrakeError(w, e, xmlErrors)
		}
		addr := a.h.admissionKey(r)
		if !a.h.clients.acquire(addr) {
			refuseEarly(w)
			refuse(tooManyFromClient())
			return
		}
		defer a.h.clients.release(addr)
		if err := auth(ctx, r, req); err != nil {
			if !req.bodyDone {
				refuseEarly(w)
			}
			refuse(err)
			return
		}
		if !a.h.acquire() {
			refuseEarly(w)
			refuse(overloaded())
			return
		}
		defer func() { <-a.h.inFlight }()
		rep, err := fn(ctx, r, req)
		if err != nil {
			refuse(err)
			return
		}
		if rep.contentType != "" {
			w.Header().Set("Content-Type", rep.contentType)
		}
		w.WriteHeader(rep.status)
		w.Write(rep.body) //nolint:errcheck
	})
}

func writeAirbrakeError(w http.ResponseWriter, e *Error, xmlErrors bool) {
	for k, v := range e.Headers {
		if !strings.HasPrefix(k, "X-Sentry") {
			w.Header().Set(k, v)
		}
	}
	if e.Status == http.StatusTooManyRequests {
		delay := e.Headers["Retry-After"]
		if _, err := strconv.Atoi(delay); err != nil {
			delay = "10"
		}
		w.Header().Set("X-RateLimit-Delay", delay)
	}
	if xmlErrors {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(e.Status)
		io.WriteString(w, xml.Header+"<errors><error>"+xmlText(e.Detail)+"</error></errors>\n") //nolint:errcheck
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]string{"message": e.Detail}) //nolint:errcheck
}

// cors lets browser notifiers (@airbrake/browser) read the answers.
func (a *Airbrake) cors(w http.ResponseWriter, r *http.Request) {
	a.h.cors(w, r)
	w.Header().Set("Access-Control-Expose-Headers", "X-RateLimit-Delay, Retry-After")
}

func (a *Airbrake) preflight(w http.ResponseWriter, r *http.Request) {
	a.cors(w, r)
	hd := w.Header()
	hd.Set("Access-Control-Allow-Methods", "POST, PUT, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "Content-Type, Content-Encoding, Authorization, X-Airbrake-Token, Origin, Accept")
	hd.Set("Access-Control-Max-Age", "3600")
	w.WriteHeader(http.StatusNoContent)
}

// notice handles POST /api/v3/projects/{project_id}/notices (and
// create-notice): answer 201 {"id": event id, "url": link to the event}.
func (a *Airbrake) notice(ctx context.Context, r *http.Request, req *request) (*abReply, error) {
	if err := a.read(ctx, r, req, airbrake.MaxNoticeSize); err != nil {
		return nil, err
	}
	n, err := airbrake.ParseNotice(req.body)
	if err != nil {
		return nil, noticeError(err, http.StatusBadRequest)
	}
	req.auth.Client = notifierOf(n)
	id := newEventID()
	if ls := a.h.admit(req, limits.CategoryError, 1); ls != nil {
		return nil, limitedError(ls)
	}
	if err := a.h.publish(ctx, a.h.message(r, req, queue.KindAirbrake, id), req); err != nil {
		return nil, err
	}
	return abJSON(http.StatusCreated, map[string]string{"id": id, "url": a.eventURL(req.project, id)}), nil
}

// noticeV2 handles the legacy XML API, POST /notifier_api/v2/notices: the
// project key is in the notice; the answer is 200 with
// <notice><id/><url/></notice>, refusals are 422 as Airbrake's were.
func (a *Airbrake) noticeV2(ctx context.Context, r *http.Request, req *request) (*abReply, error) {
	if err := a.read(ctx, r, req, airbrake.MaxNoticeSize); err != nil {
		return nil, err
	}
	n, err := airbrake.ParseNoticeXML(req.body)
	if err != nil {
		return nil, noticeError(err, http.StatusUnprocessableEntity)
	}
	if n.APIKey != req.key.Public {
		// The peek found another key than the parser: never trust the
		// notice with a key that was not checked.
		return nil, fail(http.StatusUnprocessableEntity, "the notice's api-key is ambiguous")
	}
	req.auth.Client = notifierOf(n)
	id := newEventID()
	if ls := a.h.admit(req, limits.CategoryError, 1); ls != nil {
		return nil, limitedError(ls)
	}
	if err := a.h.publish(ctx, a.h.message(r, req, queue.KindAirbrakeXML, id), req); err != nil {
		return nil, err
	}
	body := xml.Header + "<notice>\n  <id>" + id + "</id>\n  <url>" + xmlText(a.eventURL(req.project, id)) + "</url>\n</notice>\n"
	return &abReply{status: http.StatusOK, contentType: "application/xml", body: []byte(body)}, nil
}

// deploy handles POST /api/v4/projects/{project_id}/deploys: the deploy is
// queued and recorded by a worker; the answer is 201 {"id": deploy id}.
func (a *Airbrake) deploy(ctx context.Context, r *http.Request, req *request) (*abReply, error) {
	if err := a.read(ctx, r, req, airbrake.MaxDeploySize); err != nil {
		return nil, err
	}
	if _, err := airbrake.ParseDeploy(req.body); err != nil {
		return nil, noticeError(err, http.StatusBadRequest)
	}
	id := newEventID()
	if err := a.h.publish(ctx, a.h.message(r, req, queue.KindAirbrakeDeploy, id), req); err != nil {
		return nil, err
	}
	return abJSON(http.StatusCreated, map[string]string{"id": id}), nil
}

// statsHandler accepts the performance statistics notifiers post with 204
// and counts them, so that notifiers with performance monitoring on work
// without errors. Faultline does not store them.
func (a *Airbrake) statsHandler(kind string) airbrakeEndpoint {
	counter := a.stats[kind]
	return func(ctx context.Context, r *http.Request, req *request) (*abReply, error) {
		if err := a.read(ctx, r, req, maxStatsSize); err != nil {
			return nil, err
		}
		if err := envelope.ValidateJSON(req.body, envelope.MaxJSONDepth); err != nil {
			return nil, fail(http.StatusBadRequest, "invalid %s: %v", kind, err)
		}
		counter.Add(1)
		a.h.log.Debug("airbrake statistics received", "kind", kind, "project_id", req.projectID, "bytes", len(req.body))
		return &abReply{status: http.StatusNoContent}, nil
	}
}

// authenticateV3 checks the key of a /api/v3, v4 or v5 request against the
// project in its URL. The key comes as "Authorization: Bearer KEY" (gobrake,
// pybrake), as the X-Airbrake-Token header, or as ?key=KEY (airbrake-js);
// several are accepted if they agree.
func (a *Airbrake) authenticateV3(_ context.Context, r *http.Request, req *request) error {
	pid, err := strconv.ParseUint(r.PathValue("project_id"), 10, 64)
	if err != nil {
		return fail(http.StatusBadRequest, "invalid project id in the URL")
	}
	req.projectID = pid
	var found []string
	if h := strings.TrimSpace(r.Header.Get("Authorization")); h != "" {
		if scheme, tok, _ := strings.Cut(h, " "); strings.EqualFold(scheme, "Bearer") {
			found = append(found, strings.TrimSpace(tok))
		}
	}
	if v := strings.TrimSpace(r.Header.Get("X-Airbrake-Token")); v != "" {
		found = append(found, v)
	}
	if v := strings.TrimSpace(r.URL.Query().Get("key")); v != "" {
		found = append(found, v)
	}
	if len(found) == 0 {
		return fail(http.StatusUnauthorized, "missing project key: send it as Authorization: Bearer KEY, X-Airbrake-Token: KEY or ?key=KEY")
	}
	for _, k := range found[1:] {
		if k != found[0] {
			return fail(http.StatusUnauthorized, "the request carries different project keys")
		}
	}
	return a.authenticate(r, req, found[0], true, http.StatusUnauthorized)
}

// authenticate checks a project key; with fromURL the key must belong to the
// project in the URL, otherwise the key names the project. Airbrake's
// notifiers recognize 401 (422 for v2) as a wrong project id or key.
func (a *Airbrake) authenticate(r *http.Request, req *request, pub string, fromURL bool, badKey int) error {
	key, project, ok := a.h.deps.Keys.KeyByPublic(pub)
	if !ok || (fromURL && key.ProjectID != req.projectID) {
		return fail(badKey, "invalid project id or key")
	}
	if !key.Active {
		return fail(badKey, "the project key is disabled")
	}
	if project.Status != meta.ProjectActive {
		return fail(http.StatusForbidden, "the project is disabled")
	}
	if !originPermitted(r, project.AllowedOrigins) {
		return fail(http.StatusForbidden, "invalid origin %.100q", r.Header.Get("Origin"))
	}
	req.projectID, req.key, req.project = project.ID, key, project
	return nil
}

// authenticateV2 finds the key of a v2 XML notice, which is inside the
// notice: only a bounded prefix of the body is read and inflated to find
// its <api-key>, then checked before the rest is read.
func (a *Airbrake) authenticateV2(ctx context.Context, r *http.Request, req *request) error {
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if len(enc) > maxEncodingLen {
		return fail(http.StatusBadRequest, "Content-Encoding is longer than %d bytes", maxEncodingLen)
	}
	if r.ContentLength > airbrake.MaxNoticeSize {
		return fail(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", airbrake.MaxNoticeSize)
	}
	head, complete, err := a.h.peek(ctx, r, req, enc)
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case err != nil:
		return fail(http.StatusUnprocessableEntity, "could not decode the notice: %v", err)
	}
	key := xmlAPIKey(head)
	if key == "" {
		if complete {
			// A small body was read whole: say what is wrong with it.
			if _, err := airbrake.ParseNoticeXML(head); err != nil {
				return noticeError(err, http.StatusUnprocessableEntity)
			}
		}
		return fail(http.StatusUnprocessableEntity, "the notice has no api-key")
	}
	return a.authenticate(r, req, key, false, http.StatusUnprocessableEntity)
}

// xmlAPIKey finds the first <api-key>KEY</api-key> of an XML notice's
// start, trimmed; "" if there is none or it is not a plausible key.
func xmlAPIKey(head []byte) string {
	const open, closing = "<api-key>", "</api-key>"
	i := bytes.Index(head, []byte(open))
	if i < 0 {
		return ""
	}
	rest := head[i+len(open):]
	j := bytes.Index(rest, []byte(closing))
	if j < 0 || j > 512 {
		return ""
	}
	key := strings.TrimSpace(string(rest[:j]))
	for k := 0; k < len(key); k++ {
		if key[k] <= ' ' || key[k] > '~' || key[k] == '<' || key[k] == '&' {
			return ""
		}
	}
	return key
}

// read reads and decompresses the body within limit, as Sentry's
// endpoints do.
func (a *Airbrake) read(ctx context.Context, r *http.Request, req *request, limit int) error {
	return a.h.receive(ctx, r, req, limit, limit)
}

// xmlText escapes s for XML character data.
func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) //nolint:errcheck // a Builder does not fail
	return b.String()
}

// noticeError maps a parse error to its status: 413 when too large, else
// invalid (400, or 422 for the v2 API).
func noticeError(err error, invalid int) error {
	if errors.Is(err, airbrake.ErrTooLarge) {
		return fail(http.StatusRequestEntityTooLarge, "%v", err)
	}
	return fail(invalid, "%v", err)
}

// notifierOf names the notifier as "name/version" for the queue's client
// header, as a Sentry SDK's sentry_client would be.
func notifierOf(n *airbrake.Notice) string {
	var nf struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	json.Unmarshal(n.Context["notifier"], &nf) //nolint:errcheck // a notifier of another shape is unnamed
	name := nf.Name
	if nf.Version != "" {
		name += "/" + nf.Version
	}
	// It travels in a message header: printable ASCII only, bounded.
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, name)
	if name == "" || len(name) > 200 {
		return "airbrake"
	}
	return name
}

// eventURL links to the event in Faultline's web UI. The issue is not
// known yet (a worker assigns it), so the link names the event, as
// Sentry's /organizations/{org}/projects/{project}/events/{id}/ does.
func (a *Airbrake) eventURL(p *meta.Project, eventID string) string {
	org := strconv.FormatUint(p.OrgID, 10)
	if o, ok := a.orgs.OrganizationByID(p.OrgID); ok {
		org = o.Slug
	}
	return a.cfg.PublicURL + "/organizations/" + url.PathEscape(org) + "/projects/" + url.PathEscape(p.Slug) + "/events/" + eventID + "/"
}
