package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/queue"
)

// Ingest decides some outcomes itself (rate limited, invalid) but has no
// store to write them to: an ingest-only process may run far from
// ClickHouse. It sums them in memory per project, key, category, outcome,
// reason and hour, and every second queues the sums as one message, which a
// worker records like the outcomes it decides. A crash loses at most a
// second of these counts; accepted data is counted by the workers.

type outcomeKey struct {
	org, project uint64
	key          string
	hour         int64
	kind         outcome.Kind
	reason       string
	category     outcome.Category
}

// outcomeSums accumulates ingest's outcomes between flushes.
type outcomeSums struct {
	mu   sync.Mutex // guards sums
	sums map[outcomeKey]uint64
}

// record counts qty units of category (a Relay category name) that met
// kind at ingest.
func (h *Handler) record(req *request, kind outcome.Kind, reason, category string, qty int64) {
	if req.project == nil || qty <= 0 {
		return
	}
	cat, ok := outcome.ParseCategory(category)
	if !ok {
		cat = outcome.CategoryDefault
	}
	k := outcomeKey{org: req.project.OrgID, project: req.project.ID, hour: req.received.Unix() / 3600 * 3600,
		kind: kind, reason: reason, category: cat}
	if req.key != nil {
		k.key = req.key.ID
	}
	h.outcomes.mu.Lock()
	if h.outcomes.sums == nil {
		h.outcomes.sums = map[outcomeKey]uint64{}
	}
	h.outcomes.sums[k] += uint64(qty)
	h.outcomes.mu.Unlock()
}

// flushOutcomes queues the sums recorded since the last flush.
func (h *Handler) flushOutcomes(ctx context.Context) {
	h.outcomes.mu.Lock()
	sums := h.outcomes.sums
	h.outcomes.sums = nil
	h.outcomes.mu.Unlock()
	if len(sums) == 0 {
		return
	}
	recs := make([]outcome.Sum, 0, len(sums))
	for k, q := range sums {
		recs = append(recs, outcome.Sum{OrgID: k.org, ProjectID: k.project, KeyID: k.key, Hour: k.hour,
			Kind: k.kind, Reason: k.reason, Category: k.category, Quantity: q})
	}
	body, _ := json.Marshal(recs)
	var id [16]byte
	rand.Read(id[:]) //nolint:errcheck // crypto/rand does not fail on Linux
	m := &queue.Message{Kind: queue.KindOutcomes, DedupID: "outcomes-" + hex.EncodeToString(id[:]), Received: time.Now(), Body: body}
	if err := h.deps.Queue.Publish(ctx, m); err != nil {
		h.log.Warn("ingest outcomes not queued", "records", len(recs), "err", err)
	}
}

// Run flushes ingest's outcomes every second until ctx is done, then once
// more.
func (h *Handler) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.flushOutcomes(ctx)
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			h.flushOutcomes(fctx)
			cancel()
			return
		}
	}
}
