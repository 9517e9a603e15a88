package store

import (
	"context"
	"strings"
)

// group_tag_values holds, per issue, tag key, value and day, the events'
// count and their first and last time: the issue page's tag
// distributions (TagSummary) read it instead of every event of the issue
// (ARRAY JOIN of the tags of ~100,000 events for a hot issue at 1M
// events). An AggregatingMergeTree fed by group_tag_values_mv from events,
// like group_hourly; partitioned like the events, so Cleanup drops its
// days with them, and the merge of issues moves its rows as for every
// view over events (eventViews). Only the events' tags: the user fields
// are not tags.
//
// The backfill of the events stored before the migration runs once; a
// migration interrupted after it and run again would count those events
// twice in the distributions (the issue's own counts are group_hourly's).
func schema0017(s *Store) []string {
	return []string{
		s.sql(`CREATE TABLE IF NOT EXISTS {db}.group_tag_values (
	project_id UInt64,
	group_id UInt64,
	key String,
	value String,
	day Date,
	retention_days UInt16,
	times_seen AggregateFunction(count),
	first_seen AggregateFunction(min, DateTime('UTC')),
	last_seen AggregateFunction(max, DateTime('UTC'))
) ENGINE = AggregatingMergeTree()
PARTITION BY (retention_days, toMonday(day))
ORDER BY (project_id, group_id, key, value, day)` + ttlDay(s) + s.tableSettings(8192)),
		s.sql(`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.group_tag_values_mv TO {db}.group_tag_values AS ` + groupTagValuesSelect),
	}
}

// groupTagValuesSelect is the view's query, and the backfill's.
const groupTagValuesSelect = `SELECT project_id, group_id, tag.1 AS key, tag.2 AS value, toDate(timestamp) AS day, retention_days,
	countState() AS times_seen, minState(timestamp) AS first_seen, maxState(timestamp) AS last_seen
FROM {db}.events
ARRAY JOIN arrayMap((k, v) -> (CAST(k AS String), v), ` + "`tags.key`, `tags.value`" + `) AS tag
GROUP BY project_id, group_id, key, value, day, retention_days`

// backfill0017 aggregates the events stored before the migration.
func backfill0017(ctx context.Context, s *Store) error {
	return s.t.exec(ctx, "INSERT INTO "+s.table("group_tag_values")+
		" (project_id, group_id, key, value, day, retention_days, times_seen, first_seen, last_seen) "+
		strings.ReplaceAll(groupTagValuesSelect, "{db}.events", s.table("events")))
}
