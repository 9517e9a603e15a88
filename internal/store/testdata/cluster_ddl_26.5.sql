CREATE DATABASE IF NOT EXISTS `faultline` ON CLUSTER `faultline_cluster`;

CREATE TABLE IF NOT EXISTS `faultline`.`schema_migrations_local` ON CLUSTER `faultline_cluster` (
	version UInt32,
	name String,
	applied_at DateTime('UTC')
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/schema_migrations_local', '{replica}')
ORDER BY version;

CREATE TABLE IF NOT EXISTS `faultline`.`schema_migrations` ON CLUSTER `faultline_cluster` AS `faultline`.`schema_migrations_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'schema_migrations_local', cityHash64(version));

CREATE TABLE IF NOT EXISTS `faultline`.`events_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	timestamp DateTime('UTC'),
	timestamp_ms UInt16,
	event_id FixedString(32) CODEC(ZSTD(1)),
	group_id UInt64,
	primary_hash String,
	received DateTime('UTC'),
	type LowCardinality(String),
	level LowCardinality(String),
	platform LowCardinality(String),
	environment LowCardinality(String),
	release LowCardinality(String),
	dist LowCardinality(String),
	transaction String CODEC(ZSTD(1)),
	message String CODEC(ZSTD(1)),
	title String CODEC(ZSTD(1)),
	culprit String CODEC(ZSTD(1)),
	exception_type LowCardinality(String),
	exception_value String CODEC(ZSTD(1)),
	`tags.key` Array(LowCardinality(String)),
	`tags.value` Array(String) CODEC(ZSTD(1)),
	user_id String CODEC(ZSTD(1)),
	user_email String CODEC(ZSTD(1)),
	user_name String CODEC(ZSTD(1)),
	ip_address String CODEC(ZSTD(1)),
	user_key String CODEC(ZSTD(1)),
	sdk_name LowCardinality(String),
	sdk_version LowCardinality(String),
	retention_days UInt16,
	deleted UInt8,
	body String CODEC(ZSTD(3)),
	INDEX event_id_bf event_id TYPE bloom_filter GRANULARITY 4,
	INDEX user_id_bf user_id TYPE bloom_filter GRANULARITY 4,
	INDEX user_email_bf user_email TYPE bloom_filter GRANULARITY 4,
	INDEX ip_address_bf ip_address TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/events_local', '{replica}')
PARTITION BY (retention_days, toMonday(timestamp))
ORDER BY (project_id, group_id, toStartOfDay(timestamp), cityHash64(event_id))
TTL timestamp + toIntervalDay(retention_days)
SETTINGS index_granularity = 256, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `faultline`.`events` ON CLUSTER `faultline_cluster` AS `faultline`.`events_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'events_local', cityHash64(project_id, group_id));

CREATE TABLE IF NOT EXISTS `faultline`.`group_hourly_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	group_id UInt64,
	environment LowCardinality(String),
	hour DateTime('UTC'),
	retention_days UInt16,
	times_seen AggregateFunction(count),
	users AggregateFunction(uniqIf, String, UInt8),
	first_seen AggregateFunction(min, DateTime('UTC')),
	last_seen AggregateFunction(max, DateTime('UTC'))
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/faultline/group_hourly_local', '{replica}')
PARTITION BY (retention_days, toMonday(hour))
ORDER BY (project_id, group_id, environment, hour)
TTL hour + toIntervalDay(retention_days)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `faultline`.`group_hourly` ON CLUSTER `faultline_cluster` AS `faultline`.`group_hourly_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'group_hourly_local', cityHash64(project_id, group_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `faultline`.`group_hourly_mv` ON CLUSTER `faultline_cluster` TO `faultline`.`group_hourly_local` AS
SELECT project_id, group_id, environment, toStartOfHour(timestamp) AS hour, retention_days,
	countState() AS times_seen,
	uniqIfState(user_key, user_key != '') AS users,
	minState(timestamp) AS first_seen,
	maxState(timestamp) AS last_seen
FROM `faultline`.`events_local`
GROUP BY project_id, group_id, environment, hour, retention_days;

CREATE TABLE IF NOT EXISTS `faultline`.`groups_local` ON CLUSTER `faultline_cluster` (
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
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/groups_local', '{replica}', version)
PARTITION BY (retention_days, toMonday(last_seen))
ORDER BY (project_id, group_id)
TTL last_seen + toIntervalDay(retention_days)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `faultline`.`groups` ON CLUSTER `faultline_cluster` AS `faultline`.`groups_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'groups_local', cityHash64(project_id, group_id));

CREATE TABLE IF NOT EXISTS `faultline`.`group_status_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	group_id UInt64,
	status LowCardinality(String),
	substatus LowCardinality(String),
	status_details String,
	updated_ms UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/group_status_local', '{replica}', updated_ms)
ORDER BY (project_id, group_id);

CREATE TABLE IF NOT EXISTS `faultline`.`group_status` ON CLUSTER `faultline_cluster` AS `faultline`.`group_status_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'group_status_local', cityHash64(project_id, group_id));

CREATE TABLE IF NOT EXISTS `faultline`.`releases_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	version String,
	first_seen DateTime('UTC'),
	first_seen_ms UInt16,
	rev UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/releases_local', '{replica}', rev)
ORDER BY (project_id, version);

CREATE TABLE IF NOT EXISTS `faultline`.`releases` ON CLUSTER `faultline_cluster` AS `faultline`.`releases_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'releases_local', cityHash64(project_id, version));

CREATE TABLE IF NOT EXISTS `faultline`.`group_releases_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	group_id UInt64,
	release String,
	first_seen AggregateFunction(min, UInt64),
	last_seen AggregateFunction(max, UInt64),
	times_seen AggregateFunction(count)
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/faultline/group_releases_local', '{replica}')
ORDER BY (project_id, group_id, release);

CREATE TABLE IF NOT EXISTS `faultline`.`group_releases` ON CLUSTER `faultline_cluster` AS `faultline`.`group_releases_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'group_releases_local', cityHash64(project_id, group_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `faultline`.`group_releases_mv` ON CLUSTER `faultline_cluster` TO `faultline`.`group_releases_local` AS
SELECT project_id, group_id, CAST(release AS String) AS release,
	minState(toUInt64(timestamp) * 1000 + timestamp_ms) AS first_seen,
	maxState(toUInt64(timestamp) * 1000 + timestamp_ms) AS last_seen,
	countState() AS times_seen
FROM `faultline`.`events_local`
WHERE release != ''
GROUP BY project_id, group_id, release;

CREATE TABLE IF NOT EXISTS `faultline`.`attachments_local` ON CLUSTER `faultline_cluster` (
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
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/attachments_local', '{replica}')
PARTITION BY (retention_days, toMonday(date_created))
ORDER BY (project_id, event_id, id);

CREATE TABLE IF NOT EXISTS `faultline`.`attachments` ON CLUSTER `faultline_cluster` AS `faultline`.`attachments_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'attachments_local', cityHash64(event_id));

CREATE TABLE IF NOT EXISTS `faultline`.`user_reports_local` ON CLUSTER `faultline_cluster` (
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
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/user_reports_local', '{replica}', date_created)
PARTITION BY (retention_days, toMonday(date_created))
ORDER BY (project_id, event_id, feedback_id);

CREATE TABLE IF NOT EXISTS `faultline`.`user_reports` ON CLUSTER `faultline_cluster` AS `faultline`.`user_reports_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'user_reports_local', cityHash64(event_id));

CREATE TABLE IF NOT EXISTS `faultline`.`outcomes_local` ON CLUSTER `faultline_cluster` (
	org_id UInt64,
	project_id UInt64,
	key_id String,
	timestamp DateTime('UTC'),
	outcome UInt8,
	reason String,
	category UInt8,
	quantity UInt64,
	times_seen UInt64
) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/faultline/outcomes_local', '{replica}', (quantity, times_seen))
PARTITION BY toMonday(timestamp)
ORDER BY (org_id, project_id, key_id, outcome, reason, timestamp, category);

CREATE TABLE IF NOT EXISTS `faultline`.`outcomes` ON CLUSTER `faultline_cluster` AS `faultline`.`outcomes_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'outcomes_local', cityHash64(org_id, project_id, key_id, outcome, reason, timestamp, category));

CREATE TABLE IF NOT EXISTS `faultline`.`deploys_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	version String,
	deploy_id FixedString(32),
	environment String,
	revision String,
	repository String,
	username String,
	email String,
	date_finished DateTime('UTC')
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/deploys_local', '{replica}')
ORDER BY (project_id, version, deploy_id);

CREATE TABLE IF NOT EXISTS `faultline`.`deploys` ON CLUSTER `faultline_cluster` AS `faultline`.`deploys_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'deploys_local', cityHash64(project_id, version, deploy_id));

CREATE TABLE IF NOT EXISTS `faultline`.`event_ids_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	id_prefix UInt64,
	event_id FixedString(32),
	seq UInt64,
	timestamp DateTime('UTC'),
	retention_days UInt16
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/event_ids_local', '{replica}')
PARTITION BY (retention_days, toMonday(timestamp))
ORDER BY (project_id, id_prefix, event_id, seq)
PRIMARY KEY (project_id, id_prefix)
TTL timestamp + toIntervalDay(retention_days)
SETTINGS index_granularity = 256, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `faultline`.`event_ids` ON CLUSTER `faultline_cluster` AS `faultline`.`event_ids_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'event_ids_local', cityHash64(event_id));

CREATE TABLE IF NOT EXISTS `faultline`.`org_releases_local` ON CLUSTER `faultline_cluster` (
	org_id UInt64,
	version String,
	ref String,
	url String,
	owner String,
	refs String,
	date_created_ms UInt64,
	date_released_ms UInt64,
	date_started_ms UInt64,
	deleted UInt8,
	rev UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/org_releases_local', '{replica}', rev)
ORDER BY (org_id, version);

CREATE TABLE IF NOT EXISTS `faultline`.`org_releases` ON CLUSTER `faultline_cluster` AS `faultline`.`org_releases_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'org_releases_local', cityHash64(org_id, version));

CREATE TABLE IF NOT EXISTS `faultline`.`release_commits_local` ON CLUSTER `faultline_cluster` (
	org_id UInt64,
	version String,
	set_rev UInt64,
	idx UInt32,
	commit_id String,
	repository String,
	message String,
	author_name String,
	author_email String,
	timestamp_ms UInt64,
	files String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/release_commits_local', '{replica}')
ORDER BY (org_id, version, set_rev, idx);

CREATE TABLE IF NOT EXISTS `faultline`.`release_commits` ON CLUSTER `faultline_cluster` AS `faultline`.`release_commits_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'release_commits_local', cityHash64(org_id, version, set_rev, idx));

CREATE TABLE IF NOT EXISTS `faultline`.`repositories_local` ON CLUSTER `faultline_cluster` (
	org_id UInt64,
	name String,
	url String,
	provider String,
	date_created_ms UInt64,
	deleted UInt8,
	rev UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/repositories_local', '{replica}', rev)
ORDER BY (org_id, name);

CREATE TABLE IF NOT EXISTS `faultline`.`repositories` ON CLUSTER `faultline_cluster` AS `faultline`.`repositories_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'repositories_local', cityHash64(org_id, name));

ALTER TABLE `faultline`.`deploys_local` ON CLUSTER `faultline_cluster` ADD COLUMN name String, ADD COLUMN url String, ADD COLUMN date_started DateTime('UTC');

DROP TABLE IF EXISTS `faultline`.`deploys` ON CLUSTER `faultline_cluster`;

CREATE TABLE IF NOT EXISTS `faultline`.`deploys` ON CLUSTER `faultline_cluster` AS `faultline`.`deploys_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'deploys_local', cityHash64(project_id, version, deploy_id));

CREATE TABLE IF NOT EXISTS `faultline`.`group_activity_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	group_id UInt64,
	id UInt64,
	type LowCardinality(String),
	user_id UInt64,
	data String,
	created_ms UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/group_activity_local', '{replica}')
ORDER BY (project_id, group_id, id);

CREATE TABLE IF NOT EXISTS `faultline`.`group_activity` ON CLUSTER `faultline_cluster` AS `faultline`.`group_activity_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'group_activity_local', cityHash64(project_id, group_id));

CREATE TABLE IF NOT EXISTS `faultline`.`group_minutely_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	group_id UInt64,
	environment LowCardinality(String),
	minute DateTime('UTC'),
	retention_days UInt16,
	times_seen AggregateFunction(count),
	users AggregateFunction(uniqIf, String, UInt8)
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/faultline/group_minutely_local', '{replica}')
PARTITION BY (retention_days, toMonday(minute))
ORDER BY (project_id, group_id, environment, minute)
TTL minute + toIntervalDay(retention_days)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `faultline`.`group_minutely` ON CLUSTER `faultline_cluster` AS `faultline`.`group_minutely_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'group_minutely_local', cityHash64(project_id, group_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `faultline`.`group_minutely_mv` ON CLUSTER `faultline_cluster` TO `faultline`.`group_minutely_local` AS
SELECT project_id, group_id, environment, toStartOfMinute(timestamp) AS minute, toUInt16(1) AS retention_days,
	countState() AS times_seen,
	uniqIfState(user_key, user_key != '') AS users
FROM `faultline`.`events_local`
GROUP BY project_id, group_id, environment, minute, retention_days;

CREATE TABLE IF NOT EXISTS `faultline`.`group_assignees_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	group_id UInt64,
	kind LowCardinality(String),
	target_id UInt64,
	actor_id UInt64,
	version UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/group_assignees_local', '{replica}', version)
ORDER BY (project_id, group_id);

CREATE TABLE IF NOT EXISTS `faultline`.`group_assignees` ON CLUSTER `faultline_cluster` AS `faultline`.`group_assignees_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'group_assignees_local', cityHash64(project_id, group_id));

CREATE TABLE IF NOT EXISTS `faultline`.`group_user_state_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	group_id UInt64,
	user_id UInt64,
	flag LowCardinality(String),
	value UInt8,
	version UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/group_user_state_local', '{replica}', version)
ORDER BY (project_id, group_id, user_id, flag);

CREATE TABLE IF NOT EXISTS `faultline`.`group_user_state` ON CLUSTER `faultline_cluster` AS `faultline`.`group_user_state_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'group_user_state_local', cityHash64(project_id, group_id));

CREATE TABLE IF NOT EXISTS `faultline`.`group_comments_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	group_id UInt64,
	id UInt64,
	user_id UInt64,
	text String,
	created_ms UInt64,
	updated_ms UInt64,
	deleted UInt8,
	version UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/group_comments_local', '{replica}', version)
ORDER BY (project_id, group_id, id);

CREATE TABLE IF NOT EXISTS `faultline`.`group_comments` ON CLUSTER `faultline_cluster` AS `faultline`.`group_comments_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'group_comments_local', cityHash64(project_id, group_id));

CREATE TABLE IF NOT EXISTS `faultline`.`group_tags_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	key String,
	value String,
	group_id UInt64,
	day Date,
	retention_days UInt16
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/group_tags_local', '{replica}')
PARTITION BY (retention_days, toMonday(day))
ORDER BY (project_id, key, value, group_id, day)
TTL day + toIntervalDay(retention_days + 1)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `faultline`.`group_tags` ON CLUSTER `faultline_cluster` AS `faultline`.`group_tags_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'group_tags_local', cityHash64(project_id, group_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `faultline`.`group_tags_mv` ON CLUSTER `faultline_cluster` TO `faultline`.`group_tags_local` AS SELECT project_id, tag.1 AS key, tag.2 AS value, group_id, toDate(timestamp) AS day, retention_days
FROM `faultline`.`events_local`
ARRAY JOIN arrayConcat(arrayMap((k, v) -> (CAST(k AS String), v), `tags.key`, `tags.value`),
	[('user.id', user_id), ('user.email', user_email), ('user.username', user_name), ('user.ip', ip_address)]) AS tag
WHERE tag.2 != ''
GROUP BY project_id, key, value, group_id, day, retention_days;

CREATE TABLE IF NOT EXISTS `faultline`.`group_tag_values_local` ON CLUSTER `faultline_cluster` (
	project_id UInt64,
	group_id UInt64,
	key String,
	value String,
	day Date,
	retention_days UInt16,
	times_seen AggregateFunction(count),
	first_seen AggregateFunction(min, DateTime('UTC')),
	last_seen AggregateFunction(max, DateTime('UTC')),
	origin UInt8
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/faultline/group_tag_values_local', '{replica}')
PARTITION BY (retention_days, toMonday(day))
ORDER BY (project_id, group_id, key, value, day, origin)
TTL day + toIntervalDay(retention_days + 1)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `faultline`.`group_tag_values` ON CLUSTER `faultline_cluster` AS `faultline`.`group_tag_values_local`
ENGINE = Distributed('faultline_cluster', 'faultline', 'group_tag_values_local', cityHash64(project_id, group_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `faultline`.`group_tag_values_mv` ON CLUSTER `faultline_cluster` TO `faultline`.`group_tag_values_local` AS SELECT project_id, group_id, tag.1 AS key, tag.2 AS value, toDate(timestamp) AS day, retention_days,
	countState() AS times_seen, minState(timestamp) AS first_seen, maxState(timestamp) AS last_seen, toUInt8(0) AS origin
FROM `faultline`.`events_local`
ARRAY JOIN arrayMap((k, v) -> (CAST(k AS String), v), `tags.key`, `tags.value`) AS tag
GROUP BY project_id, group_id, key, value, day, retention_days;
