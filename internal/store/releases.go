package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// schema0009 makes releases an organization's, as Sentry's are:
//
//   - A release's projects, with the date each added it, stay in the
//     `releases` table of schema0002 (a project's first sight of a
//     version, or the time the API created the release for it): workers
//     keep recording implicit releases there as cheaply as before, and
//     the releases recorded by earlier versions are releases of their
//     projects' organizations as they stand, with nothing to copy.
//   - org_releases: what the API sets on a release (ref, url, dates,
//     owner, refs, deleted), one row per change; the highest rev wins
//     (readers take argMax by rev, never FINAL, on both engines). A
//     release with no row has only what its projects saw.
//   - release_commits: the commits of a release, one row per commit of
//     one set-commits call (set_rev); the latest set replaces the earlier
//     ones. A set with no commits is one row with an empty commit_id.
//   - repositories: an organization's repositories, by name; the highest
//     rev wins.
//   - deploys gain Sentry's name, url and date_started (Airbrake's rows
//     read with them empty).
func schema0009(s *Store) []string {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS {db}.org_releases (
	org_id UInt64,
	version String,
	ref String,
	url String,
	owner String,
	refs String,
	date_created_ms UInt64,
	date_released_ms UInt64,
	date_started_ms UInt64,
	deleted UInt8,
	rev UInt64
) ENGINE = ReplacingMergeTree(rev)
ORDER BY (org_id, version)`,
		`CREATE TABLE IF NOT EXISTS {db}.release_commits (
	org_id UInt64,
	version String,
	set_rev UInt64,
	idx UInt32,
	commit_id String,
	repository String,
	message String,
	author_name String,
	author_email String,
	timestamp_ms UInt64,
	files String
) ENGINE = ReplacingMergeTree()
ORDER BY (org_id, version, set_rev, idx)`,
		`CREATE TABLE IF NOT EXISTS {db}.repositories (
	org_id UInt64,
	name String,
	url String,
	provider String,
	date_created_ms UInt64,
	deleted UInt8,
	rev UInt64
) ENGINE = ReplacingMergeTree(rev)
ORDER BY (org_id, name)`,
		`ALTER TABLE {db}.deploys ADD COLUMN name String, ADD COLUMN url String, ADD COLUMN date_started DateTime('UTC')`,
	}
	for i, q := range stmts {
		stmts[i] = s.sql(q)
	}
	return stmts
}

// Bounds of what one call reads or writes.
const (
	maxReleaseVersions = 10000 // versions of one organization read at once
	maxCommits         = 10000 // commits of one release
)

// OrgRelease is an organization's release.
type OrgRelease struct {
	Version      string
	Ref          string
	URL          string
	Owner        string
	Refs         string // JSON list of Sentry's refs, "" for none
	DateCreated  time.Time
	DateReleased time.Time // zero: not released
	DateStarted  time.Time // zero: unknown
	Projects     []ReleaseProject
	rev          uint64
	explicit     bool // has an org_releases row
}

// ReleaseProject is a project of a release, with the time the release
// was added to it.
type ReleaseProject struct {
	ProjectID uint64
	DateAdded time.Time
}

// ReleaseUpdate is what the API sets on a release; nil leaves a field
// as it is.
type ReleaseUpdate struct {
	Ref          *string
	URL          *string
	Owner        *string
	Refs         *string
	DateReleased *time.Time // a zero time clears it
	DateStarted  *time.Time
}

type releaseAttrs struct {
	Version  string `ch:"version"`
	Ref      string `ch:"ref"`
	URL      string `ch:"url"`
	Owner    string `ch:"owner"`
	Refs     string `ch:"refs"`
	Created  uint64 `ch:"created"`
	Released uint64 `ch:"released"`
	Started  uint64 `ch:"started"`
	Deleted  uint64 `ch:"del"`
	Rev      uint64 `ch:"last_rev"`
}

func msTime(ms uint64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms)).UTC()
}

func timeMS(t time.Time) uint64 {
	if t.IsZero() || t.UnixMilli() <= 0 {
		return 0
	}
	return uint64(t.UnixMilli())
}

// releaseAttrsOf reads the latest attributes of an organization's
// releases (all of them when versions is nil).
func (s *Store) releaseAttrsOf(ctx context.Context, orgID uint64, versions []string) (map[string]releaseAttrs, error) {
	where := " WHERE org_id = " + num(orgID)
	if versions != nil {
		where += " AND version IN " + strs(versions)
	}
	var rows []releaseAttrs
	if err := s.t.query(ctx, &rows, "SELECT version, argMax(ref, rev) AS ref, argMax(url, rev) AS url, "+
		"argMax(owner, rev) AS owner, argMax(refs, rev) AS refs, argMax(date_created_ms, rev) AS created, "+
		"argMax(date_released_ms, rev) AS released, argMax(date_started_ms, rev) AS started, "+
		"toUInt64(argMax(deleted, rev)) AS del, max(rev) AS last_rev FROM "+s.table("org_releases")+where+
		" GROUP BY version LIMIT "+fmt.Sprint(maxReleaseVersions)); err != nil {
		return nil, err
	}
	out := make(map[string]releaseAttrs, len(rows))
	for _, r := range rows {
		out[r.Version] = r
	}
	return out, nil
}

type releaseLink struct {
	ProjectID uint64 `ch:"project_id"`
	Version   string `ch:"version"`
	MS        uint64 `ch:"ms"`
}

// releaseLinks reads when each of the projects added each version (the
// given versions only, unless nil).
func (s *Store) releaseLinks(ctx context.Context, projectIDs []uint64, versions []string) ([]releaseLink, error) {
	where := " WHERE project_id IN " + nums(projectIDs)
	if versions != nil {
		where += " AND version IN " + strs(versions)
	}
	var rows []releaseLink
	err := s.t.query(ctx, &rows, "SELECT project_id, version, min(toUInt64(first_seen) * 1000 + first_seen_ms) AS ms FROM "+
		s.table("releases")+where+" GROUP BY project_id, version ORDER BY ms DESC LIMIT "+fmt.Sprint(maxReleaseVersions))
	return rows, err
}

// assemble joins projects' links with the organization's attributes:
// the visible releases, newest first (by date created, then version).
func assemble(links []releaseLink, attrs map[string]releaseAttrs) []OrgRelease {
	by := map[string]*OrgRelease{}
	var order []string
	for _, l := range links {
		r := by[l.Version]
		if r == nil {
			r = &OrgRelease{Version: l.Version}
			by[l.Version] = r
			order = append(order, l.Version)
		}
		added := msTime(l.MS)
		r.Projects = append(r.Projects, ReleaseProject{ProjectID: l.ProjectID, DateAdded: added})
		if r.DateCreated.IsZero() || added.Before(r.DateCreated) {
			r.DateCreated = added
		}
	}
	out := make([]OrgRelease, 0, len(order))
	for _, v := range order {
		r := by[v]
		if a, ok := attrs[v]; ok {
			if a.Deleted != 0 {
				continue
			}
			r.Ref, r.URL, r.Owner, r.Refs, r.rev, r.explicit = a.Ref, a.URL, a.Owner, a.Refs, a.Rev, true
			if a.Created != 0 {
				r.DateCreated = msTime(a.Created)
			}
			r.DateReleased, r.DateStarted = msTime(a.Released), msTime(a.Started)
		}
		sort.Slice(r.Projects, func(i, j int) bool { return r.Projects[i].ProjectID < r.Projects[j].ProjectID })
		out = append(out, *r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].DateCreated.Equal(out[j].DateCreated) {
			return out[i].DateCreated.After(out[j].DateCreated)
		}
		return out[i].Version > out[j].Version
	})
	return out
}

// ListReleases returns the releases of an organization that belong to
// any of the given projects (its projects the caller sees), newest first
// by date created; at most 10,000.
func (s *Store) ListReleases(ctx context.Context, orgID uint64, projectIDs []uint64) ([]OrgRelease, error) {
	links, err := s.releaseLinks(ctx, projectIDs, nil)
	if err != nil {
		return nil, err
	}
	attrs, err := s.releaseAttrsOf(ctx, orgID, nil)
	if err != nil {
		return nil, err
	}
	return assemble(links, attrs), nil
}

// GetRelease returns one release of the organization in the given
// projects, or nil.
func (s *Store) GetRelease(ctx context.Context, orgID uint64, projectIDs []uint64, version string) (*OrgRelease, error) {
	links, err := s.releaseLinks(ctx, projectIDs, []string{version})
	if err != nil {
		return nil, err
	}
	if len(links) == 0 {
		return nil, nil
	}
	attrs, err := s.releaseAttrsOf(ctx, orgID, []string{version})
	if err != nil {
		return nil, err
	}
	rs := assemble(links, attrs)
	if len(rs) == 0 {
		return nil, nil
	}
	return &rs[0], nil
}

// SaveRelease creates a release for the projects add, or updates it: what
// u sets changes, the rest stays. A release that was deleted comes back
// new. Adding a project that has the release already keeps the date it
// was added. orgProjects are the organization's projects: a release their
// events named first keeps the date they first saw it as its date created.
func (s *Store) SaveRelease(ctx context.Context, orgID uint64, version string, add, orgProjects []uint64, u ReleaseUpdate, now time.Time) error {
	attrs, err := s.releaseAttrsOf(ctx, orgID, []string{version})
	if err != nil {
		return err
	}
	a, ok := attrs[version]
	rev := uint64(now.UnixMicro())
	if ok {
		rev = max(rev, a.Rev+1)
	}
	if !ok || a.Deleted != 0 {
		// New (or back after a deletion): created now, unless the
		// projects' events named it first (an implicit release keeps the
		// date they first saw it).
		a = releaseAttrs{Created: timeMS(now)}
		if !ok {
			links, err := s.releaseLinks(ctx, orgProjects, []string{version})
			if err != nil {
				return err
			}
			if len(links) > 0 {
				a.Created = 0
			}
		}
	}
	if u.Ref != nil {
		a.Ref = *u.Ref
	}
	if u.URL != nil {
		a.URL = *u.URL
	}
	if u.Owner != nil {
		a.Owner = *u.Owner
	}
	if u.Refs != nil {
		a.Refs = *u.Refs
	}
	if u.DateReleased != nil {
		a.Released = timeMS(*u.DateReleased)
	}
	if u.DateStarted != nil {
		a.Started = timeMS(*u.DateStarted)
	}
	rels := make([]Release, len(add))
	for i, p := range add {
		rels[i] = Release{ProjectID: p, Version: version, FirstSeen: now}
	}
	if err := s.InsertReleases(ctx, rels); err != nil {
		return err
	}
	return s.t.insert(ctx, s.table("org_releases"), []string{"org_id", "version", "ref", "url", "owner", "refs",
		"date_created_ms", "date_released_ms", "date_started_ms", "deleted", "rev"},
		[][]any{{orgID, version, a.Ref, a.URL, a.Owner, a.Refs, a.Created, a.Released, a.Started, uint8(0), rev}})
}

// DeleteRelease hides a release of the organization.
func (s *Store) DeleteRelease(ctx context.Context, orgID uint64, version string, now time.Time) error {
	attrs, err := s.releaseAttrsOf(ctx, orgID, []string{version})
	if err != nil {
		return err
	}
	rev := uint64(now.UnixMicro())
	if a, ok := attrs[version]; ok {
		rev = max(rev, a.Rev+1)
	}
	return s.t.insert(ctx, s.table("org_releases"), []string{"org_id", "version", "ref", "url", "owner", "refs",
		"date_created_ms", "date_released_ms", "date_started_ms", "deleted", "rev"},
		[][]any{{orgID, version, "", "", "", "", uint64(0), uint64(0), uint64(0), uint8(1), rev}})
}

// ReleaseHasIssues reports whether an issue of the projects was seen in
// the release.
func (s *Store) ReleaseHasIssues(ctx context.Context, projectIDs []uint64, version string) (bool, error) {
	var rows []struct {
		N uint64 `ch:"n"`
	}
	if err := s.t.query(ctx, &rows, "SELECT count() AS n FROM (SELECT group_id FROM "+s.table("group_releases")+
		" WHERE project_id IN "+nums(projectIDs)+" AND release = "+str(version)+" LIMIT 1)"); err != nil {
		return false, err
	}
	return len(rows) == 1 && rows[0].N > 0, nil
}

// Commit is a commit of a release.
type Commit struct {
	ID          string       `json:"id"`
	Repository  string       `json:"repository,omitempty"`
	Message     string       `json:"message,omitempty"`
	AuthorName  string       `json:"author_name,omitempty"`
	AuthorEmail string       `json:"author_email,omitempty"`
	Timestamp   time.Time    `json:"timestamp"`
	Files       []CommitFile `json:"patch_set,omitempty"`
}

// CommitFile is a file a commit changed: its path and Sentry's change
// type (A, M, D).
type CommitFile struct {
	Path string `json:"path"`
	Type string `json:"type"`
}

var commitCols = []string{"org_id", "version", "set_rev", "idx", "commit_id", "repository", "message",
	"author_name", "author_email", "timestamp_ms", "files"}

// SetReleaseCommits replaces the commits of a release, newest first as
// sentry-cli sends them.
func (s *Store) SetReleaseCommits(ctx context.Context, orgID uint64, version string, commits []Commit, now time.Time) error {
	if len(commits) > maxCommits {
		return fmt.Errorf("store: %d commits, at most %d", len(commits), maxCommits)
	}
	rev := uint64(now.UnixMicro())
	var last []struct {
		Rev uint64 `ch:"rev"`
	}
	if err := s.t.query(ctx, &last, "SELECT max(set_rev) AS rev FROM "+s.table("release_commits")+
		" WHERE org_id = "+num(orgID)+" AND version = "+str(version)); err != nil {
		return err
	}
	if len(last) == 1 {
		rev = max(rev, last[0].Rev+1)
	}
	rows := make([][]any, 0, max(len(commits), 1))
	for i, c := range commits {
		files := ""
		if len(c.Files) > 0 {
			b, err := json.Marshal(c.Files)
			if err != nil {
				return err
			}
			files = string(b)
		}
		rows = append(rows, []any{orgID, version, rev, uint32(i), c.ID, c.Repository, c.Message, c.AuthorName,
			c.AuthorEmail, timeMS(c.Timestamp), files})
	}
	if len(rows) == 0 {
		rows = append(rows, []any{orgID, version, rev, uint32(0), "", "", "", "", "", uint64(0), ""})
	}
	return s.t.insert(ctx, s.table("release_commits"), commitCols, rows)
}

type commitRow struct {
	Version     string `ch:"version"`
	Rev         uint64 `ch:"set_rev"`
	Idx         uint64 `ch:"idx"`
	ID          string `ch:"commit_id"`
	Repository  string `ch:"repository"`
	Message     string `ch:"message"`
	AuthorName  string `ch:"author_name"`
	AuthorEmail string `ch:"author_email"`
	MS          uint64 `ch:"timestamp_ms"`
	Files       string `ch:"files"`
}

// ReleasesCommits returns the current commits of the organization's
// given releases, in the order they were set (newest first).
func (s *Store) ReleasesCommits(ctx context.Context, orgID uint64, versions []string) (map[string][]Commit, error) {
	out := map[string][]Commit{}
	if len(versions) == 0 {
		return out, nil
	}
	where := " WHERE org_id = " + num(orgID) + " AND version IN " + strs(versions)
	var rows []commitRow
	if err := s.t.query(ctx, &rows, "SELECT version, set_rev, toUInt64(idx) AS idx, commit_id, repository, message, "+
		"author_name, author_email, timestamp_ms, files FROM "+s.table("release_commits")+where+
		" AND (version, set_rev) "+s.in()+" (SELECT version, max(set_rev) FROM "+s.table("release_commits")+where+
		" GROUP BY version) ORDER BY version, idx LIMIT 1 BY version, idx LIMIT "+fmt.Sprint(maxCommits*len(versions))); err != nil {
		return nil, err
	}
	for _, r := range rows {
		if r.ID == "" {
			continue
		}
		c := Commit{ID: r.ID, Repository: r.Repository, Message: r.Message, AuthorName: r.AuthorName,
			AuthorEmail: r.AuthorEmail, Timestamp: msTime(r.MS)}
		if r.Files != "" {
			json.Unmarshal([]byte(r.Files), &c.Files) //nolint:errcheck // written by SetReleaseCommits
		}
		out[r.Version] = append(out[r.Version], c)
	}
	return out, nil
}

// Repository is a source repository of an organization.
type Repository struct {
	OrgID       uint64
	Name        string
	URL         string
	Provider    string
	DateCreated time.Time
}

// Repositories returns an organization's repositories, by name.
func (s *Store) Repositories(ctx context.Context, orgID uint64) ([]Repository, error) {
	var rows []struct {
		Name     string `ch:"name"`
		URL      string `ch:"url"`
		Provider string `ch:"provider"`
		Created  uint64 `ch:"created"`
		Deleted  uint64 `ch:"del"`
	}
	if err := s.t.query(ctx, &rows, "SELECT name, argMax(url, rev) AS url, argMax(provider, rev) AS provider, "+
		"min(date_created_ms) AS created, toUInt64(argMax(deleted, rev)) AS del FROM "+s.table("repositories")+
		" WHERE org_id = "+num(orgID)+" GROUP BY name ORDER BY name LIMIT 1000"); err != nil {
		return nil, err
	}
	out := make([]Repository, 0, len(rows))
	for _, r := range rows {
		if r.Deleted == 0 {
			out = append(out, Repository{OrgID: orgID, Name: r.Name, URL: r.URL, Provider: r.Provider, DateCreated: msTime(r.Created)})
		}
	}
	return out, nil
}

// SaveRepositories records repositories (again: the first date created
// stays).
func (s *Store) SaveRepositories(ctx context.Context, repos []Repository, now time.Time) error {
	if len(repos) == 0 {
		return nil
	}
	rows := make([][]any, len(repos))
	for i, r := range repos {
		created := r.DateCreated
		if created.IsZero() {
			created = now
		}
		rows[i] = []any{r.OrgID, r.Name, r.URL, r.Provider, timeMS(created), uint8(0), uint64(now.UnixMicro()) + uint64(i)}
	}
	return s.t.insert(ctx, s.table("repositories"), []string{"org_id", "name", "url", "provider", "date_created_ms", "deleted", "rev"}, rows)
}

// projectReleases returns a project's versions (at most 10,000, the
// latest added) and the date each was added.
func (s *Store) projectReleases(ctx context.Context, projectID uint64) ([]releaseLink, error) {
	return s.releaseLinks(ctx, []uint64{projectID}, nil)
}

// semverWindow is how many of a project's latest releases must follow
// semantic versioning for its releases to be ordered by version, as
// Sentry's follows_semver_versioning_scheme.
const semverWindow = 10

// ReleaseOrder orders a project's releases as Sentry does: by semantic
// version when the project follows semver (see followsSemver), the
// versions that do not parse first; else by the date each was added
// (then by version). It returns
// the versions oldest first.
func ReleaseOrder(links []ReleaseProjectVersion) []string {
	ls := make([]ReleaseProjectVersion, len(links))
	copy(ls, links)
	byDate := func(i, j int) bool {
		if !ls[i].DateAdded.Equal(ls[j].DateAdded) {
			return ls[i].DateAdded.Before(ls[j].DateAdded)
		}
		return ls[i].Version < ls[j].Version
	}
	sort.SliceStable(ls, byDate)
	parsed := make(map[string]Semver, len(ls))
	semver := followsSemver(ls)
	if semver {
		// The versions that follow semver are compared by it; the others
		// go first, by date.
		var sv, rest []ReleaseProjectVersion
		for _, l := range ls {
			if v, ok := ParseSemver(l.Version); ok {
				parsed[l.Version] = v
				sv = append(sv, l)
			} else {
				rest = append(rest, l)
			}
		}
		sort.SliceStable(sv, func(i, j int) bool {
			if c := parsed[sv[i].Version].Compare(parsed[sv[j].Version]); c != 0 {
				return c < 0
			}
			return sv[i].DateAdded.Before(sv[j].DateAdded)
		})
		ls = append(rest, sv...)
	}
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Version
	}
	return out
}

// followsSemver is Sentry's follows_semver_versioning_scheme, on a
// project's releases sorted by date added: with at most 2 releases, the
// latest follows semver; with 3 to 9, one of the latest 3 does; with 10
// or more, one of the latest 3 and 3 of the latest 10 do.
func followsSemver(ls []ReleaseProjectVersion) bool {
	n := len(ls)
	count := func(k int) int {
		c := 0
		for i := n - 1; i >= 0 && i >= n-k; i-- {
			if _, ok := ParseSemver(ls[i].Version); ok {
				c++
			}
		}
		return c
	}
	switch {
	case n == 0:
		return false
	case n <= 2:
		return count(1) == 1
	case n <= 9:
		return count(3) > 0
	}
	return count(3) > 0 && count(10) >= 3
}

// ReleaseProjectVersion is a version with the date a project added it.
type ReleaseProjectVersion struct {
	Version   string
	DateAdded time.Time
}

// ProjectReleaseOrder returns a project's releases in Sentry's release
// order (see ReleaseOrder), oldest first.
func (s *Store) ProjectReleaseOrder(ctx context.Context, projectID uint64) ([]string, error) {
	links, err := s.projectReleases(ctx, projectID)
	if err != nil {
		return nil, err
	}
	vs := make([]ReleaseProjectVersion, len(links))
	for i, l := range links {
		vs[i] = ReleaseProjectVersion{Version: l.Version, DateAdded: msTime(l.MS)}
	}
	return ReleaseOrder(vs), nil
}

// LatestRelease returns a project's latest release in Sentry's release
// order ("" when it has none): what `release:latest` means.
func (s *Store) LatestRelease(ctx context.Context, projectID uint64) (string, error) {
	order, err := s.ProjectReleaseOrder(ctx, projectID)
	if err != nil || len(order) == 0 {
		return "", err
	}
	return order[len(order)-1], nil
}

// ReleasesAfter reports which of the given versions come after base in
// the project's release order; a version the project does not have yet
// is newer (it is being added now). With base "", every non-empty
// version is newer.
func (s *Store) ReleasesAfter(ctx context.Context, projectID uint64, base string, versions []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(versions) == 0 {
		return out, nil
	}
	order, err := s.ProjectReleaseOrder(ctx, projectID)
	if err != nil {
		return nil, err
	}
	pos := make(map[string]int, len(order))
	for i, v := range order {
		pos[v] = i
	}
	b, hasBase := pos[base]
	bs, baseSemver := ParseSemver(base)
	for _, v := range versions {
		if v == "" {
			continue
		}
		p, known := pos[v]
		switch {
		case base == "" || !hasBase:
			out[v] = v != base
		case known:
			out[v] = p > b
		default:
			// Not recorded yet: newer, unless semver says it is older.
			vs, ok := ParseSemver(v)
			out[v] = !(ok && baseSemver && vs.Compare(bs) <= 0)
		}
	}
	return out, nil
}

// ReleaseStat is what a release's events tell: its first and last event
// and, per project, the issues first seen in it.
type ReleaseStat struct {
	FirstEvent, LastEvent time.Time
	NewGroups             map[uint64]uint64 // by project
}

// ReleaseStats returns the events' view of the given releases in the
// given projects (releases without events are absent).
func (s *Store) ReleaseStats(ctx context.Context, projectIDs []uint64, versions []string) (map[string]ReleaseStat, error) {
	out := map[string]ReleaseStat{}
	if len(versions) == 0 || len(projectIDs) == 0 {
		return out, nil
	}
	var seen []struct {
		Release string `ch:"release"`
		First   uint64 `ch:"f"`
		Last    uint64 `ch:"l"`
	}
	if err := s.t.query(ctx, &seen, "SELECT release, minMerge(first_seen) AS f, maxMerge(last_seen) AS l FROM "+
		s.table("group_releases")+" WHERE project_id IN "+nums(projectIDs)+" AND release IN "+strs(versions)+
		" GROUP BY release"); err != nil {
		return nil, err
	}
	for _, r := range seen {
		out[r.Release] = ReleaseStat{FirstEvent: msTime(r.First), LastEvent: msTime(r.Last), NewGroups: map[uint64]uint64{}}
	}
	// An issue is new in the release of its first event.
	var news []struct {
		ProjectID uint64 `ch:"project_id"`
		Release   string `ch:"rel"`
		N         uint64 `ch:"n"`
	}
	if err := s.t.query(ctx, &news, "SELECT project_id, rel, count() AS n FROM (SELECT project_id, group_id, "+
		"argMin(release, f) AS rel FROM (SELECT project_id, group_id, release, minMerge(first_seen) AS f FROM "+
		s.table("group_releases")+" WHERE project_id IN "+nums(projectIDs)+" GROUP BY project_id, group_id, release) "+
		"GROUP BY project_id, group_id) WHERE rel IN "+strs(versions)+" GROUP BY project_id, rel"); err != nil {
		return nil, err
	}
	for _, n := range news {
		if st, ok := out[n.Release]; ok {
			st.NewGroups[n.ProjectID] = n.N
		}
	}
	return out, nil
}
