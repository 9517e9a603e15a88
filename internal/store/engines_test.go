package store

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// engines runs f against every ClickHouse engine: embedded chDB (26.x) and
// a ClickHouse server (18.16 in CI). Each run gets a fresh database.
func engines(t *testing.T, f func(t *testing.T, s *Store)) {
	t.Run("chdb", func(t *testing.T) {
		lib := testenv.CHDBLib(t)
		s := openTestStore(t, Config{Path: t.TempDir(), CHDBLib: lib})
		f(t, s)
	})
	t.Run("server", func(t *testing.T) {
		u := testenv.ClickHouseURL(t)
		db := fmt.Sprintf("faultline_test_%d", rand.Uint64())
		s := openTestStore(t, Config{URL: u, Database: db})
		t.Cleanup(func() { s.t.exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(db)) })
		f(t, s)
	})
}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testNow is the current time at the precision events are stored.
func testNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func openTestStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}
