package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Stored events are write-once. event_ids records, for every stored
// event, the queue message (its JetStream stream sequence) that stored it,
// ordered by (project_id, event_id) so that a batch's check is one indexed
// read per project, on both engines: the events table is ordered by issue,
// and 18.16 has no skip index to find an event id in it.
//
// The worker claims an id here before it writes the event. Another message
// with a claimed id is a duplicate (dropped, never stored); the same
// message delivered again (a crash, a retry) finds its own claim and checks
// the events table, as before, to learn whether the event got there.
//
// Rows expire with their events (same partitioning) and are deleted with
// them (the table has project_id and event_id; see delete.go).

// EventClaim says which queue message stores an event.
type EventClaim struct {
	ProjectID     uint64
	EventID       string // 32 lowercase hex
	Seq           uint64 // the message's stream sequence; 0: stored before claims existed
	Timestamp     time.Time
	RetentionDays uint16
}

var eventClaimCols = []string{"project_id", "event_id", "seq", "timestamp", "retention_days"}

// ClaimEvents records claims. Recording the same claim twice is harmless:
// identical rows collapse, and reads return each (event, seq) once.
func (s *Store) ClaimEvents(ctx context.Context, claims []EventClaim) error {
	if len(claims) == 0 {
		return nil
	}
	rows := make([][]any, len(claims))
	for i, c := range claims {
		if len(c.EventID) != 32 {
			return fmt.Errorf("store: event id %q is not 32 hex characters", c.EventID)
		}
		retention := c.RetentionDays
		if retention == 0 {
			retention = DefaultRetentionDays
		}
		rows[i] = []any{c.ProjectID, c.EventID, c.Seq, c.Timestamp.UTC().Truncate(time.Second), retention}
	}
	return s.t.insert(ctx, s.table("event_ids"), eventClaimCols, rows)
}

// EventClaims returns the stream sequences of the messages that claimed
// each of keys (none for an id never claimed). Usually one; two messages
// that raced past each other's check (beyond JetStream's deduplication
// window, at the same moment) both appear.
func (s *Store) EventClaims(ctx context.Context, keys []EventKey) (map[EventKey][]uint64, error) {
	out := map[EventKey][]uint64{}
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
			Seq     uint64 `ch:"seq"`
		}
		if err := s.t.query(ctx, &rows, "SELECT DISTINCT event_id, seq FROM "+s.table("event_ids")+
			" WHERE project_id = "+num(pid)+" AND event_id IN "+strs(ids)+
			// Fails rather than scans, should the sorting key ever not serve.
			" SETTINGS force_primary_key = 1"); err != nil {
			return nil, err
		}
		for _, r := range rows {
			k := EventKey{pid, r.EventID}
			out[k] = append(out[k], r.Seq)
		}
	}
	return out, nil
}

// schema0008 makes stored events write-once (see above). The table is
// created, then filled from the events already stored, with seq 0: an
// event stored by an earlier version blocks a replay of its id too.
// Filling runs again if the migration is interrupted; the rows it writes
// twice are identical and collapse.
func schema0008(s *Store) []string {
	return []string{s.sql(`CREATE TABLE IF NOT EXISTS {db}.event_ids (
	project_id UInt64,
	event_id FixedString(32),
	seq UInt64,
	timestamp DateTime('UTC'),
	retention_days UInt16
) ENGINE = ReplacingMergeTree()
PARTITION BY (retention_days, toMonday(timestamp))
ORDER BY (project_id, event_id, seq)` + s.ttl("timestamp") + s.tableSettings(8192))}
}

// backfill0008 claims, with seq 0, every event stored before event_ids
// existed. It reads the events table's narrow columns only.
func backfill0008(ctx context.Context, s *Store) error {
	return s.t.exec(ctx, "INSERT INTO "+s.table("event_ids")+" ("+strings.Join(eventClaimCols, ", ")+") "+
		"SELECT project_id, event_id, toUInt64(0), timestamp, retention_days FROM "+s.table("events"))
}
