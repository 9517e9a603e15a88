package meta_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
)

// TestMigrateDefaultRules: from the metadata an earlier version wrote, a
// project without rules and without the migration's record gets the
// default rule once; a project with rules keeps them; a project whose
// default rule its users deleted after the migration does not get it
// back; a claim left by a crash is finished; two processes migrating at
// once give one rule.
func TestMigrateDefaultRules(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	m1 := openMeta(t, q)
	kv, err := q.JetStream().KeyValue(ctx, "faultline-meta")
	if err != nil {
		t.Fatal(err)
	}
	org, _ := m1.CreateOrganization(ctx, "Acme", "acme", 0)
	team, _ := m1.CreateTeam(ctx, org, "Team", "team")
	project := func(m *meta.Store, slug string) *meta.Project {
		p, _, err := m.CreateProject(ctx, team, slug, slug, "go")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	marker := func(p *meta.Project) string { return "migrations.defaultrule." + strconv.FormatUint(p.ID, 10) }
	// What earlier versions left: a project from before alert rules (no
	// rule, no record), one from the version that gave new projects the
	// default rule (no record), one whose users replaced it by their own.
	before, withDefault, custom, crashed := project(m1, "before"), project(m1, "default"), project(m1, "custom"), project(m1, "crashed")
	for _, p := range []*meta.Project{before, withDefault, custom, crashed} {
		if err := kv.Delete(ctx, marker(p)); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*meta.Project{before, crashed} {
		for _, r := range m1.Rules(p.ID) {
			if err := m1.DeleteRule(ctx, p.ID, r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	own := meta.DefaultRule(custom.ID)
	own.Name = "their own"
	if _, err := m1.CreateRule(ctx, own); err != nil {
		t.Fatal(err)
	}
	if err := m1.DeleteRule(ctx, custom.ID, m1.Rules(custom.ID)[0].ID); err != nil {
		t.Fatal(err)
	}
	// A crash after the claim, before the rule was written.
	reserved, err := m1.NextID(ctx, "rule")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, marker(crashed), []byte(strconv.FormatUint(reserved, 10))); err != nil {
		t.Fatal(err)
	}
	m1.Close()

	m2 := openMeta(t, q) // the migration runs at start
	check := func(m *meta.Store, p *meta.Project, names ...string) {
		t.Helper()
		rs := m.Rules(p.ID)
		var got []string
		for _, r := range rs {
			got = append(got, r.Name)
		}
		if len(got) != len(names) {
			t.Fatalf("project %s: rules %q, want %q", p.Slug, got, names)
		}
		for i := range names {
			if got[i] != names[i] {
				t.Fatalf("project %s: rules %q, want %q", p.Slug, got, names)
			}
		}
	}
	def := meta.DefaultRule(0).Name
	check(m2, before, def)
	check(m2, withDefault, def)
	check(m2, custom, "their own")
	check(m2, crashed, def)
	if r := m2.Rules(crashed.ID)[0]; r.ID != reserved {
		t.Errorf("the crashed claim's rule has id %d, want the reserved %d", r.ID, reserved)
	}
	// The users delete the default rule: it stays deleted.
	if err := m2.DeleteRule(ctx, before.ID, m2.Rules(before.ID)[0].ID); err != nil {
		t.Fatal(err)
	}
	if n, err := m2.MigrateDefaultRules(ctx); err != nil || n != 0 {
		t.Fatalf("second run: %d, %v", n, err)
	}
	m2.Close()
	m3 := openMeta(t, q)
	check(m3, before)
	check(m3, withDefault, def)

	// Two processes at once, on a project from before alert rules.
	m4 := openMeta(t, q)
	race := project(m3, "race")
	kv.Delete(ctx, marker(race))                         //nolint:errcheck
	m3.DeleteRule(ctx, race.ID, m3.Rules(race.ID)[0].ID) //nolint:errcheck
	deadline := time.Now().Add(5 * time.Second)
	for len(m4.Rules(race.ID)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // m4's cache catches up
	}
	var wg sync.WaitGroup
	total := make([]int, 2)
	for i, m := range []*meta.Store{m3, m4} {
		wg.Go(func() {
			n, err := m.MigrateDefaultRules(ctx)
			if err != nil {
				t.Error(err)
			}
			total[i] = n
		})
	}
	wg.Wait()
	if total[0]+total[1] != 1 {
		t.Errorf("two processes gave %d default rules", total[0]+total[1])
	}
	m3.Close()
	m5 := openMeta(t, q)
	check(m5, race, def)
}
