package process

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/envelope"
)

// decodeEnvelope decodes an envelope: its event items are built, every
// other item (transactions, sessions, attachments, user feedback, client
// reports...) handled by handleItem (items.go).
func (w *Worker) decodeEnvelope(ctx context.Context, m jetstream.Msg, c *msgContext, body []byte) (decoded, error) {
	var d decoded
	env, err := envelope.Parse(body)
	if err != nil {
		return d, err
	}
	c.src.SentAt = parseSentAt(env.Header.SentAt)
	if c.src.EventID == "" {
		c.src.EventID = env.Header.EventID
	}
	var payloads [][]byte
	for i := range env.Items {
		it := &env.Items[i]
		if it.Type == "event" {
			payloads = append(payloads, it.Payload)
			continue
		}
		w.handleItem(c, &d, it)
	}
	if err := w.addEvents(ctx, m, c, &d, payloads); err != nil {
		return d, err
	}
	if len(c.qm.Attachments) > 0 {
		w.attachments(c, &d, c.src.EventID)
	}
	return d, nil
}
