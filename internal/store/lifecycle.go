package store

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"
)

// GroupState is an issue's current status with the time it was set.
type GroupState struct {
	GroupID   uint64 `ch:"group_id"`
	Status    string `ch:"status"`
	Substatus string `ch:"substatus"`
	Details   string `ch:"status_details"`
	UpdatedMS uint64 `ch:"updated"`
}

// Updated returns when the status was set.
func (g GroupState) Updated() time.Time { return time.UnixMilli(int64(g.UpdatedMS)).UTC() }

// GroupStates returns the current status of the given issues (of the
// given projects) that have one; an issue without a row is unresolved.
// One query, on the table's sorting key; issue ids are unique across
// projects.
func (s *Store) GroupStates(ctx context.Context, projectIDs, ids []uint64) (map[uint64]GroupState, error) {
	out := map[uint64]GroupState{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []GroupState
	err := s.t.query(ctx, &rows, "SELECT group_id, argMax(status, updated_ms) AS status, "+
		"argMax(substatus, updated_ms) AS substatus, argMax(status_details, updated_ms) AS status_details, "+
		"max(updated_ms) AS updated FROM "+s.table("group_status")+" WHERE project_id IN "+nums(projectIDs)+
		" AND group_id IN "+nums(ids)+" GROUP BY group_id")
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.GroupID] = r
	}
	return out, nil
}

// GroupActivity is what an issue received since a point in time.
type GroupActivity struct {
	Events uint64
	Users  []string // distinct user keys, at most the limit asked for
}

// ActivitySince counts an issue's stored events received at or after
// since, and lists up to userLimit distinct users among them (0: none).
// Receive times are stored to the second, so events received in the
// second of since but before it count too.
func (s *Store) ActivitySince(ctx context.Context, projectID, groupID uint64, since time.Time, userLimit int) (GroupActivity, error) {
	where := " WHERE project_id = " + num(projectID) + " AND group_id = " + num(groupID) +
		" AND received >= " + ts(since) + " AND deleted = 0"
	var counts []struct {
		N uint64 `ch:"n"`
	}
	if err := s.t.query(ctx, &counts, "SELECT count() AS n FROM (SELECT DISTINCT event_id FROM "+s.table("events")+where+")"); err != nil {
		return GroupActivity{}, err
	}
	var a GroupActivity
	if len(counts) == 1 {
		a.Events = counts[0].N
	}
	if userLimit > 0 {
		var users []struct {
			U string `ch:"u"`
		}
		if err := s.t.query(ctx, &users, "SELECT DISTINCT user_key AS u FROM "+s.table("events")+where+
			" AND user_key != '' LIMIT "+fmt.Sprint(userLimit)); err != nil {
			return GroupActivity{}, err
		}
		for _, u := range users {
			a.Users = append(a.Users, u.U)
		}
	}
	return a, nil
}

// Release is a project's release and when it was first seen.
type Release struct {
	ProjectID uint64
	Version   string
	FirstSeen time.Time
}

// ReleasesFirstSeen returns when each of a project's versions was first
// seen, for the versions already recorded.
func (s *Store) ReleasesFirstSeen(ctx context.Context, projectID uint64, versions []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(versions) == 0 {
		return out, nil
	}
	var rows []struct {
		Version string `ch:"version"`
		MS      uint64 `ch:"ms"`
	}
	if err := s.t.query(ctx, &rows, "SELECT version, min(toUInt64(first_seen) * 1000 + first_seen_ms) AS ms FROM "+
		s.table("releases")+" WHERE project_id = "+num(projectID)+" AND version IN "+strs(versions)+" GROUP BY version"); err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.Version] = time.UnixMilli(int64(r.MS)).UTC()
	}
	return out, nil
}

// InsertReleases records releases seen for the first time.
func (s *Store) InsertReleases(ctx context.Context, rels []Release) error {
	if len(rels) == 0 {
		return nil
	}
	rows := make([][]any, len(rels))
	for i, r := range rels {
		fs := r.FirstSeen.UTC()
		ms := uint64(max(fs.UnixMilli(), 0))
		// The earliest first-seen has the highest rev, so it survives merges.
		rows[i] = []any{r.ProjectID, r.Version, fs.Truncate(time.Second), uint16(ms % 1000), uint64(math.MaxInt64) - ms}
	}
	return s.t.insert(ctx, s.table("releases"), []string{"project_id", "version", "first_seen", "first_seen_ms", "rev"}, rows)
}

// IssueRelease is a release in which an issue was seen.
type IssueRelease struct {
	Version   string
	FirstSeen time.Time // the issue's first event in it
	LastSeen  time.Time // and its last
	TimesSeen uint64
	// ReleaseFirstSeen is when the project first saw the release.
	ReleaseFirstSeen time.Time
}

// IssueReleases returns the first and the last release an issue was seen
// in (nil when it was seen in none), as Sentry's firstRelease and
// lastRelease: the releases of its first and its last event, to the
// millisecond; a tie goes to the release the project saw first (for the
// first) or last (for the last).
func (s *Store) IssueReleases(ctx context.Context, projectID, groupID uint64) (first, last *IssueRelease, err error) {
	var rows []struct {
		Version   string `ch:"release"`
		FirstMS   uint64 `ch:"first_ms"`
		LastMS    uint64 `ch:"last_ms"`
		TimesSeen uint64 `ch:"times_seen"`
	}
	if err := s.t.query(ctx, &rows, "SELECT release, minMerge(first_seen) AS first_ms, maxMerge(last_seen) AS last_ms, "+
		"countMerge(times_seen) AS times_seen FROM "+s.table("group_releases")+" WHERE project_id = "+num(projectID)+
		" AND group_id = "+num(groupID)+" GROUP BY release"); err != nil {
		return nil, nil, err
	}
	if len(rows) == 0 {
		return nil, nil, nil
	}
	versions := make([]string, len(rows))
	for i, r := range rows {
		versions[i] = r.Version
	}
	seen, err := s.ReleasesFirstSeen(ctx, projectID, versions)
	if err != nil {
		return nil, nil, err
	}
	all := make([]IssueRelease, len(rows))
	for i, r := range rows {
		all[i] = IssueRelease{Version: r.Version, FirstSeen: time.UnixMilli(int64(r.FirstMS)).UTC(),
			LastSeen: time.UnixMilli(int64(r.LastMS)).UTC(), TimesSeen: r.TimesSeen, ReleaseFirstSeen: seen[r.Version]}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Version < all[j].Version })
	f, l := &all[0], &all[0]
	for i := range all {
		r := &all[i]
		if r.FirstSeen.Before(f.FirstSeen) || r.FirstSeen.Equal(f.FirstSeen) && r.ReleaseFirstSeen.Before(f.ReleaseFirstSeen) {
			f = r
		}
		if r.LastSeen.After(l.LastSeen) || r.LastSeen.Equal(l.LastSeen) && r.ReleaseFirstSeen.After(l.ReleaseFirstSeen) {
			l = r
		}
	}
	return f, l, nil
}
