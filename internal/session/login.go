package session

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/meta"
)

// Users finds the user a login names.
type Users interface {
	UserByEmail(email string) (*meta.User, bool)
}

// ErrBadLogin means a wrong password or an unknown e-mail: callers answer
// both alike.
var ErrBadLogin = errors.New("session: invalid username or password")

// LockedError means attempts are locked out for RetryAfter.
type LockedError struct{ RetryAfter time.Duration }

func (e *LockedError) Error() string { return "session: too many failed login attempts" }

// Login checks an e-mail and a password from a client address and, if
// they are right, makes a session. The API's login route and the web UI's
// login page both use it. The password is hashed whether or not the
// e-mail is known (against a dummy hash when not), so that both failures
// cost the same work; both count toward the lockout, and a locked-out
// e-mail or address gets a *LockedError before any hashing.
func (s *Store) Login(ctx context.Context, users Users, username, password, addr string) (*meta.User, string, *Session, error) {
	email := meta.NormalizeEmail(username)
	if wait, err := s.Locked(ctx, email, addr); err != nil {
		return nil, "", nil, err
	} else if wait > 0 {
		return nil, "", nil, &LockedError{RetryAfter: wait}
	}
	u, found := users.UserByEmail(email)
	hash := ""
	if found {
		hash = u.PasswordHash
	}
	if !meta.CheckPassword(hash, password) || !found || password == "" {
		if err := s.Fail(ctx, email, addr); err != nil {
			return nil, "", nil, err
		}
		return nil, "", nil, ErrBadLogin
	}
	if err := s.Succeed(ctx, email); err != nil {
		return nil, "", nil, err
	}
	cookie, sess, err := s.Create(ctx, u.ID, u.PasswordVersion)
	if err != nil {
		return nil, "", nil, err
	}
	return u, cookie, sess, nil
}

// ClientAddr is the address login failures are counted by: the peer's, or
// behind a trusted proxy the address it appended to X-Forwarded-For (the
// entries before it are the client's to choose).
func ClientAddr(r *http.Request, trustForwarded bool) string {
	if trustForwarded {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			last := xff
			if i := strings.LastIndexByte(xff, ','); i >= 0 {
				last = xff[i+1:]
			}
			if ip := net.ParseIP(strings.TrimSpace(last)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
