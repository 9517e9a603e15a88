package api

import (
	"context"
	"net/http"
)

// listDeploys serves GET /api/0/organizations/{org}/releases/{version}/deploys/:
// the deploys of a release in the organization's projects (optionally
// ?project=ID, repeated), newest first, in Sentry's Deploy shape, one
// entry per deploy with its projects. Airbrake notifiers report deploys;
// what they tell beyond Sentry's fields (revision, repository, who
// deployed) is added.
func (a *API) listDeploys(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	rs, err := a.releaseScopeOf(r, c)
	if err != nil {
		return nil, err
	}
	version := r.PathValue("version")
	deploys, err := a.store.ReleasesDeploys(ctx, rs.ids, []string{version})
	if err != nil {
		return nil, err
	}
	out := groupDeploys(deploys[version], rs)
	for _, d := range out {
		d["project"] = nil
		if ps := d["projects"].([]string); len(ps) > 0 {
			d["project"] = ps[0]
		}
	}
	if out == nil {
		out = []map[string]any{}
	}
	return ok(out)
}
