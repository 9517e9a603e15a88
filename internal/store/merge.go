package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Merging and unmerging issues move events between issues.
//
// group_id is part of the sorting key of events and of every aggregate
// table, and ClickHouse cannot update key columns, so a move re-inserts
// the rows: INSERT ... SELECT of the moved events under the new issue id
// (the materialized views add them to the new issue's aggregates as for
// any insert), then ALTER TABLE ... DELETE of the originals. The old
// issue's aggregates are dropped whole (a merge) or rebuilt from its
// remaining events (an unmerge: uniq states cannot be subtracted). Reads
// then need no merge map: every query keeps reading one issue id. The
// choice and its cost are measured in BenchmarkMoveEvents and documented
// in ARCHITECTURE.md.

// eventViewRe takes apart a materialized view fed by events, as the
// migrations write them.
var eventViewRe = regexp.MustCompile(`(?s)^CREATE MATERIALIZED VIEW IF NOT EXISTS \S+ TO (\S+) AS\s*(SELECT .*?)\nFROM (\S+)\n(ARRAY JOIN .*?\n)?(?:WHERE (.*?)\n)?(GROUP BY .*)$`)

// eventView is a materialized view over events, as an INSERT ... SELECT
// that can be run again over chosen events.
type eventView struct {
	target  string // the table it fills
	sel     string // SELECT ... (without FROM)
	join    string // its ARRAY JOIN clause, or ""
	where   string // its own condition, or ""
	groupBy string
}

// eventViews lists the views over events that the migrations create, so
// that a rebuild never keeps a second copy of their queries.
func (s *Store) eventViews() []eventView {
	events := ident(s.db) + ".events" // as the migrations write it
	var out []eventView
	for _, m := range migrations {
		for _, q := range m.stmts(s) {
			sm := eventViewRe.FindStringSubmatch(strings.TrimSpace(q))
			if sm == nil || sm[3] != events {
				continue
			}
			out = append(out, eventView{target: sm[1], sel: sm[2], join: strings.TrimSpace(sm[4]), where: sm[5], groupBy: sm[6]})
		}
	}
	return out
}

func (v eventView) insert(events, cond string) string {
	if v.where != "" {
		cond = "(" + v.where + ") AND " + cond
	}
	from := events
	if v.join != "" {
		from += " " + v.join
	}
	return "INSERT INTO " + v.target + " " + v.sel + " FROM " + from + " WHERE " + cond + " " + v.groupBy
}

// insertColumns is a table's columns that an INSERT takes (not the
// materialized or alias ones), in order.
func (s *Store) insertColumns(ctx context.Context, table string) ([]string, error) {
	var rows []struct {
		Name string `ch:"name"`
	}
	if err := s.t.query(ctx, &rows, "SELECT name FROM system.columns WHERE database = "+str(s.db)+
		" AND table = "+str(table)+" AND default_kind NOT IN ('MATERIALIZED', 'ALIAS')"); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("store: table %s has no columns", table)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Name
	}
	return out, nil
}

// Move is one move of events between two issues of a project.
type Move struct {
	ProjectID uint64
	From, To  uint64
	// Hashes narrows the move to the events with these primary hashes
	// (an unmerge); nil moves every event (a merge).
	Hashes []string
	// ShortID and Hash, when ShortID is set, make the metadata of a new
	// issue To from From's (an unmerge into a new issue).
	ShortID uint64
	Hash    string
	// Resume makes the move safe to run again after one that stopped
	// halfway (a process killed between its steps): only the events not
	// in To yet are copied, so that the aggregates count each once.
	Resume bool
}

// SetMoveHook sets a function called as a move reaches each of its steps
// ("copied": the events are in both issues; "deleted": the originals are
// gone, the aggregates not yet): an error stops the move there, as a
// process killed at that step would. For tests; nil in production. Call
// it before the store is used.
func (s *Store) SetMoveHook(f func(step string) error) { s.moveHook = f }

func (s *Store) moveStep(step string) error {
	if s.moveHook == nil {
		return nil
	}
	return s.moveHook(step)
}

// MoveEvents moves events from one issue to another, with their
// aggregates, and their attachments' issue; it waits (up to wait) until
// the engine has deleted the originals, so that no read counts them twice
// after it returns. It answers how many events moved. Running it again
// after a failure finishes the move: what was copied already is copied
// again and collapses (ReplacingMergeTree) in events, but counts twice in
// the aggregates until the issue's aggregates are rebuilt, so callers
// retry only unmerges (which rebuild).
func (s *Store) MoveEvents(ctx context.Context, m Move, wait time.Duration) (uint64, error) {
	if m.From == 0 || m.To == 0 || m.From == m.To {
		return 0, fmt.Errorf("store: move from issue %d to %d", m.From, m.To)
	}
	scope := "project_id = " + num(m.ProjectID) + " AND group_id = " + num(m.From)
	moved := scope
	if m.Hashes != nil {
		moved += " AND primary_hash IN " + strs(m.Hashes)
	}
	var n []struct {
		N uint64 `ch:"n"`
	}
	if err := s.t.query(ctx, &n, "SELECT count() AS n FROM "+s.table("events")+" WHERE "+moved); err != nil {
		return 0, err
	}
	if m.ShortID != 0 {
		if err := s.copyGroupMeta(ctx, m); err != nil {
			return 0, err
		}
	}
	if n[0].N > 0 {
		cols, err := s.insertColumns(ctx, s.localName("events"))
		if err != nil {
			return 0, err
		}
		sel := make([]string, len(cols))
		for i, c := range cols {
			sel[i] = ident(c)
			if c == "group_id" {
				// No alias: it would shadow the column in WHERE.
				sel[i] = "toUInt64(" + num(m.To) + ")"
			}
		}
		list := make([]string, len(cols))
		for i, c := range cols {
			list[i] = ident(c)
		}
		cond := moved
		if m.Resume {
			// What a move that stopped halfway copied already stays
			// (and is counted once in To's aggregates).
			cond += " AND event_id NOT IN (SELECT event_id FROM " + s.table("events") + " WHERE project_id = " +
				num(m.ProjectID) + " AND group_id = " + num(m.To) + ")"
		}
		// One copy of each event (an insert retried may have left two
		// rows not merged yet): the views count what is inserted.
		if err := s.t.exec(ctx, "INSERT INTO "+s.table("events")+" ("+strings.Join(list, ", ")+") SELECT "+
			strings.Join(sel, ", ")+" FROM "+s.table("events")+" WHERE "+cond+" LIMIT 1 BY event_id"); err != nil {
			return 0, fmt.Errorf("store: copy events: %w", err)
		}
	}
	if m.Hashes == nil {
		// A merge: the child's comments, activity, bookmarks and
		// subscriptions go with its events, as in Sentry.
		if err := s.carryWorkflow(ctx, m.ProjectID, m.From, m.To); err != nil {
			return 0, err
		}
	}
	if err := s.moveStep("copied"); err != nil {
		return 0, err
	}
	var stmts []string
	// Attachments name their event's issue (not in their key): follow
	// the events now in To. The tuple form, as deleteLinked explains. A
	// mutation costs a wait: only when there is something to update.
	var atts []struct {
		N uint64 `ch:"n"`
	}
	if err := s.t.query(ctx, &atts, "SELECT count() AS n FROM "+s.table("attachments")+" WHERE project_id = "+
		num(m.ProjectID)+" AND group_id = "+num(m.From)); err != nil {
		return 0, err
	}
	if atts[0].N > 0 {
		stmts = append(stmts, "ALTER TABLE "+s.alterTarget("attachments")+" UPDATE group_id = "+num(m.To)+
			" WHERE group_id = "+num(m.From)+" AND (project_id, event_id) IN (SELECT project_id, event_id FROM "+
			s.table("events")+" WHERE project_id = "+num(m.ProjectID)+" AND group_id = "+num(m.To)+")")
	}
	stmts = append(stmts, s.deleteRows("events", moved))
	views := s.eventViews()
	for _, v := range views {
		stmts = append(stmts, s.deleteRows(s.baseName(unqualified(v.target)), scope))
	}
	for i, q := range stmts {
		if err := s.t.exec(ctx, q); err != nil {
			return 0, fmt.Errorf("store: %s: %w", q, err)
		}
		if i == len(stmts)-len(views)-1 {
			if err := s.moveStep("deleted"); err != nil {
				return 0, err
			}
		}
	}
	if m.Hashes != nil {
		// The rows inserted after the DELETEs were submitted are not
		// touched by them: rebuild From's aggregates from the events it
		// keeps.
		kept := scope + " AND primary_hash NOT IN " + strs(m.Hashes)
		for _, v := range views {
			if err := s.t.exec(ctx, v.insert(s.table("events"), kept)); err != nil {
				return 0, fmt.Errorf("store: rebuild %s: %w", v.target, err)
			}
		}
	}
	return n[0].N, s.WaitMutations(ctx, wait)
}

// carryWorkflow copies an issue's comments, activity, bookmarks and
// subscriptions to another (a merge). Each copy keeps its row's key and
// version, so that running it again changes nothing; a user's later
// change on the survivor (a newer version) wins over a carried flag.
func (s *Store) carryWorkflow(ctx context.Context, projectID, from, to uint64) error {
	where := " WHERE project_id = " + num(projectID) + " AND group_id = " + num(from)
	stmts := []string{
		"INSERT INTO " + s.table("group_activity") + " (" + strings.Join(activityCols, ", ") + ") SELECT project_id, toUInt64(" +
			num(to) + "), id, type, user_id, data, created_ms FROM " + s.table("group_activity") + where,
		"INSERT INTO " + s.table("group_comments") + " (project_id, group_id, id, user_id, text, created_ms, updated_ms, deleted, version) " +
			"SELECT project_id, toUInt64(" + num(to) + "), id, user_id, text, created_ms, updated_ms, deleted, version FROM " +
			s.table("group_comments") + where,
		"INSERT INTO " + s.table("group_user_state") + " (project_id, group_id, user_id, flag, value, version) " +
			"SELECT project_id, toUInt64(" + num(to) + "), user_id, flag, value, version FROM " + s.table("group_user_state") +
			where + " AND flag IN " + strs([]string{FlagBookmarked, FlagSubscribed}),
	}
	for _, q := range stmts {
		var n []struct {
			N uint64 `ch:"n"`
		}
		// An INSERT ... SELECT of nothing is cheap, but counting first
		// keeps a merge of issues without workflow to reads.
		tbl := q[len("INSERT INTO "):strings.Index(q, " (")]
		if err := s.t.query(ctx, &n, "SELECT count() AS n FROM "+tbl+where); err != nil {
			return err
		}
		if n[0].N == 0 {
			continue
		}
		if err := s.t.exec(ctx, q); err != nil {
			return fmt.Errorf("store: carry workflow: %w", err)
		}
	}
	return nil
}

// unqualified is a table name without its database.
func unqualified(t string) string {
	if i := strings.LastIndex(t, "."); i >= 0 {
		t = t[i+1:]
	}
	return strings.Trim(t, "`")
}

// localName is the name of the table that holds the rows (the local
// table in cluster mode).
func (s *Store) localName(table string) string {
	if s.cluster != "" {
		return table + localSuffix
	}
	return table
}

// copyGroupMeta writes the metadata of a new issue split off From: From's
// latest, with the new short id and primary hash, and the title and
// culprit of the newest moved event.
func (s *Store) copyGroupMeta(ctx context.Context, m Move) error {
	metas, err := s.groupMeta(ctx, []uint64{m.ProjectID}, []uint64{m.From})
	if err != nil {
		return err
	}
	g, ok := metas[m.From]
	if !ok {
		return nil // no metadata yet: the next event writes it
	}
	var latest []struct {
		Title   string `ch:"title"`
		Culprit string `ch:"culprit"`
	}
	if err := s.t.query(ctx, &latest, "SELECT argMax(title, timestamp) AS title, argMax(culprit, timestamp) AS culprit FROM "+
		s.table("events")+" WHERE project_id = "+num(m.ProjectID)+" AND group_id = "+num(m.From)+
		" AND primary_hash IN "+strs(m.Hashes)); err != nil {
		return err
	}
	if len(latest) == 1 && latest[0].Title != "" {
		g.Title, g.Culprit = latest[0].Title, latest[0].Culprit
	}
	g.GroupID, g.ShortID, g.PrimaryHash = m.To, m.ShortID, m.Hash
	g.Version = uint64(time.Now().UnixMilli())
	return s.UpsertGroups(ctx, []Group{g})
}

// HashEvent is one of an issue's hashes with its latest event.
type HashEvent struct {
	Hash    string `ch:"primary_hash"`
	EventID string `ch:"event_id"`
	Count   uint64 `ch:"n"`
}

// IssueHashes returns, per primary hash of an issue's stored events, its
// latest event's id and its event count.
func (s *Store) IssueHashes(ctx context.Context, projectID, groupID uint64) (map[string]HashEvent, error) {
	var rows []HashEvent
	if err := s.t.query(ctx, &rows, "SELECT primary_hash, argMax(event_id, timestamp) AS event_id, count() AS n FROM "+
		s.table("events")+" WHERE project_id = "+num(projectID)+" AND group_id = "+num(groupID)+
		" AND deleted = 0 AND "+live("timestamp", time.Now())+" GROUP BY primary_hash"); err != nil {
		return nil, err
	}
	out := make(map[string]HashEvent, len(rows))
	for _, r := range rows {
		out[r.Hash] = r
	}
	return out, nil
}

// deleteRows is the statement deleting a table's rows matching cond: a
// lightweight DELETE where the engine has it (one server; it returns
// when the rows are masked), else an ALTER TABLE ... DELETE mutation.
func (s *Store) deleteRows(table, cond string) string {
	if s.features.LightweightDelete && s.cluster == "" {
		return "DELETE FROM " + s.table(table) + " WHERE " + cond
	}
	return "ALTER TABLE " + s.alterTarget(table) + " DELETE WHERE " + cond
}
