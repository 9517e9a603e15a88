package session

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/queue"
)

// open returns a store on a fresh embedded NATS server, with a clock the
// test moves.
func open(t testing.TB) (*Store, *time.Time) {
	t.Helper()
	q, err := queue.Open(context.Background(), queue.Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	s, err := Open(context.Background(), q.JetStream(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	return s, &now
}

func TestSessionLifetime(t *testing.T) {
	ctx := context.Background()
	versions := map[uint64]uint64{1: 0}
	pv := func(id uint64) (uint64, bool) { v, ok := versions[id]; return v, ok }
	cases := []struct {
		name  string
		steps []time.Duration // wait, then use the session, each
		valid bool
	}{
		{"fresh", []time.Duration{0}, true},
		{"used every 23 hours for 13 days", repeat(23*time.Hour, 13), true},
		{"used every 23 hours past 14 days", repeat(23*time.Hour, 15), false},
		{"idle 24 hours", []time.Duration{24 * time.Hour}, false},
		{"idle 23h59m", []time.Duration{24*time.Hour - time.Minute}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, now := open(t)
			cookie, _, err := s.Create(ctx, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got error
			for _, d := range c.steps {
				*now = now.Add(d)
				_, got = s.Get(ctx, cookie, pv)
			}
			if (got == nil) != c.valid {
				t.Fatalf("Get: %v, want valid=%v", got, c.valid)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestSessionRevocationAndTouch(t *testing.T) {
	ctx := context.Background()
	s, now := open(t)
	versions := map[uint64]uint64{1: 3}
	pv := func(id uint64) (uint64, bool) { v, ok := versions[id]; return v, ok }
	a, sa, err := s.Create(ctx, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.Create(ctx, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	// The key stored is a hash: the cookie value is nowhere in the bucket.
	keys, err := s.sessions.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		e, _ := s.sessions.Get(ctx, k)
		if k == a || k == "s."+a || string(e.Value()) == a || strings.Contains(string(e.Value()), a) {
			t.Fatalf("cookie value stored: %s", k)
		}
	}
	// A use within the touch interval writes nothing; after it, one write.
	e0, _ := s.sessions.Get(ctx, sa.key)
	*now = now.Add(30 * time.Second)
	if _, err := s.Get(ctx, a, pv); err != nil {
		t.Fatal(err)
	}
	e1, _ := s.sessions.Get(ctx, sa.key)
	*now = now.Add(time.Minute)
	got, err := s.Get(ctx, a, pv)
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := s.sessions.Get(ctx, sa.key)
	if e1.Revision() != e0.Revision() || e2.Revision() == e1.Revision() || !got.LastUsed.Equal(*now) {
		t.Fatalf("touch: revisions %d %d %d, last used %v", e0.Revision(), e1.Revision(), e2.Revision(), got.LastUsed)
	}
	// The password changes through session a: a is renewed, b is revoked.
	versions[1] = 4
	if err := s.Renew(ctx, got, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, a, pv); err != nil {
		t.Fatalf("renewed session: %v", err)
	}
	if _, err := s.Get(ctx, b, pv); !errors.Is(err, ErrNoSession) {
		t.Fatalf("other session after password change: %v", err)
	}
	// Logout; an unknown and an overlong cookie.
	if err := s.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{a, "nosuch", string(make([]byte, 200))} {
		if _, err := s.Get(ctx, c, pv); !errors.Is(err, ErrNoSession) {
			t.Errorf("cookie %.10q: %v", c, err)
		}
	}
	// A deleted user's sessions end.
	c, _, _ := s.Create(ctx, 2, 0)
	if _, err := s.Get(ctx, c, pv); !errors.Is(err, ErrNoSession) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestLockout(t *testing.T) {
	ctx := context.Background()
	s, now := open(t)
	for i := range 5 {
		if d, _ := s.Locked(ctx, "a@x", "10.0.0.1"); d != 0 {
			t.Fatalf("locked after %d failures", i)
		}
		if err := s.Fail(ctx, "a@x", "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		*now = now.Add(time.Minute)
	}
	// The first failure was 5 minutes ago: 10 more minutes.
	if d, _ := s.Locked(ctx, "a@x", "10.0.0.2"); d != 10*time.Minute {
		t.Fatalf("account lock %v, want 10m", d)
	}
	if d, _ := s.Locked(ctx, "b@x", "10.0.0.1"); d != 0 {
		t.Fatalf("another account from the address locked for %v after 5 failures", d)
	}
	*now = now.Add(10 * time.Minute)
	if d, _ := s.Locked(ctx, "a@x", "10.0.0.2"); d != 0 {
		t.Fatalf("still locked %v after the window", d)
	}
	// A success clears the account's failures.
	s.Fail(ctx, "a@x", "10.0.0.3") //nolint:errcheck
	s.Succeed(ctx, "a@x")          //nolint:errcheck
	if f, _, _ := s.read(ctx, accountKey("a@x")); len(f.Times) != 0 {
		t.Fatalf("failures after success: %v", f.Times)
	}
	// 20 failures from one address, 4 per account, lock the address.
	for i := range 20 {
		if err := s.Fail(ctx, string(rune('c'+i/4))+"@x", "10.0.0.9"); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := s.Locked(ctx, "fresh@x", "10.0.0.9"); d != 15*time.Minute {
		t.Fatalf("address lock %v", d)
	}
	if d, _ := s.Locked(ctx, "c@x", "10.0.0.10"); d != 0 {
		t.Fatalf("account with 4 failures locked %v", d)
	}
	// The record never grows beyond the limit.
	for range 30 {
		s.Fail(ctx, "z@x", "10.0.0.11") //nolint:errcheck
	}
	if f, _, _ := s.read(ctx, clientKey("10.0.0.11")); len(f.Times) != s.cfg.ClientLimit {
		t.Fatalf("record holds %d failures", len(f.Times))
	}
}
