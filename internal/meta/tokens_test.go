package meta_test

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
)

func TestTokenFormats(t *testing.T) {
	u := meta.NewUserToken()
	if !regexp.MustCompile(`^sntryu_[0-9a-f]{64}$`).MatchString(u) || u == meta.NewUserToken() {
		t.Fatalf("user token %q", u)
	}
	at := time.Unix(1700000000, 500_000_000)
	o := meta.NewOrgToken("https://errors.example.com", "acme", at)
	p, err := meta.ParseOrgToken(o)
	if err != nil {
		t.Fatal(err)
	}
	if p.Org != "acme" || p.URL != "https://errors.example.com" || p.RegionURL != p.URL || p.IAT != 1700000000.5 {
		t.Fatalf("payload %+v", p)
	}
	// sentry-cli splits at every '_' and wants exactly three parts, a
	// padded base64 payload and a 32-byte unpadded base64 secret.
	parts := strings.Split(o, "_")
	if len(parts) != 3 || parts[0] != "sntrys" || len(parts[2]) != 43 {
		t.Fatalf("org token shape %q", o)
	}
	good := strings.TrimPrefix(o, "sntrys_")
	payload, secret, _ := strings.Cut(good, "_")
	bad := []string{
		"",
		"sntrys_",
		"sntryu_" + good,
		"sntrys_" + payload,
		"sntrys_" + payload + "_" + secret + "_x",
		"sntrys_" + payload + "_" + secret[:20],
		"sntrys_" + payload + "_" + secret + "=",
		"sntrys_" + strings.TrimRight(payload, "=") + "!_" + secret,
		"sntrys_" + base64.StdEncoding.EncodeToString([]byte("not json")) + "_" + secret,
	}
	for _, b := range bad {
		if _, err := meta.ParseOrgToken(b); err == nil {
			t.Errorf("ParseOrgToken(%q) accepted", b)
		}
	}
}

func FuzzParseOrgToken(f *testing.F) {
	f.Add(meta.NewOrgToken("http://127.0.0.1:8000", "acme", time.Unix(1, 0)))
	f.Add("sntrys_e30=_AAAA")
	f.Add("sntrys__")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := meta.ParseOrgToken(s)
		if err == nil && p == nil {
			t.Fatal("nil payload without error")
		}
	})
}

func TestUserAndOrgTokens(t *testing.T) {
	ctx := context.Background()
	m := openMeta(t, openQueue(t))
	admin, err := m.EnsureAdminToken(ctx, "admin-token")
	if err != nil || admin.ID != 1 {
		t.Fatalf("admin %+v: %v", admin, err)
	}
	org, err := m.CreateOrganization(ctx, "Acme", "acme", 1)
	if err != nil {
		t.Fatal(err)
	}
	ut, value, err := m.CreateUserToken(ctx, 1, "ci", []string{"org:read"})
	if err != nil {
		t.Fatal(err)
	}
	if ut.ID == 0 || ut.Kind != meta.TokenUser || ut.Hash != meta.HashToken(value) || ut.LastChars != value[len(value)-4:] {
		t.Fatalf("user token %+v", ut)
	}
	ot, ovalue, err := m.CreateOrgToken(ctx, org, 1, "deploys", "http://x")
	if err != nil {
		t.Fatal(err)
	}
	if ot.ID == ut.ID || !ot.IsOrgToken() || ot.OrgID != org.ID || len(ot.Scopes) != 1 || ot.Scopes[0] != meta.ScopeOrgCI {
		t.Fatalf("org token %+v", ot)
	}
	// The bootstrap token is the user's too, and has an id.
	if got := m.UserTokens(1); len(got) != 2 || !got[0].Bootstrap || got[0].ID == 0 || got[1].ID != ut.ID {
		t.Fatalf("user tokens %+v", got)
	}
	if got := m.OrgTokens(org.ID); len(got) != 1 || got[0].ID != ot.ID {
		t.Fatalf("org tokens %+v", got)
	}
	// Revoking needs the owner: another user's id, or the org token's id
	// as a user token, finds nothing.
	for _, c := range []struct {
		user, id uint64
	}{{2, ut.ID}, {1, ot.ID}, {1, 0}} {
		if err := m.RevokeUserToken(ctx, c.user, c.id); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("revoke user %d token %d: %v", c.user, c.id, err)
		}
	}
	if err := m.RevokeOrgToken(ctx, org.ID+1, ot.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("revoke in another org: %v", err)
	}
	if _, _, ok := m.Authenticate(ovalue); !ok {
		t.Fatal("org token does not authenticate")
	}
	if err := m.RevokeOrgToken(ctx, org.ID, ot.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := m.Authenticate(ovalue); ok {
		t.Fatal("revoked org token authenticates")
	}
	if _, _, err := m.CreateUserToken(ctx, 1, strings.Repeat("n", meta.MaxTokenName+1), []string{"org:read"}); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("long name: %v", err)
	}
}

func TestTokenLimitPerUser(t *testing.T) {
	ctx := context.Background()
	m := openMeta(t, openQueue(t))
	for i := range meta.MaxTokensPerOwner {
		if _, _, err := m.CreateUserToken(ctx, 9, "", []string{"event:read"}); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if _, _, err := m.CreateUserToken(ctx, 9, "", []string{"event:read"}); !errors.Is(err, meta.ErrTooMany) {
		t.Fatalf("token past the limit: %v", err)
	}
}

// TestRevocationReachesEveryNode: two metadata stores on one NATS, as two
// API processes; a token revoked through one stops authenticating on the
// other once the watch delivers the deletion.
func TestRevocationReachesEveryNode(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	a, b := openMeta(t, q), openMeta(t, q)
	if _, err := a.EnsureAdminToken(ctx, "admin-token"); err != nil {
		t.Fatal(err)
	}
	tok, value, err := a.CreateUserToken(ctx, 1, "", []string{"org:read"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, _, ok := b.Authenticate(value); return ok })
	if err := a.RevokeUserToken(ctx, 1, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := a.Authenticate(value); ok {
		t.Fatal("revoked token still authenticates on the node that revoked it")
	}
	waitFor(t, func() bool { _, _, ok := b.Authenticate(value); return !ok })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTokenIDMigration: tokens written by the previous version (no id, no
// kind) get an id at start, once; a second start changes nothing.
func TestTokenIDMigration(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	seed := openMeta(t, q)
	admin, err := seed.EnsureAdminToken(ctx, "admin-token")
	if err != nil {
		t.Fatal(err)
	}
	seed.Close()
	kv, err := q.JetStream().KeyValue(ctx, "faultline-meta")
	if err != nil {
		t.Fatal(err)
	}
	old := `{"hash":"` + meta.HashToken("legacy") + `","userId":` + strconv.FormatUint(admin.ID, 10) + `,"name":"old","scopes":["*"],"dateCreated":"2025-01-01T00:00:00Z"}`
	if _, err := kv.Put(ctx, "tokens."+meta.HashToken("legacy"), []byte(old)); err != nil {
		t.Fatal(err)
	}
	m := openMeta(t, q)
	var got []*meta.Token
	for _, tok := range m.UserTokens(admin.ID) {
		if tok.Name == "old" {
			got = append(got, tok)
		}
	}
	if len(got) != 1 || got[0].ID == 0 || got[0].Scopes[0] != "*" {
		t.Fatalf("migrated %+v", got)
	}
	id := got[0].ID
	m2 := openMeta(t, q)
	if got := m2.UserTokens(admin.ID); len(got) != 2 || got[1].ID != id && got[0].ID != id {
		t.Fatalf("second start: %+v, want id %d", got, id)
	}
	if _, _, ok := m2.Authenticate("legacy"); !ok {
		t.Fatal("migrated token does not authenticate")
	}
}

// TestTokenUsage: a use is written at most once per interval per token,
// across processes sharing the bucket.
func TestTokenUsage(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	open := func() *meta.TokenUsage {
		u, err := meta.OpenTokenUsage(ctx, q.JetStream(), meta.TokenUsageConfig{}, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	a, b := open(), open()
	tok := &meta.Token{Hash: meta.HashToken("x"), ID: 1}
	other := &meta.Token{Hash: meta.HashToken("y"), ID: 2}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		u     *meta.TokenUsage
		tok   *meta.Token
		at    time.Time
		wrote bool
	}{
		{a, tok, t0, true},
		{a, tok, t0.Add(30 * time.Second), false},
		{b, tok, t0.Add(40 * time.Second), false}, // another node, within the minute
		{a, other, t0.Add(40 * time.Second), true},
		{b, tok, t0.Add(61 * time.Second), true},
		{a, tok, t0.Add(90 * time.Second), false},
	}
	for i, s := range steps {
		if got := s.u.Record(ctx, s.tok, s.at); got != s.wrote {
			t.Errorf("step %d: wrote %v, want %v", i, got, s.wrote)
		}
	}
	if last, ok := a.LastUsed(ctx, tok); !ok || !last.Equal(t0.Add(61*time.Second)) {
		t.Errorf("last used %v %v", last, ok)
	}
	if _, ok := a.LastUsed(ctx, &meta.Token{Hash: meta.HashToken("never")}); ok {
		t.Error("a token never used has a last use")
	}
}
