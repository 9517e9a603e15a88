package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/faultline/faultline/internal/testenv"
)

func allVersions() []int {
	var out []int
	for _, m := range migrations {
		out = append(out, m.version)
	}
	return out
}

func TestMigrateIsIdempotent(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := s.Migrations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := allVersions(); !slices.Equal(got, want) {
			t.Fatalf("migrations = %v, want %v", got, want)
		}
	})
}

// TestMigrateConcurrently runs several migrators against one fresh
// database at once, as several `faultline serve` processes starting
// together do: all succeed and the schema is complete.
func TestMigrateConcurrently(t *testing.T) {
	u := testenv.ClickHouseURL(t)
	db := fmt.Sprintf("faultline_test_%d", rand.Uint64())
	ctx := context.Background()
	var stores []*Store
	for i := 0; i < 4; i++ {
		s, err := Open(ctx, Config{URL: u, Database: db}, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	t.Cleanup(func() { stores[0].t.exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(db)) })
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Migrate(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
	}
	got, err := stores[0].Migrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := allVersions(); !slices.Equal(got, want) {
		t.Fatalf("migrations = %v, want %v", got, want)
	}
	// The schema works: an event goes in and its aggregate comes out.
	if err := stores[1].InsertEvents(ctx, []Event{ev(1, 1, 0, testNow(), "prod", "u")}); err != nil {
		t.Fatal(err)
	}
	page, err := stores[2].ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{1}})
	if err != nil || len(page.Issues) != 1 || page.Issues[0].TimesSeen != 1 {
		t.Fatalf("issues = %+v, %v", page.Issues, err)
	}
}

// TestEmbeddedDirIsLocked: a second opener of an embedded data directory
// is told clearly that it is in use, and may open it once it is released.
func TestEmbeddedDirIsLocked(t *testing.T) {
	lib := testenv.CHDBLib(t)
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Config{Path: dir, CHDBLib: lib}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, Config{Path: dir, CHDBLib: lib}, quietLog()); !errors.Is(err, ErrEmbeddedInUse) {
		s.Close()
		t.Fatalf("second open: %v, want ErrEmbeddedInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, Config{Path: dir, CHDBLib: lib}, quietLog())
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s.Close()
}

// TestAlterIsIdempotent: an ALTER that adds columns, interrupted after its
// first column, completes when run again; running it once more is a no-op.
func TestAlterIsIdempotent(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.execDDL(ctx, s.sql("CREATE TABLE IF NOT EXISTS {db}.alt (a UInt8) ENGINE = MergeTree() ORDER BY a")); err != nil {
			t.Fatal(err)
		}
		if err := s.execDDL(ctx, s.sql("ALTER TABLE {db}.alt ADD COLUMN b String")); err != nil {
			t.Fatal(err)
		}
		both := s.sql("ALTER TABLE {db}.alt ADD COLUMN b String, ADD COLUMN c UInt32 DEFAULT 7")
		for i := 0; i < 2; i++ {
			if err := s.execDDL(ctx, both); err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
		}
		drop := s.sql("ALTER TABLE {db}.alt DROP COLUMN c")
		for i := 0; i < 2; i++ {
			if err := s.execDDL(ctx, drop); err != nil {
				t.Fatalf("drop run %d: %v", i, err)
			}
		}
		var cols []struct {
			Name string `ch:"name"`
		}
		if err := s.t.query(ctx, &cols, "SELECT name FROM system.columns WHERE database = "+str(s.db)+" AND table = 'alt' ORDER BY name"); err != nil {
			t.Fatal(err)
		}
		if len(cols) != 2 || cols[0].Name != "a" || cols[1].Name != "b" {
			t.Errorf("columns %+v, want a, b", cols)
		}
		// A real error still fails.
		if err := s.execDDL(ctx, s.sql("ALTER TABLE {db}.alt ADD COLUMN d NoSuchType")); err == nil {
			t.Error("a bad ALTER succeeded")
		}
	})
}
