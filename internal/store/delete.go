package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Deletion removes data for good: ALTER TABLE ... DELETE mutations, which
// rewrite the parts holding the rows, on both engines and every version.
// Mutations run in the background; the methods here submit them and wait
// until the engine reports them done, so that a caller (the deletion job)
// can report an honest status.
//
// Tables are found by their columns, so that tables added by later
// migrations are covered without a change here:
//   - project tables have project_id: a project's deletion empties them all;
//   - issue tables also have group_id: an issue's deletion deletes its rows;
//   - event-linked tables have project_id and event_id (attachments, user
//     reports): their rows go with their events, and with one user's data
//     their rows naming the user (user_id, user_email, email, ip_address).
//
// Expiry never comes here: it drops partitions (see Cleanup).

// StatusPendingDeletion hides an issue from every list while its data is
// being deleted.
const StatusPendingDeletion = "pending_deletion"

// ErrMutationsTimeout means the engine did not finish the deletion in time.
var ErrMutationsTimeout = errors.New("store: deletion mutations did not finish in time")

// tableCols is a MergeTree table of the database and the key columns it has.
type tableCols struct {
	Table string   `ch:"table"`
	Cols  []string `ch:"cols"`
}

func (t tableCols) has(col string) bool { return slices.Contains(t.Cols, col) }

// name is the table's name as reads and ALTERs address it (without the
// local suffix of cluster mode).
func (s *Store) baseName(table string) string {
	if s.cluster != "" {
		return strings.TrimSuffix(table, localSuffix)
	}
	return table
}

// dataTables lists the MergeTree tables with a project_id column, and which
// of group_id and event_id they have.
func (s *Store) dataTables(ctx context.Context) ([]tableCols, error) {
	var out []tableCols
	err := s.t.query(ctx, &out, "SELECT c.table AS table, groupArray(c.name) AS cols FROM system.columns AS c "+
		"WHERE c.database = "+str(s.db)+" AND c.name IN ('project_id', 'group_id', 'event_id', 'user_id', 'user_email', 'email', 'ip_address') AND c.table IN "+
		"(SELECT name FROM system.tables WHERE database = "+str(s.db)+" AND engine LIKE '%MergeTree') "+
		"GROUP BY c.table ORDER BY c.table")
	if err != nil {
		return nil, fmt.Errorf("store: list tables: %w", err)
	}
	kept := out[:0]
	for _, t := range out {
		if t.has("project_id") {
			t.Table = s.baseName(t.Table)
			kept = append(kept, t)
		}
	}
	return kept, nil
}

// HideIssues marks issues as pending deletion: they leave every list at
// once, before their data is gone.
func (s *Store) HideIssues(ctx context.Context, projectID uint64, groupIDs []uint64) error {
	changes := make([]StatusChange, len(groupIDs))
	for i, g := range groupIDs {
		changes[i] = StatusChange{ProjectID: projectID, GroupID: g, Status: StatusPendingDeletion}
	}
	return s.SetStatus(ctx, changes)
}

// DeleteIssue deletes an issue's events, the rows linked to them,
// aggregates and metadata, then its status (which hid it meanwhile), and
// waits until the engine has done it. Events that arrive for the issue
// after the deletion started are new occurrences and stay.
func (s *Store) DeleteIssue(ctx context.Context, projectID, groupID uint64, wait time.Duration) error {
	tables, err := s.dataTables(ctx)
	if err != nil {
		return err
	}
	scope := "project_id = " + num(projectID) + " AND group_id = " + num(groupID)
	if err := s.deleteLinked(ctx, tables, "SELECT project_id, event_id FROM "+s.table("events")+" WHERE "+scope, wait); err != nil {
		return err
	}
	var stmts, last []string
	for _, t := range tables {
		if !t.has("group_id") {
			continue
		}
		q := "ALTER TABLE " + s.alterTarget(t.Table) + " DELETE WHERE " + scope
		if t.Table == "group_status" {
			last = append(last, q)
		} else {
			stmts = append(stmts, q)
		}
	}
	if err := s.mutate(ctx, stmts, wait); err != nil {
		return err
	}
	return s.mutate(ctx, last, wait)
}

// DeleteProject deletes every row of a project in every table.
func (s *Store) DeleteProject(ctx context.Context, projectID uint64, wait time.Duration) error {
	tables, err := s.dataTables(ctx)
	if err != nil {
		return err
	}
	var stmts []string
	for _, t := range tables {
		stmts = append(stmts, "ALTER TABLE "+s.alterTarget(t.Table)+" DELETE WHERE project_id = "+num(projectID))
	}
	return s.mutate(ctx, stmts, wait)
}

// UserFilter selects one user's events by any of the user columns; empty
// fields are ignored, and at least one must be set.
type UserFilter struct {
	ID        string `json:"id,omitempty"`
	Email     string `json:"email,omitempty"`
	IPAddress string `json:"ipAddress,omitempty"`
}

// Empty reports whether the filter selects nothing.
func (f UserFilter) Empty() bool { return f.ID == "" && f.Email == "" && f.IPAddress == "" }

func (f UserFilter) where() string {
	var or []string
	if f.ID != "" {
		or = append(or, "user_id = "+str(f.ID))
	}
	if f.Email != "" {
		or = append(or, "user_email = "+str(f.Email))
	}
	if f.IPAddress != "" {
		or = append(or, "ip_address = "+str(f.IPAddress))
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

// tagIndex is the condition matching the user's rows of group_tags: the
// user.* keys and the user tag ("id:...", "email:...", "ip:...").
func (f UserFilter) tagIndex() string {
	var or []string
	for _, kv := range [][3]string{{"user.id", "id:", f.ID}, {"user.email", "email:", f.Email}, {"user.ip", "ip:", f.IPAddress}} {
		if kv[2] != "" {
			or = append(or, "(key = "+str(kv[0])+" AND value = "+str(kv[2])+")", "(key = 'user' AND value = "+str(kv[1]+kv[2])+")")
		}
	}
	if len(or) == 0 {
		return ""
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

// hourKey is one group_hourly row key.
type hourKey struct {
	GroupID     uint64    `ch:"group_id"`
	Environment string    `ch:"environment"`
	Hour        time.Time `ch:"hour"`
}

// DeleteUserData deletes one user's events in a project (GDPR erasure),
// the rows linked to them, and rebuilds the hourly aggregates they counted
// in, so that event and user counts no longer include them. It returns the
// number of events deleted.
//
// The rebuild reads the remaining events of the affected hours. An event
// of the same issue, environment and past hour inserted during the rebuild
// would be counted twice; hours are in the past, so only a backlog arriving
// at that moment could do it.
func (s *Store) DeleteUserData(ctx context.Context, projectID uint64, user UserFilter, wait time.Duration) (uint64, error) {
	if user.Empty() {
		return 0, errors.New("store: a user filter needs an id, an email or an IP address")
	}
	scope := "project_id = " + num(projectID) + " AND " + user.where()
	var keys []hourKey
	if err := s.t.query(ctx, &keys, "SELECT group_id, environment, toStartOfHour(timestamp) AS hour FROM "+
		s.table("events")+" WHERE "+scope+" GROUP BY group_id, environment, hour ORDER BY group_id, environment, hour"); err != nil {
		return 0, fmt.Errorf("store: find the user's events: %w", err)
	}
	var count []struct {
		N uint64 `ch:"n"`
	}
	if err := s.t.query(ctx, &count, "SELECT count() AS n FROM "+s.table("events")+" WHERE "+scope); err != nil {
		return 0, fmt.Errorf("store: count the user's events: %w", err)
	}
	tables, err := s.dataTables(ctx)
	if err != nil {
		return 0, err
	}
	if len(keys) > 0 {
		if err := s.deleteLinked(ctx, tables, "SELECT project_id, event_id FROM "+s.table("events")+" WHERE "+scope, wait); err != nil {
			return 0, err
		}
	}
	// Rows of event-linked tables that name the user (user reports) go
	// too, whichever event they are about.
	var named []string
	for _, t := range tables {
		if !t.has("event_id") || t.Table == "events" {
			continue
		}
		if cond := userColumns(t, user); cond != "" {
			named = append(named, "ALTER TABLE "+s.alterTarget(t.Table)+" DELETE WHERE project_id = "+num(projectID)+" AND "+cond)
		}
	}
	if len(keys) > 0 {
		named = append(named, "ALTER TABLE "+s.alterTarget("events")+" DELETE WHERE "+scope)
	}
	// The search's tag index holds the user's values under their keys.
	if cond := user.tagIndex(); cond != "" {
		named = append(named, "ALTER TABLE "+s.alterTarget("group_tags")+" DELETE WHERE project_id = "+num(projectID)+" AND "+cond)
		named = append(named, "ALTER TABLE "+s.alterTarget("group_tag_values")+" DELETE WHERE project_id = "+num(projectID)+" AND "+cond)
	}
	if err := s.mutate(ctx, named, wait); err != nil {
		return 0, err
	}
	// Rebuild the aggregates of the affected hours from what remains.
	for chunk := range slices.Chunk(keys, 1000) {
		tuples := hourTuples(chunk)
		if err := s.mutate(ctx, []string{"ALTER TABLE " + s.alterTarget("group_hourly") + " DELETE WHERE project_id = " +
			num(projectID) + " AND (group_id, environment, hour) IN (" + tuples + ")"}, wait); err != nil {
			return 0, err
		}
		if err := s.t.exec(ctx, "INSERT INTO "+s.table("group_hourly")+
			" (project_id, group_id, environment, hour, retention_days, times_seen, users, first_seen, last_seen) "+
			"SELECT project_id, group_id, environment, toStartOfHour(timestamp) AS hour, retention_days, countState(), "+
			"uniqIfState(user_key, user_key != ''), minState(timestamp), maxState(timestamp) FROM "+s.table("events")+
			" WHERE project_id = "+num(projectID)+" AND (group_id, environment, toStartOfHour(timestamp)) IN ("+tuples+")"+
			" GROUP BY project_id, group_id, environment, hour, retention_days"); err != nil {
			return 0, fmt.Errorf("store: rebuild aggregates: %w", err)
		}
	}
	return count[0].N, nil
}

// userColumns is the condition matching user on the user columns table t
// has, or "".
func userColumns(t tableCols, user UserFilter) string {
	var or []string
	add := func(col, v string) {
		if v != "" && t.has(col) {
			or = append(or, col+" = "+str(v))
		}
	}
	add("user_id", user.ID)
	add("user_email", user.Email)
	add("email", user.Email)
	add("ip_address", user.IPAddress)
	if len(or) == 0 {
		return ""
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

func hourTuples(keys []hourKey) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + num(k.GroupID) + ", " + str(k.Environment) + ", " + ts(k.Hour) + ")")
	}
	return b.String()
}

// deleteLinked deletes the rows of event-linked tables whose events the
// subquery selects (it yields project_id, event_id), before the events
// themselves go. The (project_id, event_id) tuple keeps projects apart
// (event ids come from clients and may collide), and avoids ClickHouse
// 18.16 evaluating a mutation wrongly when its condition and subquery
// share an expression such as project_id = N.
func (s *Store) deleteLinked(ctx context.Context, tables []tableCols, subquery string, wait time.Duration) error {
	var stmts []string
	for _, t := range tables {
		if t.has("event_id") && t.Table != "events" {
			// Plain IN also in cluster mode: the mutation runs on each
			// shard's local table, and its subquery reads the Distributed
			// events table, so it sees every shard's events.
			stmts = append(stmts, "ALTER TABLE "+s.alterTarget(t.Table)+" DELETE WHERE (project_id, event_id) IN ("+subquery+")")
		}
	}
	return s.mutate(ctx, stmts, wait)
}

// EventIDs calls f with the ids of a project's events, optionally of one
// issue or of one user, in pages of at most 10,000, so that data kept
// outside ClickHouse (attachment blobs) can be deleted with its events.
func (s *Store) EventIDs(ctx context.Context, projectID, groupID uint64, user UserFilter, f func(ids []string) error) error {
	scope := "project_id = " + num(projectID)
	if groupID != 0 {
		scope += " AND group_id = " + num(groupID)
	}
	if !user.Empty() {
		scope += " AND " + user.where()
	}
	after := ""
	for {
		var rows []struct {
			EventID string `ch:"event_id"`
		}
		if err := s.t.query(ctx, &rows, "SELECT DISTINCT event_id FROM "+s.table("events")+" WHERE "+scope+
			" AND event_id > "+str(after)+" ORDER BY event_id LIMIT 10000"); err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.EventID
		}
		if err := f(ids); err != nil {
			return err
		}
		after = ids[len(ids)-1]
	}
}

// mutate submits mutations and waits until none is left unfinished in the
// database, or until wait has passed.
func (s *Store) mutate(ctx context.Context, stmts []string, wait time.Duration) error {
	if len(stmts) == 0 {
		return nil
	}
	for _, q := range stmts {
		if err := s.t.exec(ctx, q); err != nil {
			return fmt.Errorf("store: %s: %w", q, err)
		}
	}
	return s.WaitMutations(ctx, wait)
}

// WaitMutations waits until the database has no unfinished mutation.
func (s *Store) WaitMutations(ctx context.Context, wait time.Duration) error {
	if wait <= 0 {
		wait = time.Hour
	}
	deadline := time.Now().Add(wait)
	pause := 20 * time.Millisecond
	for {
		var rows []struct {
			N uint64 `ch:"n"`
		}
		if err := s.t.query(ctx, &rows, "SELECT count() AS n FROM "+s.systemTable("mutations")+
			" WHERE database = "+str(s.db)+" AND is_done = 0"); err != nil {
			return fmt.Errorf("store: read mutations: %w", err)
		}
		if rows[0].N == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w (%d left after %s)", ErrMutationsTimeout, rows[0].N, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}
