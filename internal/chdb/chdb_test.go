package chdb_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/chdb"
	"github.com/faultline/faultline/internal/testenv"
)

// TestConn drives the real libchdb through the binding: queries and their
// output, inline insert data, an engine error that leaves the connection
// usable, closing, and reopening the same data directory.
func TestConn(t *testing.T) {
	lib := testenv.CHDBLib(t)
	dir := t.TempDir()
	c, err := chdb.Open(chdb.Config{LibPath: lib, Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Query("SELECT 1 + 1", "TabSeparated")
	if err != nil || string(out) != "2\n" {
		t.Fatalf("SELECT: %q %v", out, err)
	}
	_, err = c.Query("SELECT nosuchcolumn FROM nosuchtable", "TabSeparated")
	var e *chdb.Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "Code:") {
		t.Fatalf("a bad query: %v", err)
	}
	if _, err := c.Exec("CREATE TABLE t (id UInt32, s String) ENGINE = MergeTree ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	// Inline data after FORMAT, with a byte pair that cut RowBinary.
	n, err := c.Exec("INSERT INTO t FORMAT JSONEachRow\n{\"id\":1,\"s\":\"a\\n\\nb\"}\n{\"id\":2,\"s\":\"c\"}\n")
	if err != nil || n != 2 {
		t.Fatalf("insert: %d rows, %v", n, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query("SELECT 1", "TabSeparated"); !errors.Is(err, chdb.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	c, err = chdb.Open(chdb.Config{LibPath: lib, Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err = c.Query("SELECT count(), sum(length(s)) FROM t", "TabSeparated")
	if err != nil || string(out) != "2\t5\n" {
		t.Fatalf("after reopening: %q %v", out, err)
	}
}
