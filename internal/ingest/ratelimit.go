package ingest

import (
	"net/http"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/limits"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/outcome"
)

// RateLimits decides whether a request may send qty units of a data
// category (see limits.Enforcer).
type RateLimits interface {
	Admit(key *meta.Key, p *meta.Project, category string, qty int64) []limits.Limited
}

// admit checks one item against the rate limits. A refusal is recorded as a
// rate_limited outcome.
func (h *Handler) admit(req *request, category string, qty int64) []limits.Limited {
	if h.deps.Limits == nil {
		return nil
	}
	ls := h.deps.Limits.Admit(req.key, req.project, category, qty)
	if ls != nil {
		h.record(req, outcome.RateLimited, ls[0].Reason, category, qty)
	}
	return ls
}

// limitedError is the 429 an SDK understands: Retry-After for every SDK,
// X-Sentry-Rate-Limits for the per-category ones.
func limitedError(ls []limits.Limited) *Error {
	return &Error{Status: http.StatusTooManyRequests, Detail: "event submission rejected with_reason: " + ls[0].Reason,
		Headers: map[string]string{"Retry-After": limits.RetryAfter(ls), "X-Sentry-Rate-Limits": limits.Header(ls)}}
}

// eventCategory is the data category of an event payload for rate limits.
func eventCategory(info envelope.EventInfo) string {
	if info.Type == "transaction" {
		return limits.CategoryTransaction
	}
	return limits.CategoryError
}

// itemCategory is the rate-limit category of an envelope item and how much
// of it the item is; "" for items that are never limited (client reports,
// and what Faultline only counts).
func itemCategory(it *envelope.Item) (string, int64) {
	switch it.Type {
	case "event":
		return limits.CategoryError, 1
	case "transaction":
		return limits.CategoryTransaction, 1
	case "attachment":
		return limits.CategoryAttachment, int64(len(it.Payload))
	case "session", "sessions":
		return limits.CategorySession, 1
	}
	return "", 0
}

// applyLimits drops the envelope items the rate limits refuse. An event's
// attachments go with it. It returns the items kept and the limits hit;
// refused is true when nothing that could be limited was kept, which the
// caller answers with 429.
func (h *Handler) applyLimits(req *request, items []envelope.Item) (kept []envelope.Item, hit []limits.Limited, refused bool) {
	if h.deps.Limits == nil {
		return items, nil, false
	}
	eventRefused := false
	for i := range items {
		if cat, _ := itemCategory(&items[i]); cat == limits.CategoryError || cat == limits.CategoryTransaction {
			if ls := h.admit(req, cat, 1); ls != nil {
				eventRefused = true
				hit = append(hit, ls...)
			}
		}
	}
	limitable, keptLimitable := 0, 0
	for i := range items {
		it := &items[i]
		cat, qty := itemCategory(it)
		if cat == "" {
			kept = append(kept, *it)
			continue
		}
		limitable++
		switch cat {
		case limits.CategoryError, limits.CategoryTransaction:
			if eventRefused {
				continue
			}
		case limits.CategoryAttachment:
			if eventRefused {
				h.record(req, outcome.RateLimited, hit[0].Reason, cat, qty)
				continue
			}
			if ls := h.admit(req, cat, qty); ls != nil {
				hit = append(hit, ls...)
				continue
			}
		default:
			if ls := h.admit(req, cat, qty); ls != nil {
				hit = append(hit, ls...)
				continue
			}
		}
		keptLimitable++
		kept = append(kept, *it)
	}
	return kept, hit, limitable > 0 && keptLimitable == 0
}
