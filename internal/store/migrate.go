package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// migration is one versioned schema step. Its statements are generated for
// the engine (see Features), so that features newer servers have are used
// only where they exist. Write them for a single server, with {db} for the
// database: in cluster mode (Config.Cluster) the same statements are
// rewritten by clusterDDL into ON CLUSTER statements on Replicated tables
// behind Distributed ones, so a new table gets cluster support for free.
//
// Every statement must be idempotent: several processes may migrate at
// once, and a migration interrupted half-way runs again from its first
// statement. Write CREATE ... IF NOT EXISTS and DROP ... IF EXISTS; write
// ALTER TABLE ... ADD COLUMN without IF NOT EXISTS, which 18.16 lacks:
// execDDL runs an ALTER one command at a time and takes "already exists"
// (or a missing column for DROP COLUMN) as done.
type migration struct {
	version int
	name    string
	stmts   func(s *Store) []string
	// data, if set, runs after the statements (and again if the migration
	// was interrupted): a data step such as filling a new table from an
	// existing one. It addresses tables as reads and inserts do (the
	// Distributed ones in cluster mode) and must be idempotent too.
	data func(ctx context.Context, s *Store) error
}

var migrations = []migration{
	{1, "initial schema", schema0001, nil},
	{2, "releases and issue releases", schema0002, nil},
	{3, "attachments, user reports, outcomes", schema0003, nil},
	{7, "deploys", schema0007, nil},
	{8, "event ids: write-once events", schema0008, backfill0008},
	{9, "organization releases, commits, repositories, deploy names", schema0009, nil},
	{11, "issue activity", schema0011, nil},
	{12, "per-minute issue counters for alert rules", schema0012, nil},
	{13, "issue workflow: assignees, user flags, comments", schema0013, nil},
	{16, "per-issue tag index for the issue search", schema0016, backfill0016},
	{17, "per-issue tag value counts for the issue page", schema0017, backfill0017},
}

// schemaMigrationsTable records applied migrations; a version recorded
// twice (two processes raced) is one version.
const schemaMigrationsTable = `CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
	version UInt32,
	name String,
	applied_at DateTime('UTC')
) ENGINE = ReplacingMergeTree()
ORDER BY version`

// Migrate applies the migrations not yet recorded in schema_migrations.
//
// It takes no lock: ClickHouse has none to offer, and a lock kept elsewhere
// (NATS) would not exist for `faultline migrate` run alone. Instead every
// statement is idempotent and a migration is recorded only after all its
// statements succeeded; two processes that race run the same statements
// and both record the version, which the table deduplicates.
func (s *Store) Migrate(ctx context.Context) error {
	return s.MigrateTo(ctx, int(^uint(0)>>1))
}

// MigrateTo applies the migrations up to version upTo only: the schema an
// earlier Faultline left, which upgrade tests start from.
func (s *Store) MigrateTo(ctx context.Context, upTo int) error {
	s.log.Info("clickhouse schema", "version", s.version.String(), "features", s.features.String(),
		"cluster", s.cluster)
	cd := s.clusterDDL()
	exec := func(q string) error {
		stmts, err := cd.rewrite(q)
		if err != nil {
			return err
		}
		for _, st := range stmts {
			if err := s.execDDL(ctx, st); err != nil {
				return fmt.Errorf("%w\n%s", err, st)
			}
		}
		return nil
	}
	if err := exec("CREATE DATABASE IF NOT EXISTS " + ident(s.db)); err != nil {
		return fmt.Errorf("store: create database: %w", err)
	}
	if err := exec(s.sql(schemaMigrationsTable)); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return fmt.Errorf("store: read schema_migrations: %w", err)
	}
	for _, m := range migrations {
		if m.version > upTo {
			break
		}
		stmts := m.stmts(s)
		if applied[m.version] {
			// Still rewritten: cluster mode learns which names are views.
			for _, q := range stmts {
				if _, err := cd.rewrite(q); err != nil {
					return fmt.Errorf("store: migration %04d (%s): %w", m.version, m.name, err)
				}
			}
			continue
		}
		start := time.Now()
		for _, q := range stmts {
			if err := exec(q); err != nil {
				return fmt.Errorf("store: migration %04d (%s): %w", m.version, m.name, err)
			}
		}
		if m.data != nil {
			if err := m.data(ctx, s); err != nil {
				return fmt.Errorf("store: migration %04d (%s): %w", m.version, m.name, err)
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

var (
	reAlterHead  = regexp.MustCompile(`(?is)^\s*(ALTER TABLE \S+(?: ON CLUSTER \S+)?)\s+(.*)$`)
	reAddColumn  = regexp.MustCompile(`(?is)^\s*ADD COLUMN\b`)
	reDropColumn = regexp.MustCompile(`(?is)^\s*DROP COLUMN\b`)
)

// execDDL runs one schema statement so that running it again, or from two
// processes at once, has the effect of running it once.
//
//   - An ALTER with several commands runs one command at a time: if its
//     first command was applied by an earlier, interrupted run, the others
//     still are.
//   - "Already exists" after IF NOT EXISTS (two processes creating the same
//     table at once: the check and the creation are not atomic on every
//     version), or after ADD COLUMN (18.16 has no ADD COLUMN IF NOT EXISTS),
//     is the outcome wanted, and counts as success; so does a missing column
//     after DROP COLUMN.
func (s *Store) execDDL(ctx context.Context, q string) error {
	if m := reAlterHead.FindStringSubmatch(q); m != nil {
		if cmds := splitTopLevel(m[2]); len(cmds) > 1 {
			for _, c := range cmds {
				if err := s.execDDL(ctx, m[1]+" "+strings.TrimSpace(c)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	err := s.t.exec(ctx, q)
	if err == nil {
		return nil
	}
	msg := err.Error()
	cmd := q
	if m := reAlterHead.FindStringSubmatch(q); m != nil {
		cmd = m[2]
	}
	done := false
	switch {
	case strings.Contains(q, "IF NOT EXISTS"):
		done = strings.Contains(msg, "already exists") || strings.Contains(msg, "is creating or attaching right now") ||
			strings.Contains(msg, "Code: 57.") || strings.Contains(msg, "Code: 82.")
	case reAddColumn.MatchString(cmd):
		done = strings.Contains(msg, "already exists")
	case reDropColumn.MatchString(cmd):
		done = strings.Contains(msg, "Cannot find column") || strings.Contains(msg, "There is no column")
	}
	if done {
		s.log.Debug("schema change already applied", "err", msg)
		return nil
	}
	return err
}

func (s *Store) appliedMigrations(ctx context.Context) (map[int]bool, error) {
	vs, err := s.Migrations(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[int]bool, len(vs))
	for _, v := range vs {
		out[v] = true
	}
	return out, nil
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

// sql replaces the {db} placeholder with the quoted database name.
func (s *Store) sql(q string) string { return strings.ReplaceAll(q, "{db}", ident(s.db)) }

// schema0001 is the initial schema, modelled on Snuba's errors table.
//
//   - events: one row per event, partitioned by retention and week (as
//     Snuba does, so that expiry drops whole partitions). Unlike Snuba's, it
//     is ordered by project, issue, then day: every read of events names an
//     issue (or an event id), and the events of one issue, which share stack
//     traces and breadcrumbs, sit together and compress well. Short repeated
//     strings are LowCardinality; where codecs exist, text is ZSTD(1) and the
//     body ZSTD(3) (on 18.16, the server's <compression> setting does it for
//     merged parts). Granules are 256 rows, not 8192: ClickHouse reads whole
//     granules, and one event must not cost 8192 bodies. The tags are the
//     arrays a Nested(key, value) column would be, declared one by one so
//     that each takes its codec. A duplicate insert of one event collapses
//     on merge (ReplacingMergeTree); the worker also skips redelivered
//     events already stored, so the aggregates are never counted twice.
//   - group_hourly: per (project, issue, environment, hour) aggregate states,
//     filled by group_hourly_mv; the issue list and details, counts, user
//     counts, first and last seen and the 24h/14d stats read it, never raw
//     events. Partitioned like events, so both expire together.
//   - groups: issue metadata (short id, title, culprit...), one row per
//     worker batch; the highest version wins. Partitioned by retention and
//     the week of the batch's last event: a batch's row always lives in a
//     partition no older than the aggregates it describes, so metadata
//     outlives them and an issue whose events all expired loses both.
//   - group_status: issue state set by people (and regressions), latest
//     updated_ms wins. Rows are few; deletion removes them.
func schema0001(s *Store) []string {
	z := s.codec("ZSTD(1)")
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS {db}.events (
	project_id UInt64,
	timestamp DateTime('UTC'),
	timestamp_ms UInt16,
	event_id FixedString(32)` + z + `,
	group_id UInt64,
	primary_hash String,
	received DateTime('UTC'),
	type LowCardinality(String),
	level LowCardinality(String),
	platform LowCardinality(String),
	environment LowCardinality(String),
	release LowCardinality(String),
	dist LowCardinality(String),
	transaction String` + z + `,
	message String` + z + `,
	title String` + z + `,
	culprit String` + z + `,
	exception_type LowCardinality(String),
	exception_value String` + z + `,
	` + "`tags.key`" + ` Array(LowCardinality(String)),
	` + "`tags.value`" + ` Array(String)` + z + `,
	user_id String` + z + `,
	user_email String` + z + `,
	user_name String` + z + `,
	ip_address String` + z + `,
	user_key String` + z + `,
	sdk_name LowCardinality(String),
	sdk_version LowCardinality(String),
	retention_days UInt16,
	deleted UInt8,
	body String` + s.codec("ZSTD(3)") + s.skipIndexes(
			"INDEX event_id_bf event_id TYPE bloom_filter GRANULARITY 4",
			"INDEX user_id_bf user_id TYPE bloom_filter GRANULARITY 4",
			"INDEX user_email_bf user_email TYPE bloom_filter GRANULARITY 4",
			"INDEX ip_address_bf ip_address TYPE bloom_filter GRANULARITY 4") + `
) ENGINE = ReplacingMergeTree()
PARTITION BY (retention_days, toMonday(timestamp))
ORDER BY (project_id, group_id, toStartOfDay(timestamp), cityHash64(event_id))` + s.ttl("timestamp") + s.tableSettings(256),
		`CREATE TABLE IF NOT EXISTS {db}.group_hourly (
	project_id UInt64,
	group_id UInt64,
	environment LowCardinality(String),
	hour DateTime('UTC'),
	retention_days UInt16,
	times_seen AggregateFunction(count),
	users AggregateFunction(uniqIf, String, UInt8),
	first_seen AggregateFunction(min, DateTime('UTC')),
	last_seen AggregateFunction(max, DateTime('UTC'))
) ENGINE = AggregatingMergeTree()
PARTITION BY (retention_days, toMonday(hour))
ORDER BY (project_id, group_id, environment, hour)` + s.ttl("hour") + s.tableSettings(8192),
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
	grouping_config LowCardinality(String),
	title String,
	culprit String,
	level LowCardinality(String),
	type LowCardinality(String),
	platform LowCardinality(String),
	metadata String,
	last_seen DateTime('UTC'),
	retention_days UInt16,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY (retention_days, toMonday(last_seen))
ORDER BY (project_id, group_id)` + s.ttl("last_seen") + s.tableSettings(8192),
		`CREATE TABLE IF NOT EXISTS {db}.group_status (
	project_id UInt64,
	group_id UInt64,
	status LowCardinality(String),
	substatus LowCardinality(String),
	status_details String,
	updated_ms UInt64
) ENGINE = ReplacingMergeTree(updated_ms)
ORDER BY (project_id, group_id)`,
	}
	for i, q := range stmts {
		stmts[i] = s.sql(q)
	}
	return stmts
}

// skipIndexes returns index definitions to append to a column list, where
// skip indexes are supported.
func (s *Store) skipIndexes(defs ...string) string {
	if !s.features.SkipIndex {
		return ""
	}
	return ",\n\t" + strings.Join(defs, ",\n\t")
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
//     release. The view casts events' LowCardinality release to String:
//     18.16 does not convert it when pushing to the table.
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
SELECT project_id, group_id, CAST(release AS String) AS release,
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
