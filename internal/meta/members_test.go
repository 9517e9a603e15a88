package meta_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/meta"
)

// TestMemberMigration writes organizations the way the previous version
// did (a flat list of member user ids) straight into the bucket, opens the
// store, and checks that every listed user became an owner, that the flat
// list is gone and the rest of the organization kept, and that running the
// migration again (a restart, a second process) changes nothing.
func TestMemberMigration(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	kv, err := q.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "faultline-meta", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]string{
		"users.5":         `{"id":5,"email":"ada@example.com","name":"Ada","superuser":false,"dateCreated":"2026-01-02T03:04:05Z"}`,
		"users.6":         `{"id":6,"email":"bob@example.com","name":"Bob","superuser":false,"dateCreated":"2026-01-02T03:04:05Z"}`,
		"orgs.1":          `{"id":1,"slug":"acme","name":"Acme","dateCreated":"2026-01-02T03:04:05Z","members":[5,6]}`,
		"orgs.2":          `{"id":2,"slug":"beta","name":"Beta","dateCreated":"2026-01-02T03:04:05Z","members":[6],"status":"pending_deletion"}`,
		"orgs.3":          `{"id":3,"slug":"empty","name":"Empty","dateCreated":"2026-01-02T03:04:05Z"}`,
		"idx.org.acme":    "1",
		"idx.org.beta":    "2",
		"idx.org.empty":   "3",
		"idx.member.1.u6": "40", // an earlier run stopped after claiming
	}
	for k, v := range old {
		if _, err := kv.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(m *meta.Store) {
		t.Helper()
		cases := []struct {
			org, user uint64
			member    bool
		}{{1, 5, true}, {1, 6, true}, {2, 6, true}, {2, 5, false}, {3, 5, false}}
		for _, c := range cases {
			o, ok := m.OrganizationByID(c.org)
			if !ok {
				t.Fatalf("org %d lost", c.org)
			}
			if len(o.Members) != 0 {
				t.Errorf("org %d keeps its flat list %v", c.org, o.Members)
			}
			mb, ok := m.MemberByUser(c.org, c.user)
			if ok != c.member || o.HasMember(c.user) != c.member {
				t.Errorf("org %d user %d: member %v, HasMember %v, want %v", c.org, c.user, ok, o.HasMember(c.user), c.member)
				continue
			}
			if c.member && (mb.Role != "owner" || o.Role(c.user) != "owner" || mb.Pending) {
				t.Errorf("org %d user %d: %+v", c.org, c.user, mb)
			}
		}
		if n := len(m.Members(1)); n != 2 {
			t.Errorf("acme has %d memberships, want 2", n)
		}
		if mb, _ := m.MemberByUser(1, 6); mb == nil || mb.ID != 40 || mb.Email != "bob@example.com" {
			t.Errorf("the half-done claim was not taken over: %+v", mb)
		}
		e, err := kv.Get(ctx, "orgs.2")
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		if err := json.Unmarshal(e.Value(), &raw); err != nil {
			t.Fatal(err)
		}
		if _, ok := raw["members"]; ok || raw["status"] != "pending_deletion" || raw["name"] != "Beta" {
			t.Errorf("orgs.2 after migration: %s", e.Value())
		}
	}
	m1 := openMeta(t, q)
	check(m1)
	keys, _ := kv.Keys(ctx)
	m2 := openMeta(t, q)
	check(m2)
	keys2, _ := kv.Keys(ctx)
	if strings.Join(keys, ",") != strings.Join(keys2, ",") {
		t.Errorf("a second run changed the keys:\n%v\n%v", keys, keys2)
	}
}

func TestMembers(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	m := openMeta(t, q)
	admin, err := m.EnsureAdminToken(ctx, strings.Repeat("a", 40))
	if err != nil {
		t.Fatal(err)
	}
	org, err := m.CreateOrganization(ctx, "Acme", "acme", 77)
	if err != nil {
		t.Fatal(err)
	}
	creator, ok := m.MemberByUser(org.ID, 77)
	if !ok || creator.Role != "owner" || !org.HasMember(77) || org.Role(77) != "owner" {
		t.Fatalf("creator: %+v %v", creator, org)
	}
	// An existing user's e-mail (any case) joins at once.
	joined, token, err := m.InviteMember(ctx, org.ID, "ADMIN@localhost", "member", nil)
	if err != nil || token != "" || joined.Pending || joined.UserID != admin.ID || joined.Email != "admin@localhost" {
		t.Fatalf("existing user: %+v %q %v", joined, token, err)
	}
	if o, _ := m.OrganizationByID(org.ID); !o.HasMember(admin.ID) || o.Role(admin.ID) != "member" {
		t.Errorf("joined member not visible on the organization")
	}
	// Another e-mail is pending, with only the token's hash stored.
	pending, token, err := m.InviteMember(ctx, org.ID, "new@example.com", "admin", []uint64{3})
	if err != nil || !pending.Pending || token == "" || pending.InviteTokenHash != meta.HashToken(token) || pending.UserID != 0 {
		t.Fatalf("pending: %+v %q %v", pending, token, err)
	}
	for _, email := range []string{"admin@localhost", "NEW@example.com"} {
		if _, _, err := m.InviteMember(ctx, org.ID, email, "member", nil); !errors.Is(err, meta.ErrExists) {
			t.Errorf("second invitation of %s: %v", email, err)
		}
	}
	for _, bad := range []struct{ email, role string }{{"nobody", "member"}, {"", "member"}, {"x@y", "billing"}, {"a b@c", "member"}} {
		if _, _, err := m.InviteMember(ctx, org.ID, bad.email, bad.role, nil); !errors.Is(err, meta.ErrInvalid) {
			t.Errorf("%q %q: %v", bad.email, bad.role, err)
		}
	}
	// The last owner can be neither demoted nor removed.
	if _, err := m.UpdateMember(ctx, org.ID, creator.ID, func(mb *meta.Member) error { mb.Role = "manager"; return nil }); !errors.Is(err, meta.ErrLastOwner) {
		t.Errorf("demote the last owner: %v", err)
	}
	if err := m.RemoveMember(ctx, org.ID, creator.ID, nil); !errors.Is(err, meta.ErrLastOwner) {
		t.Errorf("remove the last owner: %v", err)
	}
	// A pending owner does not count.
	if _, err := m.UpdateMember(ctx, org.ID, pending.ID, func(mb *meta.Member) error { mb.Role = "owner"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveMember(ctx, org.ID, creator.ID, nil); !errors.Is(err, meta.ErrLastOwner) {
		t.Errorf("remove the last joined owner: %v", err)
	}
	// With a second owner, the first may go.
	if _, err := m.UpdateMember(ctx, org.ID, joined.ID, func(mb *meta.Member) error { mb.Role = "owner"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveMember(ctx, org.ID, creator.ID, nil); err != nil {
		t.Fatal(err)
	}
	if o, _ := m.OrganizationByID(org.ID); o.HasMember(77) {
		t.Error("removed member still sees the organization")
	}
	// An e-mail can be invited again once removed: the index key was freed.
	if err := m.RemoveMember(ctx, org.ID, pending.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.InviteMember(ctx, org.ID, "new@example.com", "member", nil); err != nil {
		t.Errorf("invite again: %v", err)
	}
	if _, err := m.UpdateMember(ctx, org.ID, 999999, func(*meta.Member) error { return nil }); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("update unknown: %v", err)
	}
	// Concurrent team changes are all kept (compare-and-set).
	var wg sync.WaitGroup
	for team := uint64(10); team < 18; team++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m.UpdateMember(ctx, org.ID, joined.ID, func(mb *meta.Member) error {
				mb.Teams = append(mb.Teams, team)
				return nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// A second process sees every change through its watch.
	m2 := openMeta(t, q)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mb, ok := m2.Member(org.ID, joined.ID)
		if ok && len(mb.Teams) == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second store sees %+v", mb)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if mb, _ := m.Member(org.ID, joined.ID); len(mb.Teams) != 8 {
		t.Errorf("teams after concurrent updates: %v", mb.Teams)
	}
	if o, _ := m2.OrganizationByID(org.ID); !o.HasMember(admin.ID) || o.HasMember(77) {
		t.Errorf("second store's organization: %+v", o)
	}
}

// TestOpenMembershipSetting: an organization written by the previous
// version (no openMembership field) reads as closed; the setting, once
// changed, is stored and survives a restart, and the organization keeps
// its members' roles.
func TestOpenMembershipSetting(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	kv, err := q.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "faultline-meta", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"users.5":      `{"id":5,"email":"ada@example.com","name":"Ada","superuser":false,"dateCreated":"2026-01-02T03:04:05Z"}`,
		"orgs.1":       `{"id":1,"slug":"acme","name":"Acme","dateCreated":"2026-01-02T03:04:05Z","members":[5]}`,
		"idx.org.acme": "1",
	} {
		if _, err := kv.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	m := openMeta(t, q)
	o, ok := m.OrganizationByID(1)
	if !ok || o.OpenMembership {
		t.Fatalf("organization of the previous version: %+v", o)
	}
	cp := *o
	cp.OpenMembership = true
	if err := m.UpdateOrganization(ctx, &cp); err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "orgs.1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(e.Value()), `"openMembership":true`) {
		t.Errorf("stored organization: %s", e.Value())
	}
	m2 := openMeta(t, q)
	o, ok = m2.OrganizationByID(1)
	if !ok {
		t.Fatal("organization lost after a restart")
	}
	if !o.OpenMembership || o.Role(5) != "owner" {
		t.Errorf("after a restart: %+v, role %q", o, o.Role(5))
	}
}

// TestLastOwnerUnderContention demotes and removes every owner of an
// organization at once, from two stores sharing the bucket (two nodes):
// all but one change pass, and the organization keeps exactly one owner.
func TestLastOwnerUnderContention(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	nodes := []*meta.Store{openMeta(t, q), openMeta(t, q)}
	m := nodes[0]
	const owners = 6
	for round := range 3 {
		org, err := m.CreateOrganization(ctx, "Race", fmt.Sprintf("race-%d", round), 1000)
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint64
		creator, _ := m.MemberByUser(org.ID, 1000)
		ids = append(ids, creator.ID)
		for i := 1; i < owners; i++ {
			u, err := m.CreateUser(ctx, fmt.Sprintf("owner%d-%d@example.com", round, i), "Owner", "a long enough password", false)
			if err != nil {
				t.Fatal(err)
			}
			mb, _, err := m.InviteMember(ctx, org.ID, u.Email, "owner", nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, mb.ID)
		}
		// Both nodes see every owner before the race starts.
		for _, n := range nodes {
			for deadline := time.Now().Add(10 * time.Second); len(n.Members(org.ID)) < owners; {
				if time.Now().After(deadline) {
					t.Fatal("the second node never saw the owners")
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, owners)
		start := make(chan struct{})
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := nodes[i%2]
				<-start
				if i%3 == 0 {
					errs[i] = n.RemoveMember(ctx, org.ID, id, nil)
					return
				}
				_, errs[i] = n.UpdateMember(ctx, org.ID, id, func(mb *meta.Member) error { mb.Role = "admin"; return nil })
			}()
		}
		close(start)
		wg.Wait()
		refused := 0
		for i, err := range errs {
			switch {
			case errors.Is(err, meta.ErrLastOwner):
				refused++
			case err != nil:
				t.Fatalf("owner %d: %v", i, err)
			}
		}
		// What is stored, read by a fresh store.
		fresh := openMeta(t, q)
		left := 0
		for _, mb := range fresh.Members(org.ID) {
			if mb.Role == "owner" && !mb.Pending {
				left++
			}
		}
		if refused != 1 || left != 1 {
			t.Fatalf("round %d: %d changes refused, %d owners left; want 1 and 1", round, refused, left)
		}
	}
}
