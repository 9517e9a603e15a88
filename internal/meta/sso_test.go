package meta_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/meta"
)

// TestSSOIdentities: a user record written before sign-on existed (no
// identities field) still loads and can be linked; an identity links one
// user only; a sign-on user has no password, so no password logs it in;
// its e-mail stays unique; a second process sees the link.
func TestSSOIdentities(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	kv, err := q.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "faultline-meta", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The shape of the previous version, with a password.
	old := `{"id":5,"email":"ada@example.com","name":"Ada","superuser":false,"dateCreated":"2026-01-02T03:04:05Z",` +
		`"passwordHash":"` + meta.HashPassword("ada's old password") + `","passwordVersion":2}`
	if _, err := kv.Put(ctx, "users.5", []byte(old)); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "seq.user", []byte("5")); err != nil {
		t.Fatal(err)
	}
	m := openMeta(t, q)
	ada, ok := m.User(5)
	if !ok || len(ada.Identities) != 0 || ada.PasswordVersion != 2 {
		t.Fatalf("old user: %+v %v", ada, ok)
	}
	idA := meta.Identity{Issuer: "https://idp.example", Subject: "a-1"}
	idB := meta.Identity{Issuer: "https://idp.example", Subject: "b-2"}
	if _, ok := m.UserByIdentity(idA.Issuer, idA.Subject); ok {
		t.Fatal("unlinked identity found")
	}
	linked, err := m.LinkIdentity(ctx, 5, idA)
	if err != nil || len(linked.Identities) != 1 || !meta.CheckPassword(linked.PasswordHash, "ada's old password") ||
		linked.PasswordVersion != 2 {
		t.Fatalf("link: %+v %v", linked, err)
	}
	if again, err := m.LinkIdentity(ctx, 5, idA); err != nil || len(again.Identities) != 1 {
		t.Fatalf("linking twice: %+v %v", again, err)
	}
	if u, ok := m.UserByIdentity(idA.Issuer, idA.Subject); !ok || u.ID != 5 {
		t.Fatalf("by identity: %+v %v", u, ok)
	}
	if _, ok := m.UserByIdentity(idA.Issuer+"/", idA.Subject); ok {
		t.Fatal("another issuer's subject matched")
	}

	cases := []struct {
		name, email string
		id          meta.Identity
		want        error
	}{
		{"taken e-mail", "ADA@example.com", idB, meta.ErrExists},
		{"identity linked to another user", "new@example.com", idA, meta.ErrExists},
		{"bad e-mail", "not-an-email", idB, meta.ErrInvalid},
		{"no subject", "new@example.com", meta.Identity{Issuer: "https://idp.example"}, meta.ErrInvalid},
	}
	for _, c := range cases {
		if _, err := m.CreateSSOUser(ctx, c.email, "X", c.id); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	bob, err := m.CreateSSOUser(ctx, " Bob@Example.com ", "Bob", idB)
	if err != nil {
		t.Fatal(err)
	}
	if bob.Email != "bob@example.com" || bob.PasswordHash != "" || bob.Superuser || len(bob.Identities) != 1 {
		t.Fatalf("sso user: %+v", bob)
	}
	if meta.CheckPassword(bob.PasswordHash, "") || m.HasPasswordUser() != true {
		t.Fatal("a user without a password matched a password")
	}
	if _, err := m.LinkIdentity(ctx, 5, idB); !errors.Is(err, meta.ErrExists) {
		t.Fatalf("bob's identity linked to ada: %v", err)
	}
	// The failed "identity linked to another user" creation released the
	// e-mail it had claimed.
	if _, err := m.CreateUser(ctx, "new@example.com", "New", "a long enough password", false); err != nil {
		t.Fatalf("the e-mail stayed claimed: %v", err)
	}

	m2 := openMeta(t, q)
	if u, ok := m2.UserByIdentity(idB.Issuer, idB.Subject); !ok || u.ID != bob.ID {
		t.Fatalf("another process: %+v %v", u, ok)
	}
}
