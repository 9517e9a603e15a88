package meta

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/faultline/faultline/internal/authz"
)

// CreateOrganization creates an organization with creator as its owner
// (0 for none).
func (s *Store) CreateOrganization(ctx context.Context, name, slug string, creator uint64) (*Organization, error) {
	if slug == "" {
		slug = Slugify(name)
	}
	if name == "" {
		name = slug
	}
	if !ValidSlug(slug) {
		return nil, fmt.Errorf("%w: slug %q must be lowercase letters, digits, - or _", ErrInvalid, slug)
	}
	id, err := s.NextID(ctx, "org")
	if err != nil {
		return nil, err
	}
	if err := s.claim(ctx, "idx.org."+slug, id); err != nil {
		return nil, err
	}
	o := &Organization{ID: id, Slug: slug, Name: name, DateCreated: now()}
	if err := s.put(ctx, "orgs."+strconv.FormatUint(id, 10), o); err != nil {
		s.release(ctx, "idx.org."+slug)
		return nil, err
	}
	if creator != 0 {
		if _, err := s.addUserMember(ctx, id, creator, authz.Owner); err != nil {
			return nil, err
		}
		o, _ = s.OrganizationByID(id)
	}
	return o, nil
}

// MaxNameLen bounds the names of organizations, teams and projects when
// they are changed.
const MaxNameLen = 200

// UpdateOrganization stores a modified copy of an organization: its name
// and slug (its status is changed by MarkOrganizationForDeletion and
// RestoreOrganization). A new slug is validated as at creation and claimed
// first (ErrExists when another organization holds it); the old one is
// released once the organization is stored.
func (s *Store) UpdateOrganization(ctx context.Context, o *Organization) error {
	cur, ok := s.OrganizationByID(o.ID)
	if !ok {
		return ErrNotFound
	}
	if o.Name == "" || len(o.Name) > MaxNameLen {
		return fmt.Errorf("%w: name must be 1 to %d characters", ErrInvalid, MaxNameLen)
	}
	renamed := o.Slug != cur.Slug
	if renamed {
		if !ValidSlug(o.Slug) {
			return fmt.Errorf("%w: slug %q must be lowercase letters, digits, - or _", ErrInvalid, o.Slug)
		}
		if err := s.claim(ctx, "idx.org."+o.Slug, o.ID); err != nil {
			return err
		}
	}
	if err := s.put(ctx, "orgs."+strconv.FormatUint(o.ID, 10), o); err != nil {
		if renamed {
			s.release(ctx, "idx.org."+o.Slug)
		}
		return err
	}
	if renamed {
		s.release(ctx, "idx.org."+cur.Slug)
	}
	return nil
}

// Organization returns the organization with slug.
func (s *Store) Organization(slug string) (*Organization, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.orgs[s.orgSlugs[slug]]
	return o, ok
}

// OrganizationByID returns an organization.
func (s *Store) OrganizationByID(id uint64) (*Organization, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.orgs[id]
	return o, ok
}

// Organizations lists organizations, oldest first.
func (s *Store) Organizations() []*Organization {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Organization, 0, len(s.orgs))
	for _, o := range s.orgs {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b *Organization) int { return cmpID(a.ID, b.ID) })
	return out
}

// CreateTeam creates a team in org.
func (s *Store) CreateTeam(ctx context.Context, org *Organization, name, slug string) (*Team, error) {
	if slug == "" {
		slug = Slugify(name)
	}
	if name == "" {
		name = slug
	}
	if !ValidSlug(slug) {
		return nil, fmt.Errorf("%w: slug %q must be lowercase letters, digits, - or _", ErrInvalid, slug)
	}
	id, err := s.NextID(ctx, "team")
	if err != nil {
		return nil, err
	}
	idx := "idx.team." + strconv.FormatUint(org.ID, 10) + "." + slug
	if err := s.claim(ctx, idx, id); err != nil {
		return nil, err
	}
	t := &Team{ID: id, OrgID: org.ID, Slug: slug, Name: name, DateCreated: now()}
	if err := s.put(ctx, "teams."+strconv.FormatUint(id, 10), t); err != nil {
		s.release(ctx, idx)
		return nil, err
	}
	return t, nil
}

// Team returns the team of org with slug.
func (s *Store) Team(orgID uint64, slug string) (*Team, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, t := range s.teams {
		if t.OrgID == orgID && t.Slug == slug {
			return t, true
		}
	}
	return nil, false
}

// TeamByID returns a team.
func (s *Store) TeamByID(id uint64) (*Team, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.teams[id]
	return t, ok
}

// Teams lists the teams of org, oldest first.
func (s *Store) Teams(orgID uint64) []*Team {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Team
	for _, t := range s.teams {
		if t.OrgID == orgID {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *Team) int { return cmpID(a.ID, b.ID) })
	return out
}

// CreateProject creates a project owned by team, with a default DSN key.
func (s *Store) CreateProject(ctx context.Context, team *Team, name, slug, platform string) (*Project, *Key, error) {
	if slug == "" {
		slug = Slugify(name)
	}
	if name == "" {
		name = slug
	}
	if !ValidSlug(slug) {
		return nil, nil, fmt.Errorf("%w: slug %q must be lowercase letters, digits, - or _", ErrInvalid, slug)
	}
	if len(platform) > 64 {
		return nil, nil, fmt.Errorf("%w: platform is too long", ErrInvalid)
	}
	id, err := s.NextID(ctx, "project")
	if err != nil {
		return nil, nil, err
	}
	idx := "idx.project." + strconv.FormatUint(team.OrgID, 10) + "." + slug
	if err := s.claim(ctx, idx, id); err != nil {
		return nil, nil, err
	}
	p := &Project{ID: id, OrgID: team.OrgID, TeamIDs: []uint64{team.ID}, Slug: slug, Name: name,
		Platform: platform, Status: ProjectActive, DateCreated: now(), RetentionDays: DefaultRetentionDays,
		AllowedOrigins: []string{"*"}}
	if err := s.put(ctx, "projects."+strconv.FormatUint(id, 10), p); err != nil {
		s.release(ctx, idx)
		return nil, nil, err
	}
	k, err := s.CreateKey(ctx, p, "Default")
	if err != nil {
		return nil, nil, err
	}
	if _, err := s.CreateRule(ctx, DefaultRule(p.ID)); err != nil {
		return nil, nil, err
	}
	return p, k, nil
}

// UpdateProject stores a modified copy of a project.
func (s *Store) UpdateProject(ctx context.Context, p *Project) error {
	return s.put(ctx, "projects."+strconv.FormatUint(p.ID, 10), p)
}

// Project returns the project of org with slug.
func (s *Store) Project(orgID uint64, slug string) (*Project, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, p := range s.projects {
		if p.OrgID == orgID && p.Slug == slug {
			return p, true
		}
	}
	return nil, false
}

// ProjectByID returns a project.
func (s *Store) ProjectByID(id uint64) (*Project, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.projects[id]
	return p, ok
}

// Projects lists projects, oldest first; orgID 0 lists all.
func (s *Store) Projects(orgID uint64) []*Project {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Project
	for _, p := range s.projects {
		if orgID == 0 || p.OrgID == orgID {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *Project) int { return cmpID(a.ID, b.ID) })
	return out
}

// CreateKey creates a DSN key for project.
func (s *Store) CreateKey(ctx context.Context, p *Project, label string) (*Key, error) {
	if len(label) > 64 {
		return nil, fmt.Errorf("%w: name is too long", ErrInvalid)
	}
	pub := randomHex(16)
	k := &Key{ID: pub, ProjectID: p.ID, Label: label, Public: pub, Secret: randomHex(16), Active: true, DateCreated: now()}
	if err := s.put(ctx, "keys."+pub, k); err != nil {
		return nil, err
	}
	return k, nil
}

// UpdateKey stores a modified copy of a key.
func (s *Store) UpdateKey(ctx context.Context, k *Key) error {
	return s.put(ctx, "keys."+k.Public, k)
}

// KeyByPublic returns the key with public part pub and its project. This is
// ingest's authentication lookup: a map read.
func (s *Store) KeyByPublic(pub string) (*Key, *Project, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[pub]
	if !ok {
		return nil, nil, false
	}
	p, ok := s.projects[k.ProjectID]
	return k, p, ok
}

// Keys lists a project's keys, oldest first.
func (s *Store) Keys(projectID uint64) []*Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Key
	for _, k := range s.keys {
		if k.ProjectID == projectID {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b *Key) int { return a.DateCreated.Compare(b.DateCreated) })
	return out
}

// EnsureAdminToken makes token the superuser API token created from
// FAULTLINE_ADMIN_TOKEN, creating the admin user if needed. The previous
// bootstrap token, if its value differs, is deleted (rotation); the admin
// user keeps its id. With the same value it changes nothing.
//
// Tokens written before the Bootstrap marker existed carry the name
// BootstrapTokenName and no marker; they are marked first (a forward,
// idempotent migration), then rotated like any bootstrap token.
func (s *Store) EnsureAdminToken(ctx context.Context, token string) (*User, error) {
	hash := HashToken(token)
	if err := s.markLegacyBootstrapTokens(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	t, ok := s.tokens[hash]
	var u *User
	if ok {
		u = s.users[t.UserID]
	}
	s.mu.RUnlock()
	if u == nil || !u.Superuser || !t.Bootstrap {
		var err error
		if u, err = s.ensureUser(ctx, "admin@localhost", "admin", true); err != nil {
			return nil, err
		}
		tok := &Token{Hash: hash, UserID: u.ID, Name: BootstrapTokenName, Scopes: []string{"*"}, DateCreated: now(), Bootstrap: true}
		if ok {
			tok.DateCreated = t.DateCreated
			tok.ID = t.ID
		}
		if tok.ID == 0 {
			var err error
			if tok.ID, err = s.NextID(ctx, "token"); err != nil {
				return nil, err
			}
		}
		if err := s.put(ctx, "tokens."+hash, tok); err != nil {
			return nil, err
		}
	}
	// Delete the bootstrap tokens of earlier values, now that the new one
	// is stored.
	for _, old := range s.bootstrapTokens() {
		if old.Hash == hash {
			continue
		}
		if err := s.del(ctx, "tokens."+old.Hash); err != nil {
			return nil, err
		}
		s.log.Info("meta: replaced the previous FAULTLINE_ADMIN_TOKEN token", "user", old.UserID)
	}
	return u, nil
}

// markLegacyBootstrapTokens sets the Bootstrap marker on tokens that the
// previous version created from FAULTLINE_ADMIN_TOKEN (named so, unmarked).
func (s *Store) markLegacyBootstrapTokens(ctx context.Context) error {
	s.mu.RLock()
	var legacy []*Token
	for _, t := range s.tokens {
		if !t.Bootstrap && t.Name == BootstrapTokenName {
			legacy = append(legacy, t)
		}
	}
	s.mu.RUnlock()
	for _, t := range legacy {
		cp := *t
		cp.Bootstrap = true
		if err := s.put(ctx, "tokens."+t.Hash, &cp); err != nil {
			return err
		}
	}
	return nil
}

// bootstrapTokens returns the tokens created from FAULTLINE_ADMIN_TOKEN.
func (s *Store) bootstrapTokens() []*Token {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Token
	for _, t := range s.tokens {
		if t.Bootstrap {
			out = append(out, t)
		}
	}
	return out
}

func (s *Store) ensureUser(ctx context.Context, email, name string, superuser bool) (*User, error) {
	s.mu.RLock()
	for _, u := range s.users {
		if u.Email == email {
			s.mu.RUnlock()
			if u.Superuser == superuser {
				return u, nil
			}
			cp := *u
			cp.Superuser = superuser
			return &cp, s.put(ctx, "users."+strconv.FormatUint(u.ID, 10), &cp)
		}
	}
	s.mu.RUnlock()
	id, err := s.NextID(ctx, "user")
	if err != nil {
		return nil, err
	}
	if err := s.claim(ctx, "idx.user."+HashToken(email)[:32], id); err != nil {
		return nil, err
	}
	u := &User{ID: id, Email: email, Name: name, Superuser: superuser, DateCreated: now()}
	return u, s.put(ctx, "users."+strconv.FormatUint(id, 10), u)
}

// Authenticate returns the user a bearer token belongs to.
func (s *Store) Authenticate(token string) (*User, *Token, bool) {
	hash := HashToken(token)
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tokens[hash]
	if !ok {
		return nil, nil, false
	}
	u, ok := s.users[t.UserID]
	return u, t, ok
}

func cmpID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// DeleteKey removes a project's DSN key: ingest refuses it from then on.
// Deleting a key that is gone is not an error.
func (s *Store) DeleteKey(ctx context.Context, k *Key) error {
	return s.del(ctx, "keys."+k.Public)
}
