// Package ingest is Faultline's Sentry-compatible ingestion endpoint. Each
// request goes through Relay's stages: receive (bounded read and
// decompression) → parse → authenticate → check (origin, limits) →
// enqueue. Ingest answers 200 only after JetStream has acknowledged the
// payload (and the object store every attachment); the workers do the rest.
//
// Endpoints, one file each: store.go (/store/, the legacy event endpoint),
// envelope.go (/envelope/), security.go (/security/ and /csp-report/),
// minidump.go (/minidump/); cors.go answers browsers.
package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/internal/attachment"
	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/limits"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/reqlog"
	"github.com/faultline/faultline/internal/route"
)

// Config tunes ingest.
type Config struct {
	// TrustForwarded takes the client IP from X-Forwarded-For; set it only
	// behind a proxy that sets that header.
	TrustForwarded bool
	// MaxInFlight bounds the requests being handled at once; more wait
	// briefly, then get 503.
	MaxInFlight int
	// Timeout bounds one request, reading included.
	Timeout time.Duration
	// MaxInFlightBytes bounds the bytes of request bodies being read and
	// inflated, across all requests. A request that finds it exhausted
	// waits up to AdmitWait, then gets 503 with Retry-After; one that
	// could never fit gets 413.
	MaxInFlightBytes int64
	// MaxInFlightPerClient bounds the requests in flight from one client
	// address (X-Forwarded-For's with TrustForwarded); more get 429.
	MaxInFlightPerClient int
	// MinBodyRate (bytes a second) is the slowest a body may arrive once
	// BodyGrace has passed; a slower one is cut with 408.
	MinBodyRate int
	BodyGrace   time.Duration
	// AdmitWait is how long a request waits for a slot or for the byte
	// budget before it is refused with 503.
	AdmitWait time.Duration
}

// Defaults of the ingest limits. The byte budget holds the largest request
// (a 200 MiB envelope, inflated) and, with the per-client cap, leaves room
// for the benchmark's 512 connections from one address.
const (
	DefaultMaxInFlightBytes     = 512 << 20
	DefaultMaxInFlightPerClient = 768
)

// Validate fills defaults.
func (c *Config) Validate() error {
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1024
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxInFlightBytes <= 0 {
		c.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if c.MaxInFlightBytes < 1<<20 {
		return fmt.Errorf("ingest: the in-flight byte budget (%d) must be at least 1 MiB", c.MaxInFlightBytes)
	}
	if c.MaxInFlightPerClient <= 0 {
		c.MaxInFlightPerClient = DefaultMaxInFlightPerClient
	}
	if c.MinBodyRate <= 0 {
		c.MinBodyRate = 4 << 10
	}
	if c.BodyGrace <= 0 {
		c.BodyGrace = 5 * time.Second
	}
	if c.AdmitWait <= 0 {
		c.AdmitWait = time.Second
	}
	return nil
}

// Keys authenticates DSN keys.
type Keys interface {
	KeyByPublic(pub string) (*meta.Key, *meta.Project, bool)
}

// Publisher durably enqueues accepted payloads.
type Publisher interface {
	Publish(ctx context.Context, m *queue.Message) error
}

// Attachments stores attachment bytes durably before ingest answers.
type Attachments interface {
	Put(ctx context.Context, key string, data []byte) (attachment.Info, error)
}

// Deps are ingest's collaborators.
type Deps struct {
	Keys        Keys
	Queue       Publisher
	Attachments Attachments
	// Limits enforces rate limits; nil admits everything.
	Limits RateLimits
	Log    *slog.Logger
}

// Handler serves the ingest endpoints.
type Handler struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	inFlight chan struct{}
	bytes    *byteBudget
	clients  *clientSlots
	now      func() time.Time
	outcomes outcomeSums
	// bodyBufs recycles the first chunk of request bodies (releaseBody).
	bodyBufs sync.Pool
}

// New returns an ingest handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Keys == nil || deps.Queue == nil || deps.Attachments == nil {
		return nil, errors.New("ingest: missing dependency")
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	return &Handler{cfg: cfg, deps: deps, log: deps.Log,
		inFlight: make(chan struct{}, cfg.MaxInFlight), bytes: newByteBudget(cfg.MaxInFlightBytes),
		clients: &clientSlots{max: cfg.MaxInFlightPerClient}, now: time.Now}, nil
}

// Routes returns the ingest routes, for the route table. Each path is
// served with and without its trailing slash, as Relay does (the table
// makes the slash optional under /api/): a redirect would lose a POST.
// CORS preflights are answered for these endpoints only.
func (h *Handler) Routes() []route.Route {
	var rs []route.Route
	add := func(method, endpoint string, fn endpoint, name string) {
		// Only an envelope may carry its own dsn.
		dsn := func(r *http.Request) bool {
			return endpoint == "envelope" || method == "POST" && endpoint == "store" && isEnvelope(r)
		}
		rs = append(rs, route.Route{Method: method, Path: "/api/{project_id}/" + endpoint + "/", Handler: h.wrap(fn, dsn),
			Auth: route.DSNKey, Tenant: route.TenantProject, Name: name})
	}
	add("POST", "store", h.store, "store an event (legacy)")
	add("GET", "store", h.storeGet, "store an event from the query string (legacy)")
	add("POST", "envelope", h.envelope, "store an envelope")
	add("POST", "security", h.security, "store a browser security report")
	add("POST", "csp-report", h.security, "store a CSP report")
	add("POST", "minidump", h.minidump, "store a minidump")
	for _, endpoint := range []string{"store", "envelope", "security", "csp-report", "minidump"} {
		rs = append(rs, route.Route{Method: "OPTIONS", Path: "/api/{project_id}/" + endpoint + "/",
			Handler: http.HandlerFunc(h.preflight), Auth: route.Public, Name: "CORS preflight"})
	}
	return rs
}

// Error is an ingest refusal: the status, the text for X-Sentry-Error and
// the {"detail"} body, and optional headers such as Retry-After.
type Error struct {
	Status  int
	Detail  string
	Headers map[string]string
}

func (e *Error) Error() string { return e.Detail }

func fail(status int, format string, args ...any) *Error {
	return &Error{Status: status, Detail: fmt.Sprintf(format, args...)}
}

// reply is an endpoint's answer: Sentry's {"id": ...} (or {} without an
// event), or another body for the endpoints whose clients expect one.
type reply struct {
	id          string
	contentType string // set for a non-JSON body
	body        []byte
	// rateLimits is X-Sentry-Rate-Limits for items dropped from an
	// accepted envelope.
	rateLimits string
}

// endpoint handles one request once it is admitted.
type endpoint func(ctx context.Context, r *http.Request, req *request) (reply, error)

// request is what the stages learn about an ingest request.
type request struct {
	projectID uint64
	raw       []byte // body as received
	body      []byte // decompressed
	decoded   []byte // the buffer body was decompressed into, if any; released after the response
	encoding  string // Content-Encoding of raw, "" if none
	auth      envelope.Auth
	key       *meta.Key
	project   *meta.Project
	received  time.Time

	// prefix is what was read of the body so far (all of it once bodyDone).
	prefix   []byte
	bodyDone bool
	// readStart is when reading the body began, for the floor rate.
	readStart time.Time
	rc        *http.ResponseController
	// charged is what the request holds of the in-flight byte budget.
	charged int64
}

// acquire takes one of the MaxInFlight slots, waiting at most AdmitWait.
func (h *Handler) acquire() bool {
	select {
	case h.inFlight <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(h.cfg.AdmitWait)
	defer t.Stop()
	select {
	case h.inFlight <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// overloaded is the answer when no slot or budget is free.
func overloaded() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Detail: "server is overloaded",
		Headers: map[string]string{"Retry-After": "1"}}
}

// tooManyFromClient is the answer to a client over its cap of requests in
// flight.
func tooManyFromClient() *Error {
	return &Error{Status: http.StatusTooManyRequests, Detail: "too many requests in flight from this address",
		Headers: map[string]string{"Retry-After": "1"}}
}

// wrap admits a request and runs fn: the per-client cap, then the key
// (from the request, or with dsnFallback from the envelope's own dsn,
// peeked), then a slot; fn reads the body under the byte budget.
func (h *Handler) wrap(fn endpoint, dsnFallback func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.cors(w, r)
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
		defer cancel()
		req := &request{received: h.now().UTC(), rc: http.NewResponseController(w)}
		// Everything that used the decompressed body (parsing, publishing,
		// which copies) is done once the handler returns.
		defer func() { envelope.Release(req.decoded); h.releaseBody(req); h.uncharge(req) }()
		pid, err := strconv.ParseUint(r.PathValue("project_id"), 10, 64)
		if err != nil {
			refuseEarly(w)
			writeError(w, fail(http.StatusBadRequest, "invalid project id in the URL"))
			return
		}
		req.projectID = pid
		addr := h.admissionKey(r)
		if !h.clients.acquire(addr) {
			refuseEarly(w)
			writeError(w, tooManyFromClient())
			return
		}
		defer h.clients.release(addr)
		if err := h.authenticate(ctx, r, req, dsnFallback(r)); err != nil {
			if !req.bodyDone {
				refuseEarly(w)
			}
			writeError(w, asError(h, err, req))
			return
		}
		if !h.acquire() {
			refuseEarly(w)
			writeError(w, overloaded())
			return
		}
		defer func() { <-h.inFlight }()
		rep, err := fn(ctx, r, req)
		if err != nil {
			e := asError(h, err, req)
			if req.key != nil && (e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge) {
				// Authenticated but unusable: counted, as Relay does.
				h.record(req, outcome.Invalid, invalidReason(e.Status), limits.CategoryError, 1)
			}
			writeError(w, e)
			return
		}
		if rep.rateLimits != "" {
			w.Header().Set("X-Sentry-Rate-Limits", rep.rateLimits)
		}
		if rep.contentType != "" {
			w.Header().Set("Content-Type", rep.contentType)
			w.Write(rep.body) //nolint:errcheck
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if rep.id == "" {
			io.WriteString(w, "{}") //nolint:errcheck
			return
		}
		fmt.Fprintf(w, `{"id":"%s"}`, rep.id)
	})
}

// asError maps an endpoint's error to its answer; an unexpected one is
// logged and answered 500.
func asError(h *Handler, err error, req *request) *Error {
	var e *Error
	if !errors.As(err, &e) {
		h.log.Error("ingest failed", "err", err, "project_id", req.projectID)
		e = fail(http.StatusInternalServerError, "internal error")
	}
	return e
}

func invalidReason(status int) string {
	if status == http.StatusRequestEntityTooLarge {
		return outcome.ReasonTooLarge
	}
	return "invalid_payload"
}

func writeError(w http.ResponseWriter, e *Error) {
	for k, v := range e.Headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("X-Sentry-Error", e.Detail)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	b, _ := json.Marshal(map[string]string{"detail": e.Detail})
	w.Write(b) //nolint:errcheck
}

// maxEncodingLen bounds Content-Encoding: it travels with the body in a
// queue message header, whose size is limited, and no real client stacks
// more than two codings.
const maxEncodingLen = 128

// receive reads the body (at most rawLimit bytes as sent) and undoes its
// Content-Encoding (at most limit bytes decoded), both charged to the
// byte budget.
func (h *Handler) receive(ctx context.Context, r *http.Request, req *request, rawLimit, limit int) error {
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if len(enc) > maxEncodingLen {
		return fail(http.StatusBadRequest, "Content-Encoding is longer than %d bytes", maxEncodingLen)
	}
	if r.ContentLength > int64(rawLimit) {
		return fail(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", rawLimit)
	}
	raw, err := h.readBody(ctx, r, req, rawLimit)
	if err != nil {
		return err
	}
	if len(raw) == 0 {
		return fail(http.StatusBadRequest, "empty request body")
	}
	req.raw = raw
	req.encoding = enc
	if req.encoding == "identity" {
		req.encoding = ""
	}
	body, err := envelope.DecodeCharged(raw, req.encoding, limit, func(n int) error { return h.charge(ctx, req, n) })
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, envelope.ErrTooLarge):
		return fail(http.StatusRequestEntityTooLarge, "decompressed body exceeds %d bytes", limit)
	case err != nil:
		return fail(http.StatusBadRequest, "could not decode the request body: %v", err)
	}
	req.body = body
	if req.encoding != "" {
		req.decoded = body
	}
	return nil
}

// authenticate finds the key from the request (or, with dsnFallback and
// no credentials in the request, from the envelope header's dsn, read
// with a bounded peek) and checks that it may send to the project in the
// URL, from the request's origin. It runs before the body is read.
func (h *Handler) authenticate(ctx context.Context, r *http.Request, req *request, dsnFallback bool) error {
	auth, err := envelope.AuthFromRequest(r.Header, r.URL.Query())
	if errors.Is(err, envelope.ErrMissingAuth) && dsnFallback {
		var dsn string
		if dsn, err = h.peekDSN(ctx, r, req); err != nil {
			return err
		}
		err = envelope.ErrMissingAuth
		if dsn != "" {
			var pid string
			auth, pid, err = envelope.AuthFromDSN(dsn)
			if err == nil && pid != "" && pid != strconv.FormatUint(req.projectID, 10) {
				return fail(http.StatusBadRequest, "the project id in the envelope's dsn does not match the URL")
			}
		}
	}
	switch {
	case errors.Is(err, envelope.ErrMultipleAuth):
		return fail(http.StatusUnauthorized, "MultipleAuth: multiple authorization payloads detected")
	case errors.Is(err, envelope.ErrMissingAuth):
		return fail(http.StatusUnauthorized, "missing authorization information")
	case errors.Is(err, envelope.ErrUnsupportedVersion), errors.Is(err, envelope.ErrBadClient):
		return fail(http.StatusBadRequest, "%v", err)
	case err != nil:
		return fail(http.StatusUnauthorized, "bad authorization information: %v", err)
	}
	if auth.PublicKey == "" {
		return fail(http.StatusUnauthorized, "missing authorization information")
	}
	key, project, ok := h.deps.Keys.KeyByPublic(auth.PublicKey)
	if !ok {
		return fail(http.StatusForbidden, "invalid api key")
	}
	if key.ProjectID != req.projectID {
		return fail(http.StatusForbidden, "the api key does not belong to the project in the URL")
	}
	// Relay does not check a legacy sentry_secret; a wrong one (or a
	// wrong HTTP Basic password) is refused here all the same, since a
	// client that sends one means it.
	if auth.SecretKey != "" && auth.SecretKey != key.Secret {
		return fail(http.StatusForbidden, "invalid secret key")
	}
	if !key.Active {
		return fail(http.StatusForbidden, "event submission rejected with_reason: DisabledKey")
	}
	if project.Status != meta.ProjectActive {
		return fail(http.StatusForbidden, "event submission rejected with_reason: ProjectId")
	}
	if !originPermitted(r, project.AllowedOrigins) {
		return fail(http.StatusForbidden, "event submission rejected with_reason: Cors")
	}
	req.auth, req.key, req.project = auth, key, project
	return nil
}

// peekDSN reads the dsn of the envelope header from the start of the
// body, reading and inflating only a bounded prefix; "" if there is none.
func (h *Handler) peekDSN(ctx context.Context, r *http.Request, req *request) (string, error) {
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if len(enc) > maxEncodingLen {
		return "", fail(http.StatusBadRequest, "Content-Encoding is longer than %d bytes", maxEncodingLen)
	}
	if r.ContentLength > envelope.MaxEnvelopeSize {
		return "", fail(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", envelope.MaxEnvelopeSize)
	}
	head, complete, err := h.peek(ctx, r, req, enc)
	switch {
	case errors.Is(err, envelope.ErrPeekEncoding):
		return "", nil
	case errors.Is(err, envelope.ErrBadEncoding):
		return "", fail(http.StatusBadRequest, "could not decode the request body: %v", err)
	case err != nil:
		return "", err
	}
	if len(req.prefix) == 0 && req.bodyDone {
		return "", fail(http.StatusBadRequest, "empty request body")
	}
	dsn, err := envelope.PeekDSN(head, complete)
	if err != nil {
		return "", payloadError(err)
	}
	return dsn, nil
}

// message starts the queue message for a request.
func (h *Handler) message(r *http.Request, req *request, kind, eventID string) *queue.Message {
	reqlog.Add(r.Context(), slog.Uint64("project_id", req.projectID), slog.String("event_id", eventID))
	return &queue.Message{
		ProjectID: req.projectID, EventID: eventID, Kind: kind, Received: req.received,
		ClientIP: h.clientIP(r), Client: req.auth.Client, KeyID: req.key.ID,
	}
}

// publish enqueues the payload, keeping it compressed as it came where it
// fits in one message.
func (h *Handler) publish(ctx context.Context, m *queue.Message, req *request) error {
	switch {
	case req.encoding != "" && len(req.raw) <= queue.MaxPayload:
		m.Body, m.Encoding = req.raw, req.encoding
	case len(req.body) <= queue.MaxPayload:
		m.Body = req.body
	default:
		return fail(http.StatusRequestEntityTooLarge, "payload exceeds %d bytes", queue.MaxPayload)
	}
	return h.enqueue(ctx, m)
}

func (h *Handler) enqueue(ctx context.Context, m *queue.Message) error {
	err := h.deps.Queue.Publish(ctx, m)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, queue.ErrQueueFull):
		h.log.WarnContext(ctx, "queue full; refusing event", "project_id", m.ProjectID, "event_id", m.EventID)
		return &Error{Status: http.StatusTooManyRequests, Detail: "queue is full; retry later",
			Headers: map[string]string{"Retry-After": "10", "X-Sentry-Rate-Limits": "10::organization:queue_full"}}
	default:
		h.log.ErrorContext(ctx, "enqueue failed", "project_id", m.ProjectID, "event_id", m.EventID, "err", err)
		return &Error{Status: http.StatusServiceUnavailable, Detail: "could not queue the event; retry later",
			Headers: map[string]string{"Retry-After": "5"}}
	}
}

// upload is a file to keep as an attachment of an event.
type upload struct {
	name, contentType, attachmentType string
	data                              []byte
}

// maxAttachmentName bounds a file name kept from the client.
const maxAttachmentName = 256

// storeAttachments puts files into the attachment store, before the event
// that references them is queued, and returns the references. Ids are
// derived from the event and the files' positions and names, and object
// keys from the bytes too: a retried upload finds its objects stored, and
// an upload of other bytes under a known event id and file name never
// replaces the stored ones (the worker keeps the first metadata).
func (h *Handler) storeAttachments(ctx context.Context, req *request, eventID string, files []upload) ([]queue.AttachmentRef, error) {
	refs := make([]queue.AttachmentRef, 0, len(files))
	for i, f := range files {
		name := f.name
		if name == "" {
			name = "Unnamed Attachment"
		}
		if len(name) > maxAttachmentName {
			name = name[:maxAttachmentName]
		}
		ct := f.contentType
		if ct == "" || len(ct) > 128 {
			ct = "application/octet-stream"
		}
		typ := f.attachmentType
		if typ == "" || len(typ) > 64 {
			typ = "event.attachment"
		}
		id := attachment.ID(req.projectID, eventID, i, name)
		key := attachment.Key(req.projectID, eventID, id, f.data)
		info, err := h.deps.Attachments.Put(ctx, key, f.data)
		if err != nil {
			if errors.Is(err, attachment.ErrFull) {
				h.log.Warn("attachment store full; refusing attachment", "project_id", req.projectID)
				return nil, &Error{Status: http.StatusTooManyRequests, Detail: "attachment storage is full; retry later",
					Headers: map[string]string{"Retry-After": "60", "X-Sentry-Rate-Limits": "60:attachment:organization:storage_full"}}
			}
			h.log.Error("storing attachment failed", "project_id", req.projectID, "err", err)
			return nil, &Error{Status: http.StatusServiceUnavailable, Detail: "could not store the attachment; retry later",
				Headers: map[string]string{"Retry-After": "5"}}
		}
		refs = append(refs, queue.AttachmentRef{ID: id, Key: key, Name: name, ContentType: ct, Type: typ,
			Size: info.Size, SHA1: info.SHA1})
	}
	return refs, nil
}

func (h *Handler) clientIP(r *http.Request) string {
	if h.cfg.TrustForwarded {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
	}
	return remoteHost(r)
}

// admissionKey is the address whose requests share the per-client cap.
// Behind a trusted proxy it is the address the proxy appended (the last
// X-Forwarded-For entry): the entries before it are the client's to
// choose, and a client rotating them must not get a slot cap per value.
func (h *Handler) admissionKey(r *http.Request) string {
	if h.cfg.TrustForwarded {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			last := xff
			if i := strings.LastIndexByte(xff, ','); i >= 0 {
				last = xff[i+1:]
			}
			if ip := net.ParseIP(strings.TrimSpace(last)); ip != nil {
				return ip.String()
			}
		}
	}
	return remoteHost(r)
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return host
}

// newEventID returns a random event id (a UUID v4, 32 hex digits).
func newEventID() string {
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand does not fail on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}

// hyphenated writes an event id as a UUID, as minidump clients expect it.
func hyphenated(id string) string {
	if len(id) != 32 {
		return id
	}
	return id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
}

// payloadError maps a parse error of the payload to Sentry's answer.
func payloadError(err error) error {
	switch {
	case errors.Is(err, envelope.ErrTooLarge):
		return fail(http.StatusRequestEntityTooLarge, "%v", err)
	default:
		return fail(http.StatusBadRequest, "%v", err)
	}
}

// originPermitted is the one origin check of Sentry's and Airbrake's
// endpoints: a request without Origin or Referer (a server SDK) passes;
// where a project restricts its origins (no "*"), a browser origin must be
// an allowed http(s) origin, so "null" (sandboxed frames, file:// pages)
// and extension origins (chrome-extension://...) are refused.
func originPermitted(r *http.Request, allowed []string) bool {
	if slices.ContainsFunc(allowed, func(a string) bool { return strings.TrimSpace(a) == "*" }) {
		return true
	}
	// The Origin header when sent (even "null"), else the Referer's.
	for _, h := range []string{"Origin", "Referer"} {
		v := strings.TrimSpace(r.Header.Get(h))
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return false
		}
		return originAllowed(allowed, u.Scheme+"://"+u.Host)
	}
	return true
}

// requestOrigin is the origin a browser request comes from: the Origin
// header, else the Referer's, as Relay reads it. Values that are not
// http(s) URLs (such as "null" from a file:// page) do not count.
func requestOrigin(r *http.Request) (string, bool) {
	for _, h := range []string{"Origin", "Referer"} {
		v := r.Header.Get(h)
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			continue
		}
		return u.Scheme + "://" + u.Host, true
	}
	return "", false
}
