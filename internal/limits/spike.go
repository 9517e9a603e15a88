package limits

import (
	"strconv"
	"sync"
	"time"

	"github.com/faultline/faultline/internal/meta"
)

// Spike protection defaults.
const (
	DefaultSpikeMultiplier = 10
	DefaultSpikeFloor      = 100
	// spikeAlpha weighs the newest window in the baseline (an exponential
	// moving average over roughly the last 20 windows).
	spikeAlpha = 0.05
	// spikeWarmup is how many windows of history a baseline needs before it
	// is trusted.
	spikeWarmup = 5
)

// Spikes caps projects whose event rate jumps far above their baseline.
// Counts are the Limiter's, so they hold across ingest nodes. It is safe
// for concurrent use.
type Spikes struct {
	lim    *Limiter
	window time.Duration
	mu     sync.Mutex // guards state and changed
	state  map[uint64]*spikeState
	// changed holds projects whose active state changed since Changes.
	changed map[uint64]time.Time
}

type spikeState struct {
	baseline float64
	windows  int
	last     int64     // index of the newest window folded into baseline
	active   time.Time // when the cap started; zero when not capped
}

// NewSpikes returns spike protection counting in windows of the given
// length (a minute in production).
func NewSpikes(lim *Limiter, window time.Duration) *Spikes {
	if window <= 0 {
		window = time.Minute
	}
	return &Spikes{lim: lim, window: window, state: map[uint64]*spikeState{}, changed: map[uint64]time.Time{}}
}

func (s *Spikes) quota(pid uint64) Quota {
	return Quota{ID: "s." + strconv.FormatUint(pid, 10), Scope: ScopeProject, Window: s.window, Limit: -1}
}

// Admit counts qty events of project p and refuses them when the project
// spikes and has spike protection on. Every project is counted, so that
// turning protection on finds a baseline ready.
func (s *Spikes) Admit(p *meta.Project, qty int64) *Limited {
	now := s.lim.now()
	q := s.quota(p.ID)
	cur := s.lim.Total(q, now)
	w := int64(s.window / time.Second)
	idx := now.Unix() / w

	s.mu.Lock()
	st := s.state[p.ID]
	if st == nil {
		st = &spikeState{last: idx}
		s.state[p.ID] = st
	}
	for st.last < idx-1 && idx-st.last < 1000 {
		// Fold the windows that ended since the last event: the one just
		// before this one has a count, older empty ones count zero.
		st.last++
		var n int64
		if st.last == idx-1 {
			n = s.lim.Total(q, now.Add(-s.window))
		}
		if st.windows == 0 {
			st.baseline = float64(n)
		} else {
			st.baseline += spikeAlpha * (float64(n) - st.baseline)
		}
		st.windows++
	}
	if idx-st.last >= 1000 {
		st.last = idx - 1
	}
	sp := p.SpikeProtection
	var refused *Limited
	if sp != nil && sp.Enabled && st.windows >= spikeWarmup {
		mult, floor := sp.Multiplier, sp.Floor
		if mult <= 0 {
			mult = DefaultSpikeMultiplier
		}
		if floor <= 0 {
			floor = DefaultSpikeFloor
		}
		limit := max(float64(floor), mult*st.baseline)
		if float64(cur+qty) > limit {
			end := time.Unix((idx+1)*w, 0)
			refused = &Limited{RetryAfter: end.Sub(now), Categories: eventCategories, Scope: ScopeProject, Reason: ReasonSpike}
			if st.active.IsZero() {
				st.active = now
				s.changed[p.ID] = now
			}
		}
	}
	if refused == nil && !st.active.IsZero() {
		st.active = time.Time{}
		s.changed[p.ID] = time.Time{}
	}
	s.mu.Unlock()
	if refused == nil {
		s.lim.Count(q, qty)
	}
	return refused
}

// Active reports whether project pid is capped here, and since when.
func (s *Spikes) Active(pid uint64) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.state[pid]; st != nil && !st.active.IsZero() {
		return st.active, true
	}
	return time.Time{}, false
}

// Changes returns the projects whose cap started (a time) or ended (zero)
// since the last call.
func (s *Spikes) Changes() map[uint64]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.changed
	s.changed = map[uint64]time.Time{}
	return out
}
