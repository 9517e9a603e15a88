package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Stored events are write-once. event_ids records, for every stored
// event, the queue message (its JetStream stream sequence) that stored it,
// ordered by (project_id, event_id), with the id's first 64 bits as the
// index key, so that a batch's check is one indexed read per project, on
// both engines: the events table is ordered by issue,
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

var eventClaimCols = []string{"project_id", "id_prefix", "event_id", "seq", "timestamp", "retention_days"}

// idPrefix is an event id's first 16 hex digits as a number: the table's
// index key. It sorts as the id does, and is a quarter of its size, so
// the batch's lookup (1,000 ids, each in its own granule) compares and
// reads less. An id that is not hex (none is stored) maps to 0.
func idPrefix(eventID string) uint64 {
	if len(eventID) < 16 {
		return 0
	}
	v, err := strconv.ParseUint(eventID[:16], 16, 64)
	if err != nil {
		return 0
	}
	return v
}

// idPrefixSQL is idPrefix in SQL, for the ids already stored.
const idPrefixSQL = "reinterpretAsUInt64(reverse(unhex(substring(event_id, 1, 16))))"

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
		rows[i] = []any{c.ProjectID, idPrefix(c.EventID), c.EventID, c.Seq, c.Timestamp.UTC().Truncate(time.Second), retention}
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
	wanted := make(map[EventKey]bool, len(keys))
	prefixes := map[uint64]*strings.Builder{}
	for _, k := range keys {
		wanted[k] = true
		b := prefixes[k.ProjectID]
		if b == nil {
			b = &strings.Builder{}
			prefixes[k.ProjectID] = b
		} else {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(idPrefix(k.EventID), 10))
	}
	for pid, list := range prefixes {
		var rows []struct {
			EventID string `ch:"event_id"`
			Seq     uint64 `ch:"seq"`
		}
		// The prefixes travel as one string literal, split by the engine:
		// a thousand literals cost more to parse than the read itself.
		// Rows of another id with the same prefix are dropped below.
		if err := s.t.query(ctx, &rows, "SELECT DISTINCT event_id, seq FROM "+s.table("event_ids")+
			" WHERE project_id = "+num(pid)+" AND id_prefix IN (SELECT toUInt64(arrayJoin(splitByChar(',', "+str(list.String())+"))))"+
			// Fails rather than scans, should the sorting key ever not serve.
			" SETTINGS force_primary_key = 1"); err != nil {
			return nil, err
		}
		for _, r := range rows {
			if k := (EventKey{pid, r.EventID}); wanted[k] {
				out[k] = append(out[k], r.Seq)
			}
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
	id_prefix UInt64,
	event_id FixedString(32),
	seq UInt64,
	timestamp DateTime('UTC'),
	retention_days UInt16
) ENGINE = ReplacingMergeTree()
PARTITION BY (retention_days, toMonday(timestamp))
ORDER BY (project_id, id_prefix, event_id, seq)
PRIMARY KEY (project_id, id_prefix)` + s.ttl("timestamp") + s.tableSettings(256))}
}

// backfill0008 claims, with seq 0, every event stored before event_ids
// existed. It reads the events table's narrow columns only.
func backfill0008(ctx context.Context, s *Store) error {
	return s.t.exec(ctx, "INSERT INTO "+s.table("event_ids")+" ("+strings.Join(eventClaimCols, ", ")+") "+
		"SELECT project_id, "+idPrefixSQL+", event_id, toUInt64(0), timestamp, retention_days FROM "+s.table("events"))
}
