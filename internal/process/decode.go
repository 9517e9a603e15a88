package process

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/queue"
)

// decode turns one queue message into the events and other items it
// carries: one decoder per message kind, each in its own file
// (decode_store.go, decode_envelope.go, airbrake.go, decode_outcomes.go).
// Every event of a message then goes through build.
func (w *Worker) decode(ctx context.Context, m jetstream.Msg) (decoded, error) {
	w.hook(stageDecode, m)
	qm, err := queue.Decode(m)
	if err != nil {
		return decoded{}, err
	}
	if qm.Kind == queue.KindOutcomes {
		return decodeOutcomeSums(qm.Body)
	}
	c, body, err := w.open(&qm)
	if err != nil {
		return decoded{}, err
	}
	switch qm.Kind {
	case queue.KindStore:
		return w.decodeStore(ctx, m, c, body)
	case queue.KindEnvelope:
		return w.decodeEnvelope(ctx, m, c, body)
	case queue.KindAirbrake, queue.KindAirbrakeXML, queue.KindAirbrakeDeploy:
		return w.decodeAirbrakeMessage(ctx, m, c, body)
	}
	return decoded{}, fmt.Errorf("unknown message kind %q", qm.Kind)
}

// open finds the message's project (gone or being deleted: the message is
// dropped) and inflates its body as ingest queued it.
func (w *Worker) open(qm *queue.Message) (*msgContext, []byte, error) {
	project, ok := w.deps.Projects.ProjectByID(qm.ProjectID)
	if !ok || project.Status == meta.StatusPendingDeletion {
		return nil, nil, fmt.Errorf("%w: project %d", errProjectDeleted, qm.ProjectID)
	}
	body, err := envelope.Decode(qm.Body, qm.Encoding, envelope.MaxEnvelopeSize)
	if err != nil {
		return nil, nil, err
	}
	return &msgContext{project: project, qm: qm,
		src: Source{EventID: qm.EventID, Received: qm.Received, ClientIP: qm.ClientIP, Client: qm.Client}}, body, nil
}

// addEvents builds each event payload of a message and adds it to d.
func (w *Worker) addEvents(ctx context.Context, m jetstream.Msg, c *msgContext, d *decoded, payloads [][]byte) error {
	for _, p := range payloads {
		it, err := w.buildPayload(ctx, m, p, c.src, c.project)
		if err != nil {
			return err
		}
		it.msg, it.orgID, it.keyID = m, c.project.OrgID, c.qm.KeyID
		d.events = append(d.events, it)
	}
	return nil
}

// buildPayload decodes one event's JSON and builds it.
func (w *Worker) buildPayload(ctx context.Context, m jetstream.Msg, payload []byte, src Source, p *meta.Project) (item, error) {
	e, err := event.Decode(payload)
	if err != nil {
		return item{}, fmt.Errorf("decode event: %w", err)
	}
	w.hook(stageNormalize, m)
	return w.build(ctx, e, src, p)
}
