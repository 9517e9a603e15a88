package store

import (
	"context"
	"fmt"
	"time"
)

// AdjacentEvents returns the ids of the events just before (older) and
// just after (newer) ev in its issue, in the order event lists use
// (timestamp, milliseconds, event id); "" where there is none. Sentry's
// event details carry them as previousEventID and nextEventID.
//
// Each looks within a day of ev first, so that the sort key (by issue,
// then day) skips the issue's other days, and only when there is none
// there through all of them.
func (s *Store) AdjacentEvents(ctx context.Context, ev *StoredEvent) (prev, next string, err error) {
	sec, ms := ts(ev.Timestamp.UTC().Truncate(time.Second)), uint64(ev.TimestampMS)
	base := "SELECT event_id FROM " + s.table("events") + " WHERE project_id = " + num(ev.ProjectID) +
		" AND group_id = " + num(ev.GroupID) + " AND deleted = 0 AND " + live("timestamp", time.Now())
	day := 24 * time.Hour
	for _, d := range []struct {
		op, order, window string
		out               *string
	}{
		{"<", "DESC", " AND timestamp >= " + ts(ev.Timestamp.UTC().Truncate(time.Second).Add(-day)), &prev},
		{">", "ASC", " AND timestamp <= " + ts(ev.Timestamp.UTC().Truncate(time.Second).Add(day)), &next},
	} {
		for _, window := range []string{d.window, ""} {
			var rows []struct {
				EventID string `ch:"event_id"`
			}
			q := base + window + fmt.Sprintf(" AND (timestamp %[1]s %[2]s OR (timestamp = %[2]s AND (timestamp_ms %[1]s %[3]d OR (timestamp_ms = %[3]d AND event_id %[1]s %[4]s))))",
				d.op, sec, ms, str(ev.EventID)) +
				" ORDER BY timestamp " + d.order + ", timestamp_ms " + d.order + ", event_id " + d.order + " LIMIT 1"
			if err := s.t.query(ctx, &rows, q); err != nil {
				return "", "", err
			}
			if len(rows) > 0 {
				*d.out = rows[0].EventID
				break
			}
		}
	}
	return prev, next, nil
}

// IssueUserReportCount counts the user reports (the latest version of
// each) about an issue's events: Sentry's userReportCount.
func (s *Store) IssueUserReportCount(ctx context.Context, projectID, groupID uint64) (uint64, error) {
	var rows []struct {
		N uint64 `ch:"n"`
	}
	err := s.t.query(ctx, &rows, "SELECT count() AS n FROM (SELECT event_id, feedback_id FROM "+s.table("user_reports")+
		" WHERE project_id = "+num(projectID)+" AND deleted = 0 AND event_id "+s.in()+" (SELECT event_id FROM "+
		s.table("events")+" WHERE project_id = "+num(projectID)+" AND group_id = "+num(groupID)+" AND deleted = 0)"+
		" LIMIT 1 BY event_id, feedback_id)")
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	return rows[0].N, nil
}
