package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// CountIssues counts the issues that q's list would page through (its
// projects, environments, status and search; Sort, Limit, Cursor and
// StatsPeriod are ignored), per project, in one query: the tabs of the
// issue list and the unresolved count of each project on the
// organization's page.
func (s *Store) CountIssues(ctx context.Context, q IssueQuery) (map[uint64]uint64, error) {
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	if len(q.ProjectIDs) == 0 {
		return map[uint64]uint64{}, nil
	}
	where, conds, err := s.issueWhere(&q)
	if err != nil {
		return nil, err
	}
	where = append(where, conds...)
	var rows []struct {
		ProjectID uint64 `ch:"project_id"`
		N         uint64 `ch:"n"`
	}
	if err := s.t.query(ctx, &rows, "SELECT project_id, count() AS n FROM (SELECT project_id, group_id FROM "+
		s.table("group_hourly")+" WHERE "+strings.Join(where, " AND ")+" GROUP BY project_id, group_id) GROUP BY project_id"); err != nil {
		return nil, err
	}
	out := make(map[uint64]uint64, len(rows))
	for _, r := range rows {
		out[r.ProjectID] = r.N
	}
	return out, nil
}

// ProjectHourly returns each project's events per hour over the last 24
// hours, oldest first, zeros included, in one query (the sparklines of the
// organization's page).
func (s *Store) ProjectHourly(ctx context.Context, projectIDs []uint64, now time.Time) (map[uint64][]Bucket, error) {
	if now.IsZero() {
		now = time.Now()
	}
	out := make(map[uint64][]Bucket, len(projectIDs))
	if len(projectIDs) == 0 {
		return out, nil
	}
	const n = 24
	end := now.UTC().Truncate(time.Hour)
	start := end.Add(-(n - 1) * time.Hour)
	var rows []struct {
		ProjectID uint64    `ch:"project_id"`
		Bucket    time.Time `ch:"bucket"`
		Count     uint64    `ch:"count"`
	}
	if err := s.t.query(ctx, &rows, "SELECT project_id, hour AS bucket, countMerge(times_seen) AS count FROM "+
		s.table("group_hourly")+" WHERE project_id IN "+nums(projectIDs)+" AND hour >= "+ts(start)+" AND "+liveHour(now)+
		" GROUP BY project_id, bucket"); err != nil {
		return nil, err
	}
	counts := map[uint64]map[int64]uint64{}
	for _, r := range rows {
		if counts[r.ProjectID] == nil {
			counts[r.ProjectID] = map[int64]uint64{}
		}
		counts[r.ProjectID][r.Bucket.Unix()] += r.Count
	}
	for _, id := range projectIDs {
		b := make([]Bucket, n)
		for i := range b {
			t := start.Add(time.Duration(i) * time.Hour)
			b[i] = Bucket{Start: t, Count: counts[id][t.Unix()]}
		}
		out[id] = b
	}
	return out, nil
}

// CountIssuesByStatus counts, in one query, the issues that q's list
// would page through whatever their status, per current status: the
// issue list's tabs (unresolved, ignored, resolved, all) at the cost of
// one count. q.Status is ignored; a search with a substatus (is:regressed)
// is refused, as it narrows one status only. Issues with no status row
// count as StatusUnresolved; StatusPendingDeletion is counted too (the
// "all" tab leaves it out, as CountIssues does).
func (s *Store) CountIssuesByStatus(ctx context.Context, q IssueQuery) (map[string]uint64, error) {
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	out := map[string]uint64{}
	if len(q.ProjectIDs) == 0 {
		return out, nil
	}
	if q.Search != nil && q.Search.Substatus != "" {
		return nil, fmt.Errorf("store: substatus %q counted by status", q.Search.Substatus)
	}
	q.Status = statusAll
	where, conds, err := s.issueWhere(&q)
	if err != nil {
		return nil, err
	}
	where = append(where, conds...)
	var rows []struct {
		Status string `ch:"status"`
		N      uint64 `ch:"n"`
	}
	// One pass over the aggregates picks the issues; their current status
	// is one grouped read of group_status, joined by id.
	if err := s.t.query(ctx, &rows, "SELECT st AS status, count() AS n FROM (SELECT group_id FROM "+s.table("group_hourly")+
		" WHERE "+strings.Join(where, " AND ")+" GROUP BY group_id) AS g ANY LEFT JOIN (SELECT group_id, argMax(status, updated_ms) AS st FROM "+
		s.table("group_status")+" WHERE project_id IN "+nums(q.ProjectIDs)+" GROUP BY group_id) AS s USING (group_id) GROUP BY st"); err != nil {
		return nil, err
	}
	for _, r := range rows {
		st := r.Status
		if st == "" {
			st = StatusUnresolved
		}
		out[st] += r.N
	}
	return out, nil
}

// statusAll is the IssueQuery.Status of CountIssuesByStatus: no condition
// on the status. Not a status a caller can ask for.
const statusAll = "\x00all"
