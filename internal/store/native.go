package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// nativeTransport talks to ClickHouse servers over the native protocol
// (port 9000) through clickhouse-go's connection pool. The DSN takes
// clickhouse-go's options: dial_timeout, read_timeout, max_open_conns,
// secure=true and skip_verify=true for TLS, and any server setting.
type nativeTransport struct {
	conn driver.Conn
}

func openNative(ctx context.Context, cfg Config) (*nativeTransport, error) {
	opts, err := clickhouse.ParseDSN(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("store: clickhouse url: %w", err)
	}
	if opts.Settings == nil {
		opts.Settings = clickhouse.Settings{}
	}
	// 18.16 refuses LowCardinality without it; newer servers ignore it.
	opts.Settings["allow_experimental_low_cardinality_type"] = 1
	if opts.DialTimeout == 0 || opts.DialTimeout == 30*time.Second {
		opts.DialTimeout = 5 * time.Second
	}
	opts.ClientInfo.Products = append(opts.ClientInfo.Products, struct{ Name, Version string }{"faultline", "0"})
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("store: clickhouse open: %w", err)
	}
	return &nativeTransport{conn: conn}, nil
}

func (t *nativeTransport) exec(ctx context.Context, query string) error {
	return t.conn.Exec(ctx, query)
}

func (t *nativeTransport) query(ctx context.Context, dest any, query string) error {
	return t.conn.Select(ctx, dest, query)
}

func (t *nativeTransport) insert(ctx context.Context, table string, cols []string, rows [][]any) error {
	// 18.16 needs the explicit column list.
	batch, err := t.conn.PrepareBatch(ctx, "INSERT INTO "+table+" ("+quoteCols(cols)+")")
	if err != nil {
		return err
	}
	defer batch.Abort() //nolint:errcheck // no-op after Send
	for _, r := range rows {
		if err := batch.Append(r...); err != nil {
			return err
		}
	}
	return batch.Send()
}

func (t *nativeTransport) ping(ctx context.Context) error { return t.conn.Ping(ctx) }

func (t *nativeTransport) close() error { return t.conn.Close() }
