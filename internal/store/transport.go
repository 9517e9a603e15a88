package store

import (
	"context"
)

// transport runs ClickHouse SQL. The store is written once, in SQL that both
// ClickHouse 18.16 and 26.x accept; a transport only moves statements and
// rows: embedded chDB (chdbTransport) or a server's native protocol
// (nativeTransport).
type transport interface {
	// exec runs a statement that returns no rows.
	exec(ctx context.Context, query string) error
	// query runs a SELECT and appends its rows to dest, a pointer to a slice
	// of structs with `ch:"column"` field tags.
	query(ctx context.Context, dest any, query string) error
	// insert writes rows to table (a qualified name). Each row holds one
	// value per column, typed as the column is: string, uint8..uint64,
	// time.Time (DateTime) or []string (Array(String)).
	insert(ctx context.Context, table string, cols []string, rows [][]any) error
	// ping checks that the engine answers.
	ping(ctx context.Context) error
	close() error
}
