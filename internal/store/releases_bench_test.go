package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// BenchmarkReleaseList measures what a page of the release list costs on
// chDB for an organization with 2,000 releases and 10,000 issues seen in
// them (50,000 events): the release list, then commits, deploys and
// event statistics for a page of 25.
//
//	go test ./internal/store/ -run XXX -bench BenchmarkReleaseList -benchtime 20x
func BenchmarkReleaseList(b *testing.B) {
	s := openTestStore(b, Config{Path: b.TempDir(), CHDBLib: testenv.CHDBLib(b)})
	ctx := context.Background()
	base := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second)
	var rels []Release
	for i := 0; i < 2000; i++ {
		rels = append(rels, Release{ProjectID: 1, Version: fmt.Sprintf("1.%d.0", i), FirstSeen: base.Add(time.Duration(i) * time.Second)})
	}
	if err := s.InsertReleases(ctx, rels); err != nil {
		b.Fatal(err)
	}
	var evs []Event
	for i := 0; i < 50000; i++ {
		e := ev(1, uint64(i%10000)+1, i, base.Add(time.Duration(i)*time.Second), "prod", "")
		e.Release = fmt.Sprintf("1.%d.0", (i/7)%2000)
		evs = append(evs, e)
	}
	if err := s.InsertEvents(ctx, evs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		list, err := s.ListReleases(ctx, 1, []uint64{1})
		if err != nil || len(list) != 2000 {
			b.Fatalf("%d releases, %v", len(list), err)
		}
		var page []string
		for _, r := range list[:25] {
			page = append(page, r.Version)
		}
		if _, err := s.ReleasesCommits(ctx, 1, page); err != nil {
			b.Fatal(err)
		}
		if _, err := s.ReleasesDeploys(ctx, []uint64{1}, page); err != nil {
			b.Fatal(err)
		}
		if _, err := s.ReleaseStats(ctx, []uint64{1}, page); err != nil {
			b.Fatal(err)
		}
	}
}
