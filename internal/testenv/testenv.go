// Package testenv finds the real components that tests run against: libchdb
// for embedded ClickHouse and a ClickHouse server. Where one is missing a
// test is skipped with a clear message, except under CI=true, where a
// missing component fails the test: CI must run everything.
package testenv

import (
	"os"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/chdb"
)

// CI reports whether the tests run under CI=true.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing skips t because a component is absent, or fails it under CI.
func Missing(t testing.TB, what string) {
	t.Helper()
	if CI() {
		t.Fatalf("CI=true but %s", what)
	}
	t.Skipf("skipped: %s", what)
}

// CHDBLib returns the path of libchdb.so, or skips t.
func CHDBLib(t testing.TB) string {
	t.Helper()
	p, err := chdb.FindLibrary("")
	if err != nil {
		Missing(t, "libchdb.so is not installed (run `make chdb`, or set FAULTLINE_CHDB_LIB)")
	}
	return p
}

// ClickHouseURL returns the ClickHouse server DSN in
// FAULTLINE_TEST_CLICKHOUSE (e.g. clickhouse://127.0.0.1:9000/default),
// or skips t. The database in its path is dropped: tests name their own
// (store.Config.Database), and a URL naming another one is refused.
func ClickHouseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("FAULTLINE_TEST_CLICKHOUSE")
	if u == "" {
		Missing(t, "FAULTLINE_TEST_CLICKHOUSE is not set (start one with .ci/start-clickhouse and set it to clickhouse://127.0.0.1:9000/default)")
	}
	return WithoutDatabase(u)
}

// WithoutDatabase drops the database from a ClickHouse DSN's path
// (clickhouse://h:9000/default?x=1 → clickhouse://h:9000?x=1).
func WithoutDatabase(dsn string) string {
	rest, query, hasQuery := strings.Cut(dsn, "?")
	scheme, hosts, ok := strings.Cut(rest, "://")
	if !ok {
		return dsn
	}
	hosts, _, _ = strings.Cut(hosts, "/")
	out := scheme + "://" + hosts
	if hasQuery {
		out += "?" + query
	}
	return out
}
