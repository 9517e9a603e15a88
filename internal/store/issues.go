package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Group is an issue's metadata as the worker last saw it.
type Group struct {
	ProjectID      uint64 `ch:"project_id"`
	GroupID        uint64 `ch:"group_id"`
	ShortID        uint64 `ch:"short_id"`
	PrimaryHash    string `ch:"primary_hash"`
	GroupingConfig string `ch:"grouping_config"`
	Title          string `ch:"title"`
	Culprit        string `ch:"culprit"`
	Level          string `ch:"level"`
	Type           string `ch:"type"`
	Platform       string `ch:"platform"`
	Metadata       string `ch:"metadata"` // JSON object
	Version        uint64 `ch:"version"`  // unix ms; the latest wins
	// LastSeen is the newest event timestamp the row describes, and
	// RetentionDays the project's retention: the row expires with the
	// events it describes (written, not read back).
	LastSeen      time.Time
	RetentionDays uint16
}

var groupCols = []string{"project_id", "group_id", "short_id", "primary_hash", "grouping_config",
	"title", "culprit", "level", "type", "platform", "metadata", "last_seen", "retention_days", "version"}

// UpsertGroups records group metadata. The row with the highest Version wins.
func (s *Store) UpsertGroups(ctx context.Context, groups []Group) error {
	if len(groups) == 0 {
		return nil
	}
	rows := make([][]any, len(groups))
	for i, g := range groups {
		if g.RetentionDays == 0 {
			g.RetentionDays = DefaultRetentionDays
		}
		if g.LastSeen.IsZero() {
			g.LastSeen = time.Now()
		}
		rows[i] = []any{g.ProjectID, g.GroupID, g.ShortID, g.PrimaryHash, g.GroupingConfig,
			g.Title, g.Culprit, g.Level, g.Type, g.Platform, g.Metadata, g.LastSeen.UTC().Truncate(time.Second),
			g.RetentionDays, g.Version}
	}
	return s.t.insert(ctx, s.table("groups"), groupCols, rows)
}

// Issue status values, as Sentry names them.
const (
	StatusUnresolved = "unresolved"
	StatusResolved   = "resolved"
	StatusIgnored    = "ignored"
)

// StatusDetails is Sentry's statusDetails as Faultline stores it in group_status.status_details with an
// issue's status: how it was resolved or under which condition it is
// ignored. The time the status was set (group_status.updated_ms) is the
// resolution or the start of the ignore.
type StatusDetails struct {
	InNextRelease bool `json:"inNextRelease,omitempty"`
	// InRelease is the release the issue was resolved in: only events of
	// a later release regress it.
	InRelease        string     `json:"inRelease,omitempty"`
	IgnoreUntil      *time.Time `json:"ignoreUntil,omitempty"`
	IgnoreCount      int        `json:"ignoreCount,omitempty"`
	IgnoreWindow     int        `json:"ignoreWindow,omitempty"` // minutes
	IgnoreUserCount  int        `json:"ignoreUserCount,omitempty"`
	IgnoreUserWindow int        `json:"ignoreUserWindow,omitempty"` // minutes
	// ReleaseAtResolution is, for a resolution in the next release, the
	// project's latest release when it was resolved (Sentry's
	// GroupResolution release): only an event of a release after it in
	// the release order regresses the issue. Empty when the project had
	// none (or for resolutions recorded before it existed).
	ReleaseAtResolution string `json:"releaseAtResolution,omitempty"`
}

// StatusChange sets an issue's status.
type StatusChange struct {
	ProjectID uint64
	GroupID   uint64
	Status    string
	Substatus string
	Details   string // JSON object, Sentry's statusDetails
	At        time.Time
	// Activity, if set, is recorded with the change, before it (its
	// project, issue and time default to the change's): every status
	// change a person or the worker makes leaves one.
	Activity *Activity
}

// SetStatus records status changes, and their activity; the latest
// status wins.
func (s *Store) SetStatus(ctx context.Context, changes []StatusChange) error {
	if len(changes) == 0 {
		return nil
	}
	rows := make([][]any, len(changes))
	var acts []Activity
	for i, c := range changes {
		if c.Details == "" {
			c.Details = "{}"
		}
		if c.At.IsZero() {
			c.At = time.Now()
		}
		if c.Activity != nil {
			a := *c.Activity
			a.ProjectID, a.GroupID = c.ProjectID, c.GroupID
			if a.CreatedMS == 0 {
				a.CreatedMS = uint64(c.At.UnixMilli())
			}
			acts = append(acts, a)
		}
		rows[i] = []any{c.ProjectID, c.GroupID, c.Status, c.Substatus, c.Details, uint64(c.At.UnixMilli())}
	}
	// The activity first: a change retried after a failure records its
	// activity again under the same id (the worker's are derived), where
	// the other order could lose it.
	if err := s.InsertActivity(ctx, acts); err != nil {
		return fmt.Errorf("store: record activity: %w", err)
	}
	return s.t.insert(ctx, s.table("group_status"), []string{"project_id", "group_id", "status", "substatus", "status_details", "updated_ms"}, rows)
}

// Issue is an issue as listed: aggregates, metadata and status.
type Issue struct {
	Group
	TimesSeen     uint64
	Users         uint64
	FirstSeen     time.Time
	LastSeen      time.Time
	Status        string
	Substatus     string
	StatusDetails string
	Stats         []Bucket // filled when IssueQuery.StatsPeriod is set
}

// Bucket is one interval of an issue's event counts.
type Bucket struct {
	Start time.Time
	Count uint64
}

// Sort orders, as Sentry names them.
const (
	SortDate = "date" // last seen
	SortNew  = "new"  // first seen
	SortFreq = "freq" // event count
	SortUser = "user" // user count
)

// IssueQuery selects issues of one or more projects.
type IssueQuery struct {
	ProjectIDs   []uint64
	GroupIDs     []uint64 // optional: only these
	Environments []string
	Status       string // "" for any
	Sort         string
	Limit        int
	Cursor       string // from a previous IssuePage.Next
	// StatsPeriod is "24h" (hourly buckets) or "14d" (daily); "" for none.
	StatsPeriod string
	// Start and End, if set, narrow the list to the issues with events in
	// the range, and their counts to those events (whole hours; tag terms
	// whole days): Sentry's statsPeriod, start and end.
	Start, End time.Time
	Now        time.Time
	// Search narrows the list by the search's terms other than the
	// status (see ParseIssueSearch); nil for none.
	Search *IssueSearch
}

// IssuePage is one page of issues, with the cursor for the next.
type IssuePage struct {
	Issues []Issue
	Next   string // "" when there is no next page
}

// ErrBadCursor means a cursor could not be decoded.
var ErrBadCursor = errors.New("store: invalid cursor")

type aggRow struct {
	GroupID   uint64    `ch:"group_id"`
	TimesSeen uint64    `ch:"times_seen"`
	Users     uint64    `ch:"users"`
	FirstSeen time.Time `ch:"first_seen"`
	LastSeen  time.Time `ch:"last_seen"`
}

// sortKey returns the aggregate an issue list is ordered by, as a UInt64.
func sortKey(sort string) (string, error) {
	switch sort {
	case "", SortDate:
		return "toUInt64(maxMerge(last_seen))", nil
	case SortNew:
		return "toUInt64(minMerge(first_seen))", nil
	case SortFreq:
		return "countMerge(times_seen)", nil
	case SortUser:
		return "uniqIfMerge(users)", nil
	}
	return "", fmt.Errorf("store: unknown sort %q", sort)
}

// ListIssues returns a page of issues in keyset order: the sort key, then
// the group id, both descending. The cursor holds the last row's key, so a
// row is never skipped while counts change between pages.
//
// It reads group_hourly in two phases: first the page's group ids, merging
// only the aggregate the list is sorted by (uniqMerge of every issue would
// dominate the cost), then the full aggregates, metadata, status and stats
// of those groups only.
func (s *Store) ListIssues(ctx context.Context, q IssueQuery) (IssuePage, error) {
	if q.Limit <= 0 || q.Limit > 100 {
		q.Limit = 25
	}
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	expr, err := sortKey(q.Sort)
	if err != nil {
		return IssuePage{}, err
	}
	where, conds, err := s.issueWhere(&q)
	if err != nil {
		return IssuePage{}, err
	}
	// The search's conditions pick the page's groups; the second phase
	// reads those groups by id and need not evaluate them again.
	keysWhere := append(append([]string(nil), where...), conds...)
	having := ""
	if q.Cursor != "" {
		key, gid, err := decodeCursor(q.Cursor)
		if err != nil {
			return IssuePage{}, err
		}
		having = fmt.Sprintf(" HAVING k < %d OR (k = %d AND group_id < %d)", key, key, gid)
	}
	var keys []struct {
		GroupID uint64 `ch:"group_id"`
		K       uint64 `ch:"k"`
	}
	if err := s.t.query(ctx, &keys, "SELECT group_id, "+expr+" AS k FROM "+s.table("group_hourly")+
		" WHERE "+strings.Join(keysWhere, " AND ")+" GROUP BY group_id"+having+
		" ORDER BY k DESC, group_id DESC LIMIT "+strconv.Itoa(q.Limit+1)); err != nil {
		return IssuePage{}, err
	}
	var page IssuePage
	if len(keys) > q.Limit {
		keys = keys[:q.Limit]
		last := keys[len(keys)-1]
		page.Next = encodeCursor(last.K, last.GroupID)
	}
	if len(keys) == 0 {
		return page, nil
	}
	ids := make([]uint64, len(keys))
	for i, k := range keys {
		ids[i] = k.GroupID
	}
	var aggs []aggRow
	if err := s.t.query(ctx, &aggs, "SELECT group_id, countMerge(times_seen) AS times_seen, uniqIfMerge(users) AS users, "+
		"minMerge(first_seen) AS first_seen, maxMerge(last_seen) AS last_seen FROM "+s.table("group_hourly")+
		" WHERE "+strings.Join(where, " AND ")+" AND group_id IN "+nums(ids)+" GROUP BY group_id"); err != nil {
		return IssuePage{}, err
	}
	byID := make(map[uint64]aggRow, len(aggs))
	for _, a := range aggs {
		byID[a.GroupID] = a
	}
	meta, err := s.groupMeta(ctx, q.ProjectIDs, ids)
	if err != nil {
		return IssuePage{}, err
	}
	status, err := s.groupStatus(ctx, q.ProjectIDs, ids)
	if err != nil {
		return IssuePage{}, err
	}
	var stats map[uint64][]Bucket
	if q.StatsPeriod != "" {
		if stats, err = s.groupStats(ctx, q, ids); err != nil {
			return IssuePage{}, err
		}
	}
	for _, id := range ids {
		a := byID[id]
		is := Issue{Group: meta[id], TimesSeen: a.TimesSeen, Users: a.Users, FirstSeen: a.FirstSeen,
			LastSeen: a.LastSeen, Status: StatusUnresolved, Stats: stats[id]}
		is.GroupID = id
		if st, ok := status[id]; ok {
			is.Status, is.Substatus, is.StatusDetails = st.Status, st.Substatus, st.Details
		}
		page.Issues = append(page.Issues, is)
	}
	return page, nil
}

// GetIssue returns one issue with its aggregates, or nil if it has no
// events (in the given environments) or is being deleted.
//
// Every query names the issue, so that each reads its own rows through the
// tables' sort keys (project_id, group_id, ...): its aggregates, status,
// metadata and stats. (It used to be a one-row ListIssues, whose status
// filter read the status of every issue of the project.)
func (s *Store) GetIssue(ctx context.Context, projectID, groupID uint64, environments []string, statsPeriod string) (*Issue, error) {
	now := time.Now()
	where := "project_id = " + num(projectID) + " AND group_id = " + num(groupID) + " AND " + liveHour(now)
	if len(environments) > 0 {
		where += " AND environment IN " + strs(environments)
	}
	var aggs []aggRow
	if err := s.t.query(ctx, &aggs, "SELECT group_id, countMerge(times_seen) AS times_seen, uniqIfMerge(users) AS users, "+
		"minMerge(first_seen) AS first_seen, maxMerge(last_seen) AS last_seen FROM "+s.table("group_hourly")+
		" WHERE "+where+" GROUP BY group_id"); err != nil || len(aggs) == 0 {
		return nil, err
	}
	ids := []uint64{groupID}
	status, err := s.groupStatus(ctx, []uint64{projectID}, ids)
	if err != nil {
		return nil, err
	}
	st, ok := status[groupID]
	if ok && st.Status == StatusPendingDeletion {
		return nil, nil
	}
	meta, err := s.groupMeta(ctx, []uint64{projectID}, ids)
	if err != nil {
		return nil, err
	}
	a := aggs[0]
	is := &Issue{Group: meta[groupID], TimesSeen: a.TimesSeen, Users: a.Users, FirstSeen: a.FirstSeen, LastSeen: a.LastSeen,
		Status: StatusUnresolved}
	is.GroupID = groupID
	if ok {
		is.Status, is.Substatus, is.StatusDetails = st.Status, st.Substatus, st.Details
	}
	if statsPeriod != "" {
		stats, err := s.groupStats(ctx, IssueQuery{ProjectIDs: []uint64{projectID}, Environments: environments,
			StatsPeriod: statsPeriod, Now: now}, ids)
		if err != nil {
			return nil, err
		}
		is.Stats = stats[groupID]
	}
	return is, nil
}

// issueWhere renders the conditions on group_hourly of the issues q
// lists (and CountIssues counts): where narrows the rows aggregated
// (projects, retention, time range, group ids, environments, status),
// conds the search's other terms, conditions on group_id that a read of
// already chosen groups need not evaluate again.
func (s *Store) issueWhere(q *IssueQuery) (where, conds []string, err error) {
	where = []string{"project_id IN " + nums(q.ProjectIDs), liveHour(q.Now)}
	if !q.Start.IsZero() {
		where = append(where, "hour >= "+ts(q.Start.UTC().Truncate(time.Hour)))
	}
	if !q.End.IsZero() {
		where = append(where, "hour <= "+ts(q.End))
	}
	if len(q.GroupIDs) > 0 {
		where = append(where, "group_id IN "+nums(q.GroupIDs))
	}
	where = append(where, envConds(q)...)
	switch q.Status {
	case statusAll: // CountIssuesByStatus: every status, itself grouped by status
	case "":
		// Any status but an issue being deleted.
		where = append(where, "group_id "+s.notIn()+" ("+s.statusIn(q.ProjectIDs, "=", StatusPendingDeletion)+")")
	case StatusUnresolved:
		if q.Search != nil && q.Search.Substatus != "" {
			where = append(where, "group_id "+s.in()+" (SELECT group_id FROM "+s.table("group_status")+" WHERE project_id IN "+
				nums(q.ProjectIDs)+" GROUP BY group_id HAVING argMax(status, updated_ms) = "+str(StatusUnresolved)+
				" AND argMax(substatus, updated_ms) = "+str(q.Search.Substatus)+")")
		} else {
			where = append(where, "group_id "+s.notIn()+" ("+s.statusIn(q.ProjectIDs, "!=", StatusUnresolved)+")")
		}
	case StatusResolved, StatusIgnored:
		where = append(where, "group_id "+s.in()+" ("+s.statusIn(q.ProjectIDs, "=", q.Status)+")")
	default:
		return nil, nil, fmt.Errorf("store: unknown status %q", q.Status)
	}
	if q.Search != nil && q.Search.Substatus != "" && q.Status != StatusUnresolved {
		return nil, nil, fmt.Errorf("store: substatus %q without the unresolved status", q.Search.Substatus)
	}
	conds, err = s.searchConds(q)
	if err != nil {
		return nil, nil, err
	}
	return where, conds, nil
}

func (s *Store) statusIn(projects []uint64, op, status string) string {
	return "SELECT group_id FROM " + s.table("group_status") + " WHERE project_id IN " + nums(projects) +
		" GROUP BY group_id HAVING argMax(status, updated_ms) " + op + " " + str(status)
}

func (s *Store) groupMeta(ctx context.Context, projects, ids []uint64) (map[uint64]Group, error) {
	var rows []Group
	// The inner alias v keeps max(version) AS version from shadowing the
	// column that the argMax calls read.
	err := s.t.query(ctx, &rows, "SELECT project_id, group_id, argMax(short_id, v) AS short_id, "+
		"argMax(primary_hash, v) AS primary_hash, argMax(grouping_config, v) AS grouping_config, "+
		"argMax(title, v) AS title, argMax(culprit, v) AS culprit, argMax(level, v) AS level, "+
		"argMax(type, v) AS type, argMax(platform, v) AS platform, argMax(metadata, v) AS metadata, "+
		"max(v) AS version FROM (SELECT *, version AS v FROM "+s.table("groups")+
		" WHERE project_id IN "+nums(projects)+" AND group_id IN "+nums(ids)+") GROUP BY project_id, group_id")
	if err != nil {
		return nil, err
	}
	out := make(map[uint64]Group, len(rows))
	for _, r := range rows {
		out[r.GroupID] = r
	}
	return out, nil
}

type statusRow struct {
	GroupID   uint64 `ch:"group_id"`
	Status    string `ch:"status"`
	Substatus string `ch:"substatus"`
	Details   string `ch:"status_details"`
}

func (s *Store) groupStatus(ctx context.Context, projects, ids []uint64) (map[uint64]statusRow, error) {
	var rows []statusRow
	err := s.t.query(ctx, &rows, "SELECT group_id, argMax(status, updated_ms) AS status, "+
		"argMax(substatus, updated_ms) AS substatus, argMax(status_details, updated_ms) AS status_details FROM "+
		s.table("group_status")+" WHERE project_id IN "+nums(projects)+" AND group_id IN "+nums(ids)+" GROUP BY group_id")
	if err != nil {
		return nil, err
	}
	out := make(map[uint64]statusRow, len(rows))
	for _, r := range rows {
		out[r.GroupID] = r
	}
	return out, nil
}

// IssueStats returns one issue's events per hour ("24h") or per day ("14d",
// "30d"), oldest first, zeros included: the issue page's chart.
func (s *Store) IssueStats(ctx context.Context, projectID, groupID uint64, environments []string, period string) ([]Bucket, error) {
	st, err := s.groupStats(ctx, IssueQuery{ProjectIDs: []uint64{projectID}, Environments: environments, StatsPeriod: period,
		Now: time.Now()}, []uint64{groupID})
	if err != nil {
		return nil, err
	}
	return st[groupID], nil
}

// groupStats returns per-group event counts: 24 hourly buckets for "24h",
// 14 or 30 daily buckets for "14d" and "30d", oldest first, zeros included.
func (s *Store) groupStats(ctx context.Context, q IssueQuery, ids []uint64) (map[uint64][]Bucket, error) {
	var step time.Duration
	var n int
	var bucketExpr string
	switch q.StatsPeriod {
	case "24h":
		step, n, bucketExpr = time.Hour, 24, "hour"
	case "14d":
		step, n, bucketExpr = 24*time.Hour, 14, "toStartOfDay(hour)"
	case "30d":
		step, n, bucketExpr = 24*time.Hour, 30, "toStartOfDay(hour)"
	default:
		return nil, fmt.Errorf("store: unknown stats period %q", q.StatsPeriod)
	}
	end := q.Now.UTC().Truncate(step)
	start := end.Add(-time.Duration(n-1) * step)
	where := "project_id IN " + nums(q.ProjectIDs) + " AND group_id IN " + nums(ids) + " AND hour >= " + ts(start) +
		" AND " + liveHour(q.Now)
	for _, c := range envConds(&q) {
		where += " AND " + c
	}
	var rows []struct {
		GroupID uint64    `ch:"group_id"`
		Bucket  time.Time `ch:"bucket"`
		Count   uint64    `ch:"count"`
	}
	if err := s.t.query(ctx, &rows, "SELECT group_id, "+bucketExpr+" AS bucket, countMerge(times_seen) AS count FROM "+
		s.table("group_hourly")+" WHERE "+where+" GROUP BY group_id, bucket"); err != nil {
		return nil, err
	}
	counts := map[uint64]map[int64]uint64{}
	for _, r := range rows {
		if counts[r.GroupID] == nil {
			counts[r.GroupID] = map[int64]uint64{}
		}
		counts[r.GroupID][r.Bucket.Unix()] += r.Count
	}
	out := make(map[uint64][]Bucket, len(ids))
	for _, id := range ids {
		b := make([]Bucket, n)
		for i := range b {
			t := start.Add(time.Duration(i) * step)
			b[i] = Bucket{Start: t, Count: counts[id][t.Unix()]}
		}
		out[id] = b
	}
	return out, nil
}

// Cursors are opaque to clients: base64 of "key:group_id".
func encodeCursor(key, groupID uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatUint(key, 10) + ":" + strconv.FormatUint(groupID, 10)))
}

func decodeCursor(c string) (key, groupID uint64, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, 0, ErrBadCursor
	}
	a, b, ok := strings.Cut(string(raw), ":")
	if !ok {
		return 0, 0, ErrBadCursor
	}
	if key, err = strconv.ParseUint(a, 10, 64); err != nil {
		return 0, 0, ErrBadCursor
	}
	if groupID, err = strconv.ParseUint(b, 10, 64); err != nil {
		return 0, 0, ErrBadCursor
	}
	return key, groupID, nil
}
