package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// UserReport is user feedback about an event: a legacy "user_report" item
// (one per event, the latest wins) or a "feedback" item (FeedbackID is the
// feedback's own id; it may name no event, then EventID == FeedbackID).
type UserReport struct {
	ProjectID     uint64    `ch:"project_id"`
	EventID       string    `ch:"event_id"`
	FeedbackID    string    `ch:"feedback_id"`
	ID            uint64    `ch:"id"`
	Name          string    `ch:"name"`
	Email         string    `ch:"email"`
	Comments      string    `ch:"comments"`
	Created       time.Time `ch:"date_created"`
	RetentionDays uint16    `ch:"retention_days"`
}

var userReportCols = []string{"project_id", "event_id", "feedback_id", "id", "name", "email", "comments",
	"date_created", "retention_days", "deleted"}

const userReportSelect = "project_id, event_id, feedback_id, id, name, email, comments, date_created, retention_days"

// InsertUserReports records user feedback.
func (s *Store) InsertUserReports(ctx context.Context, reports []UserReport) error {
	if len(reports) == 0 {
		return nil
	}
	rows := make([][]any, len(reports))
	for i, r := range reports {
		if len(r.EventID) != 32 {
			return fmt.Errorf("store: user report event id %q is not 32 hex characters", r.EventID)
		}
		rows[i] = []any{r.ProjectID, r.EventID, r.FeedbackID, r.ID, r.Name, r.Email, r.Comments,
			r.Created.UTC(), r.RetentionDays, uint8(0)}
	}
	return s.t.insert(ctx, s.table("user_reports"), userReportCols, rows)
}

// UserReportQuery selects a project's user reports, newest first.
type UserReportQuery struct {
	ProjectID uint64
	// EventIDs, if set, restricts the reports to these events.
	EventIDs []string
	Limit    int
	// Before pages: only reports strictly older than (Time, ID).
	Before *UserReportCursor
}

// UserReportCursor is a keyset position in a user report list.
type UserReportCursor struct {
	Time time.Time
	ID   uint64
}

// ListUserReports returns user reports, newest first, the latest version of
// each.
func (s *Store) ListUserReports(ctx context.Context, q UserReportQuery) ([]UserReport, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	var where strings.Builder
	where.WriteString("project_id = " + num(q.ProjectID) + " AND deleted = 0")
	if len(q.EventIDs) > 0 {
		where.WriteString(" AND event_id IN " + strs(q.EventIDs))
	}
	// The newest version of each report first, then page over the result:
	// a replaced report must not show its old text on a later page.
	inner := "SELECT " + userReportSelect + " FROM " + s.table("user_reports") + " WHERE " + where.String() +
		" ORDER BY date_created DESC, id DESC LIMIT 1 BY event_id, feedback_id"
	outer := ""
	if c := q.Before; c != nil {
		t := ts(c.Time.UTC().Truncate(time.Second))
		outer = fmt.Sprintf(" WHERE date_created < %s OR (date_created = %s AND id < %s)", t, t, num(c.ID))
	}
	var rows []UserReport
	err := s.t.query(ctx, &rows, "SELECT "+userReportSelect+" FROM ("+inner+")"+outer+
		" ORDER BY date_created DESC, id DESC LIMIT "+fmt.Sprint(q.Limit))
	return rows, err
}

// EventGroups returns the issue of each of a project's events that are
// stored, for linking feedback and attachments to their issue.
func (s *Store) EventGroups(ctx context.Context, projectID uint64, eventIDs []string) (map[string]uint64, error) {
	out := map[string]uint64{}
	if len(eventIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		EventID string `ch:"event_id"`
		GroupID uint64 `ch:"group_id"`
	}
	err := s.t.query(ctx, &rows, "SELECT event_id, group_id FROM "+s.table("events")+
		" WHERE project_id = "+num(projectID)+" AND event_id IN "+strs(eventIDs)+" AND deleted = 0 LIMIT 1 BY event_id")
	for _, r := range rows {
		out[r.EventID] = r.GroupID
	}
	return out, err
}
