package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestReleasesMigrateFromSchema8 writes releases and an Airbrake deploy as
// Faultline did before migration 9, migrates, and reads them as an
// organization's releases and deploys.
func TestReleasesMigrateFromSchema8(t *testing.T) {
	enginesAt(t, 8, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
		if err := s.InsertReleases(ctx, []Release{
			{ProjectID: 1, Version: "1.0", FirstSeen: base},
			{ProjectID: 2, Version: "1.0", FirstSeen: base.Add(time.Minute)},
			{ProjectID: 1, Version: "abc", FirstSeen: base.Add(2 * time.Minute)},
		}); err != nil {
			t.Fatal(err)
		}
		// The deploys table as schema 7 made it.
		if err := s.t.insert(ctx, s.table("deploys"), deployCols[:9], [][]any{{uint64(1), "1.0",
			"0123456789abcdef0123456789abcdef", "production", "deadbeef", "git@x:y.git", "ann", "ann@example.com", base}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil { // idempotent
			t.Fatal(err)
		}
		rels, err := s.ListReleases(ctx, 10, []uint64{1, 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(rels) != 2 || rels[0].Version != "abc" || rels[1].Version != "1.0" {
			t.Fatalf("releases = %+v", rels)
		}
		if r := rels[1]; !r.DateCreated.Equal(base) || len(r.Projects) != 2 || r.Projects[1].ProjectID != 2 ||
			!r.Projects[1].DateAdded.Equal(base.Add(time.Minute)) {
			t.Errorf("1.0 = %+v", r)
		}
		deps, err := s.ListDeploys(ctx, []uint64{1}, "1.0")
		if err != nil {
			t.Fatal(err)
		}
		if len(deps) != 1 || deps[0].Environment != "production" || deps[0].Name != "" || !deps[0].DateStarted.IsZero() {
			t.Errorf("deploys = %+v", deps)
		}
	})
}

// TestReleasesModel creates, updates, deletes releases and sets their
// commits, repositories and deploys on both engines.
func TestReleasesModel(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		ref := "main"
		if err := s.SaveRelease(ctx, 10, "2.0", []uint64{1, 2}, []uint64{1, 2}, ReleaseUpdate{Ref: &ref}, now); err != nil {
			t.Fatal(err)
		}
		rel := now.Add(time.Minute)
		if err := s.SaveRelease(ctx, 10, "2.0", nil, []uint64{1, 2}, ReleaseUpdate{DateReleased: &rel}, now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		r, err := s.GetRelease(ctx, 10, []uint64{1, 2}, "2.0")
		if err != nil || r == nil {
			t.Fatalf("get = %+v, %v", r, err)
		}
		if r.Ref != "main" || !r.DateReleased.Equal(rel) || !r.DateCreated.Equal(now) || len(r.Projects) != 2 {
			t.Errorf("2.0 = %+v", r)
		}
		// Another organization does not see it; a project filter narrows.
		if r, _ := s.GetRelease(ctx, 11, []uint64{3}, "2.0"); r != nil {
			t.Errorf("another organization's 2.0 = %+v", r)
		}
		if r, _ := s.GetRelease(ctx, 10, []uint64{2}, "2.0"); r == nil || r.Ref != "main" {
			t.Errorf("2.0 in project 2 = %+v", r)
		}

		// A release events named first keeps their date when finalized.
		seen := now.Add(-time.Hour)
		if err := s.InsertReleases(ctx, []Release{{ProjectID: 1, Version: "seen", FirstSeen: seen}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveRelease(ctx, 10, "seen", nil, []uint64{1, 2}, ReleaseUpdate{DateReleased: &rel}, now); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.GetRelease(ctx, 10, []uint64{1, 2}, "seen"); r == nil || !r.DateCreated.Equal(seen) || !r.DateReleased.Equal(rel) {
			t.Errorf("finalized implicit release = %+v", r)
		}

		// Commits: the latest set replaces the earlier one.
		c1 := []Commit{{ID: "a1", Repository: "acme/web", Message: "one", AuthorName: "Ann", AuthorEmail: "ann@example.com",
			Timestamp: now, Files: []CommitFile{{Path: "main.go", Type: "M"}}}}
		if err := s.SetReleaseCommits(ctx, 10, "2.0", c1, now); err != nil {
			t.Fatal(err)
		}
		c2 := []Commit{{ID: "b2", Repository: "acme/web", Message: "two"}, {ID: "b1", Repository: "acme/web", Message: "it's \\ one"}}
		if err := s.SetReleaseCommits(ctx, 10, "2.0", c2, now); err != nil {
			t.Fatal(err)
		}
		cs, err := s.ReleasesCommits(ctx, 10, []string{"2.0", "none"})
		if err != nil {
			t.Fatal(err)
		}
		if got := cs["2.0"]; len(got) != 2 || got[0].ID != "b2" || got[1].Message != "it's \\ one" || len(cs) != 1 {
			t.Errorf("commits = %+v", cs)
		}
		if err := s.SetReleaseCommits(ctx, 10, "2.0", nil, now); err != nil {
			t.Fatal(err)
		}
		if cs, _ := s.ReleasesCommits(ctx, 10, []string{"2.0"}); len(cs["2.0"]) != 0 {
			t.Errorf("cleared commits = %+v", cs)
		}

		// Repositories.
		if err := s.SaveRepositories(ctx, []Repository{{OrgID: 10, Name: "acme/web", Provider: "git"}}, now); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveRepositories(ctx, []Repository{{OrgID: 10, Name: "acme/web", URL: "https://x/acme/web"}}, now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		repos, err := s.Repositories(ctx, 10)
		if err != nil || len(repos) != 1 || repos[0].URL != "https://x/acme/web" || !repos[0].DateCreated.Equal(now) {
			t.Errorf("repositories = %+v, %v", repos, err)
		}

		// Deploys with Sentry's fields.
		if err := s.InsertDeploys(ctx, []Deploy{{ProjectID: 1, Version: "2.0", DeployID: "0123456789abcdef0123456789abcdef",
			Environment: "staging", Name: "d1", URL: "https://ci/1", DateStarted: now.Add(-time.Minute), DateFinished: now}}); err != nil {
			t.Fatal(err)
		}
		ds, err := s.ReleasesDeploys(ctx, []uint64{1, 2}, []string{"2.0"})
		if err != nil || len(ds["2.0"]) != 1 || ds["2.0"][0].Name != "d1" || !ds["2.0"][0].DateStarted.Equal(now.Add(-time.Minute).Truncate(time.Second)) {
			t.Errorf("deploys = %+v, %v", ds, err)
		}

		// Deleting hides it; creating it again brings it back, new.
		if err := s.DeleteRelease(ctx, 10, "2.0", now.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.GetRelease(ctx, 10, []uint64{1, 2}, "2.0"); r != nil {
			t.Errorf("deleted 2.0 = %+v", r)
		}
		later := now.Add(3 * time.Second)
		if err := s.SaveRelease(ctx, 10, "2.0", []uint64{1}, []uint64{1, 2}, ReleaseUpdate{}, later); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.GetRelease(ctx, 10, []uint64{1, 2}, "2.0"); r == nil || r.Ref != "" || !r.DateCreated.Equal(later) {
			t.Errorf("2.0 again = %+v", r)
		}
	})
}

// TestReleaseOrder checks Sentry's release order on both engines: by
// date added, or by semantic version when the latest releases follow it;
// the latest release and which releases come after a resolution's.
func TestReleaseOrder(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
		add := func(pid uint64, vs ...string) {
			for i, v := range vs {
				if err := s.InsertReleases(ctx, []Release{{ProjectID: pid, Version: v, FirstSeen: base.Add(time.Duration(i) * time.Minute)}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		add(1, "1.10.0", "1.2.0", "1.9.0-rc1", "1.9.0") // semver: added out of order
		add(2, "b", "c", "a")                           // not semver: by date added
		for _, c := range []struct {
			pid  uint64
			want []string
		}{
			{1, []string{"1.2.0", "1.9.0-rc1", "1.9.0", "1.10.0"}},
			{2, []string{"b", "c", "a"}},
			{3, []string{}},
		} {
			got, err := s.ProjectReleaseOrder(ctx, c.pid)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Errorf("project %d order = %v, want %v", c.pid, got, c.want)
			}
		}
		if l, err := s.LatestRelease(ctx, 1); err != nil || l != "1.10.0" {
			t.Errorf("latest of 1 = %q, %v", l, err)
		}
		if l, _ := s.LatestRelease(ctx, 2); l != "a" {
			t.Errorf("latest of 2 = %q", l)
		}
		after, err := s.ReleasesAfter(ctx, 1, "1.9.0", []string{"1.2.0", "1.9.0", "1.10.0", "1.9.1", "1.0.0", ""})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"1.2.0": false, "1.9.0": false, "1.10.0": true, "1.9.1": true, "1.0.0": false}
		for v, w := range want {
			if after[v] != w {
				t.Errorf("after 1.9.0: %s = %v, want %v", v, after[v], w)
			}
		}
		after, _ = s.ReleasesAfter(ctx, 2, "c", []string{"b", "a", "new"})
		if after["b"] || !after["a"] || !after["new"] {
			t.Errorf("after c = %v", after)
		}
	})
}
