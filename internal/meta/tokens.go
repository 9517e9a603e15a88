package meta

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/queue"
)

// Token kinds.
const (
	// TokenUser is a user's API token (Sentry's "sntryu_" tokens); tokens
	// written before kinds existed are user tokens too.
	TokenUser = "user"
	// TokenOrg is an organization token for CI (Sentry's "sntrys_"
	// tokens), bound to one organization, with the scope ScopeOrgCI.
	TokenOrg = "org"
)

// Token formats.
const (
	UserTokenPrefix = "sntryu_"
	OrgTokenPrefix  = "sntrys_"
	// ScopeOrgCI is the only scope of organization tokens.
	ScopeOrgCI = "org:ci"
	// ScopeAll is the bootstrap token's scope: every route.
	ScopeAll = "*"
	// MaxTokensPerOwner bounds the tokens one user (or organization) holds.
	MaxTokensPerOwner = 100
	// MaxTokenName bounds a token's name, in bytes.
	MaxTokenName = 255
)

// Scopes are the scopes a user token may carry: Sentry's.
var Scopes = []string{
	"org:read", "org:write", "org:admin", "org:integrations",
	"project:read", "project:write", "project:admin", "project:releases",
	"team:read", "team:write", "team:admin",
	"member:read", "member:invite", "member:write", "member:admin",
	"event:read", "event:write", "event:admin",
	"alerts:read", "alerts:write",
}

// ValidScope reports whether s is one of Scopes.
func ValidScope(s string) bool { return slices.Contains(Scopes, s) }

// IsOrgToken reports whether the token is an organization token.
func (t *Token) IsOrgToken() bool { return t.Kind == TokenOrg }

// ErrTooMany means an owner holds MaxTokensPerOwner tokens already.
var ErrTooMany = fmt.Errorf("%w: too many tokens", ErrInvalid)

// NewUserToken returns a new user token's value: "sntryu_" and 64 hex
// characters.
func NewUserToken() string { return UserTokenPrefix + randomHex(32) }

// OrgTokenPayload is what an organization token says of itself, as
// sentry-cli reads it.
type OrgTokenPayload struct {
	IAT       float64 `json:"iat"`
	URL       string  `json:"url"`
	RegionURL string  `json:"region_url"`
	Org       string  `json:"org"`
}

// NewOrgToken returns a new organization token's value: "sntrys_", the
// standard base64 (padded) of its payload, "_" and a secret of 32 random
// bytes in unpadded standard base64, the shape sentry-cli accepts.
func NewOrgToken(publicURL, org string, iat time.Time) string {
	p, _ := json.Marshal(OrgTokenPayload{IAT: float64(iat.UnixMilli()) / 1000, URL: publicURL, RegionURL: publicURL, Org: org})
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return OrgTokenPrefix + base64.StdEncoding.EncodeToString(p) + "_" + base64.RawStdEncoding.EncodeToString(secret)
}

// ParseOrgToken reads an organization token's payload and checks its
// secret's shape. It does not authenticate the token.
func ParseOrgToken(tok string) (*OrgTokenPayload, error) {
	rest, ok := strings.CutPrefix(tok, OrgTokenPrefix)
	if !ok || len(rest) > 4096 {
		return nil, errors.New("meta: not an organization token")
	}
	parts := strings.Split(rest, "_")
	if len(parts) != 2 {
		return nil, errors.New("meta: organization token: want payload_secret")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("meta: organization token payload: %w", err)
	}
	var p OrgTokenPayload
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("meta: organization token payload: %w", err)
	}
	if s, err := base64.RawStdEncoding.DecodeString(parts[1]); err != nil || len(s) != 32 {
		return nil, errors.New("meta: organization token: bad secret")
	}
	return &p, nil
}

func lastChars(tok string) string { return tok[len(tok)-4:] }

// CreateUserToken creates a user token with scopes (validated by the
// caller against Scopes) and returns it with its value, which is not
// stored and cannot be read again.
func (s *Store) CreateUserToken(ctx context.Context, userID uint64, name string, scopes []string) (*Token, string, error) {
	value := NewUserToken()
	t := &Token{UserID: userID, Name: name, Scopes: slices.Clone(scopes), Kind: TokenUser}
	return s.createToken(ctx, t, value, len(s.UserTokens(userID)))
}

// CreateOrgToken creates an organization token for org, on behalf of
// user, and returns it with its value.
func (s *Store) CreateOrgToken(ctx context.Context, org *Organization, userID uint64, name, publicURL string) (*Token, string, error) {
	at := now()
	value := NewOrgToken(publicURL, org.Slug, at)
	t := &Token{UserID: userID, Name: name, Scopes: []string{ScopeOrgCI}, Kind: TokenOrg, OrgID: org.ID, DateCreated: at}
	return s.createToken(ctx, t, value, len(s.OrgTokens(org.ID)))
}

func (s *Store) createToken(ctx context.Context, t *Token, value string, held int) (*Token, string, error) {
	if len(t.Name) > MaxTokenName {
		return nil, "", fmt.Errorf("%w: name is longer than %d bytes", ErrInvalid, MaxTokenName)
	}
	if held >= MaxTokensPerOwner {
		return nil, "", ErrTooMany
	}
	id, err := s.NextID(ctx, "token")
	if err != nil {
		return nil, "", err
	}
	t.ID, t.Hash, t.LastChars = id, HashToken(value), lastChars(value)
	if t.DateCreated.IsZero() {
		t.DateCreated = now()
	}
	if err := s.put(ctx, "tokens."+t.Hash, t); err != nil {
		return nil, "", err
	}
	return t, value, nil
}

// UserTokens returns a user's own tokens (not organization tokens), the
// bootstrap token included, oldest first.
func (s *Store) UserTokens(userID uint64) []*Token {
	return s.tokensWhere(func(t *Token) bool { return !t.IsOrgToken() && t.UserID == userID })
}

// OrgTokens returns an organization's tokens, oldest first.
func (s *Store) OrgTokens(orgID uint64) []*Token {
	return s.tokensWhere(func(t *Token) bool { return t.IsOrgToken() && t.OrgID == orgID })
}

func (s *Store) tokensWhere(keep func(*Token) bool) []*Token {
	s.mu.RLock()
	var out []*Token
	for _, t := range s.tokens {
		if keep(t) {
			out = append(out, t)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Token) int {
		if c := a.DateCreated.Compare(b.DateCreated); c != 0 {
			return c
		}
		return cmpID(a.ID, b.ID)
	})
	return out
}

// RevokeUserToken deletes one of a user's tokens by id; every process
// stops accepting it once the deletion reaches its watch (this one at
// once). ErrNotFound if the user has no such token.
func (s *Store) RevokeUserToken(ctx context.Context, userID, id uint64) error {
	return s.revoke(ctx, s.UserTokens(userID), id)
}

// RevokeOrgToken deletes one of an organization's tokens by id.
func (s *Store) RevokeOrgToken(ctx context.Context, orgID, id uint64) error {
	return s.revoke(ctx, s.OrgTokens(orgID), id)
}

func (s *Store) revoke(ctx context.Context, held []*Token, id uint64) error {
	for _, t := range held {
		if t.ID == id && id != 0 {
			return s.del(ctx, "tokens."+t.Hash)
		}
	}
	return ErrNotFound
}

// assignTokenIDs gives an id to the tokens written before tokens had ids
// (a forward, idempotent migration run at start). Processes starting
// together race with compare-and-set: the first write wins, the others
// see it through their watch.
func (s *Store) assignTokenIDs(ctx context.Context) error {
	s.mu.RLock()
	var todo []*Token
	revs := map[string]uint64{}
	for _, t := range s.tokens {
		if t.ID == 0 {
			todo = append(todo, t)
			revs[t.Hash] = s.revs["tokens."+t.Hash]
		}
	}
	s.mu.RUnlock()
	for _, t := range todo {
		id, err := s.NextID(ctx, "token")
		if err != nil {
			return err
		}
		cp := *t
		cp.ID = id
		b, err := json.Marshal(&cp)
		if err != nil {
			return err
		}
		key := "tokens." + t.Hash
		rev, err := s.kv.Update(ctx, key, b, revs[t.Hash])
		if isWrongRevision(err) || errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // changed or revoked meanwhile: the watch brings it
		}
		if err != nil {
			return fmt.Errorf("meta: token ids: %w", err)
		}
		s.apply(key, b, rev, false)
	}
	return nil
}

// TokenUsageConfig configures the token last-use bucket.
type TokenUsageConfig struct {
	// Bucket is the KV bucket; default "faultline-token-usage".
	Bucket string
	// Replicas on a NATS cluster; default 1.
	Replicas int
	// TTL is how long a last use is remembered; default 90 days.
	TTL time.Duration
	// Every is how often at most a token's use is written; default a
	// minute.
	Every time.Duration
}

// Validate fills defaults and checks the values.
func (c *TokenUsageConfig) Validate() error {
	if c.Bucket == "" {
		c.Bucket = "faultline-token-usage"
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.TTL == 0 {
		c.TTL = 90 * 24 * time.Hour
	}
	if c.Every == 0 {
		c.Every = time.Minute
	}
	if c.TTL < 0 || c.Every < 0 {
		return errors.New("meta: token usage TTL and interval must not be negative")
	}
	return nil
}

// maxUsageMemo bounds the per-process memo of recent writes.
const maxUsageMemo = 10000

// TokenUsage records when tokens were last used, in its own KV bucket
// with expiry (never the watched metadata bucket): at most one write per
// token and Every in a process, and none where another process wrote
// within Every.
type TokenUsage struct {
	cfg TokenUsageConfig
	kv  jetstream.KeyValue
	log *slog.Logger

	mu   sync.Mutex
	memo map[string]time.Time // token hash → the last write known to this process
}

// OpenTokenUsage creates the bucket if needed.
func OpenTokenUsage(ctx context.Context, js jetstream.JetStream, cfg TokenUsageConfig, log *slog.Logger) (*TokenUsage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "Faultline: when API tokens were last used",
		History:     1,
		TTL:         cfg.TTL,
		MaxBytes:    64 << 20,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("meta: bucket %s: %w", cfg.Bucket, err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &TokenUsage{cfg: cfg, kv: kv, log: log, memo: map[string]time.Time{}}, nil
}

// Record notes that the token with hash was used at t. It reports whether
// it wrote. Failures are logged (by the token's id, never its hash), not
// returned: a lost last-use time must not fail the request.
func (u *TokenUsage) Record(ctx context.Context, tok *Token, t time.Time) bool {
	u.mu.Lock()
	if last, ok := u.memo[tok.Hash]; ok && t.Sub(last) < u.cfg.Every {
		u.mu.Unlock()
		return false
	}
	if len(u.memo) >= maxUsageMemo {
		for h, last := range u.memo {
			if t.Sub(last) >= u.cfg.Every {
				delete(u.memo, h)
			}
		}
		if len(u.memo) >= maxUsageMemo {
			clear(u.memo)
		}
	}
	u.memo[tok.Hash] = t // until the bucket says otherwise
	u.mu.Unlock()
	// Another process may have written within the interval.
	if last, ok := u.LastUsed(ctx, tok); ok && t.Sub(last) < u.cfg.Every {
		u.mu.Lock()
		u.memo[tok.Hash] = last
		u.mu.Unlock()
		return false
	}
	b := []byte(strconv.FormatInt(t.UnixMilli(), 10))
	if _, err := u.kv.Put(ctx, "t."+tok.Hash, b); err != nil {
		u.log.Warn("meta: token last use not recorded", "token", tok.ID, "err", err)
		return false
	}
	return true
}

// LastUsed returns when the token was last recorded as used.
func (u *TokenUsage) LastUsed(ctx context.Context, tok *Token) (time.Time, bool) {
	e, err := u.kv.Get(ctx, "t."+tok.Hash)
	if err != nil {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(string(e.Value()), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}
