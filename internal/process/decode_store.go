package process

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/envelope"
)

// decodeStore decodes a /store/ message: one event, sent as JSON, base64,
// or zlib-deflated base64 (raven); old SDKs sent transactions there too.
func (w *Worker) decodeStore(ctx context.Context, m jetstream.Msg, c *msgContext, body []byte) (decoded, error) {
	var d decoded
	body, err := envelope.DecodeLegacyStore(body, envelope.MaxEventSize)
	if err != nil {
		return d, err
	}
	if info, err := envelope.InspectEvent(body); err == nil && info.Type == "transaction" {
		w.transaction(c, &d, body)
	} else if err := w.addEvents(ctx, m, c, &d, [][]byte{body}); err != nil {
		return d, err
	}
	if len(c.qm.Attachments) > 0 {
		w.attachments(c, &d, c.src.EventID)
	}
	return d, nil
}
