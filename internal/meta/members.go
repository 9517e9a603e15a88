package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/authz"
)

// Member is a membership: a user (or, while an invitation is pending, an
// e-mail address) in an organization, with a role and teams. It lives at
// members.<org>.<id>; index keys make a user, or a pending e-mail, a
// member of an organization at most once.
type Member struct {
	ID     uint64 `json:"id"`
	OrgID  uint64 `json:"orgId"`
	UserID uint64 `json:"userId,omitempty"` // 0 while pending
	Email  string `json:"email"`
	// Role is an authz role: member, admin, manager or owner.
	Role        string    `json:"role"`
	Teams       []uint64  `json:"teams"`
	DateCreated time.Time `json:"dateCreated"`
	// Pending members were invited by e-mail and have not joined; only
	// the SHA-256 of their invitation token is kept.
	Pending         bool   `json:"pending,omitempty"`
	InviteTokenHash string `json:"inviteTokenHash,omitempty"`
}

// HasTeam reports whether the member is on team.
func (m *Member) HasTeam(teamID uint64) bool { return slices.Contains(m.Teams, teamID) }

// ErrLastOwner refuses to remove or demote an organization's last owner.
var ErrLastOwner = fmt.Errorf("%w: an organization must keep at least one owner", ErrInvalid)

// MaxEmailLen bounds invited e-mail addresses.
const MaxEmailLen = 254

func memberKey(orgID, id uint64) string {
	return "members." + strconv.FormatUint(orgID, 10) + "." + strconv.FormatUint(id, 10)
}

// memberIndex is the key that makes a user, or a pending e-mail, a member
// of an organization once.
func memberIndex(orgID, userID uint64, email string) string {
	k := "idx.member." + strconv.FormatUint(orgID, 10) + "."
	if userID != 0 {
		return k + "u" + strconv.FormatUint(userID, 10)
	}
	return k + "e" + HashToken(strings.ToLower(email))[:32]
}

// applyMember installs or removes a membership in the cache and refreshes
// its organization's role map. The caller holds s.mu.
func (s *Store) applyMember(id string, val []byte, deleted bool) error {
	orgPart, idPart, _ := strings.Cut(id, ".")
	orgID, _ := strconv.ParseUint(orgPart, 10, 64)
	mid, _ := strconv.ParseUint(idPart, 10, 64)
	if deleted {
		delete(s.members, mid)
	} else {
		var m Member
		if err := json.Unmarshal(val, &m); err != nil {
			return err
		}
		s.members[m.ID] = &m
		orgID = m.OrgID
	}
	if o := s.orgs[orgID]; o != nil {
		cp := *o
		cp.roles = s.orgRoles(orgID)
		s.orgs[orgID] = &cp
	}
	return nil
}

// orgRoles is the role of each joined member of an organization, by user.
// The caller holds s.mu.
func (s *Store) orgRoles(orgID uint64) map[uint64]string {
	r := map[uint64]string{}
	for _, m := range s.members {
		if m.OrgID == orgID && !m.Pending && m.UserID != 0 {
			r[m.UserID] = m.Role
		}
	}
	return r
}

// Members lists an organization's memberships, oldest first.
func (s *Store) Members(orgID uint64) []*Member {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Member
	for _, m := range s.members {
		if m.OrgID == orgID {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *Member) int { return cmpID(a.ID, b.ID) })
	return out
}

// Member returns a membership of an organization.
func (s *Store) Member(orgID, id uint64) (*Member, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.members[id]
	if !ok || m.OrgID != orgID {
		return nil, false
	}
	return m, true
}

// MemberByUser returns a user's membership of an organization.
func (s *Store) MemberByUser(orgID, userID uint64) (*Member, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, m := range s.members {
		if m.OrgID == orgID && m.UserID == userID && !m.Pending {
			return m, true
		}
	}
	return nil, false
}

// MemberUser returns the user of a joined membership.
func (s *Store) MemberUser(m *Member) (*User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[m.UserID]
	return u, ok && m.UserID != 0
}

// InviteMember adds email to an organization with role and teams. The
// e-mail of an existing user makes that user a member at once; another
// makes a pending member, and token is the invitation's secret (only its
// hash is stored). ErrExists if the user or the e-mail is a member.
func (s *Store) InviteMember(ctx context.Context, orgID uint64, email, role string, teams []uint64) (m *Member, token string, err error) {
	email = strings.TrimSpace(email)
	if email == "" || len(email) > MaxEmailLen || !strings.Contains(email, "@") || strings.ContainsAny(email, " \t\r\n<>") {
		return nil, "", fmt.Errorf("%w: email: enter a valid e-mail address", ErrInvalid)
	}
	if !authz.Valid(role) {
		return nil, "", fmt.Errorf("%w: orgRole: %q is not a role", ErrInvalid, role)
	}
	if _, ok := s.OrganizationByID(orgID); !ok {
		return nil, "", ErrNotFound
	}
	var userID uint64
	s.mu.RLock()
	for _, u := range s.users {
		if strings.EqualFold(u.Email, email) {
			userID, email = u.ID, u.Email
			break
		}
	}
	s.mu.RUnlock()
	m = &Member{OrgID: orgID, UserID: userID, Email: email, Role: role, Teams: slices.Clone(teams), DateCreated: now()}
	if m.Teams == nil {
		m.Teams = []uint64{}
	}
	if userID == 0 {
		token = randomHex(32)
		m.Pending, m.InviteTokenHash = true, HashToken(token)
	}
	if err := s.createMember(ctx, m); err != nil {
		return nil, "", err
	}
	return m, token, nil
}

// addUserMember makes a user a member (the creator of an organization, a
// migrated member).
func (s *Store) addUserMember(ctx context.Context, orgID, userID uint64, role string) (*Member, error) {
	var email string
	s.mu.RLock()
	if u := s.users[userID]; u != nil {
		email = u.Email
	}
	s.mu.RUnlock()
	m := &Member{OrgID: orgID, UserID: userID, Email: email, Role: role, Teams: []uint64{}, DateCreated: now()}
	return m, s.createMember(ctx, m)
}

// createMember claims m's index key, then creates its record, both only
// if absent. An index claimed by an attempt that stopped before its record
// was written is taken over, so that a retry (a migration run again)
// finishes the work.
func (s *Store) createMember(ctx context.Context, m *Member) error {
	idx := memberIndex(m.OrgID, m.UserID, m.Email)
	id, err := s.NextID(ctx, "member")
	if err != nil {
		return err
	}
	if err := s.claim(ctx, idx, id); errors.Is(err, ErrExists) {
		e, gerr := s.kv.Get(ctx, idx)
		if gerr != nil {
			return ErrExists
		}
		held, perr := strconv.ParseUint(string(e.Value()), 10, 64)
		if perr != nil {
			return ErrExists
		}
		if _, gerr := s.kv.Get(ctx, memberKey(m.OrgID, held)); !errors.Is(gerr, jetstream.ErrKeyNotFound) {
			return ErrExists
		}
		id = held
	} else if err != nil {
		return err
	}
	m.ID = id
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	rev, err := s.kv.Create(ctx, memberKey(m.OrgID, id), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("meta: create member: %w", err)
	}
	s.apply(memberKey(m.OrgID, id), b, rev, false)
	return nil
}

// UpdateMember changes a membership with compare-and-set: change gets a
// copy of the stored membership and edits it; a concurrent write makes it
// run again on the newer copy. Demoting the organization's last owner
// fails with ErrLastOwner.
func (s *Store) UpdateMember(ctx context.Context, orgID, id uint64, change func(*Member) error) (*Member, error) {
	key := memberKey(orgID, id)
	for attempt := 0; attempt < 100; attempt++ {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("meta: get %s: %w", key, err)
		}
		var m Member
		if err := json.Unmarshal(e.Value(), &m); err != nil {
			return nil, fmt.Errorf("meta: %s: %w", key, err)
		}
		wasOwner := m.Role == authz.Owner && !m.Pending
		if err := change(&m); err != nil {
			return nil, err
		}
		if !authz.Valid(m.Role) {
			return nil, fmt.Errorf("%w: orgRole: %q is not a role", ErrInvalid, m.Role)
		}
		m.ID, m.OrgID = id, orgID
		b, err := json.Marshal(&m)
		if err != nil {
			return nil, err
		}
		var rev uint64
		if wasOwner && m.Role != authz.Owner {
			// A demotion: under the organization's owner lock, so that two
			// demotions of its last two owners cannot both pass.
			err = s.withOwnerLock(ctx, orgID, func() error {
				if err := s.otherOwnerStored(ctx, orgID, id); err != nil {
					return err
				}
				rev, err = s.kv.Update(ctx, key, b, e.Revision())
				return err
			})
		} else {
			rev, err = s.kv.Update(ctx, key, b, e.Revision())
		}
		if errors.Is(err, ErrLastOwner) {
			return nil, err
		}
		if isWrongRevision(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("meta: update %s: %w", key, err)
		}
		s.apply(key, b, rev, false)
		return &m, nil
	}
	return nil, fmt.Errorf("meta: member %d: too much contention", id)
}

// otherOwnerStored returns ErrLastOwner unless the organization has a
// joined owner other than member id, read from the bucket itself (not the
// cache, which may lag another node's write). Callers hold the owner lock.
func (s *Store) otherOwnerStored(ctx context.Context, orgID, id uint64) error {
	prefix := "members." + strconv.FormatUint(orgID, 10) + "."
	lister, err := s.kv.ListKeysFiltered(ctx, prefix+"*")
	if err != nil {
		return fmt.Errorf("meta: list members: %w", err)
	}
	defer lister.Stop() //nolint:errcheck
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		if k == memberKey(orgID, id) {
			continue
		}
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("meta: get %s: %w", k, err)
		}
		var m Member
		if json.Unmarshal(e.Value(), &m) == nil && m.Role == authz.Owner && !m.Pending && m.UserID != 0 {
			return nil
		}
	}
	return ErrLastOwner
}

// ownerLockStale is how long an owner lock is held at most: a holder that
// stopped (a crashed process) leaves one that others take over after it.
const ownerLockStale = 30 * time.Second

// withOwnerLock runs fn while holding the organization's owner lock, a key
// taken with compare-and-set (create if absent, or take over a stale
// one) and released with compare-and-set on the revision it was taken at.
// Removals and demotions of owners run under it, one at a time per
// organization, each reading the stored memberships afresh.
func (s *Store) withOwnerLock(ctx context.Context, orgID uint64, fn func() error) error {
	key := "lock.owners." + strconv.FormatUint(orgID, 10)
	val := []byte(strconv.FormatInt(time.Now().UnixNano(), 10) + " " + randomHex(8))
	var rev uint64
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		r, err := s.kv.Create(ctx, key, val)
		if err == nil {
			rev = r
			break
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("meta: take %s: %w", key, err)
		}
		if e, gerr := s.kv.Get(ctx, key); gerr == nil {
			at, _, _ := strings.Cut(string(e.Value()), " ")
			ns, _ := strconv.ParseInt(at, 10, 64)
			if time.Since(time.Unix(0, ns)) > ownerLockStale {
				if r, uerr := s.kv.Update(ctx, key, val, e.Revision()); uerr == nil {
					rev = r
					break
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.kv.Delete(dctx, key, jetstream.LastRevision(rev)); err != nil {
			s.log.Warn("meta: release the owner lock", "key", key, "err", err)
		}
	}()
	return fn()
}

// RemoveMember deletes a membership (compare-and-set on the revision the
// check saw) and frees its index key. Removing the last owner fails with
// ErrLastOwner. check, if not nil, may refuse the removal of the stored
// membership.
func (s *Store) RemoveMember(ctx context.Context, orgID, id uint64, check func(*Member) error) error {
	key := memberKey(orgID, id)
	for attempt := 0; attempt < 100; attempt++ {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("meta: get %s: %w", key, err)
		}
		var m Member
		if err := json.Unmarshal(e.Value(), &m); err != nil {
			return fmt.Errorf("meta: %s: %w", key, err)
		}
		if check != nil {
			if err := check(&m); err != nil {
				return err
			}
		}
		if m.Role == authz.Owner && !m.Pending {
			err = s.withOwnerLock(ctx, orgID, func() error {
				if err := s.otherOwnerStored(ctx, orgID, id); err != nil {
					return err
				}
				return s.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
			})
		} else {
			err = s.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
		}
		if errors.Is(err, ErrLastOwner) {
			return err
		}
		if isWrongRevision(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("meta: delete %s: %w", key, err)
		}
		s.apply(key, nil, 0, true)
		s.release(ctx, memberIndex(orgID, m.UserID, m.Email))
		return nil
	}
	return fmt.Errorf("meta: member %d: too much contention", id)
}

// migrateMembers turns the flat member lists of organizations written by
// earlier versions into owner memberships, then clears the lists. It is
// idempotent and safe to run from several processes at once: the index
// keys make each user a member once, and the organization is rewritten
// with compare-and-set.
func (s *Store) migrateMembers(ctx context.Context) error {
	for _, o := range s.Organizations() {
		if len(o.Members) == 0 {
			continue
		}
		for _, uid := range o.Members {
			if _, ok := s.MemberByUser(o.ID, uid); ok {
				continue
			}
			if _, err := s.addUserMember(ctx, o.ID, uid, authz.Owner); err != nil && !errors.Is(err, ErrExists) {
				return fmt.Errorf("meta: migrate member %d of %s: %w", uid, o.Slug, err)
			}
		}
		if err := s.clearLegacyMembers(ctx, o.ID); err != nil {
			return err
		}
		s.log.Info("meta: migrated organization members to owner memberships", "org", o.Slug, "members", len(o.Members))
	}
	return nil
}

func (s *Store) clearLegacyMembers(ctx context.Context, orgID uint64) error {
	key := "orgs." + strconv.FormatUint(orgID, 10)
	for attempt := 0; attempt < 100; attempt++ {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(e.Value(), &raw); err != nil {
			return fmt.Errorf("meta: %s: %w", key, err)
		}
		if _, ok := raw["members"]; !ok {
			return nil
		}
		delete(raw, "members") // keep every other field as stored
		b, err := json.Marshal(raw)
		if err != nil {
			return err
		}
		rev, err := s.kv.Update(ctx, key, b, e.Revision())
		if isWrongRevision(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("meta: update %s: %w", key, err)
		}
		s.apply(key, b, rev, false)
		return nil
	}
	return fmt.Errorf("meta: %s: too much contention", key)
}
