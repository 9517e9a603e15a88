package store

import (
	"fmt"
	"regexp"
	"strings"
)

// clusterDDL rewrites single-server schema statements for a ClickHouse
// cluster (Config.Cluster), the way Snuba lays out its tables:
//
//   - CREATE TABLE t (...) ENGINE = XMergeTree(args) becomes t_local, created
//     ON CLUSTER with ReplicatedXMergeTree('/clickhouse/tables/{shard}/db/t_local',
//     '{replica}', args), plus t itself as a Distributed table over t_local.
//     Reads and inserts keep using t. The sharding key keeps an issue's
//     rows on one shard (see shardingKey): rows that a Replacing, Summing
//     or Aggregating MergeTree would merge land on the same shard.
//   - CREATE MATERIALIZED VIEW v TO t AS SELECT ... FROM s runs ON CLUSTER
//     and reads and writes the local tables, so each shard aggregates its own
//     events; the Distributed table merges the states at read time.
//   - ALTER TABLE t applies to t_local ON CLUSTER; when it only changes
//     columns, t is dropped and created again over the new t_local (the
//     Distributed table must show the same columns, and 18.16 refuses an
//     ALTER ON CLUSTER of a table that is not replicated).
//   - DROP TABLE t drops both; CREATE DATABASE runs ON CLUSTER.
//
// Servers need the {shard} and {replica} macros and a ZooKeeper (or
// Keeper) for Replicated tables and ON CLUSTER queries. The rewriter is
// applied to every migration's statements in order; it remembers views so
// that later ALTER and DROP statements treat them as views.
type clusterDDL struct {
	db      string // unquoted
	cluster string // empty: statements pass through unchanged
	views   map[string]bool
	// dists holds the statement creating each Distributed table, to
	// create it again after its columns changed.
	dists map[string]string
}

func (s *Store) clusterDDL() *clusterDDL {
	return &clusterDDL{db: s.db, cluster: s.cluster, views: map[string]bool{}, dists: map[string]string{}}
}

// localSuffix names the per-shard table behind a Distributed table.
const localSuffix = "_local"

var (
	reCreateDB    = regexp.MustCompile(`(?is)^\s*CREATE DATABASE (IF NOT EXISTS )?(\S+)\s*$`)
	reCreateTable = regexp.MustCompile(`(?is)^\s*CREATE TABLE (IF NOT EXISTS )?(\S+?)\.(` + "`?" + `\w+` + "`?" + `)\s*\(`)
	reCreateView  = regexp.MustCompile(`(?is)^\s*CREATE MATERIALIZED VIEW (IF NOT EXISTS )?(\S+?)\.(` + "`?" + `\w+` + "`?" + `)\s+TO\s+`)
	reAlter       = regexp.MustCompile(`(?is)^\s*ALTER TABLE (\S+?)\.(` + "`?" + `\w+` + "`?" + `)\s+(.*)$`)
	reDrop        = regexp.MustCompile(`(?is)^\s*DROP (TABLE|VIEW) (IF EXISTS )?(\S+?)\.(` + "`?" + `\w+` + "`?" + `)\s*$`)
	reEngine      = regexp.MustCompile(`(?is)ENGINE\s*=\s*(\w*MergeTree)\s*\(`)
	reColumnCmd   = regexp.MustCompile(`(?is)^\s*(ADD|DROP|MODIFY|RENAME|COMMENT|CLEAR) COLUMN\b`)
)

// rewrite returns the statements to run for q.
func (c *clusterDDL) rewrite(q string) ([]string, error) {
	if c.cluster == "" {
		return []string{q}, nil
	}
	on := " ON CLUSTER " + ident(c.cluster)
	if m := reCreateDB.FindStringSubmatch(q); m != nil {
		return []string{"CREATE DATABASE " + m[1] + m[2] + on}, nil
	}
	if m := reCreateView.FindStringSubmatchIndex(q); m != nil {
		db, name := q[m[4]:m[5]], unbackquote(q[m[6]:m[7]])
		if !c.isDB(db) {
			return nil, fmt.Errorf("store: cluster mode: view %s is not in database %s", name, c.db)
		}
		c.views[name] = true
		head := q[:m[4]] + c.qname(name) + on
		// Every other table of the database the view names is a local one.
		body := c.localRefs(q[m[7]:])
		return []string{head + body}, nil
	}
	if m := reCreateTable.FindStringSubmatchIndex(q); m != nil {
		return c.createTable(q, m, on)
	}
	if m := reAlter.FindStringSubmatch(q); m != nil {
		db, name, rest := m[1], unbackquote(m[2]), m[3]
		if !c.isDB(db) {
			return nil, fmt.Errorf("store: cluster mode: table %s is not in database %s", name, c.db)
		}
		if c.views[name] {
			return []string{"ALTER TABLE " + c.qname(name) + on + " " + rest}, nil
		}
		out := []string{"ALTER TABLE " + c.qname(name+localSuffix) + on + " " + rest}
		if columnsOnly(rest) {
			// The Distributed table must show the local table's columns.
			// It cannot be altered ON CLUSTER (18.16 refuses a table
			// that is not replicated on a cluster whose shards are), so
			// it is created again: it holds no data of its own, as
			// inserts are synchronous (insert_distributed_sync).
			create, ok := c.dists[name]
			if !ok {
				return nil, fmt.Errorf("store: cluster mode: ALTER of %s, which no earlier CREATE TABLE made", name)
			}
			out = append(out, "DROP TABLE IF EXISTS "+c.qname(name)+on, create)
		}
		return out, nil
	}
	if m := reDrop.FindStringSubmatch(q); m != nil {
		kind, ifExists, db, name := strings.ToUpper(m[1]), m[2], m[3], unbackquote(m[4])
		if !c.isDB(db) {
			return nil, fmt.Errorf("store: cluster mode: table %s is not in database %s", name, c.db)
		}
		if kind == "VIEW" || c.views[name] {
			delete(c.views, name)
			return []string{"DROP " + kind + " " + ifExists + c.qname(name) + on}, nil
		}
		delete(c.dists, name)
		return []string{
			"DROP TABLE " + ifExists + c.qname(name) + on,
			"DROP TABLE " + ifExists + c.qname(name+localSuffix) + on,
		}, nil
	}
	return nil, fmt.Errorf("store: cluster mode cannot rewrite this statement; use CREATE TABLE, CREATE MATERIALIZED VIEW ... TO, ALTER TABLE or DROP TABLE:\n%s", q)
}

// createTable splits a CREATE TABLE into a replicated local table and a
// Distributed table. m indexes reCreateTable's match in q.
func (c *clusterDDL) createTable(q string, m []int, on string) ([]string, error) {
	db, name := q[m[4]:m[5]], unbackquote(q[m[6]:m[7]])
	if !c.isDB(db) {
		return nil, fmt.Errorf("store: cluster mode: table %s is not in database %s", name, c.db)
	}
	open := m[1] - 1 // the column list's "("
	close := matchParen(q, open)
	if close < 0 {
		return nil, fmt.Errorf("store: cluster mode: unbalanced parentheses in CREATE TABLE %s", name)
	}
	columns, tail := q[open:close+1], q[close+1:]
	em := reEngine.FindStringSubmatchIndex(tail)
	if em == nil {
		// Not a MergeTree table (Memory, Null...): the same table on every node.
		return []string{q[:m[4]] + c.qname(name) + on + " " + q[open:]}, nil
	}
	engine := tail[em[2]:em[3]]
	argsOpen := em[1] - 1
	argsClose := matchParen(tail, argsOpen)
	if argsClose < 0 {
		return nil, fmt.Errorf("store: cluster mode: unbalanced engine arguments in CREATE TABLE %s", name)
	}
	args := strings.TrimSpace(tail[argsOpen+1 : argsClose])
	ifNotExists := ""
	if m[2] >= 0 {
		ifNotExists = q[m[2]:m[3]]
	}
	local := name + localSuffix
	repl := "Replicated" + engine + "(" + str("/clickhouse/tables/{shard}/"+c.db+"/"+local) + ", " + str("{replica}")
	if args != "" {
		repl += ", " + args
	}
	repl += ")"
	if strings.HasPrefix(engine, "Replicated") {
		repl = engine + tail[argsOpen:argsClose+1] // already replicated: keep it
	}
	localStmt := "CREATE TABLE " + ifNotExists + c.qname(local) + on + " " + columns +
		tail[:em[0]] + "ENGINE = " + repl + tail[argsClose+1:]
	distStmt := "CREATE TABLE " + ifNotExists + c.qname(name) + on + " AS " + c.qname(local) +
		"\nENGINE = Distributed(" + str(c.cluster) + ", " + str(c.db) + ", " + str(local) + ", " + shardingKey(tail) + ")"
	c.dists[name] = "CREATE TABLE IF NOT EXISTS " + c.qname(name) + on + " AS " + c.qname(local) +
		"\nENGINE = Distributed(" + str(c.cluster) + ", " + str(c.db) + ", " + str(local) + ", " + shardingKey(tail) + ")"
	return []string{localStmt, distStmt}, nil
}

// shardingKey picks a Distributed table's sharding key from its
// definition after the column list (for ORDER BY). It must be a function of
// sorting-key columns only, so that rows a Replacing, Summing or
// Aggregating MergeTree merges (and FINAL collapses) live on one shard:
//
//   - a table whose sorting key has project_id and group_id is sharded by
//     issue, so that an issue's events, aggregates and metadata all live on
//     one shard (the views fill the aggregates on the shard that holds the
//     events);
//   - else by event id where the sorting key has it (attachments, user
//     reports, event id claims);
//   - else by a hash of the sorting key.
func shardingKey(tail string) string {
	var key string
	if m := reOrderBy.FindStringIndex(tail); m != nil {
		key = strings.TrimSpace(tail[m[1]:])
		if strings.HasPrefix(key, "(") {
			if end := matchParen(key, 0); end > 0 {
				key = key[:end+1]
			}
		} else if f := strings.Fields(key); len(f) > 0 {
			key = "(" + f[0] + ")"
		}
	}
	if key == "" {
		return "rand()"
	}
	has := func(col string) bool {
		for _, k := range splitTopLevel(strings.TrimSuffix(strings.TrimPrefix(key, "("), ")")) {
			if strings.TrimSpace(k) == col {
				return true
			}
		}
		return false
	}
	switch {
	case has("project_id") && has("group_id"):
		return "cityHash64(project_id, group_id)"
	case has("event_id"):
		return "cityHash64(event_id)"
	}
	return "cityHash64" + key
}

var reOrderBy = regexp.MustCompile(`(?i)\bORDER BY\s+`)

// localRefs points every db.table reference in a view's body at the local
// table.
func (c *clusterDDL) localRefs(body string) string {
	re := regexp.MustCompile(`(` + regexp.QuoteMeta(ident(c.db)) + `|\b` + regexp.QuoteMeta(c.db) + `)\.(` + "`?" + `)(\w+)` + "`?")
	return re.ReplaceAllStringFunc(body, func(ref string) string {
		sm := re.FindStringSubmatch(ref)
		if c.views[sm[3]] {
			return ref
		}
		return c.qname(sm[3] + localSuffix)
	})
}

func (c *clusterDDL) qname(table string) string { return ident(c.db) + "." + ident(table) }

func (c *clusterDDL) isDB(s string) bool { return s == ident(c.db) || s == c.db }

func unbackquote(s string) string { return strings.Trim(s, "`") }

// columnsOnly reports whether every command of an ALTER changes columns.
func columnsOnly(cmds string) bool {
	for _, cmd := range splitTopLevel(cmds) {
		if !reColumnCmd.MatchString(cmd) {
			return false
		}
	}
	return true
}

// matchParen returns the index of the parenthesis closing the one at
// open, skipping quoted strings, or -1.
func matchParen(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\'', '`', '"':
			q := s[i]
			for i++; i < len(s) && s[i] != q; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// splitTopLevel splits s at commas outside parentheses and quotes.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'', '`', '"':
			q := s[i]
			for i++; i < len(s) && s[i] != q; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// alterTarget names the table(s) a maintenance ALTER (DROP PARTITION, a
// DELETE mutation) acts on: the table itself, or in cluster mode its local
// tables on every node.
func (s *Store) alterTarget(table string) string {
	if s.cluster == "" {
		return s.table(table)
	}
	return s.table(table+localSuffix) + " ON CLUSTER " + ident(s.cluster)
}

// systemTable reads a system table of every node in cluster mode.
func (s *Store) systemTable(name string) string {
	if s.cluster == "" {
		return "system." + name
	}
	return "cluster(" + str(s.cluster) + ", system, " + name + ")"
}

// in is the IN operator for subqueries over other tables: GLOBAL IN in
// cluster mode, where the subquery must run once on the initiator rather
// than on every shard against its local table.
func (s *Store) in() string {
	if s.cluster != "" {
		return "GLOBAL IN"
	}
	return "IN"
}

// notIn is the NOT IN counterpart of in.
func (s *Store) notIn() string {
	if s.cluster != "" {
		return "GLOBAL NOT IN"
	}
	return "NOT IN"
}

// localTable names a table as the maintenance queries that read parts and
// mutations see it: its local table in cluster mode.
func (s *Store) localTable(table string) string {
	if s.cluster == "" {
		return table
	}
	return table + localSuffix
}
