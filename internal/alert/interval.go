package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/queue"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

// Intervals keeps the action interval: a rule fires at most once per issue
// per its frequency. One KV record per (rule, issue) holds the key of the
// last firing and until when it holds, in its own bucket (not the metadata
// bucket every process loads), whose records expire after the longest
// interval.
type Intervals struct {
	kv jetstream.KeyValue
}

// OpenIntervals creates the bucket if needed.
func OpenIntervals(ctx context.Context, js jetstream.JetStream, replicas int) (*Intervals, error) {
	if replicas <= 0 {
		replicas = 1
	}
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      "faultline-alert-intervals",
		Description: "Faultline alert rules: the last firing per rule and issue (action interval)",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		TTL:         (MaxFrequency + 24*60) * time.Minute,
		MaxBytes:    1 << 30,
	})
	if err != nil {
		return nil, fmt.Errorf("alert: intervals bucket: %w", err)
	}
	return &Intervals{kv: kv}, nil
}

type lastFiring struct {
	Key   string `json:"key"`
	Until int64  `json:"until"` // unix milliseconds
}

// Claim reports whether the firing key of rule for group may go out at
// now: no other firing holds the interval, or, when again is set (events
// processed before: a redelivery or a retry), the one that holds it is
// this one, which must be queued again with its key. A claim is a
// compare-and-set, so two workers never both fire within one interval.
func (iv *Intervals) Claim(ctx context.Context, ruleID, groupID uint64, key string, every time.Duration, now time.Time, again bool) (bool, error) {
	k := "r." + strconv.FormatUint(ruleID, 10) + ".g." + strconv.FormatUint(groupID, 10)
	val, _ := json.Marshal(lastFiring{Key: key, Until: now.Add(every).UnixMilli()})
	for attempt := 0; attempt < 10; attempt++ {
		e, err := iv.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			if _, err := iv.kv.Create(ctx, k, val); err == nil {
				return true, nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return false, err
			}
			continue
		}
		if err != nil {
			return false, err
		}
		var last lastFiring
		json.Unmarshal(e.Value(), &last) //nolint:errcheck // a bad record is an expired one
		if last.Key == key {
			return again, nil
		}
		if now.UnixMilli() < last.Until {
			return false, nil
		}
		if _, err := iv.kv.Update(ctx, k, val, e.Revision()); err == nil {
			return true, nil
		}
	}
	return false, errors.New("alert: action interval: too much contention")
}

// Rules are a project's rules (the metadata store's cache).
type Rules interface {
	Rules(projectID uint64) []*meta.Rule
}

// Counter reads the windowed per-issue counters (store.WindowCounts).
type Counter interface {
	WindowCounts(ctx context.Context, projectID uint64, groupIDs []uint64, environment string, window time.Duration, now time.Time) (map[uint64]store.WindowCount, error)
}

// IssueStats reads what the age, occurrences and latest-release filters
// need: per batch and project, one aggregate query for the candidate
// issues (store.IssueTotals, on group_hourly) and the project's latest
// release (store.LatestRelease), never a scan of events per event.
type IssueStats interface {
	IssueTotals(ctx context.Context, projectID uint64, groupIDs []uint64) (map[uint64]store.IssueTotal, error)
	LatestRelease(ctx context.Context, projectID uint64) (string, error)
}

// Evaluator evaluates the rules of the projects a batch touched.
type Evaluator struct {
	rules     Rules
	intervals *Intervals
	counter   Counter    // nil: frequency conditions never fire
	stats     IssueStats // nil: the issue filters see only the event at hand
}

// NewEvaluator returns an evaluator; counter may be nil. When counter
// also reads issue totals and releases (the store does), the age,
// occurrences and latest-release filters use it.
func NewEvaluator(rules Rules, intervals *Intervals, counter Counter) *Evaluator {
	e := &Evaluator{rules: rules, intervals: intervals, counter: counter}
	if st, ok := counter.(IssueStats); ok {
		e.stats = st
	}
	return e
}

// fillStats reads the issue totals and latest releases the candidates'
// rules need: at most two queries per project of the batch.
func (e *Evaluator) fillStats(ctx context.Context, cands []Candidate) error {
	if e.stats == nil {
		return nil
	}
	byProject := map[uint64][]int{}
	for i := range cands {
		byProject[cands[i].ProjectID] = append(byProject[cands[i].ProjectID], i)
	}
	for pid, idx := range byProject {
		totals, latest := needs(e.rules.Rules(pid))
		if totals {
			groups := make([]uint64, 0, len(idx))
			for _, i := range idx {
				groups = append(groups, cands[i].GroupID)
			}
			t, err := e.stats.IssueTotals(ctx, pid, groups)
			if err != nil {
				return err
			}
			for _, i := range idx {
				cands[i].totals, cands[i].hasTotals = t[cands[i].GroupID], true
			}
		}
		if latest {
			v, err := e.stats.LatestRelease(ctx, pid)
			if err != nil {
				return err
			}
			for _, i := range idx {
				cands[i].latestRelease = v
			}
		}
	}
	return nil
}

// Frequency reports whether a project has rules with frequency
// conditions, for which the worker makes frequency candidates.
func (e *Evaluator) Frequency(projectID uint64) bool {
	return e.counter != nil && HasFrequency(e.rules.Rules(projectID))
}

// fillCounts reads, for the frequency candidates, the counters their
// projects' rules need: one query per project, window and environment.
func (e *Evaluator) fillCounts(ctx context.Context, cands []Candidate) error {
	byProject := map[uint64][]int{}
	for i := range cands {
		if cands[i].Trigger == TriggerFrequency {
			byProject[cands[i].ProjectID] = append(byProject[cands[i].ProjectID], i)
		}
	}
	for pid, idx := range byProject {
		keys := map[countKey]bool{}
		for _, r := range e.rules.Rules(pid) {
			for _, raw := range r.Conditions {
				var n node
				if json.Unmarshal(raw, &n) == nil && frequency[n.str("id")] {
					keys[countKey{n.str("interval"), r.Environment}] = true
				}
			}
		}
		if len(keys) == 0 || e.counter == nil {
			continue
		}
		groups := make([]uint64, 0, len(idx))
		for _, i := range idx {
			groups = append(groups, cands[i].GroupID)
		}
		for k := range keys {
			w, ok := Windows[k.interval]
			if !ok {
				continue
			}
			counts, err := e.counter.WindowCounts(ctx, pid, groups, k.env, w, cands[idx[0]].At)
			if err != nil {
				return err
			}
			for _, i := range idx {
				if cands[i].counts == nil {
					cands[i].counts = map[countKey]store.WindowCount{}
				}
				cands[i].counts[k] = counts[cands[i].GroupID]
			}
		}
	}
	return nil
}

// Evaluate returns what fires for the candidates: each rule that matches,
// unless its action interval for the issue is held by another firing.
// Reads: the rules from memory, and one KV read (and write) per matching
// rule and issue.
func (e *Evaluator) Evaluate(ctx context.Context, cands []Candidate) ([]Fired, error) {
	if err := e.fillCounts(ctx, cands); err != nil {
		return nil, fmt.Errorf("alert: counters: %w", err)
	}
	if err := e.fillStats(ctx, cands); err != nil {
		return nil, fmt.Errorf("alert: issue totals: %w", err)
	}
	var out []Fired
	for i := range cands {
		c := &cands[i]
		for _, r := range e.rules.Rules(c.ProjectID) {
			if !Matches(r, c) {
				continue
			}
			f := Fire(r, c)
			ok, err := e.intervals.Claim(ctx, r.ID, c.GroupID, f.Key, time.Duration(r.Frequency)*time.Minute, c.At, c.Again)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, f)
			}
		}
	}
	return out, nil
}
