package meta_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/queue"
)

// TestAcceptInvitation checks the invitation's rules on the store: the
// token opens only its own pending membership, acceptance keeps the role
// and teams and works once (of two concurrent acceptances, one wins), a
// user joins an organization once, and the e-mail can be invited again
// once its invitation was taken.
func TestAcceptInvitation(t *testing.T) {
	ctx := context.Background()
	s := openMeta(t, openQueue(t))
	owner, err := s.CreateUser(ctx, "owner@example.com", "Owner", "owner's long password", false)
	if err != nil {
		t.Fatal(err)
	}
	org, err := s.CreateOrganization(ctx, "Acme", "acme", owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	team, err := s.CreateTeam(ctx, org, "Backend", "backend")
	if err != nil {
		t.Fatal(err)
	}
	m, token, err := s.InviteMember(ctx, org.ID, "ada@example.com", "admin", []uint64{team.ID})
	if err != nil || token == "" || !m.Pending {
		t.Fatalf("invite: %+v %q %v", m, token, err)
	}
	other, otherToken, err := s.InviteMember(ctx, org.ID, "bob@example.com", "member", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		id    uint64
		token string
	}{
		{"wrong token", m.ID, otherToken},
		{"empty token", m.ID, ""},
		{"other member's token", other.ID, token},
		{"unknown member", 987654321, token},
		{"owner's membership", s.Members(org.ID)[0].ID, ""},
	} {
		if _, err := s.Invitation(c.id, c.token); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", c.name, err)
		}
	}
	if got, err := s.Invitation(m.ID, token); err != nil || got.ID != m.ID {
		t.Fatalf("invitation: %+v %v", got, err)
	}

	// The owner, a member already, cannot take Bob's place.
	if _, err := s.AcceptInvitation(ctx, other.ID, otherToken, owner.ID); !errors.Is(err, meta.ErrExists) {
		t.Errorf("a member accepts another invitation: %v", err)
	}

	ada, err := s.CreateUser(ctx, "ada@example.com", "Ada", "ada's long password", false)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.AcceptInvitation(ctx, m.ID, token, ada.ID) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, meta.ErrNotFound) && !errors.Is(err, meta.ErrExists):
			t.Errorf("a losing acceptance: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d acceptances won: %v", won, errs)
	}
	joined, ok := s.MemberByUser(org.ID, ada.ID)
	if !ok || joined.ID != m.ID || joined.Pending || joined.Role != "admin" || !joined.HasTeam(team.ID) || joined.InviteTokenHash != "" {
		t.Fatalf("joined: %+v", joined)
	}
	if _, err := s.Invitation(m.ID, token); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("used invitation: %v", err)
	}
	// Ada is a member once, even after the losing acceptances: inviting
	// her again is refused.
	if _, _, err := s.InviteMember(ctx, org.ID, "ADA@example.com", "member", nil); !errors.Is(err, meta.ErrExists) {
		t.Errorf("inviting a joined member again: %v", err)
	}
	// Bob's pending invitation is untouched, and Bob can still take it.
	bob, err := s.CreateUser(ctx, "bob@example.com", "Bob", "bob's long password", false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.AcceptInvitation(ctx, other.ID, otherToken, bob.ID); err != nil || got.UserID != bob.ID || got.Role != "member" {
		t.Fatalf("bob accepts: %+v %v", got, err)
	}
	if n := len(s.Members(org.ID)); n != 3 {
		t.Errorf("%d memberships, want 3", n)
	}
	// A removed member's e-mail can be invited afresh.
	if err := s.RemoveMember(ctx, org.ID, other.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.InviteMember(ctx, org.ID, "bob@example.com", "member", nil); err != nil {
		t.Errorf("inviting bob again after removal: %v", err)
	}
}

// FuzzInvitation feeds the invitation page's path values (the member id
// as the page parses it, and the token) to the store: only the real pair
// opens the invitation, and nothing panics.
func FuzzInvitation(f *testing.F) {
	ctx := context.Background()
	q, err := queue.Open(ctx, queue.Config{DataDir: f.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(q.Close)
	s, err := meta.Open(ctx, q.JetStream(), meta.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	org, err := s.CreateOrganization(ctx, "Acme", "acme", 0)
	if err != nil {
		f.Fatal(err)
	}
	m, token, err := s.InviteMember(ctx, org.ID, "ada@example.com", "member", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(m.ID, token)
	f.Add(m.ID, token[:63])
	f.Add(m.ID, "")
	f.Add(uint64(0), token)
	f.Add(m.ID+1, token)
	f.Fuzz(func(t *testing.T, id uint64, tok string) {
		_, err := s.Invitation(id, tok)
		if want := id == m.ID && tok == token; (err == nil) != want {
			t.Fatalf("Invitation(%d, %q) = %v", id, tok, err)
		}
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("Invitation(%d, %q) = %v, want ErrNotFound", id, tok, err)
		}
	})
}
