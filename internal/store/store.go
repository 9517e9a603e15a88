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
	"regexp"
	"strconv"
	"strings"
)

// Config selects and tunes the engine.
type Config struct {
	// URL is a ClickHouse server DSN (clickhouse://user:pass@host:9000/db).
	// Empty selects embedded chDB in Path.
	URL string
	// Path is chDB's data directory.
	Path string
	// CHDBLib is libchdb.so; empty searches the usual places.
	CHDBLib string
	// Database holds Faultline's tables; default "faultline".
	Database string
	// EmbeddedSettings are chDB server settings (e.g. max_server_memory_usage).
	EmbeddedSettings map[string]string
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	if c.Database == "" {
		c.Database = "faultline"
	}
	if !identRE.MatchString(c.Database) {
		return fmt.Errorf("store: invalid database name %q", c.Database)
	}
	if c.URL == "" && c.Path == "" {
		return errors.New("store: need a ClickHouse URL or an embedded data path")
	}
	return nil
}

// Store is the ClickHouse-backed event and issue store. It is safe for
// concurrent use.
type Store struct {
	t       transport
	db      string
	version Version
	log     *slog.Logger
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
		t, err = openNative(ctx, cfg)
	} else {
		t, err = openCHDB(cfg)
	}
	if err != nil {
		return nil, err
	}
	s := &Store{t: t, db: cfg.Database, log: log}
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
	engine := "clickhouse-server"
	if cfg.URL == "" {
		engine = "chdb"
	}
	log.Info("clickhouse connected", "engine", engine, "version", s.version.String(), "database", s.db)
	return s, nil
}

// Close releases the engine.
func (s *Store) Close() error { return s.t.close() }

// Ping reports whether the engine answers.
func (s *Store) Ping(ctx context.Context) error { return s.t.ping(ctx) }

// Version is the engine's version, used to pick features.
func (s *Store) Version() Version { return s.version }

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
