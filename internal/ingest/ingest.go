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
	"bytes"
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
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/attachment"
	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/limits"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/queue"
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
}

// Validate fills defaults.
func (c *Config) Validate() error {
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1024
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
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
	now      func() time.Time
	outcomes outcomeSums
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
		inFlight: make(chan struct{}, cfg.MaxInFlight), now: time.Now}, nil
}

// Register adds the ingest routes to mux. Each path is served with and
// without its trailing slash, as Relay does: a redirect would lose a POST.
func (h *Handler) Register(mux *http.ServeMux) {
	route := func(method, endpoint string, fn endpoint) {
		for _, p := range []string{"/api/{project_id}/" + endpoint + "/{$}", "/api/{project_id}/" + endpoint} {
			mux.Handle(method+" "+p, h.wrap(fn))
		}
	}
	route("POST", "store", h.store)
	route("GET", "store", h.storeGet)
	route("POST", "envelope", h.envelope)
	route("POST", "security", h.security)
	route("POST", "csp-report", h.security)
	route("POST", "minidump", h.minidump)
	for _, p := range []string{"/api/{project_id}/{endpoint}/{$}", "/api/{project_id}/{endpoint}"} {
		mux.Handle("OPTIONS "+p, http.HandlerFunc(h.preflight))
	}
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
}

// acquire takes one of the MaxInFlight slots, waiting at most a second.
func (h *Handler) acquire() bool {
	select {
	case h.inFlight <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case h.inFlight <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

func (h *Handler) wrap(fn endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.cors(w, r)
		if !h.acquire() {
			writeError(w, &Error{Status: http.StatusServiceUnavailable, Detail: "server is overloaded",
				Headers: map[string]string{"Retry-After": "1"}})
			return
		}
		defer func() { <-h.inFlight }()
		// The whole request, body included, has Timeout: a client that
		// trickles its body cannot hold one of the MaxInFlight slots.
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.cfg.Timeout)) //nolint:errcheck
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
		defer cancel()
		req := &request{received: h.now().UTC()}
		// Everything that used the decompressed body (parsing, publishing,
		// which copies) is done once the handler returns.
		defer func() { envelope.Release(req.decoded) }()
		pid, err := strconv.ParseUint(r.PathValue("project_id"), 10, 64)
		if err != nil {
			writeError(w, fail(http.StatusBadRequest, "invalid project id in the URL"))
			return
		}
		req.projectID = pid
		rep, err := fn(ctx, r, req)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				h.log.Error("ingest failed", "err", err, "project_id", req.projectID)
				e = fail(http.StatusInternalServerError, "internal error")
			}
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

// receive reads the body (at most rawLimit bytes as sent) and undoes its
// Content-Encoding (at most limit bytes decoded).
func (h *Handler) receive(r *http.Request, req *request, rawLimit, limit int) error {
	raw, err := readBody(r, rawLimit)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", rawLimit)
		}
		return fail(http.StatusBadRequest, "could not read the request body: %v", err)
	}
	if len(raw) == 0 {
		return fail(http.StatusBadRequest, "empty request body")
	}
	req.raw = raw
	req.encoding = strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if req.encoding == "identity" {
		req.encoding = ""
	}
	body, err := envelope.Decode(raw, req.encoding, limit)
	switch {
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

// readBody reads the request body, at most limit bytes, into a buffer
// sized by Content-Length when the client sent one.
func readBody(r *http.Request, limit int) ([]byte, error) {
	body := http.MaxBytesReader(nil, r.Body, int64(limit))
	if r.ContentLength <= 0 || r.ContentLength > int64(limit) || r.ContentLength > 16<<20 {
		return io.ReadAll(body)
	}
	// One byte more than announced, so that EOF is seen without growing.
	buf := bytes.NewBuffer(make([]byte, 0, r.ContentLength+1))
	_, err := buf.ReadFrom(body)
	return buf.Bytes(), err
}

// authenticate finds the key from the request (or from dsn, the envelope
// header's, when the request carries none) and checks that it may send to
// the project in the URL, from the request's origin.
func (h *Handler) authenticate(r *http.Request, req *request, dsn string) error {
	auth, err := envelope.AuthFromRequest(r.Header, r.URL.Query())
	if errors.Is(err, envelope.ErrMissingAuth) && dsn != "" {
		var pid string
		auth, pid, err = envelope.AuthFromDSN(dsn)
		if err == nil && pid != "" && pid != strconv.FormatUint(req.projectID, 10) {
			return fail(http.StatusBadRequest, "the project id in the envelope's dsn does not match the URL")
		}
	}
	switch {
	case errors.Is(err, envelope.ErrMultipleAuth):
		return fail(http.StatusUnauthorized, "MultipleAuth: multiple authorization payloads detected")
	case errors.Is(err, envelope.ErrMissingAuth):
		return fail(http.StatusUnauthorized, "missing authorization information")
	case errors.Is(err, envelope.ErrUnsupportedVersion):
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
	// Relay does not check a legacy sentry_secret; a wrong one is refused
	// here all the same, since a client that sends one means it.
	if auth.SecretKey != "" && auth.SecretKey != key.Secret {
		return fail(http.StatusForbidden, "invalid secret key")
	}
	if !key.Active {
		return fail(http.StatusForbidden, "event submission rejected with_reason: DisabledKey")
	}
	if project.Status != meta.ProjectActive {
		return fail(http.StatusForbidden, "event submission rejected with_reason: ProjectId")
	}
	if origin, ok := requestOrigin(r); ok && !originAllowed(project.AllowedOrigins, origin) {
		return fail(http.StatusForbidden, "event submission rejected with_reason: Cors")
	}
	req.auth, req.key, req.project = auth, key, project
	return nil
}

// message starts the queue message for a request.
func (h *Handler) message(r *http.Request, req *request, kind, eventID string) *queue.Message {
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
		h.log.Warn("queue full; refusing event", "project_id", m.ProjectID)
		return &Error{Status: http.StatusTooManyRequests, Detail: "queue is full; retry later",
			Headers: map[string]string{"Retry-After": "10", "X-Sentry-Rate-Limits": "10::organization:queue_full"}}
	default:
		h.log.Error("enqueue failed", "project_id", m.ProjectID, "err", err)
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
