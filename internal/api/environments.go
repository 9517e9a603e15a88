package api

import (
	"context"
	"hash/fnv"
	"net/http"
	"strconv"
)

// EnvironmentLister lists the environments of projects' events.
type EnvironmentLister interface {
	Environments(ctx context.Context, projectIDs []uint64) ([]string, error)
}

// environmentID is an environment's id as the API shows it: Sentry's are
// rows of a table; Faultline's environments are names found in events,
// so the id is derived from the name, stable across calls.
func environmentID(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return strconv.FormatUint(uint64(h.Sum32()), 10)
}

// checkVisibility reads Sentry's ?visibility= (visible, the default;
// hidden; all). Faultline hides no environment, so hidden lists none.
func checkVisibility(r *http.Request) (hiddenOnly bool, err error) {
	switch v := r.URL.Query().Get("visibility"); v {
	case "", "visible", "all":
		return false, nil
	case "hidden":
		return true, nil
	default:
		return false, errorf(http.StatusBadRequest, "Invalid value for 'visibility', valid values are: 'all', 'hidden', 'visible'")
	}
}

// listOrgEnvironments is Sentry's GET
// /api/0/organizations/{org}/environments/: [{"id", "name"}] of the
// environments of the projects the caller may see (or the ?project= ids).
func (a *API) listOrgEnvironments(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	projects, err := a.orgProjects(r, c, o)
	if err != nil {
		return nil, err
	}
	hidden, err := checkVisibility(r)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	if hidden || len(projects) == 0 {
		return ok(out)
	}
	pids := make([]uint64, len(projects))
	for i, p := range projects {
		pids[i] = p.ID
	}
	names, err := a.store.Environments(ctx, pids)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		out = append(out, map[string]any{"id": environmentID(n), "name": n})
	}
	return ok(out)
}

// listProjectEnvironments is Sentry's GET
// /api/0/projects/{org}/{project}/environments/: [{"id", "name",
// "isHidden"}].
func (a *API) listProjectEnvironments(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	hidden, err := checkVisibility(r)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	if hidden {
		return ok(out)
	}
	names, err := a.store.Environments(ctx, []uint64{p.ID})
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		out = append(out, map[string]any{"id": environmentID(n), "name": n, "isHidden": false})
	}
	return ok(out)
}
