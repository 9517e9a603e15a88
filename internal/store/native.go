package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// nativeTransport talks to ClickHouse servers over the native protocol
// (port 9000, or 9440 with TLS) through clickhouse-go's connection pool.
//
// Statements that fail on the network (refused, reset, timed out) are tried
// again with exponential backoff: a server restart or a failover between
// hosts then costs a delay, not an error. Inserts are retried only when the
// failure came before any row was sent; after that, whether the rows landed
// is unknown, and the caller (the worker) checks before writing again.
type nativeTransport struct {
	conn    driver.Conn
	retries int
	log     *slog.Logger
}

func openNative(ctx context.Context, cfg Config, log *slog.Logger) (*nativeTransport, error) {
	opts, err := nativeOptions(cfg)
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("store: clickhouse open: %w", err)
	}
	t := &nativeTransport{conn: conn, retries: cfg.Retries, log: log}
	err = t.retry(ctx, func() error { return conn.Ping(ctx) })
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && ex.Code == codeUnknownDatabase {
		conn.Close()
		if cfg.NoCreateDatabase {
			return nil, fmt.Errorf("store: ClickHouse database %s does not exist (run `faultline migrate`)", cfg.Database)
		}
		if err := createDatabase(ctx, cfg, *opts, log); err != nil {
			return nil, err
		}
		if conn, err = clickhouse.Open(opts); err != nil {
			return nil, fmt.Errorf("store: clickhouse open: %w", err)
		}
		t.conn = conn
	} else if err != nil {
		conn.Close()
		return nil, fmt.Errorf("store: clickhouse: %w", err)
	}
	return t, nil
}

// codeUnknownDatabase is ClickHouse's UNKNOWN_DATABASE.
const codeUnknownDatabase = 81

// createDatabase connects to the server's "default" database and creates
// cfg.Database (on every node of cfg.Cluster), since a connection naming a
// database that does not exist fails at the handshake.
func createDatabase(ctx context.Context, cfg Config, opts clickhouse.Options, log *slog.Logger) error {
	opts.Auth.Database = "default"
	opts.MaxOpenConns, opts.MaxIdleConns = 1, 1
	conn, err := clickhouse.Open(&opts)
	if err != nil {
		return fmt.Errorf("store: clickhouse open: %w", err)
	}
	defer conn.Close()
	t := &nativeTransport{conn: conn, retries: cfg.Retries, log: log}
	q := "CREATE DATABASE IF NOT EXISTS " + ident(cfg.Database)
	if cfg.Cluster != "" {
		q += " ON CLUSTER " + ident(cfg.Cluster)
	}
	if err := t.exec(ctx, q); err != nil {
		return fmt.Errorf("store: create database %s: %w", cfg.Database, err)
	}
	return nil
}

// nativeOptions turns the configuration into clickhouse-go options. Values
// given in the URL win over the defaults; explicit Config fields (flags) win
// over both.
func nativeOptions(cfg Config) (*clickhouse.Options, error) {
	opts, err := clickhouse.ParseDSN(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("store: clickhouse url: %w", err)
	}
	if opts.Settings == nil {
		opts.Settings = clickhouse.Settings{}
	}
	// The connection opens in Faultline's database (Validate reconciled it
	// with the URL's).
	opts.Auth.Database = cfg.Database
	// 18.16 refuses LowCardinality without it; newer servers ignore it.
	opts.Settings["allow_experimental_low_cardinality_type"] = 1
	if cfg.Cluster != "" {
		// An insert into a Distributed table returns once every shard has
		// its rows, so a retry's existence check sees them.
		opts.Settings["insert_distributed_sync"] = 1
	}
	q := queryOf(cfg.URL)
	if !q["dial_timeout"] {
		opts.DialTimeout = cfg.DialTimeout
	}
	if !q["read_timeout"] {
		opts.ReadTimeout = cfg.QueryTimeout
	}
	if !q["max_open_conns"] {
		opts.MaxOpenConns = cfg.MaxOpenConns
	}
	if !q["max_idle_conns"] {
		opts.MaxIdleConns = min(5, opts.MaxOpenConns)
	}
	if cfg.TLS.enabled() {
		tc, err := tlsConfig(cfg.TLS)
		if err != nil {
			return nil, err
		}
		opts.TLS = tc
	}
	opts.ClientInfo.Products = append(opts.ClientInfo.Products, struct{ Name, Version string }{"faultline", "0"})
	return opts, nil
}

// queryOf returns which options the URL sets.
func queryOf(dsn string) map[string]bool {
	out := map[string]bool{}
	_, query, ok := strings.Cut(dsn, "?")
	if !ok {
		return out
	}
	for _, kv := range strings.Split(query, "&") {
		k, _, _ := strings.Cut(kv, "=")
		out[k] = true
	}
	return out
}

func tlsConfig(c TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // opt-in, documented as testing only
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("store: TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("store: TLS CA file %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("store: TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (t *nativeTransport) exec(ctx context.Context, query string) error {
	return t.retry(ctx, func() error { return t.conn.Exec(ctx, query) })
}

func (t *nativeTransport) query(ctx context.Context, dest any, query string) error {
	return t.retry(ctx, func() error { return t.conn.Select(ctx, dest, query) })
}

func (t *nativeTransport) insert(ctx context.Context, table string, cols []string, rows [][]any) error {
	// 18.16 needs the explicit column list.
	var batch driver.Batch
	if err := t.retry(ctx, func() error {
		var err error
		batch, err = t.conn.PrepareBatch(ctx, "INSERT INTO "+table+" ("+quoteCols(cols)+")")
		return err
	}); err != nil {
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

// retry runs f, and runs it again after a network failure, up to
// t.retries more times, waiting 100 ms, 200 ms, 400 ms... (with jitter, at
// most 5 s) in between.
func (t *nativeTransport) retry(ctx context.Context, f func() error) error {
	wait := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || attempt >= t.retries || !transient(err) || ctx.Err() != nil {
			return err
		}
		d := wait/2 + rand.N(wait)
		t.log.Debug("clickhouse unreachable; retrying", "err", err, "attempt", attempt+1, "retry_in", d)
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// transient reports whether err is a network failure worth retrying, as
// opposed to an error the server returned for the statement.
func transient(err error) bool {
	if errors.Is(err, clickhouse.ErrAcquireConnTimeout) {
		return true // the pool could not connect within the dial timeout
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		switch ex.Code {
		case 159, // TIMEOUT_EXCEEDED
			202, // TOO_MANY_SIMULTANEOUS_QUERIES
			209, // SOCKET_TIMEOUT
			210, // NETWORK_ERROR
			242, // TABLE_IS_READ_ONLY (a replica lost ZooKeeper)
			999: // KEEPER_EXCEPTION
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
