package process_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/store"
	"github.com/faultline/faultline/internal/testenv"
)

// TestResolvedInNextReleaseFollowsReleaseOrder resolves an issue in the
// next release of a project whose versions follow semver, on chDB and on
// the ClickHouse server: an event of a release first seen after the
// resolution but older by version keeps it resolved; one of a newer
// version regresses it.
func TestResolvedInNextReleaseFollowsReleaseOrder(t *testing.T) {
	for _, engine := range []string{"chdb", "server"} {
		t.Run(engine, func(t *testing.T) {
			r := newRig(t)
			if engine == "server" {
				ctx := context.Background()
				db := fmt.Sprintf("faultline_test_%d", rand.Uint64())
				s, err := store.Open(ctx, store.Config{URL: testenv.ClickHouseURL(t), Database: db}, r.log)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				r.s = s
			}
			gid := r.send(t, 1, `,"release":"shop@1.10.0"`)
			r.send(t, 2, `,"release":"shop@1.2.0"`)
			latest, err := r.s.LatestRelease(context.Background(), r.project.ID)
			if err != nil || latest != "shop@1.10.0" {
				t.Fatalf("latest release = %q, %v", latest, err)
			}
			// As the API resolves in the next release.
			r.setStatus(t, gid, store.StatusResolved, `{"inNextRelease":true,"releaseAtResolution":"shop@1.10.0"}`)
			r.send(t, 3, `,"release":"shop@1.9.0"`) // new, but before 1.10.0
			r.send(t, 4, `,"release":"shop@1.10.0"`)
			r.send(t, 5, "")
			expectState(t, r.state(t, gid), store.StatusResolved, "")
			r.send(t, 6, `,"release":"shop@1.11.0"`)
			expectState(t, r.state(t, gid), store.StatusUnresolved, process.SubstatusRegressed)
		})
	}
}
