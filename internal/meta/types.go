package meta

import (
	"time"
)

// Organization is a tenant: teams, projects and members belong to one.
type Organization struct {
	ID          uint64    `json:"id"`
	Slug        string    `json:"slug"`
	Name        string    `json:"name"`
	DateCreated time.Time `json:"dateCreated"`
	// Members is the flat list of member user ids that earlier versions
	// kept; the migration at start turns it into owner memberships
	// (Member) and clears it. Read it only to migrate.
	Members []uint64 `json:"members,omitempty"`
	// Status is "" (active) or StatusPendingDeletion.
	Status string `json:"status,omitempty"`
	// OpenMembership is Sentry's organization setting of that name (off
	// unless set; organizations stored before it existed read as off):
	// members may join any team, and members and admins see every
	// project, not only their teams'.
	OpenMembership bool `json:"openMembership,omitempty"`

	// roles is the role of each joined member, by user id: the store
	// fills it from the memberships, and replaces the organization when
	// they change.
	roles map[uint64]string
}

// HasMember reports whether user belongs to the organization (a joined
// membership, or a flat-list member not migrated yet).
func (o *Organization) HasMember(userID uint64) bool {
	if _, ok := o.roles[userID]; ok {
		return true
	}
	for _, m := range o.Members {
		if m == userID {
			return true
		}
	}
	return false
}

// Role returns the organization role of user ("" if not a member). A
// flat-list member not migrated yet is an owner, as the migration makes it.
func (o *Organization) Role(userID uint64) string {
	if r, ok := o.roles[userID]; ok {
		return r
	}
	for _, m := range o.Members {
		if m == userID {
			return "owner"
		}
	}
	return ""
}

// Team groups projects inside an organization.
type Team struct {
	ID          uint64    `json:"id"`
	OrgID       uint64    `json:"orgId"`
	Slug        string    `json:"slug"`
	Name        string    `json:"name"`
	DateCreated time.Time `json:"dateCreated"`
}

// Project statuses.
const (
	ProjectActive   = "active"
	ProjectDisabled = "disabled"
	// StatusPendingDeletion marks a project or an organization whose data
	// a deletion job is removing: ingest refuses it, the API hides it and
	// workers drop its queued events.
	StatusPendingDeletion = "pending_deletion"
)

// Project receives events through its DSN keys.
type Project struct {
	ID          uint64    `json:"id"`
	OrgID       uint64    `json:"orgId"`
	TeamIDs     []uint64  `json:"teamIds"`
	Slug        string    `json:"slug"`
	Name        string    `json:"name"`
	Platform    string    `json:"platform"`
	Status      string    `json:"status"`
	DateCreated time.Time `json:"dateCreated"`
	// RetentionDays is how long events are kept.
	RetentionDays int `json:"retentionDays"`
	// AllowedOrigins lists the browser origins allowed to send events; "*"
	// allows any.
	AllowedOrigins []string `json:"allowedOrigins"`
	// Data scrubbing, Sentry's project fields of the same names. The
	// booleans are pointers so that a project stored before they existed
	// gets Sentry's defaults (see ScrubData and ScrubDefaults).
	DataScrubber         *bool    `json:"dataScrubber,omitempty"`
	DataScrubberDefaults *bool    `json:"dataScrubberDefaults,omitempty"`
	SensitiveFields      []string `json:"sensitiveFields,omitempty"`
	SafeFields           []string `json:"safeFields,omitempty"`
	ScrubIPAddresses     bool     `json:"scrubIPAddresses,omitempty"`
	// RateLimits are per data category ("error", "transaction",
	// "attachment" in bytes, "session"...), enforced across ingest nodes.
	RateLimits map[string]CategoryLimit `json:"rateLimits,omitempty"`
	// SpikeProtection caps the project when its rate jumps far above its
	// recent baseline.
	SpikeProtection *SpikeProtection `json:"spikeProtection,omitempty"`
}

// CategoryLimit is a project's limit for one data category; zero means no
// limit for that window.
type CategoryLimit struct {
	PerMinute int64 `json:"perMinute,omitempty"`
	PerHour   int64 `json:"perHour,omitempty"`
}

// SpikeProtection settings: when a project's events in the current minute
// exceed Multiplier times its baseline (the average minute of the last
// hour), and at least Floor, further events of that minute are refused.
type SpikeProtection struct {
	Enabled    bool    `json:"enabled"`
	Multiplier float64 `json:"multiplier,omitempty"`
	Floor      int64   `json:"floor,omitempty"`
}

// ScrubData reports whether data scrubbing is on (Sentry's default: on).
func (p *Project) ScrubData() bool { return p.DataScrubber == nil || *p.DataScrubber }

// ScrubDefaults reports whether the default scrubbing rules apply
// (Sentry's default: yes).
func (p *Project) ScrubDefaults() bool {
	return p.DataScrubberDefaults == nil || *p.DataScrubberDefaults
}

// DefaultRetentionDays is a new project's retention.
const DefaultRetentionDays = 90

// Key is a DSN key (Sentry's ProjectKey). Its public part authenticates
// ingest requests.
type Key struct {
	ID          string     `json:"id"` // the public key, as Sentry's API does
	ProjectID   uint64     `json:"projectId"`
	Label       string     `json:"label"`
	Public      string     `json:"public"`
	Secret      string     `json:"secret"`
	Active      bool       `json:"isActive"`
	DateCreated time.Time  `json:"dateCreated"`
	RateLimit   *RateLimit `json:"rateLimit,omitempty"`
}

// RateLimit is Sentry's per-key limit: Count events per Window seconds.
type RateLimit struct {
	Window int `json:"window"`
	Count  int `json:"count"`
}

// User is a person or a service account.
type User struct {
	ID          uint64    `json:"id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Superuser   bool      `json:"superuser"`
	DateCreated time.Time `json:"dateCreated"`
	// PasswordHash is the argon2id hash of the user's password (PHC
	// string, see HashPassword); empty for users without a password.
	PasswordHash string `json:"passwordHash,omitempty"`
	// PasswordVersion counts password changes: a session made under an
	// older version is revoked.
	PasswordVersion uint64 `json:"passwordVersion,omitempty"`
	// Identities are the single sign-on identities linked to the user
	// (absent in records written before sign-on existed).
	Identities []Identity `json:"identities,omitempty"`
}

// Identity is a user's account at an OpenID Connect provider: the ID
// token's issuer and subject, which never change for that account.
type Identity struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
}

// Token is an API bearer token. Only its SHA-256 is stored.
type Token struct {
	Hash        string    `json:"hash"`
	UserID      uint64    `json:"userId"`
	Name        string    `json:"name"`
	Scopes      []string  `json:"scopes"`
	DateCreated time.Time `json:"dateCreated"`
	// Bootstrap marks the token created from FAULTLINE_ADMIN_TOKEN: a
	// restart with another value replaces it.
	Bootstrap bool `json:"bootstrap,omitempty"`
	// ID is the token's public id (tokens written before it existed get
	// one at start, see Open).
	ID uint64 `json:"id,omitempty"`
	// Kind is TokenUser ("" for tokens written before kinds existed) or
	// TokenOrg.
	Kind string `json:"kind,omitempty"`
	// OrgID binds an organization token to its organization.
	OrgID uint64 `json:"orgId,omitempty"`
	// LastChars are the token's last characters, shown to tell tokens
	// apart without revealing them.
	LastChars string `json:"lastChars,omitempty"`
}

// BootstrapTokenName names the token created from FAULTLINE_ADMIN_TOKEN.
const BootstrapTokenName = "FAULTLINE_ADMIN_TOKEN"
