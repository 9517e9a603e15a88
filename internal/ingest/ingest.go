// Package ingest is Faultline's Sentry-compatible ingestion endpoint. Each
// request goes through Relay's stages: receive (bounded read and
// decompression) → parse → authenticate → check (origin, limits) →
// enqueue. Ingest answers 200 only after JetStream has acknowledged the
// payload; the workers do the rest.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/meta"
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

// Handler serves the ingest endpoints.
type Handler struct {
	cfg      Config
	keys     Keys
	queue    Publisher
	log      *slog.Logger
	inFlight chan struct{}
	now      func() time.Time
}

// New returns an ingest handler.
func New(cfg Config, keys Keys, pub Publisher, log *slog.Logger) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Handler{cfg: cfg, keys: keys, queue: pub, log: log,
		inFlight: make(chan struct{}, cfg.MaxInFlight), now: time.Now}, nil
}

// Register adds the ingest routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("POST /api/{project_id}/store/", h.wrap(h.store))
	mux.Handle("POST /api/{project_id}/envelope/", h.wrap(h.envelope))
	mux.Handle("OPTIONS /api/{project_id}/{endpoint}/", http.HandlerFunc(h.preflight))
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

// endpoint handles one request once it is admitted; it returns the event id.
type endpoint func(ctx context.Context, r *http.Request, req *request) (string, error)

// request is what the stages learn about an ingest request.
type request struct {
	projectID uint64
	raw       []byte // body as received
	body      []byte // decompressed
	encoding  string // Content-Encoding of raw, "" if none
	auth      envelope.Auth
	key       *meta.Key
	project   *meta.Project
	received  time.Time
}

func (h *Handler) wrap(fn endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.cors(w, r)
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		case <-time.After(time.Second):
			writeError(w, &Error{Status: http.StatusServiceUnavailable, Detail: "server is overloaded",
				Headers: map[string]string{"Retry-After": "1"}})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
		defer cancel()
		req := &request{received: h.now().UTC()}
		id, err := fn(ctx, r, req)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				h.log.Error("ingest failed", "err", err, "project_id", req.projectID)
				e = fail(http.StatusInternalServerError, "internal error")
			}
			writeError(w, e)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if id == "" {
			io.WriteString(w, "{}") //nolint:errcheck
			return
		}
		fmt.Fprintf(w, `{"id":"%s"}`, id)
	})
}

func writeError(w http.ResponseWriter, e *Error) {
	for k, v := range e.Headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("X-Sentry-Error", e.Detail)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	fmt.Fprintf(w, `{"detail":%s}`, strconv.Quote(e.Detail))
}

// receive reads and decompresses the body within limit.
func (h *Handler) receive(r *http.Request, req *request, rawLimit, limit int) error {
	pid, err := strconv.ParseUint(r.PathValue("project_id"), 10, 64)
	if err != nil {
		return fail(http.StatusBadRequest, "invalid project id in the URL")
	}
	req.projectID = pid
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, int64(rawLimit)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", rawLimit)
		}
		return fail(http.StatusBadRequest, "could not read the request body: %v", err)
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
	return nil
}

// authenticate finds the key from the request (or from dsn, the envelope
// header's) and checks that it may send to the project in the URL.
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
		return fail(http.StatusUnauthorized, "MultipleAuth: multiple authorization payloads requested")
	case errors.Is(err, envelope.ErrMissingAuth):
		return fail(http.StatusUnauthorized, "missing authorization information")
	case err != nil:
		return fail(http.StatusUnauthorized, "bad authorization information: %v", err)
	}
	if auth.PublicKey == "" {
		return fail(http.StatusUnauthorized, "missing authorization information")
	}
	key, project, ok := h.keys.KeyByPublic(auth.PublicKey)
	if !ok {
		return fail(http.StatusForbidden, "invalid api key")
	}
	if key.ProjectID != req.projectID {
		return fail(http.StatusForbidden, "the api key does not belong to the project in the URL")
	}
	if auth.SecretKey != "" && auth.SecretKey != key.Secret {
		return fail(http.StatusForbidden, "invalid secret key")
	}
	if !key.Active {
		return fail(http.StatusForbidden, "the api key is disabled")
	}
	if project.Status != meta.ProjectActive {
		return fail(http.StatusForbidden, "the project is disabled")
	}
	if origin := r.Header.Get("Origin"); origin != "" && !originAllowed(project.AllowedOrigins, origin) {
		return fail(http.StatusForbidden, "invalid origin %q", origin)
	}
	req.auth, req.key, req.project = auth, key, project
	return nil
}

// publish enqueues the payload, keeping it compressed as it came where it
// fits in one message.
func (h *Handler) publish(ctx context.Context, r *http.Request, req *request, kind, eventID string) error {
	m := &queue.Message{
		ProjectID: req.projectID, EventID: eventID, Kind: kind, Received: req.received,
		ClientIP: h.clientIP(r), Client: req.auth.Client,
	}
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
	err := h.queue.Publish(ctx, m)
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

// newEventID returns a random event id for payloads without one.
func newEventID() string { return strings.ReplaceAll(uuidV4(), "-", "") }
