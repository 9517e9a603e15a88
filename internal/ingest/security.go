package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/limits"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/security"
)

// security handles POST /api/{project_id}/security/ (and its older name
// /csp-report/): CSP, HPKP, Expect-CT and Expect-Staple reports that
// browsers send on their own, authenticated by ?sentry_key= in the report
// URI. Each report becomes an event.
func (h *Handler) security(ctx context.Context, r *http.Request, req *request) (reply, error) {
	if ct := r.Header.Get("Content-Type"); !security.ContentTypeAllowed(ct) {
		return reply{}, fail(http.StatusUnsupportedMediaType, "unsupported content type %.60q for a security report", ct)
	}
	if err := h.receive(ctx, r, req, envelope.MaxEventSize, envelope.MaxEventSize); err != nil {
		return reply{}, err
	}
	origin, _ := requestOrigin(r)
	q := r.URL.Query()
	events, err := security.Parse(req.body, security.Request{Release: q.Get("sentry_release"),
		Environment: q.Get("sentry_environment"), Origin: origin, UserAgent: r.Header.Get("User-Agent")})
	if errors.Is(err, security.ErrInvalid) {
		return reply{}, fail(http.StatusBadRequest, "%v", err)
	}
	if err != nil {
		return reply{}, err
	}
	if ls := h.admit(req, limits.CategorySecurity, int64(len(events))); ls != nil {
		return reply{}, limitedError(ls)
	}
	// One envelope with an event per report.
	items := make([]envelope.Item, 0, len(events))
	for i := range events {
		events[i].EventID = newEventID()
		payload, err := json.Marshal(events[i])
		if err != nil {
			return reply{}, err
		}
		items = append(items, envelope.Item{Type: "event", Payload: payload})
	}
	id := events[0].EventID
	header, _ := json.Marshal(map[string]string{"event_id": id})
	req.body, req.raw, req.encoding = envelope.Encode(header, items...), nil, ""
	if err := h.publish(ctx, h.message(r, req, queue.KindEnvelope, id), req); err != nil {
		return reply{}, err
	}
	return reply{id: id}, nil
}
