package process

import (
	"slices"
	"sync"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/scrub"
)

// scrubberCache keeps one compiled scrubber per project, rebuilt when the
// project's settings change, so that no event compiles expressions.
type scrubberCache struct {
	mu sync.Mutex // guards m
	m  map[uint64]cachedScrubber
}

type cachedScrubber struct {
	cfg scrub.Config
	s   *scrub.Scrubber
}

func scrubConfig(p *meta.Project) scrub.Config {
	return scrub.Config{DataScrubber: p.ScrubData(), Defaults: p.ScrubDefaults(),
		SensitiveFields: p.SensitiveFields, SafeFields: p.SafeFields, ScrubIPAddresses: p.ScrubIPAddresses}
}

func sameConfig(a, b scrub.Config) bool {
	return a.DataScrubber == b.DataScrubber && a.Defaults == b.Defaults && a.ScrubIPAddresses == b.ScrubIPAddresses &&
		slices.Equal(a.SensitiveFields, b.SensitiveFields) && slices.Equal(a.SafeFields, b.SafeFields)
}

func (c *scrubberCache) get(p *meta.Project) *scrub.Scrubber {
	cfg := scrubConfig(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[p.ID]; ok && sameConfig(e.cfg, cfg) {
		return e.s
	}
	if c.m == nil {
		c.m = map[uint64]cachedScrubber{}
	}
	s := scrub.New(cfg)
	c.m[p.ID] = cachedScrubber{cfg: cfg, s: s}
	return s
}
