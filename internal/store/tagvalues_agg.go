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
// The backfill of the events stored before the migration writes its rows
// with origin 1 (the view writes 0; origin is part of the key, so merges
// never fold the two together). A migration interrupted during or after
// the backfill and run again first deletes the origin-1 rows, so the
// events stored before it are counted once, not twice. (Events that
// other processes store while it runs again are counted by the view and
// by the backfill: processes migrate before they process.)
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
	last_seen AggregateFunction(max, DateTime('UTC')),
	origin UInt8
) ENGINE = AggregatingMergeTree()
PARTITION BY (retention_days, toMonday(day))
ORDER BY (project_id, group_id, key, value, day, origin)` + ttlDay(s) + s.tableSettings(8192)),
		s.sql(`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.group_tag_values_mv TO {db}.group_tag_values AS ` + groupTagValuesSelect),
	}
}

// groupTagValuesSelect is the view's query, and the backfill's.
const groupTagValuesSelect = `SELECT project_id, group_id, tag.1 AS key, tag.2 AS value, toDate(timestamp) AS day, retention_days,
	countState() AS times_seen, minState(timestamp) AS first_seen, maxState(timestamp) AS last_seen, toUInt8(0) AS origin
FROM {db}.events
ARRAY JOIN arrayMap((k, v) -> (CAST(k AS String), v), ` + "`tags.key`, `tags.value`" + `) AS tag
GROUP BY project_id, group_id, key, value, day, retention_days`

// backfill0017 aggregates the events stored before the migration.
func backfill0017(ctx context.Context, s *Store) error {
	var rows []struct {
		N uint64 `ch:"n"`
	}
	if err := s.t.query(ctx, &rows, "SELECT count() AS n FROM "+s.table("group_tag_values")+" WHERE origin = 1"); err != nil {
		return err
	}
	if len(rows) == 1 && rows[0].N > 0 {
		// An earlier run of this step was interrupted: start over.
		if err := s.mutate(ctx, []string{"ALTER TABLE " + s.alterTarget("group_tag_values") + " DELETE WHERE origin = 1"}, 0); err != nil {
			return err
		}
	}
	sel := strings.ReplaceAll(groupTagValuesSelect, "{db}.events", s.table("events"))
	sel = strings.Replace(sel, "toUInt8(0) AS origin", "toUInt8(1) AS origin", 1)
	return s.t.exec(ctx, "INSERT INTO "+s.table("group_tag_values")+
		" (project_id, group_id, key, value, day, retention_days, times_seen, first_seen, last_seen, origin) "+sel)
}
