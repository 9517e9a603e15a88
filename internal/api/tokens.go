package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/route"
)

// tokenMeta is the metadata the token routes read and write.
type tokenMeta interface {
	CreateUserToken(ctx context.Context, userID uint64, name string, scopes []string) (*meta.Token, string, error)
	CreateOrgToken(ctx context.Context, org *meta.Organization, userID uint64, name, publicURL string) (*meta.Token, string, error)
	UserTokens(userID uint64) []*meta.Token
	OrgTokens(orgID uint64) []*meta.Token
	RevokeUserToken(ctx context.Context, userID, id uint64) error
	RevokeOrgToken(ctx context.Context, orgID, id uint64) error
}

// TokenUsage records and reads when tokens were last used.
type TokenUsage interface {
	Record(ctx context.Context, tok *meta.Token, t time.Time) bool
	LastUsed(ctx context.Context, tok *meta.Token) (time.Time, bool)
}

var errNoPermission = &Error{Status: http.StatusForbidden, Detail: "You do not have permission to perform this action."}

// ciRoute declares a route that organization tokens (org:ci) may call too,
// in their own organization, besides users with scope.
func (a *API) ciRoute(method, path string, fn handlerFunc, tenant route.Tenant, scope, name string) route.Route {
	r := route.Route{Method: method, Path: path, Auth: route.User | route.OrgToken, Tenant: tenant, Scope: scope, OrgCI: true, Name: name}
	r.Handler = a.wrap(r, fn)
	return r
}

// checkScope is the one scope check, run by wrap once the caller is
// authenticated: a token passes only the routes its scopes cover.
//   - An organization token passes only the routes marked OrgCI (and the
//     handlers' organization lookup hides every other organization).
//   - A user token passes a route whose Scope one of its scopes covers
//     (x:admin covers x:write covers x:read; see scopeImplies); "*" (the
//     bootstrap token) covers every route.
//   - A route with an empty Scope (token management, superuser routes)
//     passes only "*": a scoped token can neither mint a broader token nor
//     reach what only superusers may do.
//
// A caller without a token (a session) is left to the role check.
func checkScope(rt route.Route, c *caller) error {
	t := c.token
	if t == nil {
		return nil
	}
	if t.IsOrgToken() {
		if rt.OrgCI {
			return nil
		}
		return errNoPermission
	}
	if TokenCovers(t.Scopes, rt.Scope) {
		return nil
	}
	return errNoPermission
}

// TokenCovers reports whether a user token holding scopes may call a route
// that needs scope need ("" for routes only "*" reaches).
func TokenCovers(scopes []string, need string) bool {
	if need == route.AnyScope {
		return len(scopes) > 0
	}
	for _, s := range scopes {
		if s == meta.ScopeAll {
			return true
		}
		if need == "" {
			continue
		}
		for _, implied := range scopeImplies(s) {
			if implied == need {
				return true
			}
		}
	}
	return false
}

// scopeImplies lists what a scope covers: Sentry's scope hierarchy
// (x:admin ⊇ x:write ⊇ x:read; member:write ⊇ member:invite ⊇ member:read;
// org:admin ⊇ org:integrations), and project:write ⊇ project:releases, as
// Sentry's release endpoints accept project:write.
func scopeImplies(s string) []string {
	switch s {
	case "org:write":
		return []string{"org:read", "org:write"}
	case "org:admin":
		return []string{"org:read", "org:write", "org:admin", "org:integrations"}
	case "project:write":
		return []string{"project:read", "project:write", "project:releases"}
	case "project:admin":
		return []string{"project:read", "project:write", "project:admin", "project:releases"}
	case "member:invite":
		return []string{"member:read", "member:invite"}
	case "member:write":
		return []string{"member:read", "member:invite", "member:write"}
	case "member:admin":
		return []string{"member:read", "member:invite", "member:write", "member:admin"}
	}
	res, level, ok := strings.Cut(s, ":")
	if !ok {
		return nil
	}
	switch level {
	case "write":
		return []string{res + ":read", s}
	case "admin":
		return []string{res + ":read", res + ":write", s}
	}
	return []string{s}
}

// recordUse notes the token's use (at most once a minute per token).
func (a *API) recordUse(ctx context.Context, c *caller) {
	if c.token == nil || a.cfg.TokenUsage == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	a.cfg.TokenUsage.Record(ctx, c.token, time.Now().UTC())
}

func (a *API) lastUsed(ctx context.Context, t *meta.Token) *time.Time {
	if a.cfg.TokenUsage == nil {
		return nil
	}
	at, ok := a.cfg.TokenUsage.LastUsed(ctx, t)
	if !ok {
		return nil
	}
	return &at
}

// serializeToken is Sentry's ApiToken shape (never the token itself), with
// lastUsed.
func (a *API) serializeToken(ctx context.Context, t *meta.Token) map[string]any {
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	var last any
	if t.LastChars != "" {
		last = t.LastChars
	}
	var name any
	if t.Name != "" {
		name = t.Name
	}
	used := a.lastUsed(ctx, t)
	out := map[string]any{
		"id":                  strconv.FormatUint(t.ID, 10),
		"name":                name,
		"scopes":              scopes,
		"dateCreated":         t.DateCreated,
		"expiresAt":           nil,
		"application":         nil,
		"tokenLastCharacters": last,
		"lastUsed":            used,
	}
	if t.IsOrgToken() {
		out["dateLastUsed"] = used
		out["projectLastUsedId"] = nil
	}
	return out
}

// listAPITokens serves GET /api/0/api-tokens/: the caller's own tokens.
func (a *API) listAPITokens(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	out := []map[string]any{}
	for _, t := range a.meta.UserTokens(c.user.ID) {
		out = append(out, a.serializeToken(ctx, t))
	}
	return ok(out)
}

type tokenCreate struct {
	Name   *string  `json:"name"`
	Scopes []string `json:"scopes"`
}

// createAPIToken serves POST /api/0/api-tokens/ {name, scopes}: 201 with
// the token, shown this once.
func (a *API) createAPIToken(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	var b tokenCreate
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if len(b.Scopes) == 0 {
		return nil, errorf(http.StatusBadRequest, "scopes: at least one scope is required.")
	}
	seen := map[string]bool{}
	var scopes []string
	for _, s := range b.Scopes {
		if !meta.ValidScope(s) {
			return nil, errorf(http.StatusBadRequest, "scopes: %q is not a valid scope.", truncate(s, 64))
		}
		if !seen[s] {
			seen[s] = true
			scopes = append(scopes, s)
		}
	}
	var name string
	if b.Name != nil {
		name = strings.TrimSpace(*b.Name)
	}
	t, value, err := a.meta.CreateUserToken(ctx, c.user.ID, name, scopes)
	if err != nil {
		return nil, err
	}
	out := a.serializeToken(ctx, t)
	out["token"] = value
	out["refreshToken"] = nil
	return created(out)
}

// deleteAPIToken serves DELETE /api/0/api-tokens/ {tokenId}: 204.
func (a *API) deleteAPIToken(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	var b struct {
		TokenID json.Number `json:"tokenId"`
	}
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	id, err := strconv.ParseUint(string(b.TokenID), 10, 64)
	if err != nil || id == 0 {
		return nil, errorf(http.StatusBadRequest, "tokenId: a token id is required.")
	}
	if err := a.meta.RevokeUserToken(ctx, c.user.ID, id); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent}, nil
}

// listOrgTokens serves GET /api/0/organizations/{org}/org-auth-tokens/.
func (a *API) listOrgTokens(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, t := range a.meta.OrgTokens(o.ID) {
		out = append(out, a.serializeToken(ctx, t))
	}
	return ok(out)
}

// createOrgToken serves POST /api/0/organizations/{org}/org-auth-tokens/
// {name}: 201 with the token (sntrys_...), shown this once.
func (a *API) createOrgToken(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	var b tokenCreate
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if b.Name == nil || strings.TrimSpace(*b.Name) == "" {
		return nil, errorf(http.StatusBadRequest, "name: a name is required.")
	}
	t, value, err := a.meta.CreateOrgToken(ctx, o, c.user.ID, strings.TrimSpace(*b.Name), a.public.String())
	if err != nil {
		return nil, err
	}
	out := a.serializeToken(ctx, t)
	out["token"] = value
	return created(out)
}

// deleteOrgToken serves DELETE
// /api/0/organizations/{org}/org-auth-tokens/{token_id}/: 204.
func (a *API) deleteOrgToken(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseUint(r.PathValue("token_id"), 10, 64)
	if err != nil {
		return nil, errNotFound
	}
	if err := a.meta.RevokeOrgToken(ctx, o.ID, id); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return nil, errNotFound
		}
		return nil, err
	}
	return &response{status: http.StatusNoContent}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
