// Package oidc is Faultline's single sign-on through an OpenID Connect
// provider (GitLab, Google, Keycloak, Okta...): the authorization code flow
// with PKCE (S256), a state and a nonce, and the ID token verified by
// go-oidc.
//
// A login in progress (a "flow") is kept server-side, in a NATS KV bucket
// with a short TTL, under the SHA-256 of a random value that only the
// browser's short-lived, HttpOnly, SameSite=Lax cookie holds. The callback
// must bring both that cookie and the flow's state; the flow is consumed
// (deleted with compare-and-set) before the code is exchanged, so that a
// replayed callback finds nothing, on any node.
//
// The provider's discovery document is fetched lazily: a server whose
// provider cannot be reached still starts (with a warning), and the login
// button retries discovery, answering a clear error while it fails.
package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/session"
)

// FlowsBucket keeps logins in progress.
const FlowsBucket = "faultline-oidc-flows"

// CallbackPath is the redirect URI's path: register PublicURL+CallbackPath
// at the provider.
const CallbackPath = "/auth/oidc/callback/"

// LoginPath starts a login.
const LoginPath = "/auth/oidc/login/"

// Config configures single sign-on. An empty Issuer turns it off.
type Config struct {
	// Issuer is the provider's issuer URL (its discovery document is at
	// Issuer/.well-known/openid-configuration).
	Issuer string
	// ClientID and ClientSecret identify Faultline at the provider.
	ClientID, ClientSecret string
	// Name is shown on the login button: "Sign in with <Name>".
	Name string
	// AllowedDomains are the e-mail domains allowed to log in (lower
	// case, exact match); empty allows any.
	AllowedDomains []string
	// DefaultOrg is the slug of the organization that users created by a
	// sign-on join, with DefaultRole (member); empty joins none.
	DefaultOrg, DefaultRole string
	// PublicURL is how browsers reach Faultline: the redirect URI is
	// PublicURL+CallbackPath.
	PublicURL string
	// Scopes requested (openid, email, profile).
	Scopes []string
	// FlowTTL is how long a login may take at the provider (10 minutes).
	FlowTTL time.Duration
	// Timeout bounds each request to the provider (10 seconds).
	Timeout time.Duration
	// RetryInterval is the least time between two discovery attempts
	// after one failed (5 seconds).
	RetryInterval time.Duration
	// Replicas of the flows bucket on a NATS cluster (never lowered).
	Replicas int
	// MaxStartsPerClient bounds the logins one client address starts in
	// a FlowTTL on one node (30), so that nobody fills the flows bucket.
	MaxStartsPerClient int
}

// Enabled reports whether single sign-on is configured.
func (c *Config) Enabled() bool { return c.Issuer != "" }

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if !c.Enabled() {
		if c.ClientID != "" || c.ClientSecret != "" || len(c.AllowedDomains) > 0 || c.DefaultOrg != "" {
			return errors.New("oidc: --oidc-client-id, --oidc-client-secret, --oidc-allowed-domains and --oidc-default-org need --oidc-issuer")
		}
		return nil
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("oidc: --oidc-issuer %q must be an http(s) URL without query, like https://gitlab.example.com", c.Issuer)
	}
	if c.ClientID == "" {
		return errors.New("oidc: --oidc-client-id is required with --oidc-issuer")
	}
	if c.Name == "" {
		c.Name = "single sign-on"
	}
	if len(c.Name) > 100 {
		return errors.New("oidc: --oidc-name must be at most 100 characters long")
	}
	domains := c.AllowedDomains[:0:0]
	for _, d := range c.AllowedDomains {
		d = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(d), "@")))
		if d == "" {
			continue
		}
		if strings.ContainsAny(d, "@/ \t") || !strings.Contains(d, ".") && d != "localhost" {
			return fmt.Errorf("oidc: --oidc-allowed-domains: %q is not an e-mail domain", d)
		}
		domains = append(domains, d)
	}
	c.AllowedDomains = domains
	if c.DefaultRole == "" {
		c.DefaultRole = authz.Member
	}
	if !authz.Valid(c.DefaultRole) {
		return fmt.Errorf("oidc: --oidc-default-role %q is not a role (member, admin, manager or owner)", c.DefaultRole)
	}
	p, err := url.Parse(c.PublicURL)
	if err != nil || p.Scheme == "" || p.Host == "" {
		return fmt.Errorf("oidc: public URL %q must be like https://host", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if len(c.Scopes) == 0 {
		c.Scopes = []string{gooidc.ScopeOpenID, "email", "profile"}
	}
	if c.FlowTTL <= 0 {
		c.FlowTTL = 10 * time.Minute
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 5 * time.Second
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.MaxStartsPerClient <= 0 {
		c.MaxStartsPerClient = 30
	}
	return nil
}

// RedirectURL is the callback URL to register at the provider.
func (c *Config) RedirectURL() string { return c.PublicURL + CallbackPath }

// DomainAllowed reports whether an e-mail's domain may log in.
func (c *Config) DomainAllowed(email string) bool {
	if len(c.AllowedDomains) == 0 {
		return true
	}
	at := strings.IndexByte(email, '@')
	if at < 0 || strings.Count(email, "@") != 1 {
		return false
	}
	return slices.Contains(c.AllowedDomains, strings.ToLower(email[at+1:]))
}

// Errors a login can end with; the web pages explain each.
var (
	// ErrUnavailable: the provider cannot be reached (discovery failed).
	ErrUnavailable = errors.New("oidc: the sign-on provider cannot be reached")
	// ErrNoFlow: no login in progress matches the callback (no or an
	// unknown cookie, a tampered state, an expired or replayed callback).
	ErrNoFlow = errors.New("oidc: no sign-on in progress matches this answer")
	// ErrState (an ErrNoFlow): the answer's state is not the login's.
	ErrState = fmt.Errorf("%w: wrong state", ErrNoFlow)
	// ErrProvider: the provider answered with an error or a bad token.
	ErrProvider = errors.New("oidc: the sign-on provider refused or answered badly")
	// ErrTooMany: the client address started too many logins lately.
	ErrTooMany = errors.New("oidc: too many sign-ons started from this address")
)

// maxClients bounds the addresses the start limiter counts.
const maxClients = 1 << 16

// starts counts the logins each client address started in the current
// window (FlowTTL long).
type starts struct {
	mu     sync.Mutex
	window time.Time
	counts map[string]int
}

// allow counts a start from addr and reports whether it is within limit.
func (st *starts) allow(addr string, limit int, window time.Duration, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.counts == nil || now.Sub(st.window) >= window {
		st.window, st.counts = now, map[string]int{}
	}
	n, ok := st.counts[addr]
	if !ok && len(st.counts) >= maxClients || n >= limit {
		return false
	}
	st.counts[addr] = n + 1
	return true
}

// Identity is what the provider says about who logged in.
type Identity struct {
	Issuer, Subject string
	Email           string
	EmailVerified   bool
	Name            string
	// Next is where the login asked to go (a local path).
	Next string
}

// flow is a login in progress, stored under the hash of its cookie value.
type flow struct {
	State    string    `json:"state"`
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"`
	Next     string    `json:"next"`
	Created  time.Time `json:"created"`
}

// SSO runs logins through one provider.
type SSO struct {
	cfg   Config
	log   *slog.Logger
	flows jetstream.KeyValue
	http  *http.Client

	starts starts

	mu        sync.Mutex
	provider  *gooidc.Provider
	lastTry   time.Time
	lastError error
}

// New opens the flows bucket and tries discovery once in the background;
// a provider that cannot be reached yet only logs a warning.
func New(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) (*SSO, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("oidc: not configured")
	}
	if log == nil {
		log = slog.Default()
	}
	flows, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:       FlowsBucket,
		Description:  "Faultline: single sign-on logins in progress, by the hash of their cookie",
		History:      1,
		TTL:          cfg.FlowTTL,
		MaxBytes:     16 << 20,
		MaxValueSize: 2048,
		Storage:      jetstream.FileStorage,
		Replicas:     cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	s := &SSO{cfg: cfg, log: log, flows: flows, http: &http.Client{Timeout: cfg.Timeout}}
	go func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Timeout)
		defer cancel()
		if _, err := s.discover(dctx); err != nil {
			log.Warn("single sign-on: the provider cannot be reached yet; the login button retries", "issuer", cfg.Issuer, "err", err)
		} else {
			log.Info("single sign-on ready", "issuer", cfg.Issuer, "redirect_uri", cfg.RedirectURL())
		}
	}()
	return s, nil
}

// Config returns the configuration in effect.
func (s *SSO) Config() Config { return s.cfg }

// discover returns the provider, fetching its discovery document if it
// has not been yet (at most once a RetryInterval after a failure).
func (s *SSO) discover(ctx context.Context) (*gooidc.Provider, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.provider != nil {
		return s.provider, nil
	}
	if !s.lastTry.IsZero() && time.Since(s.lastTry) < s.cfg.RetryInterval {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, s.lastError)
	}
	s.lastTry = time.Now()
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, s.http), s.cfg.Issuer)
	if err != nil {
		s.lastError = err
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	s.provider = p
	return p, nil
}

func (s *SSO) oauth2(p *gooidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: s.cfg.ClientID, ClientSecret: s.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: s.cfg.RedirectURL(), Scopes: s.cfg.Scopes}
}

func flowKey(cookie string) string {
	h := sha256.Sum256([]byte(cookie))
	return "f." + hex.EncodeToString(h[:])
}

// Begin starts a login from the client address addr that goes to next (a
// local path) afterwards. It returns the flow cookie's value and the
// provider's URL to redirect to.
func (s *SSO) Begin(ctx context.Context, addr, next string) (cookie, authURL string, err error) {
	if !s.starts.allow(addr, s.cfg.MaxStartsPerClient, s.cfg.FlowTTL, time.Now()) {
		return "", "", ErrTooMany
	}
	p, err := s.discover(ctx)
	if err != nil {
		return "", "", err
	}
	cookie = session.NewToken()
	f := flow{State: session.NewToken(), Nonce: session.NewToken(), Verifier: oauth2.GenerateVerifier(), Next: next,
		Created: time.Now().UTC()}
	b, _ := json.Marshal(&f)
	if _, err := s.flows.Create(ctx, flowKey(cookie), b); err != nil {
		return "", "", fmt.Errorf("oidc: store the login: %w", err)
	}
	authURL = s.oauth2(p).AuthCodeURL(f.State, gooidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	return cookie, authURL, nil
}

// Finish completes a login: cookie is the flow cookie's value, query the
// callback's query string. Once the state matches, the flow is consumed
// before anything else, so that a callback is never accepted twice; a
// wrong state (ErrState) leaves it for the right answer.
func (s *SSO) Finish(ctx context.Context, cookie string, query url.Values) (*Identity, error) {
	if cookie == "" || len(cookie) > 128 {
		return nil, ErrNoFlow
	}
	key := flowKey(cookie)
	e, err := s.flows.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrNoFlow
	}
	if err != nil {
		return nil, fmt.Errorf("oidc: read the login: %w", err)
	}
	var f flow
	if err := json.Unmarshal(e.Value(), &f); err != nil || time.Since(f.Created) > s.cfg.FlowTTL {
		return nil, ErrNoFlow
	}
	// A wrong state leaves the flow alone: a link with a forged answer
	// must not cancel the browser's login in progress.
	if subtle.ConstantTimeCompare([]byte(query.Get("state")), []byte(f.State)) != 1 {
		return nil, ErrState
	}
	// Consume it: a concurrent replay loses the compare-and-set.
	if err := s.flows.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		return nil, ErrNoFlow
	}
	if code := query.Get("error"); code != "" {
		return nil, fmt.Errorf("%w: %s", ErrProvider, truncate(code+": "+query.Get("error_description"), 200))
	}
	code := query.Get("code")
	if code == "" {
		return nil, fmt.Errorf("%w: no code in the answer", ErrProvider)
	}
	p, err := s.discover(ctx)
	if err != nil {
		return nil, err
	}
	hctx := gooidc.ClientContext(ctx, s.http)
	conf := s.oauth2(p)
	tok, err := conf.Exchange(hctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return nil, fmt.Errorf("%w: exchanging the code: %v", ErrProvider, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, fmt.Errorf("%w: no ID token", ErrProvider)
	}
	idt, err := p.Verifier(&gooidc.Config{ClientID: s.cfg.ClientID}).Verify(hctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProvider, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return nil, fmt.Errorf("%w: the ID token's nonce is not the login's", ErrProvider)
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		return nil, fmt.Errorf("%w: ID token claims: %v", ErrProvider, err)
	}
	id := &Identity{Issuer: idt.Issuer, Subject: idt.Subject, Next: f.Next}
	c.fill(id)
	if id.Email == "" {
		// Providers may keep the e-mail out of the ID token when they give
		// an access token (OpenID Connect Core 5.4): ask userinfo.
		ui, err := p.UserInfo(hctx, conf.TokenSource(hctx, tok))
		if err != nil {
			return nil, fmt.Errorf("%w: userinfo: %v", ErrProvider, err)
		}
		if ui.Subject != idt.Subject {
			return nil, fmt.Errorf("%w: userinfo is about another subject", ErrProvider)
		}
		var uc claims
		if err := ui.Claims(&uc); err != nil {
			return nil, fmt.Errorf("%w: userinfo claims: %v", ErrProvider, err)
		}
		uc.fill(id)
	}
	return id, nil
}

// claims are the ID token's and userinfo's claims Faultline reads.
// email_verified is a boolean, but some providers send a string.
type claims struct {
	Email             string          `json:"email"`
	EmailVerified     json.RawMessage `json:"email_verified"`
	Name              string          `json:"name"`
	PreferredUsername string          `json:"preferred_username"`
	GivenName         string          `json:"given_name"`
	FamilyName        string          `json:"family_name"`
}

func (c *claims) fill(id *Identity) {
	if c.Email == "" {
		return
	}
	id.Email = strings.TrimSpace(c.Email)
	v := strings.Trim(string(c.EmailVerified), `"`)
	id.EmailVerified = v == "true"
	id.Name = strings.TrimSpace(c.Name)
	if id.Name == "" {
		id.Name = strings.TrimSpace(c.GivenName + " " + c.FamilyName)
	}
	if id.Name == "" {
		id.Name = c.PreferredUsername
	}
	id.Name = truncate(id.Name, 200)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s[:n])
	return string(r[:len(r)-1])
}
