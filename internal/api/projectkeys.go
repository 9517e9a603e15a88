package api

import (
	"context"
	"net/http"
	"slices"
)

// deleteKey is DELETE /api/0/projects/{org}/{project}/keys/{key}/, as in
// Sentry: 204, and ingest refuses the key from then on.
func (a *API) deleteKey(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	k, err := a.key(r, c)
	if err != nil {
		return nil, err
	}
	if err := a.meta.DeleteKey(ctx, k); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent}, nil
}

// addProjectTeam is POST /api/0/projects/{org}/{project}/teams/{team}/, as
// in Sentry: 201 with the project, now also reachable by the team's
// members. The caller acts on the team as on their own (a manager, or an
// admin on it).
func (a *API) addProjectTeam(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	return a.changeProjectTeam(ctx, r, c, true)
}

// removeProjectTeam is DELETE /api/0/projects/{org}/{project}/teams/{team}/:
// 200 with the project.
func (a *API) removeProjectTeam(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	return a.changeProjectTeam(ctx, r, c, false)
}

func (a *API) changeProjectTeam(ctx context.Context, r *http.Request, c *caller, add bool) (*response, error) {
	o, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	t, found := a.meta.Team(o.ID, r.PathValue("team"))
	if !found {
		return nil, errNotFound
	}
	if !a.onTeamOrManager(c, o, t) {
		return nil, errMemberPermission
	}
	cp := *p
	on := slices.Contains(p.TeamIDs, t.ID)
	switch {
	case add && !on:
		cp.TeamIDs = append(slices.Clone(p.TeamIDs), t.ID)
	case !add && on:
		cp.TeamIDs = slices.DeleteFunc(slices.Clone(p.TeamIDs), func(id uint64) bool { return id == t.ID })
	default:
		if add {
			return created(a.projectFor(c, p))
		}
		return ok(a.projectFor(c, p))
	}
	if err := a.meta.UpdateProject(ctx, &cp); err != nil {
		return nil, err
	}
	if add {
		return created(a.projectFor(c, &cp))
	}
	return ok(a.projectFor(c, &cp))
}
