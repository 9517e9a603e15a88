package api

import (
	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/meta"
)

// teamFor is a team's JSON for the caller: isMember says whether they are
// on it, hasAccess whether they may act on it (on it, or open membership,
// or a manager, owner, superuser or organization token), as Sentry's.
func (a *API) teamFor(c *caller, t *meta.Team) map[string]any {
	out := serializeTeam(t)
	count := 0
	for _, m := range a.meta.Members(t.OrgID) {
		if !m.Pending && m.HasTeam(t.ID) {
			count++
		}
	}
	out["memberCount"] = count
	isMember := false
	if c != nil && c.user != nil {
		if m, ok := a.meta.MemberByUser(t.OrgID, c.user.ID); ok {
			isMember = m.HasTeam(t.ID)
		}
	}
	out["isMember"] = isMember
	out["hasAccess"] = isMember || a.orgWideAccess(c, t.OrgID)
	return out
}

// projectFor is a project's JSON for the caller: isMember says whether
// they are on one of its teams, hasAccess whether they may see it.
func (a *API) projectFor(c *caller, p *meta.Project) map[string]any {
	out := a.serializeProject(p)
	isMember := false
	if c != nil && c.user != nil {
		if m, ok := a.meta.MemberByUser(p.OrgID, c.user.ID); ok {
			for _, t := range p.TeamIDs {
				if m.HasTeam(t) {
					isMember = true
				}
			}
		}
	}
	out["isMember"] = isMember
	out["hasAccess"] = isMember || a.orgWideAccess(c, p.OrgID)
	return out
}

// orgWideAccess reports whether the caller may act on every team and
// project of an organization.
func (a *API) orgWideAccess(c *caller, orgID uint64) bool {
	if c == nil || c.user == nil && c.token == nil {
		return false
	}
	if c.token != nil && c.token.IsOrgToken() {
		return c.token.OrgID == orgID
	}
	o, ok := a.meta.OrganizationByID(orgID)
	if !ok {
		return false
	}
	return c.user.Superuser || o.HasMember(c.user.ID) && (o.OpenMembership || authz.AtLeast(o.Role(c.user.ID), authz.Manager))
}
