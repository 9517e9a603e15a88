package api

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// listDeploys serves GET /api/0/organizations/{org}/releases/{version}/deploys/:
// the deploys of a release in the organization's projects (optionally
// ?project=ID, repeated), newest first, in Sentry's Deploy shape. Airbrake
// notifiers report deploys; what they tell beyond Sentry's fields
// (revision, repository, who deployed) is added.
func (a *API) listDeploys(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	want := map[uint64]bool{}
	for _, v := range r.URL.Query()["project"] {
		pid, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "Invalid project parameter.")
		}
		want[pid] = true
	}
	slugs := map[uint64]string{}
	var ids []uint64
	for _, p := range a.meta.Projects(o.ID) {
		if (len(want) == 0 || want[p.ID]) && a.canSeeProject(c, o, p) {
			ids = append(ids, p.ID)
			slugs[p.ID] = p.Slug
		}
	}
	deploys, err := a.store.ListDeploys(ctx, ids, r.PathValue("version"))
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(deploys))
	for _, d := range deploys {
		out = append(out, map[string]any{
			"id":           d.DeployID,
			"environment":  d.Environment,
			"dateStarted":  nil,
			"dateFinished": d.DateFinished.UTC().Format(time.RFC3339),
			"name":         nil,
			"url":          nil,
			"project":      slugs[d.ProjectID],
			"revision":     nilIfEmpty(d.Revision),
			"repository":   nilIfEmpty(d.Repository),
			"username":     nilIfEmpty(d.Username),
			"email":        nilIfEmpty(d.Email),
		})
	}
	return ok(out)
}
