package store

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Retention, as Snuba does it: every row carries its project's
// retention_days, and tables whose rows expire are partitioned by
// (retention_days, toMonday(time)). A week's partition expires as a whole
// once its last second is older than its retention, and is dropped with
// ALTER TABLE ... DROP PARTITION: a metadata operation, never a row-by-row
// delete. Reads hide rows past their retention in the meantime, so an issue
// whose last event expired leaves the lists the moment it expires, not
// when its week is dropped.
//
// A table takes part by being partitioned that way: Cleanup finds such
// tables in system.tables, so a migration that adds one needs nothing else.

// Partition is one expirable partition: a table's rows of one retention
// and one week.
type Partition struct {
	Table         string
	RetentionDays uint16
	Week          time.Time // the Monday the week starts, UTC
}

// Expires is when every row of the partition is past its retention.
func (p Partition) Expires() time.Time {
	return p.Week.AddDate(0, 0, 7+int(p.RetentionDays))
}

func (p Partition) String() string {
	return fmt.Sprintf("%s (%d, '%s')", p.Table, p.RetentionDays, p.Week.Format(time.DateOnly))
}

// partitionIDRE matches the partition id ClickHouse gives a (UInt16, Date)
// partition key: "90-20261123".
var partitionIDRE = regexp.MustCompile(`^(\d{1,5})-(\d{8})$`)

// ExpiredPartitions lists the partitions whose rows have all expired at now.
func (s *Store) ExpiredPartitions(ctx context.Context, now time.Time) ([]Partition, error) {
	var tables []struct {
		Name string `ch:"name"`
	}
	// In cluster mode the local tables hold the partitions.
	q := "SELECT name FROM system.tables WHERE database = " + str(s.db) +
		" AND engine LIKE '%MergeTree' AND partition_key LIKE '(retention_days, toMonday(%'"
	if err := s.t.query(ctx, &tables, q); err != nil {
		return nil, fmt.Errorf("store: list tables: %w", err)
	}
	if len(tables) == 0 {
		return nil, nil
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Name
	}
	var parts []struct {
		Table       string `ch:"table"`
		PartitionID string `ch:"partition_id"`
	}
	if err := s.t.query(ctx, &parts, "SELECT DISTINCT table, partition_id FROM "+s.systemTable("parts")+
		" WHERE database = "+str(s.db)+" AND active AND table IN "+strs(names)+" ORDER BY table, partition_id"); err != nil {
		return nil, fmt.Errorf("store: list partitions: %w", err)
	}
	var out []Partition
	for _, p := range parts {
		m := partitionIDRE.FindStringSubmatch(p.PartitionID)
		if m == nil {
			continue
		}
		days, err := strconv.ParseUint(m[1], 10, 16)
		if err != nil {
			continue
		}
		week, err := time.ParseInLocation("20060102", m[2], time.UTC)
		if err != nil {
			continue
		}
		part := Partition{Table: p.Table, RetentionDays: uint16(days), Week: week}
		if !part.Expires().After(now) {
			out = append(out, part)
		}
	}
	return out, nil
}

// Cleanup drops every partition expired at now and returns them. It is
// idempotent and safe to run from several processes: dropping a partition
// that is already gone does nothing.
func (s *Store) Cleanup(ctx context.Context, now time.Time) ([]Partition, error) {
	parts, err := s.ExpiredPartitions(ctx, now)
	if err != nil {
		return nil, err
	}
	var dropped []Partition
	for _, p := range parts {
		// In cluster mode system.tables lists the local tables, and
		// alterTarget adds the suffix back.
		q := "ALTER TABLE " + s.alterTarget(s.baseName(p.Table)) + " DROP PARTITION (" + num(uint64(p.RetentionDays)) + ", " +
			str(p.Week.Format(time.DateOnly)) + ")"
		if err := s.t.exec(ctx, q); err != nil {
			return dropped, fmt.Errorf("store: drop partition %s: %w", p, err)
		}
		s.log.Info("expired partition dropped", "table", p.Table, "retention_days", p.RetentionDays,
			"week", p.Week.Format(time.DateOnly))
		dropped = append(dropped, p)
	}
	return dropped, nil
}

// live is the condition that keeps rows younger than their retention at
// now; column is the row's time (a DateTime column).
func live(column string, now time.Time) string {
	return "toUInt32(" + column + ") + toUInt32(retention_days) * 86400 > " + num(uint64(now.Unix()))
}

// liveHour is live for hourly buckets: a bucket stays until its last
// second has expired, so an issue never leaves the lists before its last
// event expired (and at most an hour after).
func liveHour(now time.Time) string {
	return "toUInt32(hour) + 3600 + toUInt32(retention_days) * 86400 > " + num(uint64(now.Unix()))
}
