package limits

import (
	"strconv"
	"time"

	"github.com/faultline/faultline/internal/meta"
)

// Reason codes in X-Sentry-Rate-Limits.
const (
	ReasonKeyQuota     = "key_quota"
	ReasonProjectQuota = "project_quota"
	ReasonSpike        = "spike_protection"
)

// eventCategories are what a DSN key's rate limit counts, as in Sentry:
// events of every kind, not attachments or sessions.
var eventCategories = []string{CategoryError, CategoryDefault, CategorySecurity, CategoryTransaction}

// Categories project limits may be set for.
var Categories = []string{CategoryError, CategoryTransaction, CategorySecurity, CategoryAttachment, CategorySession, CategoryDefault}

// ValidCategory reports whether c may carry a project rate limit.
func ValidCategory(c string) bool {
	for _, k := range Categories {
		if k == c {
			return true
		}
	}
	return false
}

// ForProject returns the quotas that apply to a request authenticated with
// key for project p: the key's rateLimit ({window, count}, Sentry's shape)
// and the project's per-category limits per minute and per hour.
func ForProject(key *meta.Key, p *meta.Project) []Quota {
	var qs []Quota
	if rl := key.RateLimit; rl != nil && rl.Window > 0 {
		qs = append(qs, Quota{ID: "k." + key.Public, Scope: ScopeKey, Categories: eventCategories,
			Window: time.Duration(rl.Window) * time.Second, Limit: int64(rl.Count), Reason: ReasonKeyQuota})
	}
	pid := strconv.FormatUint(p.ID, 10)
	for cat, l := range p.RateLimits {
		if !ValidCategory(cat) {
			continue
		}
		cats := []string{cat}
		if cat == CategoryError {
			cats = []string{CategoryError, CategoryDefault} // message events count as errors
		}
		if l.PerMinute > 0 {
			qs = append(qs, Quota{ID: "p." + pid + "." + cat + ".m", Scope: ScopeProject, Categories: cats,
				Window: time.Minute, Limit: l.PerMinute, Reason: ReasonProjectQuota})
		}
		if l.PerHour > 0 {
			qs = append(qs, Quota{ID: "p." + pid + "." + cat + ".h", Scope: ScopeProject, Categories: cats,
				Window: time.Hour, Limit: l.PerHour, Reason: ReasonProjectQuota})
		}
	}
	return qs
}

// Enforcer applies a project's quotas and spike protection to ingest
// requests. It is safe for concurrent use.
type Enforcer struct {
	Limiter *Limiter
	Spikes  *Spikes // nil: no spike protection
}

// Admit checks qty units of category for a request authenticated with key
// for p, and counts them if admitted.
func (e *Enforcer) Admit(key *meta.Key, p *meta.Project, category string, qty int64) []Limited {
	if ls := e.Limiter.Admit(ForProject(key, p), category, qty); ls != nil {
		return ls
	}
	if e.Spikes != nil && isEvent(category) {
		if l := e.Spikes.Admit(p, qty); l != nil {
			return []Limited{*l}
		}
	}
	return nil
}

func isEvent(category string) bool {
	for _, c := range eventCategories {
		if c == category {
			return true
		}
	}
	return false
}
