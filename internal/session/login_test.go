package session

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
)

type users map[string]*meta.User

func (u users) UserByEmail(email string) (*meta.User, bool) { x, ok := u[email]; return x, ok }

func TestLogin(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	us := users{"ann@example.com": {ID: 7, Email: "ann@example.com", PasswordHash: meta.HashPassword("ann's password"), PasswordVersion: 2},
		"tok@example.com": {ID: 8, Email: "tok@example.com"}}
	cases := []struct {
		name, user, password string
		err                  error
	}{
		{"right", " ANN@example.com", "ann's password", nil},
		{"wrong password", "ann@example.com", "not ann's password", ErrBadLogin},
		{"unknown e-mail", "bob@example.com", "ann's password", ErrBadLogin},
		{"no password set", "tok@example.com", "", ErrBadLogin},
	}
	for _, c := range cases {
		u, cookie, sess, err := s.Login(ctx, us, c.user, c.password, "10.1.1.1")
		if !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
			continue
		}
		if c.err == nil && (u.ID != 7 || cookie == "" || sess.UserID != 7 || sess.PasswordVersion != 2) {
			t.Errorf("%s: %+v %q %+v", c.name, u, cookie, sess)
		}
	}
	for range 4 {
		s.Login(ctx, us, "bob@example.com", "x", "10.1.1.1") //nolint:errcheck
	}
	var locked *LockedError
	if _, _, _, err := s.Login(ctx, us, "bob@example.com", "x", "10.1.1.1"); !errors.As(err, &locked) || locked.RetryAfter <= 0 {
		t.Fatalf("after 5 failures: %v", err)
	}
}

// BenchmarkLogin compares the work of a wrong password and of an unknown
// e-mail (the same argon2id hashing), and of a success.
func BenchmarkLogin(b *testing.B) {
	ctx := context.Background()
	s, _ := open(b)
	// Failures leave the window at once: nothing locks, records stay small.
	s.now, s.cfg.LockWindow = time.Now, time.Nanosecond
	us := users{"ann@example.com": {ID: 7, Email: "ann@example.com", PasswordHash: meta.HashPassword("ann's password")}}
	for _, c := range []struct{ name, user, password string }{
		{"wrong-password", "ann@example.com", "not ann's password"},
		{"unknown-email", "bob@example.com", "not ann's password"},
		{"success", "ann@example.com", "ann's password"},
	} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				s.Login(ctx, us, c.user, c.password, "10.0.0."+strconv.Itoa(i%250)) //nolint:errcheck
			}
		})
	}
}
