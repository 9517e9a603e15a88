package store

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

// clusterStatements renders every migration, as `faultline migrate
// --clickhouse-cluster` would run them on servers of version v.
func clusterStatements(t *testing.T, v Version, cluster string) []string {
	t.Helper()
	s := &Store{db: "faultline", cluster: cluster, version: v, features: FeaturesFor(v), log: slog.Default()}
	cd := s.clusterDDL()
	var out []string
	add := func(q string) {
		stmts, err := cd.rewrite(q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, stmts...)
	}
	add("CREATE DATABASE IF NOT EXISTS " + ident(s.db))
	add(s.sql(schemaMigrationsTable))
	for _, m := range migrations {
		for _, q := range m.stmts(s) {
			add(q)
		}
	}
	return out
}

// TestClusterDDLGolden pins the cluster DDL text for an old and a new
// server. Run with -update after changing a migration, and read the diff.
func TestClusterDDLGolden(t *testing.T) {
	for _, v := range []Version{{18, 16}, {26, 5}} {
		t.Run(v.String(), func(t *testing.T) {
			got := strings.Join(clusterStatements(t, v, "faultline_cluster"), ";\n\n") + ";\n"
			path := filepath.Join("testdata", "cluster_ddl_"+v.String()+".sql")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("cluster DDL differs from %s (run go test -update and review the diff):\n%s", path, got)
			}
		})
	}
}

// TestClusterDDLShape checks the properties the golden file should show,
// so that a careless -update cannot bless a broken layout.
func TestClusterDDLShape(t *testing.T) {
	stmts := clusterStatements(t, Version{26, 5}, "c1")
	var tables, dists, views int
	for _, q := range stmts {
		if !strings.Contains(q, " ON CLUSTER `c1`") {
			t.Errorf("statement without ON CLUSTER:\n%s", q)
		}
		switch {
		case strings.Contains(q, "ENGINE = Distributed("):
			dists++
			if strings.Contains(q, "`events` ON CLUSTER") && !strings.Contains(q, "cityHash64(project_id, group_id)") {
				t.Errorf("events must be sharded by issue:\n%s", q)
			}
		case strings.HasPrefix(q, "CREATE TABLE"):
			tables++
			if !strings.Contains(q, "ENGINE = Replicated") || !strings.Contains(q, "'{replica}'") ||
				!strings.Contains(q, "_local` ON CLUSTER") {
				t.Errorf("local table is not replicated:\n%s", q)
			}
		case strings.HasPrefix(q, "CREATE MATERIALIZED VIEW"):
			views++
			if !regexp.MustCompile("TO `faultline`.`\\w+_local` AS").MatchString(q) || !strings.Contains(q, "FROM `faultline`.`events_local`") {
				t.Errorf("view must read and write local tables:\n%s", q)
			}
		}
	}
	// A Distributed table is created again after its columns changed.
	if tables == 0 || dists < tables || views == 0 {
		t.Errorf("%d local tables, %d distributed tables, %d views", tables, dists, views)
	}
}

func TestClusterRewrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
		err  bool
	}{
		{
			name: "add column to table, create distributed table again",
			in:   "ALTER TABLE `faultline`.groups ADD COLUMN IF NOT EXISTS first_release String",
			want: []string{
				"ALTER TABLE `faultline`.`groups_local` ON CLUSTER `c` ADD COLUMN IF NOT EXISTS first_release String",
				"DROP TABLE IF EXISTS `faultline`.`groups` ON CLUSTER `c`",
				"CREATE TABLE IF NOT EXISTS `faultline`.`groups` ON CLUSTER `c` AS `faultline`.`groups_local`\nENGINE = Distributed('c', 'faultline', 'groups_local', cityHash64(project_id, group_id))",
			},
		},
		{
			name: "alter of a table never created is refused",
			in:   "ALTER TABLE `faultline`.nothing ADD COLUMN x String",
			err:  true,
		},
		{
			name: "events sharded by issue",
			in:   "CREATE TABLE `faultline`.e (\n\tproject_id UInt64,\n\tgroup_id UInt64,\n\tevent_id FixedString(32)\n) ENGINE = ReplacingMergeTree()\nORDER BY (project_id, group_id, cityHash64(event_id))",
			want: []string{
				"CREATE TABLE `faultline`.`e_local` ON CLUSTER `c` (\n\tproject_id UInt64,\n\tgroup_id UInt64,\n\tevent_id FixedString(32)\n) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/e_local', '{replica}')\nORDER BY (project_id, group_id, cityHash64(event_id))",
				"CREATE TABLE `faultline`.`e` ON CLUSTER `c` AS `faultline`.`e_local`\nENGINE = Distributed('c', 'faultline', 'e_local', cityHash64(project_id, group_id))",
			},
		},
		{
			name: "event id in the sorting key",
			in:   "CREATE TABLE `faultline`.a (\n\tproject_id UInt64,\n\tgroup_id UInt64,\n\tevent_id FixedString(32)\n) ENGINE = ReplacingMergeTree()\nORDER BY (project_id, event_id)",
			want: []string{
				"CREATE TABLE `faultline`.`a_local` ON CLUSTER `c` (\n\tproject_id UInt64,\n\tgroup_id UInt64,\n\tevent_id FixedString(32)\n) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/faultline/a_local', '{replica}')\nORDER BY (project_id, event_id)",
				"CREATE TABLE `faultline`.`a` ON CLUSTER `c` AS `faultline`.`a_local`\nENGINE = Distributed('c', 'faultline', 'a_local', cityHash64(event_id))",
			},
		},
		{
			name: "non-column alter stays local",
			in:   "ALTER TABLE `faultline`.events MODIFY TTL timestamp + toIntervalDay(30)",
			want: []string{"ALTER TABLE `faultline`.`events_local` ON CLUSTER `c` MODIFY TTL timestamp + toIntervalDay(30)"},
		},
		{
			name: "drop both",
			in:   "DROP TABLE IF EXISTS `faultline`.old",
			want: []string{
				"DROP TABLE IF EXISTS `faultline`.`old` ON CLUSTER `c`",
				"DROP TABLE IF EXISTS `faultline`.`old_local` ON CLUSTER `c`",
			},
		},
		{
			name: "memory table is not split",
			in:   "CREATE TABLE IF NOT EXISTS `faultline`.m (x UInt8) ENGINE = Memory",
			want: []string{"CREATE TABLE IF NOT EXISTS `faultline`.`m` ON CLUSTER `c` (x UInt8) ENGINE = Memory"},
		},
		{
			name: "summing table sharded by issue",
			in:   "CREATE TABLE IF NOT EXISTS `faultline`.s (\n\tgroup_id UInt64,\n\tn UInt64\n) ENGINE = SummingMergeTree((n))\nORDER BY group_id",
			want: []string{
				"CREATE TABLE IF NOT EXISTS `faultline`.`s_local` ON CLUSTER `c` (\n\tgroup_id UInt64,\n\tn UInt64\n) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/faultline/s_local', '{replica}', (n))\nORDER BY group_id",
				"CREATE TABLE IF NOT EXISTS `faultline`.`s` ON CLUSTER `c` AS `faultline`.`s_local`\nENGINE = Distributed('c', 'faultline', 's_local', cityHash64(group_id))",
			},
		},
		{name: "insert is refused", in: "INSERT INTO `faultline`.events SELECT 1", err: true},
		{name: "other database is refused", in: "ALTER TABLE other.events DELETE WHERE 1", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cd := &clusterDDL{db: "faultline", cluster: "c", views: map[string]bool{}, dists: map[string]string{}}
			if _, err := cd.rewrite("CREATE TABLE IF NOT EXISTS `faultline`.groups (project_id UInt64, group_id UInt64) ENGINE = ReplacingMergeTree() ORDER BY (project_id, group_id)"); err != nil {
				t.Fatal(err)
			}
			got, err := cd.rewrite(tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("want an error, got %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestClusterDDLParses runs every cluster statement through the parser of
// ClickHouse 26 (chDB's EXPLAIN AST): the text is valid SQL, although no
// cluster runs here.
func TestClusterDDLParses(t *testing.T) {
	lib := testenv.CHDBLib(t)
	s := openTestStore(t, Config{Path: t.TempDir(), CHDBLib: lib})
	parse := func(q string) error {
		var rows []struct {
			Explain string `ch:"explain"`
		}
		return s.t.query(context.Background(), &rows, "EXPLAIN AST "+q)
	}
	if parse("CREATE TABLE x ON CLUSTER c (a UInt8) ENGINE = Distributed(c, db, t, rand()") == nil {
		t.Fatal("the parser accepts broken DDL; this test proves nothing")
	}
	for _, q := range clusterStatements(t, Version{26, 5}, "faultline_cluster") {
		if err := parse(q); err != nil {
			t.Errorf("does not parse: %v\n%s", err, q)
		}
	}
}

func TestFeaturesFor(t *testing.T) {
	for _, tc := range []struct {
		v    Version
		want bool
	}{{Version{18, 16}, false}, {Version{21, 3}, false}, {Version{21, 8}, true}, {Version{26, 5}, true}} {
		f := FeaturesFor(tc.v)
		if f.Codec != tc.want || f.TTL != tc.want || f.SkipIndex != tc.want {
			t.Errorf("%s: %+v", tc.v, f)
		}
	}
	// The 18.16 schema uses none of them.
	for _, q := range clusterStatements(t, Version{18, 16}, "") {
		for _, kw := range []string{"CODEC", "TTL", "INDEX ", "ttl_only_drop_parts"} {
			if strings.Contains(q, kw) {
				t.Errorf("18.16 statement uses %s:\n%s", kw, q)
			}
		}
	}
}
