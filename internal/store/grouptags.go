package store

import (
	"context"
	"strings"
	"time"
)

// group_tags is the per-issue index of tag values that the issue search's
// tag terms read (level:, user.email:, has:, any tag), instead of scanning
// the events: one row per (project, tag key, value, issue, day), filled by
// group_tags_mv from events. Its sorting key starts with the project, the
// key and the value, so a term reads the few granules of its key and
// value. The event's user columns are indexed under the keys the search
// names them by (user.id, user.email, user.username, user.ip); empty
// values are not indexed (has: means a non-empty value). Rows carry the
// events' retention and are partitioned like them, so Cleanup drops them
// together; issue and project deletions find the table by its columns.
// A ReplacingMergeTree: the rows of one key collapse on merge, and a
// backfill run twice changes nothing.

func schema0016(s *Store) []string {
	return []string{
		s.sql(`CREATE TABLE IF NOT EXISTS {db}.group_tags (
	project_id UInt64,
	key String,
	value String,
	group_id UInt64,
	day Date,
	retention_days UInt16
) ENGINE = ReplacingMergeTree()
PARTITION BY (retention_days, toMonday(day))
ORDER BY (project_id, key, value, group_id, day)` + ttlDay(s) + s.tableSettings(8192)),
		s.sql(`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.group_tags_mv TO {db}.group_tags AS ` + groupTagsSelect),
	}
}

// ttlDay expires a day's rows with its last events, where TTL exists.
func ttlDay(s *Store) string {
	if !s.features.TTL {
		return ""
	}
	return "\nTTL day + toIntervalDay(retention_days + 1)"
}

// groupTagsSelect is the view's query, and the backfill's.
const groupTagsSelect = `SELECT project_id, tag.1 AS key, tag.2 AS value, group_id, toDate(timestamp) AS day, retention_days
FROM {db}.events
ARRAY JOIN arrayConcat(arrayMap((k, v) -> (CAST(k AS String), v), ` + "`tags.key`, `tags.value`" + `),
	[('user.id', user_id), ('user.email', user_email), ('user.username', user_name), ('user.ip', ip_address)]) AS tag
WHERE tag.2 != ''
GROUP BY project_id, key, value, group_id, day, retention_days`

// backfill0016 indexes the events stored before the migration.
func backfill0016(ctx context.Context, s *Store) error {
	return s.t.exec(ctx, "INSERT INTO "+s.table("group_tags")+" (project_id, key, value, group_id, day, retention_days) "+
		strings.ReplaceAll(groupTagsSelect, "{db}.events", s.table("events")))
}

// liveDay is live for daily rows: a day stays until its last second has
// expired.
func liveDay(now time.Time) string {
	return "toUInt32(day) + 1 + toUInt32(retention_days) > " + num(uint64(now.Unix()/86400))
}

// tagCond renders one tag term as a condition on group_id: the issues
// with (or, negated, without) an event carrying the tag value in q's time
// range (whole days).
func (s *Store) tagCond(q *IssueQuery, t TagTerm) string {
	var b strings.Builder
	b.WriteString("(SELECT group_id FROM " + s.table("group_tags") + " WHERE project_id IN " + nums(q.ProjectIDs) +
		" AND key = " + str(t.Key))
	if !t.Has {
		b.WriteString(" AND " + valuesCond("value", t.Values))
	}
	if !q.Start.IsZero() {
		b.WriteString(" AND day >= toDate(" + ts(q.Start) + ")")
	}
	if !q.End.IsZero() {
		b.WriteString(" AND day <= toDate(" + ts(q.End) + ")")
	}
	b.WriteString(" AND " + liveDay(q.Now) + ")")
	op := s.in()
	if t.Negate {
		op = s.notIn()
	}
	return "group_id " + op + " " + b.String()
}

// Environments returns the environments the projects' events name, in
// order (the environment picker and Sentry's environments lists), from
// the tag index: one read of its environment key.
func (s *Store) Environments(ctx context.Context, projectIDs []uint64) ([]string, error) {
	if len(projectIDs) == 0 {
		return []string{}, nil
	}
	var rows []struct {
		Value string `ch:"value"`
	}
	if err := s.t.query(ctx, &rows, "SELECT DISTINCT value FROM "+s.table("group_tags")+" WHERE project_id IN "+
		nums(projectIDs)+" AND key = 'environment' AND "+liveDay(time.Now())+" ORDER BY value LIMIT 1000"); err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Value
	}
	return out, nil
}
