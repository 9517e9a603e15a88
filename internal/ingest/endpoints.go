package ingest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/queue"
)

// store handles POST /api/{project_id}/store/: one event as JSON (or, from
// legacy clients, base64 of deflated JSON).
func (h *Handler) store(ctx context.Context, r *http.Request, req *request) (string, error) {
	// Legacy bodies are base64: a third larger than what they carry.
	if err := h.receive(r, req, envelope.MaxEventSize*2, envelope.MaxEventSize*2); err != nil {
		return "", err
	}
	if err := h.authenticate(r, req, ""); err != nil {
		return "", err
	}
	payload, err := envelope.DecodeLegacyStore(req.body, envelope.MaxEventSize)
	if err != nil {
		return "", payloadError(err)
	}
	info, err := envelope.InspectEvent(payload)
	if err != nil {
		return "", payloadError(err)
	}
	id := info.EventID
	if id == "" {
		id = newEventID()
	}
	if err := h.publish(ctx, r, req, queue.KindStore, id); err != nil {
		return "", err
	}
	return id, nil
}

// envelope handles POST /api/{project_id}/envelope/.
func (h *Handler) envelope(ctx context.Context, r *http.Request, req *request) (string, error) {
	if err := h.receive(r, req, envelope.MaxEnvelopeSize, envelope.MaxEnvelopeSize); err != nil {
		return "", err
	}
	env, err := envelope.Parse(req.body)
	if err != nil {
		return "", payloadError(err)
	}
	if err := h.authenticate(r, req, env.Header.DSN); err != nil {
		return "", err
	}
	id := env.Header.EventID
	for _, it := range env.Items {
		switch it.Type {
		case "event", "transaction":
			info, err := envelope.InspectEvent(it.Payload)
			if err != nil {
				return "", payloadError(err)
			}
			if id == "" {
				id = info.EventID
			}
		}
	}
	msgID := id
	if msgID == "" {
		// No event (sessions, client reports): still deduplicate retries of
		// this very request, but never against an event.
		msgID = newEventID()
	}
	if err := h.publish(ctx, r, req, queue.KindEnvelope, msgID); err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusRequestEntityTooLarge {
			return "", err
		}
		// Too large for one message even compressed: one message per item.
		if err := h.publishSplit(ctx, r, req, env, msgID); err != nil {
			return "", err
		}
	}
	return id, nil
}

// publishSplit enqueues each item of a large envelope as its own envelope.
func (h *Handler) publishSplit(ctx context.Context, r *http.Request, req *request, env *envelope.Envelope, id string) error {
	for i, it := range env.Items {
		body := envelope.Encode(env.RawHeader, it)
		if len(body) > queue.MaxPayload {
			return fail(http.StatusRequestEntityTooLarge, "envelope item %d (%s) exceeds %d bytes", i, it.Type, queue.MaxPayload)
		}
		m := &queue.Message{
			ProjectID: req.projectID, EventID: id + "-" + strconv.Itoa(i), Kind: queue.KindEnvelope,
			Received: req.received, ClientIP: h.clientIP(r), Client: req.auth.Client, Body: body,
		}
		if err := h.enqueue(ctx, m); err != nil {
			return err
		}
	}
	return nil
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

// cors adds the headers browser SDKs need to read the answer.
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

// preflight answers CORS preflight requests for the ingest endpoints.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) {
	h.cors(w, r)
	hd := w.Header()
	hd.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "Content-Type, Content-Encoding, Authorization, X-Sentry-Auth, "+
		"X-Requested-With, Origin, Accept, Baggage, Sentry-Trace")
	hd.Set("Access-Control-Max-Age", "3600")
	w.WriteHeader(http.StatusOK)
}

// originAllowed matches an Origin against a project's allowed origins:
// "*", an exact origin, or a host pattern such as "*.example.com".
func originAllowed(allowed []string, origin string) bool {
	if len(allowed) == 0 {
		return true
	}
	host := origin
	if i := indexHost(origin); i >= 0 {
		host = origin[i:]
	}
	for _, a := range allowed {
		switch {
		case a == "*" || a == origin || a == host:
			return true
		case len(a) > 2 && a[:2] == "*." && (len(host) > len(a)-1 && host[len(host)-(len(a)-1):] == a[1:] || host == a[2:]):
			return true
		}
	}
	return false
}

func indexHost(origin string) int {
	for i := 0; i+2 < len(origin); i++ {
		if origin[i] == ':' && origin[i+1] == '/' && origin[i+2] == '/' {
			return i + 3
		}
	}
	return -1
}

func uuidV4() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
