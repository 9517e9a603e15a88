package meta

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 12

// maxPasswordLen bounds the work a password costs to hash.
const maxPasswordLen = 1024

// argon2id parameters (OWASP's: 19 MiB, 2 passes, 1 lane).
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// HashPassword returns the argon2id hash of password as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$SALT$HASH (unpadded base64).
func HashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// phc is a parsed argon2id PHC string.
type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parsePHC parses an argon2id PHC string, refusing parameters that would
// cost more than a stored hash of ours ever does (the string is ours, but a
// damaged one must not hang a login).
func parsePHC(s string) (*phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, errors.New("meta: not an argon2id hash")
	}
	var p phc
	var m, t, th uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, errors.New("meta: bad argon2id parameters")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, errors.New("meta: bad argon2id parameters")
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			th = n
		default:
			return nil, errors.New("meta: bad argon2id parameters")
		}
	}
	if m < 8 || m > 1<<20 || t < 1 || t > 16 || th < 1 || th > 16 {
		return nil, errors.New("meta: argon2id parameters out of range")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return nil, errors.New("meta: bad argon2id salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return nil, errors.New("meta: bad argon2id hash")
	}
	p.memory, p.time, p.threads, p.salt, p.key = uint32(m), uint32(t), uint8(th), salt, key
	return &p, nil
}

// dummyHash is checked against when no user has the e-mail, so that an
// unknown e-mail costs the same work as a wrong password.
var dummyHash = HashPassword("faultline-dummy-password")

// CheckPassword reports whether password matches the PHC hash encoded.
// An empty or damaged hash matches nothing, after the same work.
func CheckPassword(encoded, password string) bool {
	p, err := parsePHC(encoded)
	valid := err == nil
	if !valid {
		p, _ = parsePHC(dummyHash)
	}
	if len(password) > maxPasswordLen {
		password = password[:maxPasswordLen]
		valid = false
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1 && valid
}

// ValidatePassword checks a new password's length.
func ValidatePassword(password string) error {
	switch {
	case len([]rune(password)) < MinPasswordLen:
		return fmt.Errorf("%w: the password must be at least %d characters long", ErrInvalid, MinPasswordLen)
	case len(password) > maxPasswordLen:
		return fmt.Errorf("%w: the password must be at most %d bytes long", ErrInvalid, maxPasswordLen)
	}
	return nil
}

// NormalizeEmail is the form e-mails are compared in: trimmed, lower case.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func validEmail(email string) bool {
	local, domain, ok := strings.Cut(email, "@")
	return ok && local != "" && domain != "" && len(email) <= 254 && !strings.ContainsAny(email, " \t\r\n<>\"")
}

// User returns a user by id.
func (s *Store) User(id uint64) (*User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	return u, ok
}

// UserByEmail returns the user with this e-mail (compared normalized).
func (s *Store) UserByEmail(email string) (*User, bool) {
	email = NormalizeEmail(email)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, u := range s.users {
		if NormalizeEmail(u.Email) == email {
			return u, true
		}
	}
	return nil, false
}

// Users returns every user, by id.
func (s *Store) Users() []*User {
	s.mu.RLock()
	out := make([]*User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *User) int { return cmpID(a.ID, b.ID) })
	return out
}

// HasPasswordUser reports whether any user has a password (the first-admin
// setup is offered until one does).
func (s *Store) HasPasswordUser() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, u := range s.users {
		if u.PasswordHash != "" {
			return true
		}
	}
	return false
}

// CreateUser creates a user with a password. It fails with ErrExists when
// the e-mail is taken and ErrInvalid for a bad e-mail or password.
func (s *Store) CreateUser(ctx context.Context, email, name, password string, superuser bool) (*User, error) {
	email = NormalizeEmail(email)
	if !validEmail(email) {
		return nil, fmt.Errorf("%w: enter a valid e-mail address", ErrInvalid)
	}
	if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if len(name) > 200 {
		return nil, fmt.Errorf("%w: the name must be at most 200 characters long", ErrInvalid)
	}
	if name == "" {
		name = email
	}
	if _, ok := s.UserByEmail(email); ok {
		return nil, ErrExists
	}
	id, err := s.NextID(ctx, "user")
	if err != nil {
		return nil, err
	}
	if err := s.claim(ctx, "idx.user."+HashToken(email)[:32], id); err != nil {
		return nil, err
	}
	u := &User{ID: id, Email: email, Name: name, Superuser: superuser, DateCreated: now(), PasswordHash: HashPassword(password)}
	return u, s.put(ctx, userKey(id), u)
}

// UpdateUserName changes a user's name.
func (s *Store) UpdateUserName(ctx context.Context, id uint64, name string) (*User, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, fmt.Errorf("%w: the name must be 1 to 200 characters long", ErrInvalid)
	}
	u, ok := s.User(id)
	if !ok {
		return nil, ErrNotFound
	}
	cp := *u
	cp.Name = name
	return &cp, s.put(ctx, userKey(id), &cp)
}

// SetPassword sets a user's password and bumps its PasswordVersion, which
// revokes the sessions made under the old one.
func (s *Store) SetPassword(ctx context.Context, id uint64, password string) (*User, error) {
	if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	u, ok := s.User(id)
	if !ok {
		return nil, ErrNotFound
	}
	cp := *u
	cp.PasswordHash = HashPassword(password)
	cp.PasswordVersion++
	return &cp, s.put(ctx, userKey(id), &cp)
}

// EnsureAdminPassword makes the user with this e-mail a superuser with this
// password (FAULTLINE_ADMIN_EMAIL and FAULTLINE_ADMIN_PASSWORD), creating it
// if needed. A restart with the same password changes nothing (its sessions
// stay); another password replaces it and revokes its sessions.
func (s *Store) EnsureAdminPassword(ctx context.Context, email, password string) (*User, error) {
	if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	u, ok := s.UserByEmail(email)
	if !ok {
		return s.CreateUser(ctx, email, "admin", password, true)
	}
	if u.Superuser && CheckPassword(u.PasswordHash, password) {
		return u, nil
	}
	cp := *u
	cp.Superuser = true
	if !CheckPassword(u.PasswordHash, password) {
		cp.PasswordHash = HashPassword(password)
		cp.PasswordVersion++
	}
	return &cp, s.put(ctx, userKey(u.ID), &cp)
}

func userKey(id uint64) string { return "users." + strconv.FormatUint(id, 10) }
