package meta_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/meta"
)

// TestRulesAndPlugins: a new project gets the default rule; rules and the
// WebHooks plugin reach another process's cache; fields this version does
// not know survive; a deleted rule is gone everywhere.
func TestRulesAndPlugins(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	m := openMeta(t, q)
	org, _ := m.CreateOrganization(ctx, "Acme", "acme", 0)
	team, _ := m.CreateTeam(ctx, org, "T", "t")
	p, _, err := m.CreateProject(ctx, team, "P", "p", "go")
	if err != nil {
		t.Fatal(err)
	}
	rules := m.Rules(p.ID)
	if len(rules) != 1 || rules[0].Name != "Send a notification for new issues" || rules[0].Frequency != 30 {
		t.Fatalf("a new project's rules: %+v", rules)
	}
	future := json.RawMessage(`{"id":"sentry.rules.conditions.first_seen_event.FirstSeenEventCondition","futureField":{"a":1}}`)
	r, err := m.CreateRule(ctx, &meta.Rule{ProjectID: p.ID, Name: "mine", ActionMatch: "any", Frequency: 5,
		Conditions: []json.RawMessage{future}, Actions: []json.RawMessage{json.RawMessage(`{"id":"faultline.actions.slack","webhookUrl":"https://x"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetWebhookPlugin(ctx, &meta.WebhookPlugin{ProjectID: p.ID, Enabled: true, URLs: []string{"https://a", "https://b"}, Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	// Another process loads them from the bucket.
	other := openMeta(t, q)
	got, ok := other.Rule(p.ID, r.ID)
	if !ok || got.Name != "mine" || !strings.Contains(string(got.Conditions[0]), `"futureField":{"a":1}`) {
		t.Fatalf("the other process's copy: %+v", got)
	}
	if _, ok := other.Rule(p.ID+1, r.ID); ok {
		t.Fatal("a rule is visible under another project")
	}
	urls, secret, enabled := other.WebhookPlugin(p.ID)
	if !slices.Equal(urls, []string{"https://a", "https://b"}) || secret != "s" || !enabled {
		t.Fatalf("plugin: %v %q %v", urls, secret, enabled)
	}
	if urls, _, enabled := other.WebhookPlugin(p.ID + 1); len(urls) != 0 || enabled {
		t.Fatal("an unconfigured project has a plugin")
	}
	cp := *got
	cp.Name = "renamed"
	if err := m.UpdateRule(ctx, &cp); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteRule(ctx, p.ID, rules[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteRule(ctx, p.ID, rules[0].ID); err == nil {
		t.Fatal("deleted twice")
	}
	third := openMeta(t, q)
	if left := third.Rules(p.ID); len(left) != 1 || left[0].Name != "renamed" {
		t.Fatalf("after update and delete: %+v", left)
	}
	// Deleting the project deletes its rules and plugin.
	if err := m.DeleteProject(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	fourth := openMeta(t, q)
	if left := fourth.Rules(p.ID); len(left) != 0 {
		t.Fatalf("rules outlived their project: %+v", left)
	}
	if urls, _, _ := fourth.WebhookPlugin(p.ID); len(urls) != 0 {
		t.Fatal("the plugin outlived its project")
	}
}

// TestIssueOwners: the owners of a project's issues are the joined
// members of its teams, once each; not other teams' members, nor pending
// invitations.
func TestIssueOwners(t *testing.T) {
	ctx := context.Background()
	m := openMeta(t, openQueue(t))
	ann, err := m.CreateUser(ctx, "ann@example.com", "Ann", "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := m.CreateUser(ctx, "bob@example.com", "Bob", "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	org, _ := m.CreateOrganization(ctx, "Acme", "acme", ann.ID)
	web, _ := m.CreateTeam(ctx, org, "Web", "web")
	ops, _ := m.CreateTeam(ctx, org, "Ops", "ops")
	p, _, err := m.CreateProject(ctx, web, "P", "p", "go")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.IssueOwners(p.ID, "", 0); len(got) != 0 {
		t.Fatalf("owners before anyone joined the team: %v", got)
	}
	am, _ := m.MemberByUser(org.ID, ann.ID)
	if _, err := m.UpdateMember(ctx, org.ID, am.ID, func(mm *meta.Member) error {
		mm.Teams = []uint64{web.ID, ops.ID}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.InviteMember(ctx, org.ID, "carol@example.com", "member", []uint64{web.ID}); err != nil {
		t.Fatal(err)
	}
	_ = bob
	got := m.IssueOwners(p.ID, "", 0)
	if len(got) != 1 || got[0].ID != ann.ID {
		t.Fatalf("owners = %+v, want Ann only", got)
	}
	if m.IssueOwners(p.ID+100, "", 0) != nil {
		t.Fatal("an unknown project has owners")
	}

	// An assignee comes first: a user (a joined member), or a team's
	// joined members; an assignee who is not (or no longer) a member, or
	// an empty team, falls back to the project's teams.
	// Inviting a user who has an account makes them a member at once.
	if bm, _, err := m.InviteMember(ctx, org.ID, "bob@example.com", "member", []uint64{ops.ID}); err != nil || bm.Pending {
		t.Fatal(bm, err)
	}
	for _, c := range []struct {
		name string
		kind string
		id   uint64
		want []uint64
	}{
		{"assigned to Bob", meta.AssigneeUser, bob.ID, []uint64{bob.ID}},
		{"assigned to Ops", meta.AssigneeTeam, ops.ID, []uint64{ann.ID, bob.ID}},
		{"assigned to a stranger", meta.AssigneeUser, bob.ID + 1000, []uint64{ann.ID}},
		{"assigned to an unknown team", meta.AssigneeTeam, ops.ID + 1000, []uint64{ann.ID}},
	} {
		var ids []uint64
		for _, u := range m.IssueOwners(p.ID, c.kind, c.id) {
			ids = append(ids, u.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("%s: owners %v, want %v", c.name, ids, c.want)
		}
	}
}
