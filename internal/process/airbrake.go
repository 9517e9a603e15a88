package process

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/airbrake"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/store"
)

// decodeAirbrakeMessage decodes an Airbrake notice (JSON or XML) or
// deploy.
func (w *Worker) decodeAirbrakeMessage(ctx context.Context, m jetstream.Msg, c *msgContext, body []byte) (decoded, error) {
	items, err := w.decodeAirbrake(ctx, m, *c.qm, body, c.project, c.src)
	if err != nil {
		return decoded{}, err
	}
	for i := range items {
		items[i].orgID, items[i].keyID = c.project.OrgID, c.qm.KeyID
	}
	return decoded{events: items}, nil
}

// decodeAirbrake turns an Airbrake message into the event its notice
// becomes, which is then normalized, grouped and stored as any event is,
// or into the deploy it reports.
func (w *Worker) decodeAirbrake(ctx context.Context, m jetstream.Msg, qm queue.Message, body []byte, p *meta.Project, src Source) ([]item, error) {
	if qm.Kind == queue.KindAirbrakeDeploy {
		d, err := airbrake.ParseDeploy(body)
		if err != nil {
			return nil, fmt.Errorf("airbrake deploy: %w", err)
		}
		row := &store.Deploy{
			ProjectID: p.ID, Version: d.Release(), DeployID: qm.EventID, Environment: d.Environment,
			Revision: d.Revision, Repository: d.Repository, Username: d.Username, Email: d.Email,
			DateFinished: qm.Received,
		}
		return []item{{msg: m, row: store.Event{ProjectID: p.ID, EventID: qm.EventID}, deploy: row}}, nil
	}
	parse := airbrake.ParseNotice
	if qm.Kind == queue.KindAirbrakeXML {
		parse = airbrake.ParseNoticeXML
	}
	n, err := parse(body)
	if err != nil {
		return nil, fmt.Errorf("airbrake notice: %w", err)
	}
	it, err := w.build(ctx, n.Event(), src, p)
	if err != nil {
		return nil, err
	}
	it.msg = m
	return []item{it}, nil
}
