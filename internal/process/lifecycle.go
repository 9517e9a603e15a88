package process

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/faultline/faultline/internal/store"
)

// Substatuses the worker sets, as Sentry names them.
const (
	SubstatusRegressed  = "regressed"  // a resolved issue got a new event
	SubstatusEscalating = "escalating" // an ignore condition was met
	SubstatusOngoing    = "ongoing"
)

// releaseCache remembers when releases were first seen, so that a
// worker asks the store once per (project, version). Entries never
// change once recorded, so caching them is safe.
type releaseCache struct {
	mu sync.Mutex // guards m
	m  map[releaseKey]time.Time
}

type releaseKey struct {
	project uint64
	version string
}

const releaseCacheLimit = 100_000

func (c *releaseCache) get(k releaseKey) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[k]
	return t, ok
}

func (c *releaseCache) put(k releaseKey, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= releaseCacheLimit {
		c.m = map[releaseKey]time.Time{} // bounded: start over
	}
	c.m[k] = t
}

// releases records the batch's releases seen for the first time and
// returns when each release of the batch was first seen.
func (w *Worker) releases(ctx context.Context, rows []store.Event) (map[releaseKey]time.Time, error) {
	out := map[releaseKey]time.Time{}
	missing := map[uint64]map[string]time.Time{} // project -> version -> earliest received in batch
	for i := range rows {
		r := &rows[i]
		if r.Release == "" {
			continue
		}
		k := releaseKey{r.ProjectID, r.Release}
		if t, ok := w.releaseCache.get(k); ok {
			out[k] = t
			continue
		}
		if missing[r.ProjectID] == nil {
			missing[r.ProjectID] = map[string]time.Time{}
		}
		if t, ok := missing[r.ProjectID][r.Release]; !ok || r.Received.Before(t) {
			missing[r.ProjectID][r.Release] = r.Received
		}
	}
	for pid, versions := range missing {
		list := make([]string, 0, len(versions))
		for v := range versions {
			list = append(list, v)
		}
		known, err := w.deps.Store.ReleasesFirstSeen(ctx, pid, list)
		if err != nil {
			return nil, fmt.Errorf("read releases: %w", err)
		}
		var fresh []store.Release
		for v, t := range versions {
			if ft, ok := known[v]; ok {
				t = ft
			} else {
				t = t.UTC().Truncate(time.Millisecond)
				fresh = append(fresh, store.Release{ProjectID: pid, Version: v, FirstSeen: t})
			}
			out[releaseKey{pid, v}] = t
		}
		if err := w.deps.Store.InsertReleases(ctx, fresh); err != nil {
			return nil, fmt.Errorf("record releases: %w", err)
		}
		for v := range versions {
			w.releaseCache.put(releaseKey{pid, v}, out[releaseKey{pid, v}])
		}
	}
	return out, nil
}

// lifecycle decides the status changes a batch causes: a resolved issue
// that gets a new event regresses (unless resolved in the next release
// and the event's release is not newer than the resolution), and an
// ignored issue comes back when its condition is met. It reads the status
// of the batch's existing issues with one query; issues created by this
// batch have none. Statuses are not cached: the API may change them from
// another process at any time.
func (w *Worker) lifecycle(ctx context.Context, rows []store.Event, created map[uint64]bool, firstSeen map[releaseKey]time.Time) ([]store.StatusChange, map[uint64]cause, error) {
	byGroup := map[uint64][]*store.Event{}
	var projects, ids []uint64
	seenProject := map[uint64]bool{}
	for i := range rows {
		r := &rows[i]
		if created[r.GroupID] {
			continue // a new issue has no status yet
		}
		if _, ok := byGroup[r.GroupID]; !ok {
			ids = append(ids, r.GroupID)
			if !seenProject[r.ProjectID] {
				seenProject[r.ProjectID] = true
				projects = append(projects, r.ProjectID)
			}
		}
		byGroup[r.GroupID] = append(byGroup[r.GroupID], r)
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	states, err := w.deps.Store.GroupStates(ctx, projects, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("read issue status: %w", err)
	}
	causes := map[uint64]cause{}
	now := time.Now()
	var changes []store.StatusChange
	for gid, st := range states {
		if st.Status != store.StatusResolved && st.Status != store.StatusIgnored {
			continue
		}
		evs := byGroup[gid]
		if len(evs) == 0 {
			continue
		}
		pid := evs[0].ProjectID
		var d store.StatusDetails
		if st.Details != "" {
			json.Unmarshal([]byte(st.Details), &d) //nolint:errcheck // written by the API; bad details mean none
		}
		since := st.Updated()
		var after []*store.Event // events received after the status was set
		for _, r := range evs {
			if !r.Received.Before(since) {
				after = append(after, r)
			}
		}
		if len(after) == 0 {
			continue
		}
		substatus := ""
		var regressedBy *store.Event
		switch st.Status {
		case store.StatusResolved:
			// Resolved in release X, or in the next release after the
			// project's latest one at the resolution: only an event of a
			// release after that one, in the project's release order,
			// regresses it. Resolutions in the next release recorded
			// without a latest release (the project had none, or they
			// predate the release order): an event of a release first
			// seen after the resolution.
			ref := d.InRelease
			if ref == "" && d.InNextRelease {
				ref = d.ReleaseAtResolution
			}
			var newer map[string]bool
			if ref != "" {
				var versions []string
				for _, r := range after {
					if r.Release != ref {
						versions = append(versions, r.Release)
					}
				}
				if newer, err = w.deps.Store.ReleasesAfter(ctx, pid, ref, versions); err != nil {
					return nil, nil, fmt.Errorf("read release order: %w", err)
				}
			}
			for _, r := range after {
				if r.Timestamp.Before(since) {
					// A late event, which happened before the resolution
					// (an SDK's offline queue, a backlog): it does not
					// regress the issue.
					continue
				}
				regresses := !d.InNextRelease && d.InRelease == ""
				switch {
				case ref != "":
					regresses = newer[r.Release]
				case d.InNextRelease:
					regresses = r.Release != "" && firstSeen[releaseKey{pid, r.Release}].After(since)
				}
				if regresses {
					substatus, regressedBy = SubstatusRegressed, r
					break
				}
			}
		case store.StatusIgnored:
			substatus, err = w.ignoreEnded(ctx, pid, gid, d, since, after, now)
			if err != nil {
				return nil, nil, err
			}
			regressedBy = after[len(after)-1]
		}
		if substatus != "" {
			causes[gid] = cause{event: regressedBy, endedMS: st.UpdatedMS}
			changes = append(changes, store.StatusChange{ProjectID: pid, GroupID: gid,
				Status: store.StatusUnresolved, Substatus: substatus, Details: "{}", At: now,
				Activity: lifecycleActivity(pid, st, substatus, regressedBy)})
		}
	}
	return changes, causes, nil
}

// cause is the event that changed an issue's status, and when the status
// it ended was set (which tells that change from later ones).
type cause struct {
	event   *store.Event
	endedMS uint64
}

// ignoreEnded reports the substatus an ignored issue comes back with, or
// "" while its condition holds. Counts and users are measured since the
// ignore (within the window, when one is set): the stored events plus
// this batch's.
func (w *Worker) ignoreEnded(ctx context.Context, pid, gid uint64, d store.StatusDetails, since time.Time, batch []*store.Event, now time.Time) (string, error) {
	if d.IgnoreUntil != nil {
		for _, r := range batch {
			if r.Received.After(*d.IgnoreUntil) {
				return SubstatusOngoing, nil
			}
		}
	}
	windowStart := func(minutes int) time.Time {
		if minutes > 0 {
			if ws := now.Add(-time.Duration(minutes) * time.Minute); ws.After(since) {
				return ws
			}
		}
		return since
	}
	if d.IgnoreCount > 0 {
		from := windowStart(d.IgnoreWindow)
		a, err := w.deps.Store.ActivitySince(ctx, pid, gid, from, 0)
		if err != nil {
			return "", fmt.Errorf("count events since ignore: %w", err)
		}
		n := a.Events
		for _, r := range batch {
			if !r.Received.Before(from) {
				n++
			}
		}
		if n >= uint64(d.IgnoreCount) {
			return SubstatusEscalating, nil
		}
	}
	if d.IgnoreUserCount > 0 {
		from := windowStart(d.IgnoreUserWindow)
		a, err := w.deps.Store.ActivitySince(ctx, pid, gid, from, d.IgnoreUserCount)
		if err != nil {
			return "", fmt.Errorf("count users since ignore: %w", err)
		}
		users := map[string]bool{}
		for _, u := range a.Users {
			users[u] = true
		}
		for _, r := range batch {
			if r.UserKey != "" && !r.Received.Before(from) {
				users[r.UserKey] = true
			}
		}
		if len(users) >= d.IgnoreUserCount {
			return SubstatusEscalating, nil
		}
	}
	return "", nil
}

// lifecycleActivity is the activity a worker's status change records, as
// Sentry's: set_regression (with the event and its release), set_escalating
// (an ignore condition was met) or set_unresolved (the ignore's time ran
// out, with the details it had). Its id derives from the state it ended,
// so that a batch retried after a failure records it once.
func lifecycleActivity(pid uint64, st store.GroupState, substatus string, by *store.Event) *store.Activity {
	a := &store.Activity{Type: store.ActivitySetUnresolved, Data: "{}"}
	switch {
	case substatus == SubstatusRegressed:
		a.Type = store.ActivitySetRegression
		if by != nil {
			b, _ := json.Marshal(map[string]any{"event_id": by.EventID, "version": by.Release})
			a.Data = string(b)
		}
	case substatus == SubstatusEscalating:
		a.Type = store.ActivitySetEscalating
	case st.Details != "":
		a.Data = st.Details
	}
	a.ID = store.ActivityID(fmt.Sprint(pid), fmt.Sprint(st.GroupID), fmt.Sprint(st.UpdatedMS), a.Type)
	return a
}

// mailRegressions queues the mails to the subscribers of the issues that
// regressed, before the status changes are written (as the alerts): a
// redelivery decides again and queues under the same keys (the issue and
// the time its resolution ended), which the queue keeps once.
func (w *Worker) mailRegressions(ctx context.Context, changes []store.StatusChange, causes map[uint64]cause, rows []store.Group) error {
	if w.deps.Subscribers == nil {
		return nil
	}
	groups := make(map[uint64]store.Group, len(rows))
	for _, g := range rows {
		groups[g.GroupID] = g
	}
	for _, c := range changes {
		cs, ok := causes[c.GroupID]
		if c.Substatus != SubstatusRegressed || !ok || cs.event == nil {
			continue
		}
		g := groups[c.GroupID]
		what := "Regressed: the resolved issue has a new event."
		if cs.event.Release != "" {
			what = "Regressed in release " + cs.event.Release + ": the resolved issue has a new event."
		}
		key := "regression:" + strconv.FormatUint(c.GroupID, 10) + ":" + strconv.FormatUint(cs.endedMS, 10)
		if _, err := w.deps.Subscribers.MailSubscribers(ctx, c.ProjectID, c.GroupID, g.ShortID, g.Title, what, key); err != nil {
			return fmt.Errorf("mail the subscribers of a regression: %w", err)
		}
	}
	return nil
}
