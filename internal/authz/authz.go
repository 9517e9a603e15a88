// Package authz is Sentry's role model as data: the organization roles
// (member, admin, manager, owner), the scopes each allows, and how scopes
// cover one another. The lists are Sentry's SENTRY_ROLES
// (sentry/conf/server.py).
package authz

import (
	"slices"
	"strings"
)

// Organization roles, from least to most.
const (
	Member  = "member"
	Admin   = "admin"
	Manager = "manager"
	Owner   = "owner"
)

// Role is one organization role.
type Role struct {
	ID   string
	Name string
	Desc string
	// Scopes are the scopes the role allows.
	Scopes []string
}

// Roles are Sentry's organization roles, least first.
var roles = []Role{
	{ID: Member, Name: "Member",
		Desc: "Members can view and act on events, as well as view most other data within the organization.",
		Scopes: []string{"event:read", "event:write", "event:admin", "project:releases", "project:read",
			"org:read", "member:read", "team:read", "alerts:read", "alerts:write"}},
	{ID: Admin, Name: "Admin",
		Desc: "Admin privileges on any teams of which they're a member. They can create new teams and projects, as well as remove teams and projects on which they already hold membership (or all teams, if open membership is enabled).",
		Scopes: []string{"event:read", "event:write", "event:admin", "org:read", "member:read",
			"project:read", "project:write", "project:admin", "project:releases",
			"team:read", "team:write", "team:admin", "org:integrations", "alerts:read", "alerts:write"}},
	{ID: Manager, Name: "Manager",
		Desc: "Gains admin access on all teams as well as the ability to add and remove members.",
		Scopes: []string{"event:read", "event:write", "event:admin",
			"member:read", "member:write", "member:admin", "member:invite",
			"project:read", "project:write", "project:admin", "project:releases",
			"team:read", "team:write", "team:admin", "org:read", "org:write", "org:integrations",
			"alerts:read", "alerts:write"}},
	{ID: Owner, Name: "Owner",
		Desc: "Unrestricted access to the organization, its data, and its settings. Can add, modify, and delete projects and members.",
		Scopes: []string{"org:read", "org:write", "org:admin", "org:integrations",
			"member:read", "member:write", "member:admin", "member:invite",
			"team:read", "team:write", "team:admin",
			"project:read", "project:write", "project:admin", "project:releases",
			"event:read", "event:write", "event:admin", "alerts:read", "alerts:write"}},
}

// Roles returns the organization roles, least first.
func Roles() []Role {
	out := slices.Clone(roles)
	for i := range out {
		out[i].Scopes = slices.Clone(out[i].Scopes)
	}
	return out
}

// Lookup returns the role with id.
func Lookup(id string) (Role, bool) {
	for _, r := range roles {
		if r.ID == id {
			return r, true
		}
	}
	return Role{}, false
}

// Valid reports whether id names a role.
func Valid(id string) bool {
	_, ok := Lookup(id)
	return ok
}

// Rank orders roles: member 1, admin 2, manager 3, owner 4; 0 for an
// unknown role.
func Rank(id string) int {
	for i, r := range roles {
		if r.ID == id {
			return i + 1
		}
	}
	return 0
}

// AtLeast reports whether role has at least the rank of min.
func AtLeast(role, min string) bool { return Rank(role) > 0 && Rank(role) >= Rank(min) }

// Allows reports whether role grants scope: one of its scopes covers it.
func Allows(role, scope string) bool {
	r, ok := Lookup(role)
	if !ok {
		return false
	}
	for _, have := range r.Scopes {
		if ScopeCovers(have, scope) {
			return true
		}
	}
	return false
}

// levels orders the scopes of one resource that form a hierarchy:
// x:admin covers x:write covers x:read. member:invite sits below
// member:write. Other scopes (project:releases, org:integrations,
// alerts:*, org:ci) cover only themselves.
var levels = map[string]int{"read": 1, "write": 3, "admin": 4}

// ScopeCovers reports whether a token or role holding have may do what
// want needs. "*" covers everything.
func ScopeCovers(have, want string) bool {
	if have == want || have == "*" {
		return have != ""
	}
	hr, hl, ok1 := strings.Cut(have, ":")
	wr, wl, ok2 := strings.Cut(want, ":")
	if !ok1 || !ok2 || hr != wr || hr == "alerts" {
		return false
	}
	h, hok := levels[hl]
	w, wok := levels[wl]
	if wr == "member" && wl == "invite" {
		w, wok = 2, true
	}
	return hok && wok && h >= w
}
