package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/grouping"
	"github.com/faultline/faultline/internal/meta"
)

func id(n uint64) string { return strconv.FormatUint(n, 10) }

func avatar() map[string]any { return map[string]any{"avatarType": "letter_avatar", "avatarUuid": nil} }

func (a *API) serializeOrg(o *meta.Organization) map[string]any {
	base := a.public.String()
	return map[string]any{
		"id": id(o.ID), "slug": o.Slug, "name": o.Name, "dateCreated": o.DateCreated.Format(time.RFC3339Nano),
		"status": orgStatus(o), "isEarlyAdopter": false, "openMembership": o.OpenMembership,
		"require2FA": false, "avatar": avatar(), "features": []string{},
		"links": map[string]string{"organizationUrl": base + "/organizations/" + o.Slug + "/", "regionUrl": base},
	}
}

func orgStatus(o *meta.Organization) map[string]string {
	if o.Status == meta.StatusPendingDeletion {
		return map[string]string{"id": "pending_deletion", "name": "pending deletion"}
	}
	return map[string]string{"id": "active", "name": "active"}
}

func serializeTeam(t *meta.Team) map[string]any {
	return map[string]any{
		"id": id(t.ID), "slug": t.Slug, "name": t.Name, "dateCreated": t.DateCreated.Format(time.RFC3339Nano),
		"isMember": true, "hasAccess": true, "isPending": false, "memberCount": 1, "avatar": avatar(), "teamRole": nil,
	}
}

func (a *API) serializeProject(p *meta.Project) map[string]any {
	teams := []map[string]any{}
	for _, tid := range p.TeamIDs {
		if t, ok := a.meta.TeamByID(tid); ok {
			teams = append(teams, map[string]any{"id": id(t.ID), "slug": t.Slug, "name": t.Name})
		}
	}
	out := map[string]any{
		"id": id(p.ID), "slug": p.Slug, "name": p.Name, "platform": nilIfEmpty(p.Platform),
		"dateCreated": p.DateCreated.Format(time.RFC3339Nano), "isBookmarked": false, "isMember": true,
		"hasAccess": true, "isPublic": false, "features": []string{}, "firstEvent": nil,
		"status": p.Status, "teams": teams, "avatar": avatar(), "color": "#3f70bf",
		"retentionDays": p.RetentionDays, "allowedDomains": orEmpty(p.AllowedOrigins),
		"dataScrubber": p.ScrubData(), "dataScrubberDefaults": p.ScrubDefaults(),
		"sensitiveFields": orEmpty(p.SensitiveFields), "safeFields": orEmpty(p.SafeFields),
		"scrubIPAddresses": p.ScrubIPAddresses, "groupingConfig": grouping.SentryConfig,
	}
	if len(teams) > 0 {
		out["team"] = teams[0]
	}
	if o, ok := a.meta.OrganizationByID(p.OrgID); ok {
		out["organization"] = a.serializeOrg(o)
	}
	a.serializeLimits(out, p)
	return out
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (a *API) listOrganizations(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	out := []map[string]any{}
	for _, o := range a.meta.Organizations() {
		if c.canSee(o) && visibleOrg(o) {
			out = append(out, a.serializeOrg(o))
		}
	}
	return ok(out)
}

type slugBody struct {
	Name     string `json:"name"`
	Slug     string `json:"slug"`
	Platform string `json:"platform"`
}

func (a *API) createOrganization(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	var b slugBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if b.Name == "" && b.Slug == "" {
		return nil, errorf(http.StatusBadRequest, "name: This field is required.")
	}
	slug := b.Slug
	if slug == "" {
		slug = meta.Slugify(b.Name)
	}
	if err := a.checkReserved(slug); err != nil {
		return nil, err
	}
	o, err := a.meta.CreateOrganization(ctx, b.Name, b.Slug, c.user.ID)
	if err != nil {
		return nil, err
	}
	return created(a.serializeOrg(o))
}

func (a *API) getOrganization(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.lookupOrg(r, c, true)
	if err != nil {
		return nil, err
	}
	return ok(a.serializeOrg(o))
}

func (a *API) listTeams(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, t := range a.meta.Teams(o.ID) {
		out = append(out, a.teamFor(c, t))
	}
	return ok(out)
}

func (a *API) createTeam(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	var b slugBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if b.Name == "" && b.Slug == "" {
		return nil, errorf(http.StatusBadRequest, "name: This field is required.")
	}
	t, err := a.meta.CreateTeam(ctx, o, b.Name, b.Slug)
	if err != nil {
		return nil, err
	}
	return created(a.teamFor(c, t))
}

func (a *API) createProject(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	t, ok := a.meta.Team(o.ID, r.PathValue("team"))
	if !ok {
		return nil, errNotFound
	}
	if !a.onTeamOrManager(c, o, t) {
		return nil, errorf(http.StatusForbidden, "You do not have permission to perform this action: an admin creates projects only in their own teams.")
	}
	var b slugBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if b.Name == "" && b.Slug == "" {
		return nil, errorf(http.StatusBadRequest, "name: This field is required.")
	}
	p, _, err := a.meta.CreateProject(ctx, t, b.Name, b.Slug, b.Platform)
	if err != nil {
		return nil, err
	}
	return created(a.projectFor(c, p))
}

func (a *API) listProjects(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	out := []map[string]any{}
	for _, p := range a.meta.Projects(0) {
		if o, ok := a.meta.OrganizationByID(p.OrgID); ok && a.canSeeProject(c, o, p) && visibleProject(p) {
			out = append(out, a.projectFor(c, p))
		}
	}
	return ok(out)
}

func (a *API) listOrgProjects(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	var shown []*meta.Project
	for _, p := range a.meta.Projects(o.ID) {
		if visibleProject(p) && a.canSeeProject(c, o, p) {
			out = append(out, a.projectFor(c, p))
			shown = append(shown, p)
		}
	}
	if err := a.addProjectStats(ctx, r, shown, out); err != nil {
		return nil, err
	}
	return ok(out)
}

func (a *API) getProject(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.lookupProject(r, c, true)
	if err != nil {
		return nil, err
	}
	return ok(a.projectFor(c, p))
}

// projectUpdate is the subset of Sentry's project PUT body Faultline uses.
type projectUpdate struct {
	Name           *string   `json:"name"`
	Platform       *string   `json:"platform"`
	AllowedDomains *[]string `json:"allowedDomains"`
	RetentionDays  *int      `json:"retentionDays"`
	// Data scrubbing, as Sentry names the fields.
	DataScrubber         *bool     `json:"dataScrubber"`
	DataScrubberDefaults *bool     `json:"dataScrubberDefaults"`
	SensitiveFields      *[]string `json:"sensitiveFields"`
	SafeFields           *[]string `json:"safeFields"`
	ScrubIPAddresses     *bool     `json:"scrubIPAddresses"`
	// CancelDeletion (Faultline's, as on Sentry's organization route)
	// cancels the project's pending deletion.
	CancelDeletion *bool `json:"cancelDeletion"`
}

// maxScrubFields bounds sensitiveFields and safeFields; each becomes part
// of a regular expression the worker runs on every event.
const (
	maxScrubFields     = 200
	maxScrubFieldBytes = 200
)

func scrubFields(name string, in *[]string) ([]string, error) {
	if len(*in) > maxScrubFields {
		return nil, errorf(http.StatusBadRequest, "%s: at most %d fields", name, maxScrubFields)
	}
	out := []string{}
	for _, f := range *in {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if len(f) > maxScrubFieldBytes {
			return nil, errorf(http.StatusBadRequest, "%s: a field is at most %d bytes", name, maxScrubFieldBytes)
		}
		out = append(out, f)
	}
	return out, nil
}

func (a *API) updateProject(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, p, err := a.lookupProject(r, c, true)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := decodeBody(r, &raw); err != nil {
		return nil, err
	}
	var b projectUpdate
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, jsonError(err)
	}
	cp := *p
	if err := applyLimits(&cp, raw); err != nil {
		return nil, err
	}
	if b.Name != nil {
		if *b.Name == "" || len(*b.Name) > 200 {
			return nil, errorf(http.StatusBadRequest, "name: must be 1 to 200 characters")
		}
		cp.Name = *b.Name
	}
	if b.Platform != nil {
		cp.Platform = *b.Platform
	}
	if b.AllowedDomains != nil {
		cp.AllowedOrigins = *b.AllowedDomains
	}
	if b.RetentionDays != nil {
		if *b.RetentionDays < 1 || *b.RetentionDays > 3650 {
			return nil, errorf(http.StatusBadRequest, "retentionDays: must be between 1 and 3650")
		}
		cp.RetentionDays = *b.RetentionDays
	}
	if b.DataScrubber != nil {
		cp.DataScrubber = b.DataScrubber
	}
	if b.DataScrubberDefaults != nil {
		cp.DataScrubberDefaults = b.DataScrubberDefaults
	}
	if b.ScrubIPAddresses != nil {
		cp.ScrubIPAddresses = *b.ScrubIPAddresses
	}
	if b.SensitiveFields != nil {
		if cp.SensitiveFields, err = scrubFields("sensitiveFields", b.SensitiveFields); err != nil {
			return nil, err
		}
	}
	if b.SafeFields != nil {
		if cp.SafeFields, err = scrubFields("safeFields", b.SafeFields); err != nil {
			return nil, err
		}
	}
	if b.CancelDeletion != nil && *b.CancelDeletion {
		restored, err := a.cancelProjectDeletion(ctx, o, p, c)
		if err != nil {
			return nil, err
		}
		cp.Status = restored.Status
	} else if !visibleOrg(o) || !visibleProject(p) {
		return nil, errPendingDeletion("project")
	}
	if err := a.meta.UpdateProject(ctx, &cp); err != nil {
		return nil, err
	}
	return ok(a.projectFor(c, &cp))
}

// noStore marks an answer that carries secrets (a DSN key's secret part)
// as never to be cached, by browsers or proxies.
func noStore(resp *response, err error) (*response, error) {
	if resp != nil {
		if resp.header == nil {
			resp.header = http.Header{}
		}
		resp.header.Set("Cache-Control", "no-store")
	}
	return resp, err
}

// serializeKey renders a DSN key in Sentry's shape.
func (a *API) serializeKey(k *meta.Key) map[string]any {
	host := a.public.Host
	scheme := a.public.Scheme
	path := a.public.Path // a URL prefix, if Faultline is served under one
	pid := id(k.ProjectID)
	base := scheme + "://" + host + path
	var rl any
	if k.RateLimit != nil {
		rl = map[string]int{"window": k.RateLimit.Window, "count": k.RateLimit.Count}
	}
	return map[string]any{
		"id": k.ID, "name": k.Label, "label": k.Label, "public": k.Public, "secret": k.Secret,
		"projectId": k.ProjectID, "isActive": k.Active, "rateLimit": rl,
		"dateCreated": k.DateCreated.Format(time.RFC3339Nano),
		"dsn": map[string]string{
			"public":   scheme + "://" + k.Public + "@" + host + path + "/" + pid,
			"secret":   scheme + "://" + k.Public + ":" + k.Secret + "@" + host + path + "/" + pid,
			"security": base + "/api/" + pid + "/security/?sentry_key=" + k.Public,
			"csp":      base + "/api/" + pid + "/csp-report/?sentry_key=" + k.Public,
			"minidump": base + "/api/" + pid + "/minidump/?sentry_key=" + k.Public,
			"store":    base + "/api/" + pid + "/store/",
			"envelope": base + "/api/" + pid + "/envelope/",
			"cdn":      "",
		},
		"browserSdkVersion": "latest",
	}
}

func (a *API) listKeys(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, k := range a.meta.Keys(p.ID) {
		out = append(out, a.serializeKey(k))
	}
	return noStore(ok(out))
}

func (a *API) createKey(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	var b struct {
		Name string `json:"name"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(r, &b); err != nil {
			return nil, err
		}
	}
	k, err := a.meta.CreateKey(ctx, p, b.Name)
	if err != nil {
		return nil, err
	}
	return noStore(created(a.serializeKey(k)))
}

func (a *API) key(r *http.Request, c *caller) (*meta.Key, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	for _, k := range a.meta.Keys(p.ID) {
		if k.ID == r.PathValue("key") {
			return k, nil
		}
	}
	return nil, errNotFound
}

func (a *API) getKey(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	k, err := a.key(r, c)
	if err != nil {
		return nil, err
	}
	return noStore(ok(a.serializeKey(k)))
}

func (a *API) updateKey(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	k, err := a.key(r, c)
	if err != nil {
		return nil, err
	}
	var b struct {
		Name      *string         `json:"name"`
		IsActive  *bool           `json:"isActive"`
		RateLimit *meta.RateLimit `json:"rateLimit"`
	}
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	cp := *k
	if b.Name != nil {
		cp.Label = *b.Name
	}
	if b.IsActive != nil {
		cp.Active = *b.IsActive
	}
	if b.RateLimit != nil {
		if b.RateLimit.Window <= 0 || b.RateLimit.Count < 0 {
			cp.RateLimit = nil
		} else {
			cp.RateLimit = b.RateLimit
		}
	}
	if err := a.meta.UpdateKey(ctx, &cp); err != nil {
		return nil, err
	}
	return noStore(ok(a.serializeKey(&cp)))
}
