package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/faultline/faultline/internal/limits"
	"github.com/faultline/faultline/internal/meta"
)

// SpikeStatus tells whether spike protection caps a project now.
type SpikeStatus interface {
	Spike(ctx context.Context, projectID uint64) (since time.Time, active bool)
}

// limitsUpdate is the part of a project PUT body that sets rate limits:
//
//	"rateLimits": {"error": {"perMinute": 100, "perHour": 2000}, "attachment": {"perHour": 10485760}}
//	"spikeProtection": {"enabled": true, "multiplier": 10, "floor": 100}
type limitsUpdate struct {
	RateLimits      *map[string]meta.CategoryLimit `json:"rateLimits"`
	SpikeProtection *json.RawMessage               `json:"spikeProtection"`
}

// applyLimits validates and applies the rate-limit fields of a PUT body.
func applyLimits(p *meta.Project, raw []byte) error {
	var b limitsUpdate
	if err := json.Unmarshal(raw, &b); err != nil {
		return jsonError(err)
	}
	if b.RateLimits != nil {
		rl := map[string]meta.CategoryLimit{}
		for cat, l := range *b.RateLimits {
			if !limits.ValidCategory(cat) {
				return errorf(http.StatusBadRequest, "rateLimits: unknown category %q (want one of %v)", cat, limits.Categories)
			}
			if l.PerMinute < 0 || l.PerHour < 0 {
				return errorf(http.StatusBadRequest, "rateLimits.%s: limits must not be negative", cat)
			}
			if l.PerMinute > 0 || l.PerHour > 0 {
				rl[cat] = l
			}
		}
		p.RateLimits = rl
	}
	if b.SpikeProtection != nil {
		var sp meta.SpikeProtection
		if string(*b.SpikeProtection) != "null" {
			if err := json.Unmarshal(*b.SpikeProtection, &sp); err != nil {
				return errorf(http.StatusBadRequest, "spikeProtection: %s", jsonError(err).Detail)
			}
			if sp.Multiplier < 0 || sp.Multiplier > 1000 || sp.Floor < 0 {
				return errorf(http.StatusBadRequest, "spikeProtection: multiplier must be 0 to 1000 and floor not negative")
			}
		}
		p.SpikeProtection = &sp
	}
	return nil
}

// serializeLimits adds a project's rate limits and spike protection state.
func (a *API) serializeLimits(out map[string]any, p *meta.Project) {
	rl := p.RateLimits
	if rl == nil {
		rl = map[string]meta.CategoryLimit{}
	}
	out["rateLimits"] = rl
	sp := map[string]any{"enabled": false, "multiplier": limits.DefaultSpikeMultiplier, "floor": limits.DefaultSpikeFloor,
		"active": false, "activeSince": nil}
	if s := p.SpikeProtection; s != nil {
		sp["enabled"] = s.Enabled
		if s.Multiplier > 0 {
			sp["multiplier"] = s.Multiplier
		}
		if s.Floor > 0 {
			sp["floor"] = s.Floor
		}
	}
	if a.cfg.Spikes != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if since, on := a.cfg.Spikes.Spike(ctx, p.ID); on {
			sp["active"], sp["activeSince"] = true, since.UTC().Format(time.RFC3339)
		}
		cancel()
	}
	out["spikeProtection"] = sp
}
