package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
	"github.com/faultline/faultline/internal/store"
)

// groupingInfo recomputes an event's grouping variants from its stored
// (normalized and scrubbed) body, as Sentry's grouping-info does, and
// flags any variant whose hash no longer matches the stored one.
func groupingInfo(ev *store.StoredEvent) (map[string]any, error) {
	e, err := event.Decode([]byte(ev.Body))
	if err != nil {
		return nil, errorf(http.StatusInternalServerError, "stored event cannot be read")
	}
	r := grouping.ComputeDetailed(e)
	return grouping.GroupingInfo(r, e.Grouping), nil
}

// issueGroupingInfo serves the grouping info of an issue's latest event:
// why its events landed in it.
func (a *API) issueGroupingInfo(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	ev, err := a.store.LatestEvent(ctx, p.ID, gid)
	if err != nil {
		return nil, err
	}
	if ev == nil {
		return nil, errNotFound
	}
	info, err := groupingInfo(ev)
	if err != nil {
		return nil, err
	}
	return ok(info)
}

// eventGroupingInfo is Sentry's
// /projects/{org}/{project}/events/{event_id}/grouping-info/.
func (a *API) eventGroupingInfo(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	eid := strings.ReplaceAll(strings.ToLower(r.PathValue("event_id")), "-", "")
	ev, err := a.store.GetEvent(ctx, p.ID, eid)
	if err != nil {
		return nil, err
	}
	if ev == nil {
		return nil, errNotFound
	}
	info, err := groupingInfo(ev)
	if err != nil {
		return nil, err
	}
	return ok(info)
}
