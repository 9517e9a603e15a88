package meta

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"time"
)

// InvitationMaxAge is how long an invitation link works (Sentry's
// default), counted from the pending membership's dateCreated.
const InvitationMaxAge = 7 * 24 * time.Hour

// ErrInvitationExpired is an invitation whose token is right but which is
// older than InvitationMaxAge.
var ErrInvitationExpired = errors.New("meta: the invitation has expired")

// checkInvitation reports whether token opens the pending membership m
// at time at: ErrNotFound for no membership, one no longer pending or a
// wrong token (all alike, compared in constant time), ErrInvitationExpired
// for the right token of an invitation too old.
func checkInvitation(m *Member, token string, at time.Time) error {
	want := ""
	if m != nil && m.Pending {
		want = m.InviteTokenHash
	}
	got := HashToken(token)
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return ErrNotFound
	}
	if at.Sub(m.DateCreated) > InvitationMaxAge {
		return ErrInvitationExpired
	}
	return nil
}

// joinedBy reports whether a stored membership is userID's and joined.
func joinedBy(stored []byte, userID uint64) bool {
	var m Member
	return json.Unmarshal(stored, &m) == nil && !m.Pending && m.UserID == userID
}

// Invitation returns the pending membership memberID if token is its
// invitation's: ErrNotFound for an unknown member, a wrong token or a
// member who joined already, ErrInvitationExpired past InvitationMaxAge.
func (s *Store) Invitation(memberID uint64, token string) (*Member, error) {
	s.mu.RLock()
	m := s.members[memberID]
	s.mu.RUnlock()
	if err := checkInvitation(m, token, now()); err != nil {
		return nil, err
	}
	return m, nil
}

// AcceptInvitation makes user userID the member that the invitation
// (memberID, token) created, keeping its role and teams, and clears the
// token's hash so that the link works once. It fails as Invitation does,
// and with ErrExists when the user is a member of the organization
// already. The user's membership index is claimed first, so that a user
// joins an organization once, and released again if the membership
// cannot be turned (a concurrent acceptance won).
func (s *Store) AcceptInvitation(ctx context.Context, memberID uint64, token string, userID uint64) (*Member, error) {
	m, err := s.Invitation(memberID, token)
	if err != nil {
		return nil, err
	}
	u, ok := s.User(userID)
	if !ok {
		return nil, ErrNotFound
	}
	userIdx := memberIndex(m.OrgID, userID, "")
	if err := s.claim(ctx, userIdx, memberID); err != nil {
		return nil, err
	}
	joined, err := s.UpdateMember(ctx, m.OrgID, memberID, func(cur *Member) error {
		if err := checkInvitation(cur, token, now()); err != nil {
			return err
		}
		cur.UserID, cur.Email, cur.Pending, cur.InviteTokenHash = userID, u.Email, false, ""
		return nil
	})
	if err != nil {
		// Keep the index if the membership is this user's all the same:
		// a concurrent acceptance by the same user won.
		if e, gerr := s.kv.Get(ctx, memberKey(m.OrgID, memberID)); gerr != nil || !joinedBy(e.Value(), userID) {
			s.release(ctx, userIdx)
		}
		return nil, err
	}
	s.release(ctx, memberIndex(m.OrgID, 0, m.Email))
	return joined, nil
}
