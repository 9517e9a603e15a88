// Package store keeps events and issue state in ClickHouse and answers every
// read. One implementation, in SQL that ClickHouse 18.16 and 26.x both run,
// sits on two transports: embedded chDB (the default) and ClickHouse servers
// through clickhouse-go's native protocol.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config selects and tunes the engine.
type Config struct {
	// URL is a ClickHouse server DSN (clickhouse://user:pass@host:9000/db,
	// several hosts as host1:9000,host2:9000). It also takes clickhouse-go's
	// options: dial_timeout, read_timeout, max_open_conns, max_idle_conns,
	// conn_max_lifetime, secure, skip_verify and any server setting. Empty
	// selects embedded chDB in Path.
	URL string
	// Path is chDB's data directory.
	Path string
	// CHDBLib is libchdb.so; empty searches the usual places.
	CHDBLib string
	// Database holds Faultline's tables: the flag's value when given,
	// else the database in URL's path, else "faultline". A flag and a URL
	// that name different databases are refused.
	Database string
	// NoCreateDatabase leaves a missing Database missing (an error at
	// Open). Otherwise Open creates it, through a first connection to the
	// server's "default" database, since the handshake fails on a database
	// that does not exist yet. Set when nothing migrates.
	NoCreateDatabase bool
	// databaseFromURL: Database came from the URL's path (set by
	// Validate), which versions before 2026-12 ignored.
	databaseFromURL bool
	// legacyDatabase is where versions before 2026-12 put the tables
	// ("faultline"; tests change it).
	legacyDatabase string
	// EmbeddedSettings are chDB server settings (e.g. max_server_memory_usage).
	EmbeddedSettings map[string]string
	// Cluster names a cluster of the servers' remote_servers: tables are
	// created ON CLUSTER as Replicated tables behind Distributed ones (see
	// clusterDDL). Empty for a single server or chDB.
	Cluster string

	// MaxOpenConns bounds the connection pool to a server (default 10).
	MaxOpenConns int
	// DialTimeout bounds connecting to a server (default 5s).
	DialTimeout time.Duration
	// QueryTimeout bounds waiting for a server's answer (default 60s).
	QueryTimeout time.Duration
	// Retries is how many times a statement that failed on the network is
	// tried again, with exponential backoff from 100 ms (default 3; -1 for
	// none). Inserts are retried only when nothing was sent.
	Retries int
	// TLS configures encrypted connections to servers.
	TLS TLSConfig
	// Observer, when set, is told of every insert and every outcome
	// recorded (metrics).
	Observer Observer
}

// Observer is told what the store writes: each insert's table, time and
// error, and the outcomes recorded.
type Observer interface {
	ObserveInsert(table string, d time.Duration, err error)
	CountEvents(outcome, category string, projectID uint64, n int)
}

// observedTransport reports each insert to an Observer.
type observedTransport struct {
	transport
	obs Observer
}

func (t observedTransport) insert(ctx context.Context, table string, cols []string, rows [][]any) error {
	start := time.Now()
	err := t.transport.insert(ctx, table, cols, rows)
	t.obs.ObserveInsert(table, time.Since(start), err)
	return err
}

// TLSConfig configures TLS to ClickHouse servers (their tcp_port_secure,
// 9440 by default). Any field set turns TLS on; so does secure=true in the
// URL.
type TLSConfig struct {
	Enable bool
	// CAFile is a PEM bundle of the authorities to trust instead of the
	// system's.
	CAFile string
	// CertFile and KeyFile are a client certificate, for servers that
	// authenticate users by certificate.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
	// InsecureSkipVerify accepts any server certificate (testing only).
	InsecureSkipVerify bool
}

func (t TLSConfig) enabled() bool {
	return t.Enable || t.CAFile != "" || t.CertFile != "" || t.ServerName != "" || t.InsecureSkipVerify
}

var (
	identRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	clusterRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
)

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	urlDB, err := urlDatabase(c.URL)
	if err != nil {
		return err
	}
	switch {
	case c.Database == "" && urlDB != "":
		c.Database = urlDB
		c.databaseFromURL = true
	case c.Database == "":
		c.Database = "faultline"
	case urlDB != "" && urlDB != c.Database:
		return fmt.Errorf("store: --clickhouse-url names database %q but --clickhouse-database %q: give the database in one of them", urlDB, c.Database)
	}
	if !identRE.MatchString(c.Database) {
		return fmt.Errorf("store: invalid database name %q", c.Database)
	}
	if c.URL == "" && c.Path == "" {
		return errors.New("store: need a ClickHouse URL or an embedded data path")
	}
	if c.Cluster != "" {
		if c.URL == "" {
			return errors.New("store: --clickhouse-cluster needs ClickHouse servers (--clickhouse-url)")
		}
		if !clusterRE.MatchString(c.Cluster) {
			return fmt.Errorf("store: invalid cluster name %q", c.Cluster)
		}
	}
	if c.URL == "" && c.TLS.enabled() {
		return errors.New("store: TLS options need a ClickHouse server (--clickhouse-url)")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("store: a TLS client certificate needs both its certificate and its key file")
	}
	if c.MaxOpenConns <= 0 {
		c.MaxOpenConns = 10
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = 60 * time.Second
	}
	if c.Retries == 0 {
		c.Retries = 3
	}
	if c.Retries < 0 {
		c.Retries = 0
	}
	return nil
}

// urlDatabase returns the database in the path of a ClickHouse URL
// (clickhouse://host:9000/db), "" when it names none.
func urlDatabase(dsn string) (string, error) {
	if dsn == "" {
		return "", nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("store: clickhouse url: %w", redactURLError(err))
	}
	return strings.Trim(u.Path, "/"), nil
}

// redactURLError drops the URL (and so its password) from a parse error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Store is the ClickHouse-backed event and issue store. It is safe for
// concurrent use.
type Store struct {
	t        transport
	db       string
	cluster  string
	version  Version
	features Features
	log      *slog.Logger
	obs      Observer                // nil: none
	moveHook func(step string) error // tests: SetMoveHook
}

// Open connects to the engine that cfg selects and detects its version. It
// does not migrate; call Migrate.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	var (
		t   transport
		err error
	)
	if cfg.URL != "" {
		t, err = openNative(ctx, cfg, log)
	} else {
		t, err = openCHDB(cfg)
	}
	if err != nil {
		return nil, err
	}
	if cfg.Observer != nil {
		t = observedTransport{transport: t, obs: cfg.Observer}
	}
	s := &Store{t: t, db: cfg.Database, cluster: cfg.Cluster, log: log, obs: cfg.Observer}
	var rows []struct {
		V string `ch:"v"`
	}
	if err := t.query(ctx, &rows, "SELECT version() AS v"); err != nil {
		t.close()
		return nil, fmt.Errorf("store: %w", err)
	}
	if len(rows) == 1 {
		s.version = ParseVersion(rows[0].V)
	}
	s.features = FeaturesFor(s.version)
	if err := s.checkStrandedDatabase(ctx, cfg); err != nil {
		t.close()
		return nil, err
	}
	engine := "clickhouse-server"
	if cfg.URL == "" {
		engine = "chdb"
	}
	log.Info("clickhouse connected", "engine", engine, "version", s.version.String(), "database", s.db,
		"features", s.features.String(), "cluster", s.cluster)
	return s, nil
}

// Close releases the engine.
func (s *Store) Close() error { return s.t.close() }

// Ping reports whether the engine answers.
func (s *Store) Ping(ctx context.Context) error { return s.t.ping(ctx) }

// Version is the engine's version, used to pick features.
func (s *Store) Version() Version { return s.version }

// Features are the schema features the engine's version allows.
func (s *Store) Features() Features { return s.features }

// table returns a qualified table name.
func (s *Store) table(name string) string { return ident(s.db) + "." + ident(name) }

// Version is a ClickHouse version number.
type Version struct{ Major, Minor int }

// ParseVersion parses "18.16.1" or "26.5.1.1".
func ParseVersion(v string) Version {
	parts := strings.SplitN(v, ".", 3)
	var out Version
	if len(parts) > 0 {
		out.Major, _ = strconv.Atoi(parts[0])
	}
	if len(parts) > 1 {
		out.Minor, _ = strconv.Atoi(parts[1])
	}
	return out
}

// AtLeast reports whether v >= major.minor.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// checkStrandedDatabase refuses to start on an empty database named by the
// URL while Faultline's tables sit in "faultline": versions before 2026-12
// ignored the URL's database (clickhouse://host:9000/default put the tables
// in faultline), and honouring it silently would show an empty tracker and
// strand the stored events.
func (s *Store) checkStrandedDatabase(ctx context.Context, cfg Config) error {
	legacy := cfg.legacyDatabase
	if legacy == "" {
		legacy = "faultline"
	}
	if !cfg.databaseFromURL || cfg.Database == legacy {
		return nil
	}
	var rows []struct {
		DB string `ch:"database"`
	}
	q := "SELECT database FROM system.tables WHERE name = 'events' AND database IN (" +
		str(cfg.Database) + ", " + str(legacy) + ")"
	if err := s.t.query(ctx, &rows, q); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	inURL, inOld := false, false
	for _, r := range rows {
		inURL = inURL || r.DB == cfg.Database
		inOld = inOld || r.DB == legacy
	}
	if inOld && !inURL {
		return fmt.Errorf("store: --clickhouse-url names database %q, which has no Faultline tables, but database %q has them "+
			"(versions before 2026-12 ignored the URL's database): pass --clickhouse-database %s and drop the database from the URL, "+
			"or move the tables", cfg.Database, legacy, legacy)
	}
	return nil
}
