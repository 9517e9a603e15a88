package store

import (
	"fmt"
	"strings"
)

// Features are the engine capabilities that the schema may use beyond what
// ClickHouse 18.16 has. They are derived from the server version once, at
// Open, so that a migration generates the same statements on every process
// talking to one server.
//
// Between 18.16 (Debian's server, in CI) and 26.x (chDB) nothing is tested,
// so every feature is switched on from one conservative version, 21.8 (an
// LTS release that has all of them without experimental settings). An older
// server gets the 18.16 schema, which is complete; it only uses more disk.
type Features struct {
	// Codec allows per-column compression codecs: CODEC(ZSTD(3)) on event
	// bodies. Without it, the server's <compression> setting (zstd in the
	// CI config) compresses merged parts.
	Codec bool
	// TTL adds table TTLs by retention_days with ttl_only_drop_parts, so that
	// expired parts vanish even between cleanup runs. The cleanup job, which
	// drops whole partitions, works on every version and stays the primary
	// mechanism.
	TTL bool
	// SkipIndex adds bloom-filter indexes on event ids and user columns
	// (event lookups by id, deletion of one user's data).
	SkipIndex bool
	// DateTime64 is detected and reported but not used: timestamp plus
	// timestamp_ms keeps one query text for both engines, which matters more
	// than the 2 bytes it would save.
	DateTime64 bool
	// LightweightDelete deletes rows with DELETE FROM (a row mask written
	// at once) instead of an ALTER ... DELETE mutation, which rewrites
	// every part holding a matching row: merges and unmerges move an
	// issue's events, which sit in every part of the events table. On
	// from 23.3, where it is generally available.
	LightweightDelete bool
}

// lightweightDeleteFrom is the version from which LightweightDelete is on.
var lightweightDeleteFrom = Version{23, 3}

// newFeaturesFrom is the version from which Features are switched on.
var newFeaturesFrom = Version{21, 8}

// FeaturesFor returns the features of a ClickHouse version.
func FeaturesFor(v Version) Features {
	on := v.AtLeast(newFeaturesFrom.Major, newFeaturesFrom.Minor)
	return Features{Codec: on, TTL: on, SkipIndex: on, DateTime64: on,
		LightweightDelete: v.AtLeast(lightweightDeleteFrom.Major, lightweightDeleteFrom.Minor)}
}

// String lists the features for logs, e.g. "codec=on ttl=on ...".
func (f Features) String() string {
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	return strings.Join([]string{
		"codec=" + onOff(f.Codec), "ttl=" + onOff(f.TTL), "skip_index=" + onOff(f.SkipIndex),
		"datetime64=" + onOff(f.DateTime64) + "(unused)", "low_cardinality=on", "lightweight_delete=" + onOff(f.LightweightDelete),
	}, " ")
}

// codec returns " CODEC(spec)" where codecs are supported, else "": the
// server-wide compression setting then applies.
func (s *Store) codec(spec string) string {
	if !s.features.Codec {
		return ""
	}
	return " CODEC(" + spec + ")"
}

// ttl returns a TTL clause that drops parts whose rows are all older than
// their retention, where TTLs are supported.
func (s *Store) ttl(column string) string {
	if !s.features.TTL {
		return ""
	}
	return fmt.Sprintf("\nTTL %s + toIntervalDay(retention_days)", column)
}

// tableSettings returns the SETTINGS clause of a MergeTree table whose
// granules hold granularity rows: ClickHouse reads whole granules, so a
// table of wide rows (event bodies of ~10 KB) needs small ones, or reading
// one event decompresses 8192 bodies.
func (s *Store) tableSettings(granularity int) string {
	set := fmt.Sprintf("\nSETTINGS index_granularity = %d", granularity)
	if s.features.TTL {
		set += ", ttl_only_drop_parts = 1"
	}
	return set
}
