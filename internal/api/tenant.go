package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/deletion"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/route"
)

// tenant is what a request's path names, resolved once by wrap for the
// caller before the scope and role checks: the organization, and the
// project, issue or deletion job when the path names one. Handlers read it
// through a.org, a.project, a.issue and tenantOf; they never see an object
// the caller may not see.
type tenant struct {
	org     *meta.Organization
	project *meta.Project // nil unless the path names a project or an issue
	groupID uint64        // the issue's id, for issue routes
	job     *deletion.Job // the deletion job, for job routes
}

type tenantKey struct{}

// tenantOf returns the tenant wrap resolved for the request, or nil.
func tenantOf(ctx context.Context) *tenant {
	t, _ := ctx.Value(tenantKey{}).(*tenant)
	return t
}

// resolveTenant finds the organization (and the project, issue or job) a
// route's path names, answering 404 for anything the caller may not see,
// so that a caller of another organization learns nothing, whatever their
// scopes or role there. Objects pending deletion are found (the routes
// that restore them need them); the handlers hide them where they must.
// It returns nil for routes that name no tenant.
func (a *API) resolveTenant(ctx context.Context, rt route.Route, r *http.Request, c *caller) (*tenant, error) {
	if rt.Superuser || c == nil || c.user == nil && c.token == nil {
		return nil, nil
	}
	switch rt.Tenant {
	case route.TenantIssue:
		o, p, gid, err := a.findIssue(ctx, r, c)
		if err != nil {
			return nil, err
		}
		return &tenant{org: o, project: p, groupID: gid}, nil
	case route.TenantJob:
		return a.findJob(r, c)
	}
	slug := r.PathValue("org")
	if slug == "" {
		return nil, nil
	}
	o, found := a.meta.Organization(slug)
	if !found || !c.canSee(o) {
		return nil, errNotFound
	}
	t := &tenant{org: o}
	if ps := r.PathValue("project"); ps != "" && (rt.Tenant == route.TenantProject || rt.Tenant == route.TenantEvent) {
		p, found := a.meta.Project(o.ID, ps)
		if !found || !a.canSeeProject(c, o, p) {
			return nil, errNotFound
		}
		t.project = p
	}
	return t, nil
}

// findIssue resolves {id} (and {org}, when the path has it) to an issue
// of a project the caller sees.
func (a *API) findIssue(ctx context.Context, r *http.Request, c *caller) (*meta.Organization, *meta.Project, uint64, error) {
	gid, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, nil, 0, errNotFound
	}
	ref, err := a.groups.Get(ctx, gid)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, nil, 0, errNotFound
	}
	if err != nil {
		return nil, nil, 0, err
	}
	// A merged issue's id answers as the issue it was merged into (200
	// with that issue's JSON: GitLab and sentry-cli follow no redirects).
	for hops := 0; ref.MergedInto != 0 && hops < 16; hops++ {
		if ref, err = a.groups.Get(ctx, ref.MergedInto); err != nil {
			return nil, nil, 0, err
		}
		gid = ref.ID
	}
	p, ok := a.meta.ProjectByID(ref.ProjectID)
	if !ok || !visibleProject(p) {
		return nil, nil, 0, errNotFound
	}
	o, ok := a.meta.OrganizationByID(p.OrgID)
	if !ok || !a.canSeeProject(c, o, p) {
		return nil, nil, 0, errNotFound
	}
	if slug := r.PathValue("org"); slug != "" && slug != o.Slug {
		return nil, nil, 0, errNotFound
	}
	return o, p, gid, nil
}

// findJob resolves a deletion job's {id}. The caller must be a superuser,
// the job's creator, or a member of its organization (which is gone once
// an organization's deletion is done) who sees every project it names.
func (a *API) findJob(r *http.Request, c *caller) (*tenant, error) {
	if a.deletions == nil || c.user == nil {
		return nil, errNotFound
	}
	j, found := a.deletions.Get(r.PathValue("id"))
	if !found {
		return nil, errNotFound
	}
	if c.token != nil && c.token.IsOrgToken() && c.token.OrgID != j.OrgID {
		return nil, errNotFound // bound to its organization, whoever made it
	}
	o, orgFound := a.meta.OrganizationByID(j.OrgID)
	if !c.user.Superuser && j.CreatedBy != c.user.ID {
		if !orgFound || !o.HasMember(c.user.ID) || !a.canSeeJob(c, o, j) {
			return nil, errNotFound
		}
	}
	t := &tenant{job: j}
	if orgFound {
		t.org = o
	}
	return t, nil
}

// checkRole refuses a member of the organization the request names (by
// its path, or through the issue or job it names) whose role does not
// allow the route's scope (Sentry's roles: a member may act on events but
// not delete projects or change members). Superusers have every role; a
// caller with no role there (a job's creator who left) goes on; a token's
// scopes were checked already, so what a token may do is what both its
// scopes and its user's role allow.
func (a *API) checkRole(rt route.Route, t *tenant, c *caller) error {
	if t == nil || t.org == nil || rt.Scope == "" || c == nil || c.user == nil || c.user.Superuser {
		return nil
	}
	if c.token != nil && c.token.IsOrgToken() {
		return nil // bound to its organization and to the OrgCI routes
	}
	role := t.org.Role(c.user.ID)
	if role == "" || authz.Allows(role, rt.Scope) {
		return nil
	}
	return errNoPermission
}
