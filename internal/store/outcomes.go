package store

import (
	"context"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/outcome"
)

// Outcome is what became of Quantity items (or bytes, for attachments) of
// one data category: the row format of Snuba's outcomes. Kind, Reason and
// Category use package outcome's closed set of values.
type Outcome struct {
	OrgID     uint64
	ProjectID uint64
	KeyID     string // the DSN key's id, "" when unknown
	Timestamp time.Time
	Kind      outcome.Kind
	Reason    string
	Category  outcome.Category
	Quantity  uint64
}

var outcomeCols = []string{"org_id", "project_id", "key_id", "timestamp", "outcome", "reason", "category",
	"quantity", "times_seen"}

// RecordOutcomes counts outcomes. Timestamps are truncated to the hour, and
// rows with equal keys are summed by the table (SummingMergeTree), so
// callers may record one row per item or pre-aggregate, as they like. Each
// row counts once in times_seen.
//
// Recording is at least once: a caller that retries after an error may
// count a row twice (see process.Worker for how events avoid it).
func (s *Store) RecordOutcomes(ctx context.Context, outcomes []Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	rows := make([][]any, 0, len(outcomes))
	for _, o := range outcomes {
		rows = append(rows, []any{o.OrgID, o.ProjectID, o.KeyID, o.Timestamp.UTC().Truncate(time.Hour),
			uint8(o.Kind), o.Reason, uint8(o.Category), o.Quantity, uint64(1)})
	}
	if err := s.t.insert(ctx, s.table("outcomes"), outcomeCols, rows); err != nil {
		return err
	}
	if s.obs != nil {
		for _, o := range outcomes {
			s.obs.CountEvents(o.Kind.String(), o.Category.String(), o.ProjectID, int(o.Quantity))
		}
	}
	return nil
}

// OutcomeQuery selects outcomes to sum.
type OutcomeQuery struct {
	ProjectIDs []uint64
	// Since and Until bound the hours, inclusive; zero means unbounded.
	Since, Until time.Time
}

// OutcomeTotal is the sum of the outcomes of one project, outcome, reason
// and category.
type OutcomeTotal struct {
	ProjectID uint64
	Kind      outcome.Kind
	Reason    string
	Category  outcome.Category
	Quantity  uint64
	TimesSeen uint64
}

// OutcomeTotals sums outcomes over the selected hours.
func (s *Store) OutcomeTotals(ctx context.Context, q OutcomeQuery) ([]OutcomeTotal, error) {
	var where strings.Builder
	where.WriteString("project_id IN " + nums(q.ProjectIDs))
	if !q.Since.IsZero() {
		where.WriteString(" AND timestamp >= " + ts(q.Since.UTC().Truncate(time.Hour)))
	}
	if !q.Until.IsZero() {
		where.WriteString(" AND timestamp <= " + ts(q.Until.UTC()))
	}
	// clickhouse-go scans UInt8 into uint8 only, not into named types.
	var rows []struct {
		ProjectID uint64 `ch:"project_id"`
		Kind      uint8  `ch:"outcome"`
		Reason    string `ch:"reason"`
		Category  uint8  `ch:"category"`
		Quantity  uint64 `ch:"quantity"`
		TimesSeen uint64 `ch:"times_seen"`
	}
	err := s.t.query(ctx, &rows, "SELECT project_id, outcome, reason, category, "+
		"toUInt64(sum(quantity)) AS quantity, toUInt64(sum(times_seen)) AS times_seen FROM "+s.table("outcomes")+
		" WHERE "+where.String()+" GROUP BY project_id, outcome, reason, category"+
		" ORDER BY project_id, outcome, category, reason")
	out := make([]OutcomeTotal, len(rows))
	for i, r := range rows {
		out[i] = OutcomeTotal{ProjectID: r.ProjectID, Kind: outcome.Kind(r.Kind), Reason: r.Reason,
			Category: outcome.Category(r.Category), Quantity: r.Quantity, TimesSeen: r.TimesSeen}
	}
	return out, err
}

// OutcomeSeriesQuery selects outcomes per time bucket.
type OutcomeSeriesQuery struct {
	ProjectIDs []uint64
	Since      time.Time // inclusive, truncated to the interval
	Until      time.Time // exclusive
	Daily      bool      // daily buckets instead of hourly
}

// OutcomeBucket is the sum of one project, outcome, reason and category in
// one time bucket.
type OutcomeBucket struct {
	Bucket time.Time
	OutcomeTotal
}

// OutcomeSeries sums outcomes per hour (or day), per project, outcome,
// reason and category, for Sentry's stats_v2.
func (s *Store) OutcomeSeries(ctx context.Context, q OutcomeSeriesQuery) ([]OutcomeBucket, error) {
	bucket := "timestamp"
	if q.Daily {
		bucket = "toStartOfDay(timestamp)"
	}
	var rows []struct {
		Bucket    time.Time `ch:"bucket"`
		ProjectID uint64    `ch:"project_id"`
		Kind      uint8     `ch:"outcome"`
		Reason    string    `ch:"reason"`
		Category  uint8     `ch:"category"`
		Quantity  uint64    `ch:"quantity"`
		TimesSeen uint64    `ch:"times_seen"`
	}
	err := s.t.query(ctx, &rows, "SELECT "+bucket+" AS bucket, project_id, outcome, reason, category, "+
		"toUInt64(sum(quantity)) AS quantity, toUInt64(sum(times_seen)) AS times_seen FROM "+s.table("outcomes")+
		" WHERE project_id IN "+nums(q.ProjectIDs)+" AND timestamp >= "+ts(q.Since.UTC().Truncate(time.Hour))+
		" AND timestamp < "+ts(q.Until.UTC())+
		" GROUP BY bucket, project_id, outcome, reason, category ORDER BY bucket")
	if err != nil {
		return nil, err
	}
	out := make([]OutcomeBucket, len(rows))
	for i, r := range rows {
		out[i] = OutcomeBucket{Bucket: r.Bucket.UTC(), OutcomeTotal: OutcomeTotal{ProjectID: r.ProjectID,
			Kind: outcome.Kind(r.Kind), Reason: r.Reason, Category: outcome.Category(r.Category),
			Quantity: r.Quantity, TimesSeen: r.TimesSeen}}
	}
	return out, nil
}
