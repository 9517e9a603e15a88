package authz

import "testing"

func TestScopeCovers(t *testing.T) {
	cases := []struct {
		have, want string
		ok         bool
	}{
		{"project:read", "project:read", true},
		{"project:write", "project:read", true},
		{"project:admin", "project:read", true},
		{"project:admin", "project:write", true},
		{"project:read", "project:write", false},
		{"project:write", "project:admin", false},
		{"project:admin", "org:read", false},
		{"org:admin", "project:read", false},
		{"project:admin", "project:releases", false},
		{"project:releases", "project:read", false},
		{"member:write", "member:invite", true},
		{"member:admin", "member:invite", true},
		{"member:invite", "member:write", false},
		{"member:read", "member:invite", false},
		{"alerts:write", "alerts:read", false},
		{"org:admin", "org:integrations", false},
		{"*", "org:admin", true},
		{"*", "org:ci", true},
		{"", "", false},
		{"org", "org", true},
		{"org", "org:read", false},
		{"org:read", "org", false},
	}
	for _, c := range cases {
		if got := ScopeCovers(c.have, c.want); got != c.ok {
			t.Errorf("ScopeCovers(%q, %q) = %v, want %v", c.have, c.want, got, c.ok)
		}
	}
}

func TestAllows(t *testing.T) {
	cases := []struct {
		role, scope string
		ok          bool
	}{
		{Member, "event:admin", true},
		{Member, "project:read", true},
		{Member, "project:releases", true},
		{Member, "member:read", true},
		{Member, "project:write", false},
		{Member, "team:write", false},
		{Member, "member:invite", false},
		{Member, "member:write", false},
		{Member, "org:write", false},
		{Admin, "project:admin", true},
		{Admin, "team:admin", true},
		{Admin, "org:integrations", true},
		{Admin, "member:write", false},
		{Admin, "member:admin", false},
		{Admin, "org:write", false},
		{Manager, "member:admin", true},
		{Manager, "member:invite", true},
		{Manager, "org:write", true},
		{Manager, "org:admin", false},
		{Owner, "org:admin", true},
		{Owner, "member:admin", true},
		{Owner, "org:ci", false},
		{"billing", "org:read", false},
		{"", "org:read", false},
	}
	for _, c := range cases {
		if got := Allows(c.role, c.scope); got != c.ok {
			t.Errorf("Allows(%q, %q) = %v, want %v", c.role, c.scope, got, c.ok)
		}
	}
}

func TestRanks(t *testing.T) {
	cases := []struct {
		role, min string
		ok        bool
	}{
		{Owner, Manager, true},
		{Manager, Manager, true},
		{Admin, Manager, false},
		{Member, Member, true},
		{"nobody", Member, false},
		{Owner, "nobody", true},
	}
	for _, c := range cases {
		if got := AtLeast(c.role, c.min); got != c.ok {
			t.Errorf("AtLeast(%q, %q) = %v, want %v", c.role, c.min, got, c.ok)
		}
	}
	// Each role allows everything the one below it allows.
	rs := Roles()
	for i := 1; i < len(rs); i++ {
		for _, s := range rs[i-1].Scopes {
			if !Allows(rs[i].ID, s) {
				t.Errorf("%s does not allow %s, which %s has", rs[i].ID, s, rs[i-1].ID)
			}
		}
	}
	rs[0].Scopes[0] = "changed"
	if r, _ := Lookup(Member); r.Scopes[0] == "changed" {
		t.Error("Roles shares the table")
	}
}
