package store

import "context"

// FirstReleases returns the release each issue (of groupIDs, in
// projectIDs) was first seen in, from group_releases: one query for a
// page of issues. Issues whose events name no release have no entry; a
// tie (two releases first seen in the same millisecond) goes to the
// smaller version.
func (s *Store) FirstReleases(ctx context.Context, projectIDs, groupIDs []uint64) (map[uint64]string, error) {
	out := make(map[uint64]string, len(groupIDs))
	if len(projectIDs) == 0 || len(groupIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		GroupID uint64 `ch:"group_id"`
		Release string `ch:"release"`
	}
	if err := s.t.query(ctx, &rows, "SELECT group_id, argMin(release, (f, release)) AS release FROM (SELECT group_id, release, "+
		"minMerge(first_seen) AS f FROM "+s.table("group_releases")+" WHERE project_id IN "+nums(projectIDs)+
		" AND group_id IN "+nums(groupIDs)+" GROUP BY group_id, release) GROUP BY group_id"); err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.GroupID] = r.Release
	}
	return out, nil
}
