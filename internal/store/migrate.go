package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// migration is one versioned schema step. Its statements are generated for
// the engine's version, so that features newer servers have are used only
// where they exist. Every statement is idempotent (IF NOT EXISTS), so that
// several processes may migrate at once.
type migration struct {
	version int
	name    string
	stmts   func(s *Store) []string
}

var migrations = []migration{
	{1, "initial schema", schema0001},
	{2, "releases and issue releases", schema0002},
	{3, "attachments, user reports, outcomes", schema0003},
	{7, "deploys", schema0007},
}

// Migrate applies the migrations not yet recorded in schema_migrations.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.t.exec(ctx, "CREATE DATABASE IF NOT EXISTS "+ident(s.db)); err != nil {
		return fmt.Errorf("store: create database: %w", err)
	}
	if err := s.t.exec(ctx, "CREATE TABLE IF NOT EXISTS "+s.table("schema_migrations")+
		" (version UInt32, name String, applied_at DateTime('UTC')) ENGINE = ReplacingMergeTree() ORDER BY version"); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	var done []struct {
		Version uint32 `ch:"version"`
	}
	if err := s.t.query(ctx, &done, "SELECT DISTINCT version FROM "+s.table("schema_migrations")); err != nil {
		return fmt.Errorf("store: read schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	for _, d := range done {
		applied[int(d.Version)] = true
	}
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		start := time.Now()
		for _, q := range m.stmts(s) {
			if err := s.t.exec(ctx, q); err != nil {
				return fmt.Errorf("store: migration %04d (%s): %w\n%s", m.version, m.name, err, q)
			}
		}
		if err := s.t.insert(ctx, s.table("schema_migrations"), []string{"version", "name", "applied_at"},
			[][]any{{uint32(m.version), m.name, time.Now().UTC()}}); err != nil {
			return fmt.Errorf("store: record migration %04d: %w", m.version, err)
		}
		s.log.Info("migration applied", "version", m.version, "name", m.name, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// Migrations returns the versions recorded as applied.
func (s *Store) Migrations(ctx context.Context) ([]int, error) {
	var done []struct {
		Version uint32 `ch:"version"`
	}
	if err := s.t.query(ctx, &done, "SELECT DISTINCT version FROM "+s.table("schema_migrations")+" ORDER BY version"); err != nil {
		return nil, err
	}
	out := make([]int, len(done))
	for i, d := range done {
		out[i] = int(d.Version)
	}
	return out, nil
}

// schema0001 is the initial schema, modelled on Snuba's errors table.
//
//   - events: one row per event, partitioned by retention and week, ordered
//     by project, day and group. ReplacingMergeTree collapses a duplicate
//     insert of one event (same sorting key) on merge; the worker also skips
//     redelivered events that are already stored, so the aggregates fed by
//     the materialized view are never counted twice.
//   - group_hourly: per (project, group, environment, hour) aggregate states,
//     filled by group_hourly_mv; the issue list, counts, user counts, first
//     and last seen and the 24h/14d stats read it, never raw events.
//   - groups: issue metadata (short id, title, culprit...), one row per
//     worker batch; the latest version wins.
//   - group_status: issue state set by people (and by regressions), latest
//     updated_ms wins.
func schema0001(s *Store) []string {
	r := strings.NewReplacer("{db}", ident(s.db))
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS {db}.events (
	project_id UInt64,
	timestamp DateTime('UTC'),
	timestamp_ms UInt16,
	event_id FixedString(32),
	group_id UInt64,
	primary_hash String,
	received DateTime('UTC'),
	type String,
	level String,
	platform String,
	environment String,
	release String,
	dist String,
	transaction String,
	message String,
	title String,
	culprit String,
	exception_type String,
	exception_value String,
	tags Nested(key String, value String),
	user_id String,
	user_email String,
	user_name String,
	ip_address String,
	user_key String,
	sdk_name String,
	sdk_version String,
	retention_days UInt16,
	deleted UInt8,
	body String
) ENGINE = ReplacingMergeTree()
PARTITION BY (retention_days, toMonday(timestamp))
ORDER BY (project_id, toStartOfDay(timestamp), group_id, cityHash64(event_id))
SETTINGS index_granularity = 8192`,
		`CREATE TABLE IF NOT EXISTS {db}.group_hourly (
	project_id UInt64,
	group_id UInt64,
	environment String,
	hour DateTime('UTC'),
	retention_days UInt16,
	times_seen AggregateFunction(count),
	users AggregateFunction(uniqIf, String, UInt8),
	first_seen AggregateFunction(min, DateTime('UTC')),
	last_seen AggregateFunction(max, DateTime('UTC'))
) ENGINE = AggregatingMergeTree()
PARTITION BY (retention_days, toMonday(hour))
ORDER BY (project_id, group_id, environment, hour)`,
		`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.group_hourly_mv TO {db}.group_hourly AS
SELECT project_id, group_id, environment, toStartOfHour(timestamp) AS hour, retention_days,
	countState() AS times_seen,
	uniqIfState(user_key, user_key != '') AS users,
	minState(timestamp) AS first_seen,
	maxState(timestamp) AS last_seen
FROM {db}.events
GROUP BY project_id, group_id, environment, hour, retention_days`,
		`CREATE TABLE IF NOT EXISTS {db}.groups (
	project_id UInt64,
	group_id UInt64,
	short_id UInt64,
	primary_hash String,
	grouping_config String,
	title String,
	culprit String,
	level String,
	type String,
	platform String,
	metadata String,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, group_id)`,
		`CREATE TABLE IF NOT EXISTS {db}.group_status (
	project_id UInt64,
	group_id UInt64,
	status String,
	substatus String,
	status_details String,
	updated_ms UInt64
) ENGINE = ReplacingMergeTree(updated_ms)
ORDER BY (project_id, group_id)`,
	}
	for i, q := range stmts {
		stmts[i] = r.Replace(q)
	}
	return stmts
}

// schema0002 records releases for the issue lifecycle:
//
//   - releases: each (project, version) with the time it was first seen
//     (to the millisecond, as it is compared with resolution times).
//     Workers insert a version when they meet it; ReplacingMergeTree keyed
//     by rev (the negated first-seen time) keeps the earliest row, and
//     reads take the minimum anyway. "Resolved in the next release"
//     compares an event's release's first-seen time with the resolution.
//   - group_releases: per (project, issue, release) first and last seen
//     (Unix milliseconds of the events' timestamps) and count, fed by
//     group_releases_mv from events, for an issue's first and last
//     release.
func schema0002(s *Store) []string {
	r := strings.NewReplacer("{db}", ident(s.db))
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS {db}.releases (
	project_id UInt64,
	version String,
	first_seen DateTime('UTC'),
	first_seen_ms UInt16,
	rev UInt64
) ENGINE = ReplacingMergeTree(rev)
ORDER BY (project_id, version)`,
		`CREATE TABLE IF NOT EXISTS {db}.group_releases (
	project_id UInt64,
	group_id UInt64,
	release String,
	first_seen AggregateFunction(min, UInt64),
	last_seen AggregateFunction(max, UInt64),
	times_seen AggregateFunction(count)
) ENGINE = AggregatingMergeTree()
ORDER BY (project_id, group_id, release)`,
		`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.group_releases_mv TO {db}.group_releases AS
SELECT project_id, group_id, release,
	minState(toUInt64(timestamp) * 1000 + timestamp_ms) AS first_seen,
	maxState(toUInt64(timestamp) * 1000 + timestamp_ms) AS last_seen,
	countState() AS times_seen
FROM {db}.events
WHERE release != ''
GROUP BY project_id, group_id, release`,
	}
	for i, q := range stmts {
		stmts[i] = r.Replace(q)
	}
	return stmts
}

// schema0003 holds what the envelope items beside events need.
//
//   - attachments: metadata of event attachments (the bytes live in the
//     JetStream object store under object_key), one row per attachment,
//     partitioned like events so that retention drops both together.
//     ReplacingMergeTree: a redelivered message writes the same row again.
//   - user_reports: user feedback linked to an event (legacy user_report
//     items have an empty feedback_id; new "feedback" items carry their own id).
//     The latest report per (event, feedback) wins.
//   - outcomes: Snuba's outcomes_hourly: what became of every item, summed
//     per hour, project, key, outcome, reason and category. The numbers are
//     Relay's (package outcome), so stats and rate limits can read it as
//     Sentry's. key_id is the DSN key's id as the API shows it (empty
//     when unknown), reason empty when there is none: ClickHouse 18.16 cannot sort
//     on Nullable columns.
func schema0003(s *Store) []string {
	r := strings.NewReplacer("{db}", ident(s.db))
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS {db}.attachments (
	project_id UInt64,
	event_id FixedString(32),
	id UInt64,
	group_id UInt64,
	name String,
	content_type String,
	attachment_type String,
	size UInt64,
	sha1 String,
	object_key String,
	date_created DateTime('UTC'),
	retention_days UInt16,
	deleted UInt8
) ENGINE = ReplacingMergeTree()
PARTITION BY (retention_days, toMonday(date_created))
ORDER BY (project_id, event_id, id)`,
		`CREATE TABLE IF NOT EXISTS {db}.user_reports (
	project_id UInt64,
	event_id FixedString(32),
	feedback_id String,
	id UInt64,
	name String,
	email String,
	comments String,
	date_created DateTime('UTC'),
	retention_days UInt16,
	deleted UInt8
) ENGINE = ReplacingMergeTree(date_created)
PARTITION BY (retention_days, toMonday(date_created))
ORDER BY (project_id, event_id, feedback_id)`,
		`CREATE TABLE IF NOT EXISTS {db}.outcomes (
	org_id UInt64,
	project_id UInt64,
	key_id String,
	timestamp DateTime('UTC'),
	outcome UInt8,
	reason String,
	category UInt8,
	quantity UInt64,
	times_seen UInt64
) ENGINE = SummingMergeTree((quantity, times_seen))
PARTITION BY toMonday(timestamp)
ORDER BY (org_id, project_id, key_id, outcome, reason, timestamp, category)`,
	}
	for i, q := range stmts {
		stmts[i] = r.Replace(q)
	}
	return stmts
}
