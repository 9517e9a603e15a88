package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"hash/fnv"
	"strconv"
	"time"
)

// Activity types, as Sentry's ActivityType names them. Every status change
// records one (see StatusChange.Activity): the API's (a person's, with
// their user id) and the worker's (regressions, ignores that ended).
const (
	ActivitySetResolved          = "set_resolved"
	ActivitySetUnresolved        = "set_unresolved"
	ActivitySetIgnored           = "set_ignored"
	ActivitySetRegression        = "set_regression"
	ActivitySetResolvedInRelease = "set_resolved_in_release"
	ActivitySetEscalating        = "set_escalating"
	// ActivityFirstSeen is never stored: the API derives it from the
	// issue's first event, as Sentry does.
	ActivityFirstSeen = "first_seen"
)

// Activity is one record of an issue's history (Sentry's Activity): what
// happened, who did it (UserID 0: Faultline itself), Sentry's data for the
// type (a JSON object) and when.
type Activity struct {
	ProjectID uint64 `ch:"project_id"`
	GroupID   uint64 `ch:"group_id"`
	// ID is unique per issue. Writers that may retry (the worker) derive
	// it from what they decided, so that a retried write collapses with
	// the first; others leave it 0 for a random one.
	ID        uint64 `ch:"id"`
	Type      string `ch:"type"`
	UserID    uint64 `ch:"user_id"`
	Data      string `ch:"data"`
	CreatedMS uint64 `ch:"created_ms"`
}

// Created returns when the activity happened.
func (a Activity) Created() time.Time { return time.UnixMilli(int64(a.CreatedMS)).UTC() }

// ActivityID derives an activity id from what identifies a decision (for
// the worker: the issue, the status it changed and when that was set), so
// that deciding twice records once. Ids stay below 2^53, so that
// JavaScript clients read them exactly.
func ActivityID(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p)) //nolint:errcheck // never fails
		h.Write([]byte{0}) //nolint:errcheck
	}
	return h.Sum64()&(1<<53-1) | 1
}

func randomActivityID() uint64 {
	var b [8]byte
	rand.Read(b[:]) //nolint:errcheck // never fails
	return binary.LittleEndian.Uint64(b[:])&(1<<53-1) | 1
}

// schema0011 adds group_activity: an issue's history, one row per
// activity. ReplacingMergeTree on (project, issue, id): a retried write of
// the same activity collapses, and reads take one row per id meanwhile.
// Rows are few (one per status change); they go with the issue when it is
// deleted (deletion finds the table by its project_id and group_id
// columns) and are not partitioned by time: an issue's history lasts as
// long as the issue.
func schema0011(s *Store) []string {
	return []string{s.sql(`CREATE TABLE IF NOT EXISTS {db}.group_activity (
	project_id UInt64,
	group_id UInt64,
	id UInt64,
	type LowCardinality(String),
	user_id UInt64,
	data String,
	created_ms UInt64
) ENGINE = ReplacingMergeTree()
ORDER BY (project_id, group_id, id)`)}
}

var activityCols = []string{"project_id", "group_id", "id", "type", "user_id", "data", "created_ms"}

// InsertActivity records activities; a zero ID gets a random one, empty
// Data is {} and a zero time is now.
func (s *Store) InsertActivity(ctx context.Context, acts []Activity) error {
	if len(acts) == 0 {
		return nil
	}
	rows := make([][]any, len(acts))
	for i, a := range acts {
		if a.ID == 0 {
			a.ID = randomActivityID()
		}
		if a.Data == "" {
			a.Data = "{}"
		}
		if a.CreatedMS == 0 {
			a.CreatedMS = uint64(time.Now().UnixMilli())
		}
		rows[i] = []any{a.ProjectID, a.GroupID, a.ID, a.Type, a.UserID, a.Data, a.CreatedMS}
	}
	return s.t.insert(ctx, s.table("group_activity"), activityCols, rows)
}

// ListActivity returns an issue's latest activities, newest first, at most
// limit (1 to 1000). Copies of one activity (a retried write) count once.
func (s *Store) ListActivity(ctx context.Context, projectID, groupID uint64, limit int) ([]Activity, error) {
	if limit < 1 || limit > 1000 {
		limit = 100
	}
	var rows []Activity
	// The inner aliases keep the outer ones from shadowing the columns
	// the aggregates read.
	err := s.t.query(ctx, &rows, "SELECT project_id, group_id, id, argMin(t, c) AS type, argMin(u, c) AS user_id, "+
		"argMin(d, c) AS data, min(c) AS created_ms FROM (SELECT project_id, group_id, id, CAST(type AS String) AS t, "+
		"user_id AS u, data AS d, created_ms AS c FROM "+s.table("group_activity")+" WHERE project_id = "+num(projectID)+
		" AND group_id = "+num(groupID)+") GROUP BY project_id, group_id, id ORDER BY created_ms DESC, id DESC LIMIT "+
		strconv.Itoa(limit))
	return rows, err
}
