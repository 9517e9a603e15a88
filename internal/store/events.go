package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// DefaultRetentionDays is the retention of rows written without one; it is
// a new project's retention (meta.DefaultRetentionDays).
const DefaultRetentionDays = 90

// Event is one processed event, as the worker writes it.
type Event struct {
	ProjectID      uint64
	Timestamp      time.Time // UTC, millisecond precision
	EventID        string    // 32 lowercase hex
	GroupID        uint64
	PrimaryHash    string
	Received       time.Time
	Type           string // "error" or "default"
	Level          string
	Platform       string
	Environment    string
	Release        string
	Dist           string
	Transaction    string
	Message        string
	Title          string
	Culprit        string
	ExceptionType  string
	ExceptionValue string
	TagKeys        []string
	TagValues      []string
	UserID         string
	UserEmail      string
	UserName       string
	IPAddress      string
	UserKey        string // what counts as one user: id, else email, username or ip
	SDKName        string
	SDKVersion     string
	RetentionDays  uint16
	Body           string // normalized event JSON
}

var eventCols = []string{
	"project_id", "timestamp", "timestamp_ms", "event_id", "group_id", "primary_hash", "received",
	"type", "level", "platform", "environment", "release", "dist", "transaction", "message", "title",
	"culprit", "exception_type", "exception_value", "tags.key", "tags.value", "user_id", "user_email",
	"user_name", "ip_address", "user_key", "sdk_name", "sdk_version", "retention_days", "deleted", "body",
}

func (e *Event) row() []any {
	keys, vals := e.TagKeys, e.TagValues
	if keys == nil {
		keys = []string{}
	}
	if vals == nil {
		vals = []string{}
	}
	ts := e.Timestamp.UTC()
	retention := e.RetentionDays
	if retention == 0 {
		retention = DefaultRetentionDays
	}
	return []any{
		e.ProjectID, ts.Truncate(time.Second), uint16(ts.Nanosecond() / int(time.Millisecond)), e.EventID,
		e.GroupID, e.PrimaryHash, e.Received.UTC(), e.Type, e.Level, e.Platform, e.Environment,
		e.Release, e.Dist, e.Transaction, e.Message, e.Title, e.Culprit, e.ExceptionType,
		e.ExceptionValue, keys, vals, e.UserID, e.UserEmail, e.UserName, e.IPAddress, e.UserKey,
		e.SDKName, e.SDKVersion, retention, uint8(0), e.Body,
	}
}

// InsertEvents writes events. On the embedded engine the rows go in chunks
// of bounded size, so a large batch is not atomic: a caller that retries
// after an error must first skip the events already stored (ExistingEvents).
func (s *Store) InsertEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	rows := make([][]any, len(events))
	for i := range events {
		if len(events[i].EventID) != 32 {
			return fmt.Errorf("store: event id %q is not 32 hex characters", events[i].EventID)
		}
		rows[i] = events[i].row()
	}
	return s.t.insert(ctx, s.table("events"), eventCols, rows)
}

// EventKey identifies an event.
type EventKey struct {
	ProjectID uint64
	EventID   string
}

// ExistingEvents returns which of keys are already stored.
func (s *Store) ExistingEvents(ctx context.Context, keys []EventKey) (map[EventKey]bool, error) {
	out := map[EventKey]bool{}
	if len(keys) == 0 {
		return out, nil
	}
	byProject := map[uint64][]string{}
	for _, k := range keys {
		byProject[k.ProjectID] = append(byProject[k.ProjectID], k.EventID)
	}
	for pid, ids := range byProject {
		var rows []struct {
			EventID string `ch:"event_id"`
		}
		q := "SELECT DISTINCT event_id FROM " + s.table("events") +
			" WHERE project_id = " + num(pid) + " AND event_id IN " + strs(ids)
		if err := s.t.query(ctx, &rows, q); err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[EventKey{pid, r.EventID}] = true
		}
	}
	return out, nil
}

// StoredEvent is an event as read back for the API.
type StoredEvent struct {
	ProjectID   uint64    `ch:"project_id"`
	EventID     string    `ch:"event_id"`
	GroupID     uint64    `ch:"group_id"`
	Timestamp   time.Time `ch:"timestamp"`
	TimestampMS uint16    `ch:"timestamp_ms"`
	Received    time.Time `ch:"received"`
	Title       string    `ch:"title"`
	Culprit     string    `ch:"culprit"`
	Message     string    `ch:"message"`
	Platform    string    `ch:"platform"`
	Level       string    `ch:"level"`
	Type        string    `ch:"type"`
	Environment string    `ch:"environment"`
	Release     string    `ch:"release"`
	TagKeys     []string  `ch:"tags.key"`
	TagValues   []string  `ch:"tags.value"`
	Body        string    `ch:"body"`
}

// Time returns the event timestamp with its milliseconds.
func (e *StoredEvent) Time() time.Time {
	return e.Timestamp.Add(time.Duration(e.TimestampMS) * time.Millisecond)
}

const storedEventCols = "project_id, event_id, group_id, timestamp, timestamp_ms, received, title, culprit, " +
	"message, platform, level, type, environment, release, `tags.key`, `tags.value`, body"

// EventQuery selects events of one group, newest first.
type EventQuery struct {
	ProjectID uint64
	GroupID   uint64
	Limit     int
	// Before pages: only events strictly older than (Time, EventID).
	Before *EventCursor
	// Environments keeps the events of these environments; none keeps all.
	Environments []string
	// Tags keeps the events whose tag Key has (or, negated, has not)
	// Value. The keys user.id, user.email, user.username and user.ip
	// name the event's user fields.
	Tags []TagFilter
	// Text keeps the events whose title or message contains every term,
	// in any case.
	Text []string
	// From and To, when set, keep the events of these seconds (both
	// included): bounds that let the sort key skip the other days.
	From, To time.Time
	// Oldest lists oldest first.
	Oldest bool
}

// TagFilter is one key:value (or !key:value) term of a search.
type TagFilter struct {
	Key, Value string
	Negate     bool
}

// userColumns are the search keys that name a user column of events.
var searchUserColumns = map[string]string{
	"user.id": "user_id", "user.email": "user_email", "user.username": "user_name", "user.ip": "ip_address",
}

// filters renders q's environment, tag and text conditions.
func (q *EventQuery) filters(where *strings.Builder) {
	if len(q.Environments) > 0 {
		where.WriteString(" AND environment IN " + strs(q.Environments))
	}
	for _, t := range q.Tags {
		cond := ""
		if col, ok := searchUserColumns[t.Key]; ok {
			cond = col + " = " + str(t.Value)
		} else {
			cond = "arrayExists((k, v) -> k = " + str(t.Key) + " AND v = " + str(t.Value) + ", `tags.key`, `tags.value`)"
		}
		if t.Negate {
			cond = "NOT " + cond
		}
		where.WriteString(" AND " + cond)
	}
	for _, term := range q.Text {
		where.WriteString(" AND (position(lowerUTF8(title), lowerUTF8(" + str(term) + ")) > 0 OR position(lowerUTF8(message), lowerUTF8(" + str(term) + ")) > 0)")
	}
}

// EventCursor is a keyset position in an event list.
type EventCursor struct {
	Time    time.Time
	EventID string
}

// ListEvents returns a group's events, newest first.
//
// It reads in two phases, because ClickHouse reads whole granules of every
// column a query names: first the page's event ids from narrow columns,
// then the full rows (with bodies) of those events only.
func (s *Store) ListEvents(ctx context.Context, q EventQuery) ([]StoredEvent, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	var where strings.Builder
	where.WriteString("project_id = " + num(q.ProjectID) + " AND group_id = " + num(q.GroupID) + " AND deleted = 0 AND " +
		live("timestamp", time.Now()))
	if c := q.Before; c != nil {
		sec, ms := c.Time.UTC().Truncate(time.Second), uint64(c.Time.Nanosecond()/int(time.Millisecond))
		fmt.Fprintf(&where, " AND (timestamp < %s OR (timestamp = %s AND (timestamp_ms < %d OR (timestamp_ms = %d AND event_id < %s))))",
			ts(sec), ts(sec), ms, ms, str(c.EventID))
	}
	if !q.From.IsZero() {
		where.WriteString(" AND timestamp >= " + ts(q.From.UTC().Truncate(time.Second)))
	}
	if !q.To.IsZero() {
		where.WriteString(" AND timestamp <= " + ts(q.To.UTC().Truncate(time.Second)))
	}
	q.filters(&where)
	var keys []struct {
		EventID   string    `ch:"event_id"`
		Timestamp time.Time `ch:"timestamp"`
	}
	order := "DESC"
	if q.Oldest {
		order = "ASC"
	}
	if err := s.t.query(ctx, &keys, "SELECT event_id, timestamp FROM "+s.table("events")+" WHERE "+where.String()+
		" ORDER BY timestamp "+order+", timestamp_ms "+order+", event_id "+order+" LIMIT 1 BY event_id LIMIT "+fmt.Sprint(q.Limit)); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	ids := make([]string, len(keys))
	oldest, newest := keys[0].Timestamp, keys[0].Timestamp
	for i, k := range keys {
		ids[i] = k.EventID
		if k.Timestamp.Before(oldest) {
			oldest = k.Timestamp
		}
		if k.Timestamp.After(newest) {
			newest = k.Timestamp
		}
	}
	var rows []StoredEvent
	if err := s.t.query(ctx, &rows, "SELECT "+storedEventCols+" FROM "+s.table("events")+
		" WHERE project_id = "+num(q.ProjectID)+" AND group_id = "+num(q.GroupID)+
		" AND timestamp >= "+ts(oldest)+" AND timestamp <= "+ts(newest)+" AND event_id IN "+strs(ids)+
		" AND deleted = 0"); err != nil {
		return nil, err
	}
	byID := make(map[string]*StoredEvent, len(rows))
	for i := range rows {
		if _, dup := byID[rows[i].EventID]; !dup {
			byID[rows[i].EventID] = &rows[i]
		}
	}
	out := make([]StoredEvent, 0, len(keys))
	for _, id := range ids {
		if e, ok := byID[id]; ok {
			out = append(out, *e)
		}
	}
	return out, nil
}

// GetEvent returns one event of a project, or nil. It finds the event's
// issue and time from narrow columns first, so that the full row is read
// from its own granule only.
func (s *Store) GetEvent(ctx context.Context, projectID uint64, eventID string) (*StoredEvent, error) {
	var keys []struct {
		GroupID   uint64    `ch:"group_id"`
		Timestamp time.Time `ch:"timestamp"`
	}
	if err := s.t.query(ctx, &keys, "SELECT group_id, timestamp FROM "+s.table("events")+
		" WHERE project_id = "+num(projectID)+" AND event_id = "+str(eventID)+" AND deleted = 0 AND "+
		live("timestamp", time.Now())+" LIMIT 1"); err != nil || len(keys) == 0 {
		return nil, err
	}
	var rows []StoredEvent
	err := s.t.query(ctx, &rows, "SELECT "+storedEventCols+" FROM "+s.table("events")+
		" WHERE project_id = "+num(projectID)+" AND group_id = "+num(keys[0].GroupID)+" AND timestamp = "+ts(keys[0].Timestamp)+
		" AND event_id = "+str(eventID)+" AND deleted = 0 LIMIT 1")
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

// LatestEvent returns a group's newest event, or nil. It looks in the
// second of the last_seen first (from group_hourly: a few rows),
// so that the sort key skips the older days; then, if that event
// is gone (deleted), through all of them.
func (s *Store) LatestEvent(ctx context.Context, projectID, groupID uint64) (*StoredEvent, error) {
	return s.edgeEvent(ctx, projectID, groupID, false)
}

// OldestEvent returns a group's oldest event, or nil: as LatestEvent, from
// the first_seen.
func (s *Store) OldestEvent(ctx context.Context, projectID, groupID uint64) (*StoredEvent, error) {
	return s.edgeEvent(ctx, projectID, groupID, true)
}

func (s *Store) edgeEvent(ctx context.Context, projectID, groupID uint64, oldest bool) (*StoredEvent, error) {
	var span []struct {
		First time.Time `ch:"first"`
		Last  time.Time `ch:"last"`
		N     uint64    `ch:"n"`
	}
	if err := s.t.query(ctx, &span, "SELECT minMerge(first_seen) AS first, maxMerge(last_seen) AS last, count() AS n FROM "+
		s.table("group_hourly")+" WHERE project_id = "+num(projectID)+" AND group_id = "+num(groupID)+" AND "+
		liveHour(time.Now())); err != nil {
		return nil, err
	}
	q := EventQuery{ProjectID: projectID, GroupID: groupID, Limit: 1, Oldest: oldest}
	if len(span) == 1 && span[0].N > 0 {
		bounded := q
		if oldest {
			bounded.To = span[0].First
		} else {
			bounded.From = span[0].Last
		}
		rows, err := s.ListEvents(ctx, bounded)
		if err != nil || len(rows) > 0 {
			if len(rows) == 0 {
				return nil, err
			}
			return &rows[0], err
		}
	}
	rows, err := s.ListEvents(ctx, q)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

// TagValue is one value of a tag on an issue's events, with how often and
// when it was seen.
type TagValue struct {
	Value     string    `ch:"value"`
	Count     uint64    `ch:"count"`
	FirstSeen time.Time `ch:"first_seen"`
	LastSeen  time.Time `ch:"last_seen"`
}

// TagValues returns the most frequent values of tag key on an issue's
// events, most frequent first. It reads events (there is no per-tag
// aggregate): the sorting key narrows it to the rows.
func (s *Store) TagValues(ctx context.Context, projectID, groupID uint64, key string, limit int) ([]TagValue, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var rows []TagValue
	err := s.t.query(ctx, &rows, "SELECT `tags.value`[indexOf(`tags.key`, "+str(key)+")] AS value, count() AS count, "+
		"min(timestamp) AS first_seen, max(timestamp) AS last_seen FROM "+s.table("events")+
		" WHERE project_id = "+num(projectID)+" AND group_id = "+num(groupID)+" AND deleted = 0 AND "+
		live("timestamp", time.Now())+" AND has(`tags.key`, "+str(key)+")"+
		" GROUP BY value ORDER BY count DESC, value LIMIT "+fmt.Sprint(limit))
	return rows, err
}
