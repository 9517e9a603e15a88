package meta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// identityIndex is the key that links an issuer's subject to one user.
func identityIndex(issuer, subject string) string {
	return "idx.identity." + HashToken(issuer + "\x00" + subject)[:32]
}

// UserByIdentity returns the user linked to an issuer's subject.
func (s *Store) UserByIdentity(issuer, subject string) (*User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, u := range s.users {
		if slices.Contains(u.Identities, Identity{Issuer: issuer, Subject: subject}) {
			return u, true
		}
	}
	return nil, false
}

// LinkIdentity links an issuer's subject to a user. ErrExists if it is
// linked to another user.
func (s *Store) LinkIdentity(ctx context.Context, userID uint64, id Identity) (*User, error) {
	if id.Issuer == "" || id.Subject == "" || len(id.Issuer)+len(id.Subject) > 1024 {
		return nil, fmt.Errorf("%w: an identity needs an issuer and a subject", ErrInvalid)
	}
	u, ok := s.User(userID)
	if !ok {
		return nil, ErrNotFound
	}
	if slices.Contains(u.Identities, id) {
		return u, nil
	}
	if err := s.claim(ctx, identityIndex(id.Issuer, id.Subject), userID); err != nil {
		return nil, err
	}
	cp := *u
	cp.Identities = append(slices.Clip(u.Identities), id)
	return &cp, s.put(ctx, userKey(userID), &cp)
}

// CreateSSOUser creates a user without a password (who cannot log in with
// one), linked to an identity. ErrExists when the e-mail or the identity
// belongs to another user.
func (s *Store) CreateSSOUser(ctx context.Context, email, name string, id Identity) (*User, error) {
	email = NormalizeEmail(email)
	if !validEmail(email) {
		return nil, fmt.Errorf("%w: enter a valid e-mail address", ErrInvalid)
	}
	if id.Issuer == "" || id.Subject == "" || len(id.Issuer)+len(id.Subject) > 1024 {
		return nil, fmt.Errorf("%w: an identity needs an issuer and a subject", ErrInvalid)
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		name = email
	}
	if _, ok := s.UserByEmail(email); ok {
		return nil, ErrExists
	}
	uid, err := s.NextID(ctx, "user")
	if err != nil {
		return nil, err
	}
	emailKey := "idx.user." + HashToken(email)[:32]
	if err := s.claim(ctx, emailKey, uid); err != nil {
		return nil, err
	}
	if err := s.claim(ctx, identityIndex(id.Issuer, id.Subject), uid); err != nil {
		s.release(ctx, emailKey)
		if errors.Is(err, ErrExists) {
			return nil, ErrExists
		}
		return nil, err
	}
	u := &User{ID: uid, Email: email, Name: name, DateCreated: now(), Identities: []Identity{id}}
	return u, s.put(ctx, userKey(uid), u)
}
