package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/testenv"
)

// TestStrandedDatabaseRefused: a URL naming a database without tables,
// while the tables of an older version sit in the database that version
// used (it ignored the URL's path), refuses to start instead of showing
// an empty tracker; naming the database with the flag opens it.
func TestStrandedDatabaseRefused(t *testing.T) {
	u := testenv.ClickHouseURL(t)
	ctx := context.Background()
	legacy := fmt.Sprintf("faultline_test_legacy_%d", rand.Uint64())
	empty := fmt.Sprintf("faultline_test_url_%d", rand.Uint64())
	old := openTestStore(t, Config{URL: u, Database: legacy})
	t.Cleanup(func() {
		for _, db := range []string{legacy, empty} {
			old.t.exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(db)) //nolint:errcheck
		}
	})
	_, err := Open(ctx, Config{URL: u + "/" + empty, legacyDatabase: legacy}, quietLog())
	if err == nil || !strings.Contains(err.Error(), "has no Faultline tables") || !strings.Contains(err.Error(), legacy) {
		t.Fatalf("Open on an empty URL database beside the old tables = %v, want a refusal naming %s", err, legacy)
	}
	s, err := Open(ctx, Config{URL: u, Database: legacy, legacyDatabase: legacy}, quietLog())
	if err != nil {
		t.Fatalf("the flag naming the old database: %v", err)
	}
	s.Close()
	// Once the URL's database has the tables, the URL alone opens it.
	openTestStore(t, Config{URL: u, Database: empty})
	s, err = Open(ctx, Config{URL: u + "/" + empty, legacyDatabase: legacy}, quietLog())
	if err != nil {
		t.Fatalf("URL database with tables: %v", err)
	}
	s.Close()
}
