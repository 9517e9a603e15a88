package store

import (
	"context"
	"fmt"
	"time"
)

// Windowed per-issue counters, for the alert rules' frequency conditions
// (more than N events, or N distinct users, in 1 minute to 30 days).
//
// group_minutely holds per (project, issue, environment, minute) the
// count and the distinct-user state of the events stored, filled by a
// materialized view on events as group_hourly is: each batch insert adds
// one part to it, and no event is read again to count. Windows up to an
// hour read it (at most 60 rows per issue and environment); longer windows
// read group_hourly (at most 720 rows for 30 days), whose edges are whole
// hours. Its rows carry retention_days = 1 and the retention partitioning,
// so that Cleanup drops each week's partition eight days after the week
// began, on both engines (18.16 has no TTL).

// minutelyRetentionDays is the retention of per-minute counters.
const minutelyRetentionDays = 1

func schema0012(s *Store) []string {
	return []string{
		s.sql(`CREATE TABLE IF NOT EXISTS {db}.group_minutely (
	project_id UInt64,
	group_id UInt64,
	environment LowCardinality(String),
	minute DateTime('UTC'),
	retention_days UInt16,
	times_seen AggregateFunction(count),
	users AggregateFunction(uniqIf, String, UInt8)
) ENGINE = AggregatingMergeTree()
PARTITION BY (retention_days, toMonday(minute))
ORDER BY (project_id, group_id, environment, minute)` + s.ttl("minute") + s.tableSettings(8192)),
		s.sql(fmt.Sprintf(`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.group_minutely_mv TO {db}.group_minutely AS
SELECT project_id, group_id, environment, toStartOfMinute(timestamp) AS minute, toUInt16(%d) AS retention_days,
	countState() AS times_seen,
	uniqIfState(user_key, user_key != '') AS users
FROM {db}.events
GROUP BY project_id, group_id, environment, minute, retention_days`, minutelyRetentionDays)),
	}
}

// WindowCount is an issue's events and distinct users in a window.
type WindowCount struct {
	GroupID uint64 `ch:"group_id"`
	Events  uint64 `ch:"events"`
	Users   uint64 `ch:"users"`
}

// MinuteWindowLimit is the longest window the per-minute counters serve.
const MinuteWindowLimit = time.Hour

// WindowCounts returns the events and distinct users of a project's issues
// whose events happened in the window ending at now (in environment, or
// all when ""). One query on the counters' sorting key.
func (s *Store) WindowCounts(ctx context.Context, projectID uint64, groupIDs []uint64, environment string, window time.Duration, now time.Time) (map[uint64]WindowCount, error) {
	out := map[uint64]WindowCount{}
	if len(groupIDs) == 0 {
		return out, nil
	}
	table, col, from := "group_minutely", "minute", now.Add(-window).Truncate(time.Minute)
	if window > MinuteWindowLimit {
		table, col, from = "group_hourly", "hour", now.Add(-window).Truncate(time.Hour)
	}
	q := "SELECT group_id, countMerge(times_seen) AS events, uniqIfMerge(users) AS users FROM " + s.table(table) +
		" WHERE project_id = " + num(projectID) + " AND group_id IN " + nums(groupIDs) + " AND " + col + " >= " + ts(from)
	if environment != "" {
		q += " AND environment = " + str(environment)
	}
	q += " GROUP BY group_id"
	var rows []WindowCount
	if err := s.t.query(ctx, &rows, q); err != nil {
		return nil, fmt.Errorf("store: window counts: %w", err)
	}
	for _, r := range rows {
		out[r.GroupID] = r
	}
	return out, nil
}

// IssueTotal is an issue's events and first event, over its whole life
// (what the alert rules' age and occurrences filters read).
type IssueTotal struct {
	GroupID   uint64    `ch:"group_id"`
	TimesSeen uint64    `ch:"events"`
	FirstSeen time.Time `ch:"first"`
}

// IssueTotals returns the times seen and first event of a project's
// issues: one query on group_hourly's sorting key (its aggregates, not
// the events). An issue with no stored event is absent.
func (s *Store) IssueTotals(ctx context.Context, projectID uint64, groupIDs []uint64) (map[uint64]IssueTotal, error) {
	out := map[uint64]IssueTotal{}
	if len(groupIDs) == 0 {
		return out, nil
	}
	var rows []IssueTotal
	if err := s.t.query(ctx, &rows, "SELECT group_id, countMerge(times_seen) AS events, minMerge(first_seen) AS first FROM "+
		s.table("group_hourly")+" WHERE project_id = "+num(projectID)+" AND group_id IN "+nums(groupIDs)+
		" GROUP BY group_id"); err != nil {
		return nil, fmt.Errorf("store: issue totals: %w", err)
	}
	for _, r := range rows {
		r.FirstSeen = r.FirstSeen.UTC()
		out[r.GroupID] = r
	}
	return out, nil
}
