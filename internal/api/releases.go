package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/route"
	"github.com/faultline/faultline/internal/store"
)

// ReleaseStore is what the releases routes read and write.
type ReleaseStore interface {
	ListReleases(ctx context.Context, orgID uint64, projectIDs []uint64) ([]store.OrgRelease, error)
	GetRelease(ctx context.Context, orgID uint64, projectIDs []uint64, version string) (*store.OrgRelease, error)
	SaveRelease(ctx context.Context, orgID uint64, version string, add, orgProjects []uint64, u store.ReleaseUpdate, now time.Time) error
	DeleteRelease(ctx context.Context, orgID uint64, version string, now time.Time) error
	ReleaseHasIssues(ctx context.Context, projectIDs []uint64, version string) (bool, error)
	SetReleaseCommits(ctx context.Context, orgID uint64, version string, commits []store.Commit, now time.Time) error
	ReleasesCommits(ctx context.Context, orgID uint64, versions []string) (map[string][]store.Commit, error)
	ReleasesDeploys(ctx context.Context, projectIDs []uint64, versions []string) (map[string][]store.Deploy, error)
	ReleaseStats(ctx context.Context, projectIDs []uint64, versions []string) (map[string]store.ReleaseStat, error)
	InsertDeploys(ctx context.Context, deploys []store.Deploy) error
	Repositories(ctx context.Context, orgID uint64) ([]store.Repository, error)
	SaveRepositories(ctx context.Context, repos []store.Repository, now time.Time) error
	LatestRelease(ctx context.Context, projectID uint64) (string, error)
}

// releaseScope is where a release route looks: the organization, and the
// projects of it the caller sees (one, on the project routes).
type releaseScope struct {
	org      *meta.Organization
	project  *meta.Project // nil on the organization routes
	projects []*meta.Project
	ids      []uint64
}

func (rs *releaseScope) byID(id uint64) *meta.Project {
	for _, p := range rs.projects {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// releaseScopeOf resolves {org} (and {project}, when in the path), with
// ?project=ID filters on the organization routes.
func (a *API) releaseScopeOf(r *http.Request, c *caller) (*releaseScope, error) {
	if r.PathValue("project") != "" {
		o, p, err := a.project(r, c)
		if err != nil {
			return nil, err
		}
		return &releaseScope{org: o, project: p, projects: []*meta.Project{p}, ids: []uint64{p.ID}}, nil
	}
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
		if pid != 0 {
			want[pid] = true
		}
	}
	rs := &releaseScope{org: o}
	for _, p := range a.meta.Projects(o.ID) {
		if (len(want) == 0 || want[p.ID]) && visibleProject(p) && a.canSeeProject(c, o, p) {
			rs.projects = append(rs.projects, p)
			rs.ids = append(rs.ids, p.ID)
		}
	}
	return rs, nil
}

// validVersion is Sentry's Release.is_valid_version.
func validVersion(v string) bool {
	return v != "" && len(v) <= 200 && v != "." && v != ".." && v != "latest" && strings.TrimSpace(v) == v &&
		!strings.ContainsAny(v, "\r\n\f\t/\\\x00")
}

// releaseBody is Sentry's release POST and PUT body (sentry-cli's
// releases new, finalize and set-commits).
type releaseBody struct {
	Version      *string          `json:"version"`
	Ref          *string          `json:"ref"`
	URL          *string          `json:"url"`
	Owner        *string          `json:"owner"`
	DateReleased *string          `json:"dateReleased"`
	DateStarted  *string          `json:"dateStarted"`
	Projects     []string         `json:"projects"`
	Commits      *[]commitBody    `json:"commits"`
	Refs         *[]releaseRefArg `json:"refs"`
}

// commitBody is a commit as sentry-cli sends it.
type commitBody struct {
	ID          string `json:"id"`
	Repository  string `json:"repository"`
	Message     string `json:"message"`
	AuthorName  string `json:"author_name"`
	AuthorEmail string `json:"author_email"`
	Timestamp   string `json:"timestamp"`
	PatchSet    []struct {
		Path string `json:"path"`
		Type string `json:"type"`
	} `json:"patch_set"`
}

// releaseRefArg is a head commit of a repository (set-commits --commit).
type releaseRefArg struct {
	Repository     string `json:"repository"`
	Commit         string `json:"commit"`
	PreviousCommit string `json:"previousCommit,omitempty"`
}

// parseTime reads a client's date: RFC 3339, with or without a zone.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errorf(http.StatusBadRequest, "%s: Datetime has wrong format.", field)
}

// update turns the body into the store's update, checking it.
func (b *releaseBody) update() (store.ReleaseUpdate, error) {
	var u store.ReleaseUpdate
	u.Ref, u.URL, u.Owner = b.Ref, b.URL, b.Owner
	for _, f := range []struct {
		name string
		in   *string
		out  **time.Time
	}{{"dateReleased", b.DateReleased, &u.DateReleased}, {"dateStarted", b.DateStarted, &u.DateStarted}} {
		if f.in == nil {
			continue
		}
		t, err := parseTime(f.name, *f.in)
		if err != nil {
			return u, err
		}
		*f.out = &t
	}
	if b.Refs != nil {
		for _, r := range *b.Refs {
			if r.Repository == "" || r.Commit == "" {
				return u, errorf(http.StatusBadRequest, "refs: each ref needs a repository and a commit.")
			}
		}
		raw, err := json.Marshal(*b.Refs)
		if err != nil {
			return u, err
		}
		s := string(raw)
		u.Refs = &s
	}
	return u, nil
}

// commits checks and converts the body's commits.
func (b *releaseBody) commits() ([]store.Commit, error) {
	if b.Commits == nil {
		return nil, nil
	}
	if len(*b.Commits) > 10000 {
		return nil, errorf(http.StatusBadRequest, "commits: at most 10000 commits.")
	}
	out := make([]store.Commit, 0, len(*b.Commits))
	for _, c := range *b.Commits {
		if c.ID == "" || len(c.ID) > 64 {
			return nil, errorf(http.StatusBadRequest, "commits: each commit needs an id.")
		}
		t, err := parseTime("timestamp", c.Timestamp)
		if err != nil {
			return nil, err
		}
		sc := store.Commit{ID: c.ID, Repository: c.Repository, Message: c.Message, AuthorName: c.AuthorName,
			AuthorEmail: c.AuthorEmail, Timestamp: t}
		for _, f := range c.PatchSet {
			sc.Files = append(sc.Files, store.CommitFile{Path: f.Path, Type: f.Type})
		}
		out = append(out, sc)
	}
	return out, nil
}

// listReleases serves GET .../releases/: the releases of the caller's
// projects (or the one project), newest first, ?query= filtering the
// version, paged with Sentry's Link header.
func (a *API) listReleases(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	rs, err := a.releaseScopeOf(r, c)
	if err != nil {
		return nil, err
	}
	rels, err := a.store.ListReleases(ctx, rs.org.ID, rs.ids)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	if query := q.Get("query"); query != "" {
		kept := rels[:0]
		for _, rel := range rels {
			if strings.Contains(strings.ToLower(rel.Version), strings.ToLower(query)) {
				kept = append(kept, rel)
			}
		}
		rels = kept
	}
	limit := 100
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 && v < limit {
		limit = v
	}
	offset := 0
	if cur := pageCursor(q.Get("cursor")); cur != "" {
		n, err := strconv.Atoi(cur)
		if err != nil || n < 0 {
			return nil, errorf(http.StatusBadRequest, "Invalid cursor parameter.")
		}
		offset = n
	}
	offset = min(offset, len(rels))
	page := rels[offset:min(offset+limit, len(rels))]
	next := ""
	if offset+limit < len(rels) {
		next = strconv.Itoa(offset + limit)
	}
	out, err := a.serializeReleases(ctx, rs, page)
	if err != nil {
		return nil, err
	}
	resp := &response{status: http.StatusOK, body: out, header: http.Header{}}
	resp.header.Set("Link", a.link(r, q.Get("cursor"), next))
	return resp, nil
}

// serializeReleases renders releases in Sentry's release serializer's
// shape.
func (a *API) serializeReleases(ctx context.Context, rs *releaseScope, rels []store.OrgRelease) ([]map[string]any, error) {
	versions := make([]string, len(rels))
	for i, r := range rels {
		versions[i] = r.Version
	}
	commits, err := a.store.ReleasesCommits(ctx, rs.org.ID, versions)
	if err != nil {
		return nil, err
	}
	deploys, err := a.store.ReleasesDeploys(ctx, rs.ids, versions)
	if err != nil {
		return nil, err
	}
	stats, err := a.store.ReleaseStats(ctx, rs.ids, versions)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(rels))
	for _, rel := range rels {
		cs := commits[rel.Version]
		st := stats[rel.Version]
		var newGroups uint64
		projects := []map[string]any{}
		for _, rp := range rel.Projects {
			p := rs.byID(rp.ProjectID)
			if p == nil {
				continue
			}
			n := st.NewGroups[p.ID]
			newGroups += n
			platforms := []string{}
			if p.Platform != "" {
				platforms = append(platforms, p.Platform)
			}
			projects = append(projects, map[string]any{"id": p.ID, "slug": p.Slug, "name": p.Name,
				"newGroups": n, "platform": nilIfEmpty(p.Platform), "platforms": platforms, "hasHealthData": false})
		}
		authors := []map[string]any{}
		seen := map[string]bool{}
		for _, c := range cs {
			k := c.AuthorEmail + "\x00" + c.AuthorName
			if (c.AuthorEmail != "" || c.AuthorName != "") && !seen[k] {
				seen[k] = true
				authors = append(authors, map[string]any{"name": c.AuthorName, "email": c.AuthorEmail})
			}
		}
		var lastCommit any
		if len(cs) > 0 {
			lastCommit = serializeCommit(cs[0], rs.org.ID)
		}
		deps := groupDeploys(deploys[rel.Version], rs)
		var lastDeploy any
		if len(deps) > 0 {
			lastDeploy = deps[0]
		}
		data := map[string]any{}
		if rel.Refs != "" {
			var refs any
			if json.Unmarshal([]byte(rel.Refs), &refs) == nil {
				data["refs"] = refs
			}
		}
		var owner any
		if rel.Owner != "" {
			owner = rel.Owner
		}
		out = append(out, map[string]any{
			"id":                 releaseID(rs.org.ID, rel.Version),
			"version":            rel.Version,
			"shortVersion":       rel.Version,
			"versionInfo":        versionInfo(rel.Version),
			"status":             "open",
			"ref":                nilIfEmpty(rel.Ref),
			"url":                nilIfEmpty(rel.URL),
			"dateCreated":        isoTime(rel.DateCreated),
			"dateReleased":       isoTime(rel.DateReleased),
			"dateStarted":        isoTime(rel.DateStarted),
			"firstEvent":         isoTime(st.FirstEvent),
			"lastEvent":          isoTime(st.LastEvent),
			"newGroups":          newGroups,
			"owner":              owner,
			"data":               data,
			"commitCount":        len(cs),
			"lastCommit":         lastCommit,
			"deployCount":        len(deps),
			"lastDeploy":         lastDeploy,
			"authors":            authors,
			"projects":           projects,
			"userAgent":          nil,
			"adoptionStages":     nil,
			"currentProjectMeta": map[string]any{},
		})
	}
	return out, nil
}

// isoTime renders a time as Sentry's dates, null for the zero time.
func isoTime(t time.Time) any {
	if t.IsZero() || t.Unix() <= 0 {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// releaseID is a release's numeric id: stable for the organization and
// version (Sentry's is a row id).
func releaseID(orgID uint64, version string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(strconv.FormatUint(orgID, 10) + "\x00" + version))
	return h.Sum64() >> 11 // 53 bits: exact in JavaScript
}

// versionInfo is Sentry's versionInfo.
func versionInfo(v string) map[string]any {
	raw := v
	info := map[string]any{"package": nil, "version": map[string]any{"raw": v}, "description": v, "buildHash": nil}
	if s, ok := store.ParseSemver(v); ok {
		if s.Package != "" {
			info["package"] = s.Package
			raw = v[len(s.Package)+1:]
			info["description"] = raw
		}
		pre := any(nil)
		if s.Prerelease != "" {
			pre = s.Prerelease
		}
		info["version"] = map[string]any{"raw": raw, "major": s.Major, "minor": s.Minor, "patch": s.Patch,
			"revision": s.Revision, "pre": pre, "buildCode": nilIfEmpty(s.Build)}
	}
	return info
}

func serializeCommit(c store.Commit, orgID uint64) map[string]any {
	var author any
	if c.AuthorName != "" || c.AuthorEmail != "" {
		author = map[string]any{"name": c.AuthorName, "email": c.AuthorEmail}
	}
	var repo any
	if c.Repository != "" {
		repo = serializeRepo(store.Repository{OrgID: orgID, Name: c.Repository})
	}
	return map[string]any{"id": c.ID, "message": nilIfEmpty(c.Message), "dateCreated": isoTime(c.Timestamp),
		"author": author, "repository": repo, "suspectCommitType": "", "pullRequest": nil}
}

// groupDeploys folds the per-project deploy rows into Sentry's deploys,
// newest first.
func groupDeploys(rows []store.Deploy, rs *releaseScope) []map[string]any {
	var out []map[string]any
	idx := map[string]int{}
	for _, d := range rows {
		if i, ok := idx[d.DeployID]; ok {
			if p := rs.byID(d.ProjectID); p != nil {
				out[i]["projects"] = append(out[i]["projects"].([]string), p.Slug)
			}
			continue
		}
		projects := []string{}
		if p := rs.byID(d.ProjectID); p != nil {
			projects = append(projects, p.Slug)
		}
		name := d.Name
		idx[d.DeployID] = len(out)
		out = append(out, map[string]any{
			"id":           d.DeployID,
			"environment":  d.Environment,
			"dateStarted":  isoTime(d.DateStarted),
			"dateFinished": isoTime(d.DateFinished),
			"name":         nilIfEmpty(name),
			"url":          nilIfEmpty(d.URL),
			"projects":     projects,
			"revision":     nilIfEmpty(d.Revision),
			"repository":   nilIfEmpty(d.Repository),
			"username":     nilIfEmpty(d.Username),
			"email":        nilIfEmpty(d.Email),
		})
	}
	return out
}

// projectsNamed resolves the slugs a body names among the scope's
// projects.
func (rs *releaseScope) projectsNamed(slugs []string) ([]uint64, error) {
	var ids []uint64
	for _, s := range slugs {
		var found *meta.Project
		for _, p := range rs.projects {
			if p.Slug == s {
				found = p
			}
		}
		if found == nil {
			return nil, errorf(http.StatusBadRequest, "Invalid project ids or slugs")
		}
		ids = append(ids, found.ID)
	}
	return ids, nil
}

// createRelease serves POST .../releases/: 201 with the new release, or
// 208 with the release that existed (its projects extended).
func (a *API) createRelease(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	rs, err := a.releaseScopeOf(r, c)
	if err != nil {
		return nil, err
	}
	var b releaseBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if b.Version == nil || !validVersion(*b.Version) {
		return nil, errorf(http.StatusBadRequest, "version: Enter a valid version.")
	}
	var ids []uint64
	if rs.project != nil {
		ids = []uint64{rs.project.ID}
	} else {
		if len(b.Projects) == 0 {
			return nil, errorf(http.StatusBadRequest, "projects: This field is required.")
		}
		if ids, err = rs.projectsNamed(b.Projects); err != nil {
			return nil, err
		}
	}
	u, err := b.update()
	if err != nil {
		return nil, err
	}
	commits, err := b.commits()
	if err != nil {
		return nil, err
	}
	version := *b.Version
	existing, err := a.store.GetRelease(ctx, rs.org.ID, rs.ids, version)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if err := a.store.SaveRelease(ctx, rs.org.ID, version, ids, a.orgProjectIDs(rs.org), u, now); err != nil {
		return nil, err
	}
	if b.Commits != nil {
		if err := a.setCommits(ctx, rs.org.ID, version, commits, now); err != nil {
			return nil, err
		}
	}
	body, err := a.releaseJSON(ctx, rs, version)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return &response{status: http.StatusAlreadyReported, body: body}, nil
	}
	return created(body)
}

// setCommits stores a release's commits and records their repositories.
func (a *API) setCommits(ctx context.Context, orgID uint64, version string, commits []store.Commit, now time.Time) error {
	if err := a.store.SetReleaseCommits(ctx, orgID, version, commits, now); err != nil {
		return err
	}
	have, err := a.store.Repositories(ctx, orgID)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, r := range have {
		known[r.Name] = true
	}
	var repos []store.Repository
	for _, c := range commits {
		if c.Repository != "" && !known[c.Repository] && len(repos) < 100 {
			known[c.Repository] = true
			repos = append(repos, store.Repository{OrgID: orgID, Name: c.Repository})
		}
	}
	return a.store.SaveRepositories(ctx, repos, now)
}

// releaseJSON reads one release back, rendered.
func (a *API) releaseJSON(ctx context.Context, rs *releaseScope, version string) (map[string]any, error) {
	rel, err := a.store.GetRelease(ctx, rs.org.ID, rs.ids, version)
	if err != nil {
		return nil, err
	}
	if rel == nil {
		return nil, errNotFound
	}
	out, err := a.serializeReleases(ctx, rs, []store.OrgRelease{*rel})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func (a *API) getRelease(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	rs, err := a.releaseScopeOf(r, c)
	if err != nil {
		return nil, err
	}
	body, err := a.releaseJSON(ctx, rs, r.PathValue("version"))
	if err != nil {
		return nil, err
	}
	return ok(body)
}

// updateRelease serves PUT .../releases/{version}/: finalize
// (dateReleased), ref, url, projects, and set-commits (commits or refs).
func (a *API) updateRelease(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	rs, err := a.releaseScopeOf(r, c)
	if err != nil {
		return nil, err
	}
	version := r.PathValue("version")
	rel, err := a.store.GetRelease(ctx, rs.org.ID, rs.ids, version)
	if err != nil {
		return nil, err
	}
	if rel == nil {
		return nil, errNotFound
	}
	var b releaseBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	var ids []uint64
	if rs.project == nil && len(b.Projects) > 0 {
		if ids, err = rs.projectsNamed(b.Projects); err != nil {
			return nil, err
		}
	}
	u, err := b.update()
	if err != nil {
		return nil, err
	}
	commits, err := b.commits()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if err := a.store.SaveRelease(ctx, rs.org.ID, version, ids, a.orgProjectIDs(rs.org), u, now); err != nil {
		return nil, err
	}
	if b.Commits != nil {
		if err := a.setCommits(ctx, rs.org.ID, version, commits, now); err != nil {
			return nil, err
		}
	}
	body, err := a.releaseJSON(ctx, rs, version)
	if err != nil {
		return nil, err
	}
	return ok(body)
}

// deleteRelease serves DELETE .../releases/{version}/: 204, or 400 when
// issues were seen in the release, as Sentry's.
func (a *API) deleteRelease(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	rs, err := a.releaseScopeOf(r, c)
	if err != nil {
		return nil, err
	}
	version := r.PathValue("version")
	rel, err := a.store.GetRelease(ctx, rs.org.ID, rs.ids, version)
	if err != nil {
		return nil, err
	}
	if rel == nil {
		return nil, errNotFound
	}
	// Every project of the organization: an issue the caller does not see
	// still refers to the release.
	used, err := a.store.ReleaseHasIssues(ctx, a.orgProjectIDs(rs.org), version)
	if err != nil {
		return nil, err
	}
	if used {
		return nil, errorf(http.StatusBadRequest, "This release is referenced by active issues and cannot be removed.")
	}
	if err := a.store.DeleteRelease(ctx, rs.org.ID, version, time.Now()); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent}, nil
}

// listReleaseCommits serves GET .../releases/{version}/commits/.
func (a *API) listReleaseCommits(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	rs, err := a.releaseScopeOf(r, c)
	if err != nil {
		return nil, err
	}
	version := r.PathValue("version")
	rel, err := a.store.GetRelease(ctx, rs.org.ID, rs.ids, version)
	if err != nil {
		return nil, err
	}
	if rel == nil {
		return nil, errNotFound
	}
	cs, err := a.store.ReleasesCommits(ctx, rs.org.ID, []string{version})
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, cm := range cs[version] {
		m := serializeCommit(cm, rs.org.ID)
		files := []map[string]string{}
		for _, f := range cm.Files {
			files = append(files, map[string]string{"path": f.Path, "type": f.Type})
		}
		m["files"] = files
		out = append(out, m)
	}
	return ok(out)
}

// previousWithCommits serves GET /api/0/organizations/{org}/releases/{version}/previous-with-commits/:
// the newest release created before this one that has commits, or {}
// (sentry-cli's set-commits sends the commits since its last commit).
func (a *API) previousWithCommits(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	rs, err := a.releaseScopeOf(r, c)
	if err != nil {
		return nil, err
	}
	version := r.PathValue("version")
	rels, err := a.store.ListReleases(ctx, rs.org.ID, rs.ids)
	if err != nil {
		return nil, err
	}
	var current *store.OrgRelease
	var versions []string
	for i := range rels {
		if rels[i].Version == version {
			current = &rels[i]
		}
	}
	if current == nil {
		return nil, errNotFound
	}
	var older []store.OrgRelease
	for _, rel := range rels { // newest first
		if rel.Version != version && !rel.DateCreated.After(current.DateCreated) && len(older) < 100 {
			older = append(older, rel)
			versions = append(versions, rel.Version)
		}
	}
	cs, err := a.store.ReleasesCommits(ctx, rs.org.ID, versions)
	if err != nil {
		return nil, err
	}
	for _, rel := range older {
		if len(cs[rel.Version]) > 0 {
			out, err := a.serializeReleases(ctx, rs, []store.OrgRelease{rel})
			if err != nil {
				return nil, err
			}
			return ok(out[0])
		}
	}
	return ok(map[string]any{})
}

// deployBody is Sentry's deploy POST body.
type deployBody struct {
	Environment  string   `json:"environment"`
	Name         string   `json:"name"`
	URL          string   `json:"url"`
	DateStarted  string   `json:"dateStarted"`
	DateFinished string   `json:"dateFinished"`
	Projects     []string `json:"projects"`
}

// createDeploy serves POST /api/0/organizations/{org}/releases/{version}/deploys/:
// a deploy of the release to an environment, in the release's projects
// (or those named).
func (a *API) createDeploy(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	rs, err := a.releaseScopeOf(r, c)
	if err != nil {
		return nil, err
	}
	version := r.PathValue("version")
	rel, err := a.store.GetRelease(ctx, rs.org.ID, rs.ids, version)
	if err != nil {
		return nil, err
	}
	if rel == nil {
		return nil, errNotFound
	}
	var b deployBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if b.Environment == "" || len(b.Environment) > 64 || strings.ContainsAny(b.Environment, "\r\n\f\t/\x00") {
		return nil, errorf(http.StatusBadRequest, "environment: This field is required.")
	}
	started, err := parseTime("dateStarted", b.DateStarted)
	if err != nil {
		return nil, err
	}
	finished, err := parseTime("dateFinished", b.DateFinished)
	if err != nil {
		return nil, err
	}
	if finished.IsZero() {
		finished = time.Now().UTC()
	}
	var ids []uint64
	if len(b.Projects) > 0 {
		if ids, err = rs.projectsNamed(b.Projects); err != nil {
			return nil, err
		}
	} else {
		for _, p := range rel.Projects {
			ids = append(ids, p.ProjectID)
		}
	}
	var raw [16]byte
	rand.Read(raw[:]) //nolint:errcheck // never fails
	id := hex.EncodeToString(raw[:])
	deploys := make([]store.Deploy, len(ids))
	for i, pid := range ids {
		deploys[i] = store.Deploy{ProjectID: pid, Version: version, DeployID: id, Environment: b.Environment,
			Name: b.Name, URL: b.URL, DateStarted: started, DateFinished: finished}
	}
	if err := a.store.InsertDeploys(ctx, deploys); err != nil {
		return nil, err
	}
	out := groupDeploys(deploys, rs)
	return created(out[0])
}

// repoBody is the repository POST body.
type repoBody struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Provider string `json:"provider"`
}

// serializeRepo is Sentry's repository shape, every key GitLab reads
// present.
func serializeRepo(r store.Repository) map[string]any {
	h := fnv.New64a()
	h.Write([]byte(strconv.FormatUint(r.OrgID, 10) + "\x00" + r.Name))
	provider := r.Provider
	if provider == "" {
		provider = "git"
	}
	return map[string]any{
		"id":            strconv.FormatUint(h.Sum64()>>11, 10),
		"name":          r.Name,
		"url":           nilIfEmpty(r.URL),
		"provider":      map[string]any{"id": provider, "name": provider},
		"status":        "active",
		"dateCreated":   isoTime(r.DateCreated),
		"integrationId": "",
		"externalSlug":  r.Name,
		"externalId":    nil,
	}
}

func (a *API) listRepos(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	repos, err := a.store.Repositories(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(repos))
	for _, rp := range repos {
		out = append(out, serializeRepo(rp))
	}
	return ok(out)
}

// createRepo serves POST /api/0/organizations/{org}/repos/: a repository
// by name (Faultline has no integrations: it is a name to which commits
// and refs refer).
func (a *API) createRepo(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	var b repoBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if b.Name == "" || len(b.Name) > 200 || strings.ContainsAny(b.Name, "\r\n\t\x00") || len(b.URL) > 2000 || len(b.Provider) > 64 {
		return nil, errorf(http.StatusBadRequest, "name: This field is required.")
	}
	have, err := a.store.Repositories(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	for _, rp := range have {
		if rp.Name == b.Name {
			return nil, errorf(http.StatusBadRequest, "A repository with that name already exists")
		}
	}
	now := time.Now().UTC()
	rp := store.Repository{OrgID: o.ID, Name: b.Name, URL: b.URL, Provider: b.Provider, DateCreated: now}
	if err := a.store.SaveRepositories(ctx, []store.Repository{rp}, now); err != nil {
		return nil, err
	}
	return created(serializeRepo(rp))
}

// apiRoot serves GET /api/0/, which sentry-cli's info calls: the caller
// and its token's scopes, or nulls for a caller without credentials.
func (a *API) apiRoot(ctx context.Context, r *http.Request, _ *caller) (*response, error) {
	body := map[string]any{"version": "0", "auth": nil, "user": nil}
	h := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	if h == "" || !strings.EqualFold(scheme, "Bearer") {
		return ok(body)
	}
	u, t, found := a.meta.Authenticate(strings.TrimSpace(token))
	if !found {
		return nil, errorf(http.StatusUnauthorized, "Invalid token")
	}
	scopes := []string{}
	if t != nil {
		scopes = append(scopes, t.Scopes...)
		if t.IsOrgToken() {
			scopes = []string{"org:ci"}
		}
	}
	body["auth"] = map[string]any{"scopes": scopes}
	if u != nil && (t == nil || !t.IsOrgToken()) {
		body["user"] = map[string]any{"id": strconv.FormatUint(u.ID, 10), "name": u.Name, "username": u.Email, "email": u.Email}
	}
	return ok(body)
}

// rootRoute declares GET /api/0/: public (an anonymous caller gets nulls),
// and one that sentry-cli's info calls with an organization token too.
func (a *API) rootRoute() route.Route {
	r := a.publicRoute("GET", "/api/0/", a.apiRoot, "the API root: the caller and its scopes")
	r.OrgCI = true
	return r
}

// orgProjectIDs lists every project of an organization.
func (a *API) orgProjectIDs(o *meta.Organization) []uint64 {
	var ids []uint64
	for _, p := range a.meta.Projects(o.ID) {
		ids = append(ids, p.ID)
	}
	return ids
}
