package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/limits"
	"github.com/faultline/faultline/internal/queue"
)

// eventItems are the item types that carry one event; an envelope has at
// most one (envelope.CheckLimits).
var eventItems = map[string]bool{"event": true, "transaction": true, "feedback": true}

// envelope handles POST /api/{project_id}/envelope/. Any Content-Type is
// accepted: browsers send text/plain (or form types) to avoid a CORS
// preflight, and Relay reads every body as an envelope.
func (h *Handler) envelope(ctx context.Context, r *http.Request, req *request) (reply, error) {
	if err := h.receive(ctx, r, req, envelope.MaxEnvelopeSize, envelope.MaxEnvelopeSize); err != nil {
		return reply{}, err
	}
	env, err := envelope.Parse(req.body)
	if err != nil {
		return reply{}, payloadError(err)
	}
	if err := envelope.CheckLimits(env); err != nil {
		return reply{}, payloadError(err)
	}
	kept, hit, refused := h.applyLimits(req, env.Items)
	if refused {
		return reply{}, limitedError(hit)
	}
	rateLimits := ""
	if len(hit) > 0 {
		// Accept the rest: the dropped items never reach the queue.
		rateLimits = limits.Header(hit)
		env.Items = kept
		req.body, req.raw, req.encoding = envelope.Encode(env.RawHeader, kept...), nil, ""
	}
	id := env.Header.EventID
	hasEvent := false
	var files []upload
	for _, it := range env.Items {
		switch {
		case eventItems[it.Type]:
			hasEvent = true
			info, err := envelope.InspectEvent(it.Payload)
			if err != nil {
				return reply{}, payloadError(err)
			}
			if id == "" {
				id = info.EventID
			}
		case it.Type == "attachment":
			files = append(files, upload{name: it.Filename, contentType: it.ContentType,
				attachmentType: it.AttachmentType, data: it.Payload})
		}
	}
	if id == "" && (hasEvent || len(files) > 0) {
		// The worker gives the event this id too, so attachments follow it.
		id = newEventID()
	}
	m := h.message(r, req, queue.KindEnvelope, id)
	if !hasEvent {
		// Sessions, client reports, feedback about an event: keyed by
		// their content, so a retry is stored once but a user report is
		// never taken for a duplicate of the event it is about.
		sum := sha256.Sum256(req.body)
		m.DedupID = id + "-" + hex.EncodeToString(sum[:12])
	}
	if len(files) > 0 {
		if m.Attachments, err = h.storeAttachments(ctx, req, id, files); err != nil {
			return reply{}, err
		}
		// The attachments are stored; queue the rest of the envelope.
		var rest []envelope.Item
		for _, it := range env.Items {
			if it.Type != "attachment" {
				rest = append(rest, it)
			}
		}
		env.Items = rest
		req.body, req.raw, req.encoding = envelope.Encode(env.RawHeader, rest...), nil, ""
	}
	if err := h.publish(ctx, m, req); err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusRequestEntityTooLarge {
			return reply{}, err
		}
		// Too large for one message even compressed: one message per item.
		if err := h.publishSplit(ctx, m, env); err != nil {
			return reply{}, err
		}
	}
	if !hasEvent && len(files) == 0 {
		// Relay answers with the header's event id, if any.
		return reply{id: env.Header.EventID, rateLimits: rateLimits}, nil
	}
	return reply{id: id, rateLimits: rateLimits}, nil
}

// publishSplit enqueues each item of a large envelope as an envelope of its
// own. The attachment references go with the first message.
func (h *Handler) publishSplit(ctx context.Context, m *queue.Message, env *envelope.Envelope) error {
	base := m.DedupID
	if base == "" {
		base = m.EventID
	}
	for i, it := range env.Items {
		body := envelope.Encode(env.RawHeader, it)
		if len(body) > queue.MaxPayload {
			return fail(http.StatusRequestEntityTooLarge, "envelope item %d (%.40s) exceeds %d bytes", i, it.Type, queue.MaxPayload)
		}
		part := *m
		part.Body, part.Encoding = body, ""
		part.DedupID = base + "-" + strconv.Itoa(i)
		if i > 0 {
			part.Attachments = nil
		}
		if err := h.enqueue(ctx, &part); err != nil {
			return err
		}
	}
	return nil
}
