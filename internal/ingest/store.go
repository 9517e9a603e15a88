package ingest

import (
	"context"
	"mime"
	"net/http"
	"strings"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/queue"
)

// envelopeContentType is the media type of an envelope; /store/ treats a
// body of that type as an envelope, as Relay does.
const envelopeContentType = "application/x-sentry-envelope"

// store handles POST /api/{project_id}/store/: one event as JSON (or, from
// legacy clients, base64 of deflated JSON).
func (h *Handler) store(ctx context.Context, r *http.Request, req *request) (reply, error) {
	if isEnvelope(r) {
		return h.envelope(ctx, r, req)
	}
	// Legacy bodies are base64: a third larger than what they carry.
	if err := h.receive(ctx, r, req, envelope.MaxEventSize*2, envelope.MaxEventSize*2); err != nil {
		return reply{}, err
	}
	id, err := h.storeEvent(ctx, r, req, req.body)
	return reply{id: id}, err
}

// isEnvelope reports whether a /store/ request carries an envelope.
func isEnvelope(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return strings.EqualFold(mt, envelopeContentType)
}

// storeEvent validates a /store/ body and queues it.
func (h *Handler) storeEvent(ctx context.Context, r *http.Request, req *request, body []byte) (string, error) {
	payload, err := envelope.DecodeLegacyStore(body, envelope.MaxEventSize)
	if err != nil {
		return "", payloadError(err)
	}
	if envelope.IsLegacyPythonClient(req.auth.Client) {
		// The repair rewrites in place; never the request's own buffer,
		// which may be what gets queued.
		payload = append([]byte(nil), payload...)
		envelope.RepairPythonJSON(payload)
		req.body, req.encoding = payload, ""
	}
	info, err := envelope.InspectEvent(payload)
	if err != nil {
		return "", payloadError(err)
	}
	id := info.EventID
	if id == "" {
		id = newEventID()
	}
	if ls := h.admit(req, eventCategory(info), 1); ls != nil {
		return "", limitedError(ls)
	}
	if err := h.publish(ctx, h.message(r, req, queue.KindStore, id), req); err != nil {
		return "", err
	}
	return id, nil
}

// pixel is a transparent 1×1 GIF, the answer to GET /store/.
var pixel = []byte("GIF89a\x01\x00\x01\x00\x00\xff\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x00;")

// storeGet handles GET /api/{project_id}/store/?sentry_data=...&sentry_key=...:
// the oldest browser clients sent the event in the query string (as an
// image request) and expect a GIF back.
func (h *Handler) storeGet(ctx context.Context, r *http.Request, req *request) (reply, error) {
	data := r.URL.Query().Get("sentry_data")
	if data == "" {
		return reply{}, fail(http.StatusBadRequest, "missing sentry_data")
	}
	if len(data) > envelope.MaxEventSize*2 {
		return reply{}, fail(http.StatusRequestEntityTooLarge, "sentry_data exceeds %d bytes", envelope.MaxEventSize*2)
	}
	req.raw, req.body = []byte(data), []byte(data)
	if _, err := h.storeEvent(ctx, r, req, req.body); err != nil {
		return reply{}, err
	}
	return reply{contentType: "image/gif", body: pixel}, nil
}
