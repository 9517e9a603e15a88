package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/meta"
)

// MemberMeta is the membership part of the metadata the API uses.
type MemberMeta interface {
	Members(orgID uint64) []*meta.Member
	Member(orgID, id uint64) (*meta.Member, bool)
	MemberByUser(orgID, userID uint64) (*meta.Member, bool)
	InviteMember(ctx context.Context, orgID uint64, email, role string, teams []uint64) (*meta.Member, string, error)
	UpdateMember(ctx context.Context, orgID, id uint64, change func(*meta.Member) error) (*meta.Member, error)
	RemoveMember(ctx context.Context, orgID, id uint64, check func(*meta.Member) error) error
	MemberUser(m *meta.Member) (*meta.User, bool)
}

var errMemberPermission = errorf(http.StatusForbidden, "You do not have permission to perform this action.")

// callerRole is the caller's role in org; a superuser counts as an owner.
func callerRole(c *caller, o *meta.Organization) string {
	if c.user.Superuser {
		return authz.Owner
	}
	return o.Role(c.user.ID)
}

// mayManage checks that the caller may change a member that has role old
// into one with role new ("" when removed or added): managers and owners
// change members, and only owners touch owners.
func mayManage(c *caller, o *meta.Organization, old, new string) error {
	role := callerRole(c, o)
	if !authz.AtLeast(role, authz.Manager) {
		return errMemberPermission
	}
	if (old == authz.Owner || new == authz.Owner) && role != authz.Owner {
		return errorf(http.StatusForbidden, "Only an owner can add, change or remove an owner.")
	}
	return nil
}

// onTeamOrManager reports whether the caller acts on team t as its own:
// managers, owners, superusers and organization tokens on every team,
// others (admins) only on the teams they are on, or on every team when
// the organization has open membership (Sentry's team admin rights of the
// admin role).
func (a *API) onTeamOrManager(c *caller, o *meta.Organization, t *meta.Team) bool {
	if c.token != nil && c.token.IsOrgToken() || o.OpenMembership || authz.AtLeast(callerRole(c, o), authz.Manager) {
		return true
	}
	m, ok := a.meta.MemberByUser(o.ID, c.user.ID)
	return ok && m.HasTeam(t.ID)
}

// member resolves {org} and {member_id}; "me" is the caller's membership,
// as in Sentry.
func (a *API) member(r *http.Request, c *caller) (*meta.Organization, *meta.Member, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, nil, err
	}
	if r.PathValue("member_id") == "me" {
		m, ok := a.meta.MemberByUser(o.ID, c.user.ID)
		if !ok {
			return nil, nil, errNotFound
		}
		return o, m, nil
	}
	id, err := strconv.ParseUint(r.PathValue("member_id"), 10, 64)
	if err != nil {
		return nil, nil, errNotFound
	}
	m, ok := a.meta.Member(o.ID, id)
	if !ok {
		return nil, nil, errNotFound
	}
	return o, m, nil
}

// serializeMember is Sentry's OrganizationMember shape.
func (a *API) serializeMember(m *meta.Member) map[string]any {
	role, _ := authz.Lookup(m.Role)
	teams := []string{}
	teamRoles := []map[string]any{}
	for _, id := range m.Teams {
		if t, ok := a.meta.TeamByID(id); ok && t.OrgID == m.OrgID {
			teams = append(teams, t.Slug)
			teamRoles = append(teamRoles, map[string]any{"teamSlug": t.Slug, "role": nil})
		}
	}
	out := map[string]any{
		"id": strconv.FormatUint(m.ID, 10), "email": m.Email, "name": m.Email,
		"user": nil, "orgRole": m.Role, "role": m.Role, "roleName": role.Name,
		"pending": m.Pending, "expired": false, "flags": map[string]bool{"sso:linked": false, "sso:invalid": false, "member-limit:restricted": false},
		"dateCreated": m.DateCreated, "inviteStatus": "approved", "inviterName": nil,
		"teams": teams, "teamRoles": teamRoles, "projects": []string{},
	}
	if m.Pending && time.Since(m.DateCreated) > meta.InvitationMaxAge {
		out["expired"] = true // its link no longer works
	}
	if m.UserID != 0 {
		if u, ok := a.meta.MemberUser(m); ok {
			out["name"] = u.Name
			out["user"] = map[string]any{"id": strconv.FormatUint(u.ID, 10), "email": u.Email, "username": u.Email,
				"name": u.Name, "isSuperuser": u.Superuser, "dateJoined": u.DateCreated}
		}
	}
	return out
}

// listMembers is GET /api/0/organizations/{org}/members/.
func (a *API) listMembers(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, m := range a.meta.Members(o.ID) {
		out = append(out, a.serializeMember(m))
	}
	return ok(out)
}

// getMember is GET /api/0/organizations/{org}/members/{member_id}/.
func (a *API) getMember(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, m, err := a.member(r, c)
	if err != nil {
		return nil, err
	}
	return ok(a.serializeMember(m))
}

type memberBody struct {
	Email   string   `json:"email"`
	OrgRole string   `json:"orgRole"`
	Role    string   `json:"role"` // Sentry's older name of orgRole
	Teams   []string `json:"teams"`
}

func (b *memberBody) role() string {
	if b.OrgRole != "" {
		return b.OrgRole
	}
	return b.Role
}

// maxMemberTeams bounds the teams of one request.
const maxMemberTeams = 100

// addMember is POST /api/0/organizations/{org}/members/: the e-mail of an
// existing user makes them a member at once; another e-mail makes a
// pending member, and the answer carries the invitation link (shown to the
// inviter: there is no mail server by default).
func (a *API) addMember(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	var b memberBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	role := b.role()
	if role == "" {
		role = authz.Member
	}
	if !authz.Valid(role) {
		return nil, errorf(http.StatusBadRequest, "orgRole: %q is not a valid role.", role)
	}
	if err := mayManage(c, o, "", role); err != nil {
		return nil, err
	}
	if len(b.Teams) > maxMemberTeams {
		return nil, errorf(http.StatusBadRequest, "teams: at most %d.", maxMemberTeams)
	}
	var teams []uint64
	for _, slug := range b.Teams {
		t, ok := a.meta.Team(o.ID, slug)
		if !ok {
			return nil, errorf(http.StatusBadRequest, "teams: no team %q in this organization.", slug)
		}
		teams = append(teams, t.ID)
	}
	m, token, err := a.meta.InviteMember(ctx, o.ID, b.Email, role, teams)
	if errors.Is(err, meta.ErrExists) {
		return nil, errorf(http.StatusConflict, "The user %s is already a member.", b.Email)
	}
	if err != nil {
		return nil, err
	}
	out := a.serializeMember(m)
	if token != "" {
		link := a.public.String() + "/accept/" + strconv.FormatUint(m.ID, 10) + "/" + token + "/"
		out["inviteLink"] = link
		if a.cfg.Invitations != nil {
			if err := a.cfg.Invitations.EnqueueInvitation(ctx, m.ID, o.Name, m.Email, link); err != nil {
				a.log.Warn("queueing an invitation mail", "member", m.ID, "err", err)
			}
		}
	}
	return created(out)
}

// updateMember is PUT /api/0/organizations/{org}/members/{member_id}/
// with {"orgRole": ...} (or Sentry's older "role").
func (a *API) updateMember(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, m, err := a.member(r, c)
	if err != nil {
		return nil, err
	}
	var b memberBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	role := b.role()
	if role == "" {
		return ok(a.serializeMember(m))
	}
	if !authz.Valid(role) {
		return nil, errorf(http.StatusBadRequest, "orgRole: %q is not a valid role.", role)
	}
	if err := mayManage(c, o, m.Role, role); err != nil {
		return nil, err
	}
	m, err = a.meta.UpdateMember(ctx, o.ID, m.ID, func(cur *meta.Member) error {
		if err := mayManage(c, o, cur.Role, role); err != nil {
			return err
		}
		cur.Role = role
		return nil
	})
	if err != nil {
		return nil, memberError(err)
	}
	return ok(a.serializeMember(m))
}

// deleteMember is DELETE /api/0/organizations/{org}/members/{member_id}/.
func (a *API) deleteMember(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, m, err := a.member(r, c)
	if err != nil {
		return nil, err
	}
	if err := mayManage(c, o, m.Role, ""); err != nil {
		return nil, err
	}
	err = a.meta.RemoveMember(ctx, o.ID, m.ID, func(cur *meta.Member) error { return mayManage(c, o, cur.Role, "") })
	if err != nil {
		return nil, memberError(err)
	}
	return &response{status: http.StatusNoContent}, nil
}

// memberError words the last-owner refusal for the client.
func memberError(err error) error {
	if errors.Is(err, meta.ErrLastOwner) {
		return errorf(http.StatusBadRequest, "An organization must keep at least one owner: make another member an owner first.")
	}
	return err
}

// addMemberTeam is POST
// /api/0/organizations/{org}/members/{member_id}/teams/{team}/: 201 with
// the team, or 204 if the member is on it already.
func (a *API) addMemberTeam(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	return a.changeMemberTeam(ctx, r, c, true)
}

// removeMemberTeam is DELETE
// /api/0/organizations/{org}/members/{member_id}/teams/{team}/: 200 with
// the team.
func (a *API) removeMemberTeam(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	return a.changeMemberTeam(ctx, r, c, false)
}

func (a *API) changeMemberTeam(ctx context.Context, r *http.Request, c *caller, add bool) (*response, error) {
	o, m, err := a.member(r, c)
	if err != nil {
		return nil, err
	}
	t, found := a.meta.Team(o.ID, r.PathValue("team"))
	if !found {
		return nil, errNotFound
	}
	if !mayChangeTeams(c, o, m, add) {
		return nil, errMemberPermission
	}
	changed := false
	if _, err := a.meta.UpdateMember(ctx, o.ID, m.ID, func(cur *meta.Member) error {
		on := cur.HasTeam(t.ID)
		changed = on != add
		if add && !on {
			cur.Teams = append(cur.Teams, t.ID)
		}
		if !add && on {
			kept := cur.Teams[:0:0]
			for _, id := range cur.Teams {
				if id != t.ID {
					kept = append(kept, id)
				}
			}
			cur.Teams = kept
		}
		return nil
	}); err != nil {
		return nil, memberError(err)
	}
	switch {
	case add && !changed:
		return &response{status: http.StatusNoContent}, nil
	case add:
		return created(a.teamFor(c, t))
	}
	return ok(a.teamFor(c, t))
}

// mayChangeTeams reports whether the caller may add member m to a team
// (add) or take them off one: managers and owners place anyone; with the
// organization's open membership on, a member joins any team themself;
// anyone may leave a team (Sentry's rules). The route needs only
// org:read, as Sentry's; placing others needs a token with member:write.
func mayChangeTeams(c *caller, o *meta.Organization, m *meta.Member, add bool) bool {
	if authz.AtLeast(callerRole(c, o), authz.Manager) && (c.token == nil || TokenCovers(c.token.Scopes, "member:write")) {
		return true
	}
	self := c.token == nil || !c.token.IsOrgToken()
	self = self && m.UserID != 0 && m.UserID == c.user.ID
	return self && (o.OpenMembership || !add)
}
