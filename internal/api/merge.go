package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

// Merge, unmerge and discard (issue 19). The hash -> issue map lives in
// meta.Groups (which every worker watches); the events move in the store
// (store.MoveEvents re-inserts them under the surviving id), so that every
// read keeps reading one issue id.

// GroupChanger is what merge, unmerge, discard and delete need of the
// issue ids.
type GroupChanger interface {
	Merge(ctx context.Context, survivor uint64, others []uint64) error
	Unmerge(ctx context.Context, id uint64, hashes []string) (meta.GroupRef, error)
	Discard(ctx context.Context, id uint64) error
	Forget(ctx context.Context, id uint64) error
}

// MergeStore is what merge and unmerge need of the store.
type MergeStore interface {
	MoveEvents(ctx context.Context, m store.Move, wait time.Duration) (uint64, error)
	IssueHashes(ctx context.Context, projectID, groupID uint64) (map[string]store.HashEvent, error)
	InsertActivity(ctx context.Context, acts []store.Activity) error
	Subscribers(ctx context.Context, projectID, groupID uint64) ([]uint64, error)
}

// Activity types of merges, as Sentry's ActivityType names them.
const (
	activityMerge              = "merge"
	activityUnmergeSource      = "unmerge_source"
	activityUnmergeDestination = "unmerge_destination"
)

// moveWait bounds how long a merge or an unmerge waits for the engine to
// delete the moved originals.
const moveWait = 5 * time.Minute

// changer is the Groups as a GroupChanger, or nil.
func (a *API) changer() GroupChanger {
	gc, _ := a.groups.(GroupChanger)
	return gc
}

// parseFlag reads a mutation's merge or discard: true or 1.
func parseFlag(name string, raw json.RawMessage) (bool, error) {
	if !setRaw(raw) {
		return false, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, errorf(http.StatusBadRequest, "%s: Must be a valid boolean.", name)
	}
	switch v {
	case true, float64(1):
		return true, nil
	case false, float64(0):
		return false, nil
	}
	return false, errorf(http.StatusBadRequest, "%s: Must be a valid boolean.", name)
}

// mergeIssues merges issues (at least two, of one project) into the one
// with the most events (the highest id on a tie), as Sentry's
// handle_merge: the others' hashes point to it, their events move to it,
// and their ids answer as it. Sentry's answer: {"merge": {"parent",
// "children"}}.
func (a *API) mergeIssues(ctx context.Context, c *caller, issues []store.Issue, now time.Time) (map[string]any, error) {
	gc := a.changer()
	if gc == nil {
		return nil, errorf(http.StatusBadRequest, "merge: not supported here.")
	}
	if len(issues) < 2 {
		return nil, errorf(http.StatusBadRequest, "Only a single issue was given: merging needs at least two.")
	}
	for _, is := range issues[1:] {
		if is.ProjectID != issues[0].ProjectID {
			return nil, errorf(http.StatusBadRequest, "Merging across multiple projects is not supported")
		}
	}
	sorted := slices.Clone(issues)
	slices.SortFunc(sorted, func(x, y store.Issue) int {
		if x.TimesSeen != y.TimesSeen {
			if x.TimesSeen > y.TimesSeen {
				return -1
			}
			return 1
		}
		if x.GroupID > y.GroupID {
			return -1
		}
		return 1
	})
	parent, children := sorted[0], sorted[1:]
	pid := parent.ProjectID
	ids := make([]uint64, len(children))
	childIDs := make([]string, len(children))
	refs := make([]map[string]any, len(children))
	for i, ch := range children {
		ids[i] = ch.GroupID
		childIDs[i] = strconv.FormatUint(ch.GroupID, 10)
		refs[i] = map[string]any{"id": childIDs[i], "shortId": ch.ShortID}
	}
	// The children leave the lists first, then their hashes point to the
	// parent (every worker follows within a second), then their events
	// move.
	if err := a.store.HideIssues(ctx, pid, ids); err != nil {
		return nil, err
	}
	if err := gc.Merge(ctx, parent.GroupID, ids); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, err := a.store.MoveEvents(ctx, store.Move{ProjectID: pid, From: id, To: parent.GroupID}, moveWait); err != nil {
			return nil, err
		}
	}
	data, _ := json.Marshal(map[string]any{"issues": refs})
	if err := a.store.InsertActivity(ctx, []store.Activity{{ProjectID: pid, GroupID: parent.GroupID, Type: activityMerge,
		UserID: actor(c), Data: string(data), CreatedMS: uint64(now.UnixMilli())}}); err != nil {
		return nil, err
	}
	return map[string]any{"merge": map[string]any{"parent": strconv.FormatUint(parent.GroupID, 10), "children": childIDs}}, nil
}

// discardIssues is Sentry's "delete and discard": the issues' hashes are
// tombstoned (workers drop their events as filtered, discarded-hash) and
// the issues deleted.
func (a *API) discardIssues(ctx context.Context, c *caller, issues []store.Issue) error {
	gc := a.changer()
	if gc == nil || a.deletions == nil {
		return errorf(http.StatusBadRequest, "discard: not supported here.")
	}
	for _, is := range issues {
		if err := gc.Discard(ctx, is.GroupID); err != nil {
			return err
		}
	}
	return a.deleteIssues(ctx, c, issues, false)
}

// deleteIssues hides issues and records a deletion job for each; forget
// lets their hashes go, so that the same error comes back as a new issue.
func (a *API) deleteIssues(ctx context.Context, c *caller, issues []store.Issue, forget bool) error {
	byProject := map[uint64][]uint64{}
	for _, is := range issues {
		byProject[is.ProjectID] = append(byProject[is.ProjectID], is.GroupID)
	}
	for pid, gids := range byProject {
		if err := a.store.HideIssues(ctx, pid, gids); err != nil {
			return err
		}
	}
	gc := a.changer()
	for _, is := range issues {
		if forget && gc != nil {
			if err := gc.Forget(ctx, is.GroupID); err != nil {
				return err
			}
		}
		p, ok := a.meta.ProjectByID(is.ProjectID)
		if !ok {
			continue
		}
		o, ok := a.meta.OrganizationByID(p.OrgID)
		if !ok {
			continue
		}
		if _, err := a.scheduleIssueDeletion(ctx, c, o, is.ProjectID, is.GroupID); err != nil {
			return err
		}
	}
	return nil
}

// listIssueHashes is Sentry's GET /api/0/issues/{id}/hashes/: the issue's
// grouping hashes, each with its latest event (null when none is stored).
func (a *API) listIssueHashes(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	ref, err := a.groups.Get(ctx, gid)
	if err != nil {
		return nil, err
	}
	stored, err := a.store.IssueHashes(ctx, p.ID, gid)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, h := range ref.AllHashes() {
		var latest any
		if he, ok := stored[h.Hash]; ok {
			ev, err := a.store.GetEvent(ctx, p.ID, he.EventID)
			if err != nil {
				return nil, err
			}
			if ev != nil {
				latest = serializeEvent(ev, false)
			}
		}
		out = append(out, map[string]any{"id": h.Hash, "latestEvent": latest, "mergedBySeer": false})
	}
	return ok(out)
}

// unmergeIssueHashes is Sentry's DELETE /api/0/issues/{id}/hashes/?id=H:
// the hashes become a new issue (a new id and short id), their events
// and counts move to it, and the issue keeps the rest. 202, as Sentry
// (here the move is done when it answers).
func (a *API) unmergeIssueHashes(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	gc := a.changer()
	if gc == nil {
		return nil, errNotFound
	}
	hashes := nonEmpty(r.URL.Query()["id"])
	if len(hashes) == 0 {
		return nil, errorf(http.StatusBadRequest, "id: Name the hashes to unmerge with id=.")
	}
	if len(hashes) > 100 {
		return nil, errorf(http.StatusBadRequest, "At most 100 hashes may be unmerged at once.")
	}
	nref, err := gc.Unmerge(ctx, gid, hashes)
	switch {
	case errors.Is(err, meta.ErrLastHash):
		return nil, errorf(http.StatusBadRequest, "Cannot unmerge every hash of an issue: at least one must stay.")
	case errors.Is(err, meta.ErrNotFound):
		return nil, errNotFound // no such hash of the issue, as Sentry
	case err != nil:
		return nil, err
	}
	split := nref.AllHashes()
	names := make([]string, len(split))
	for i, h := range split {
		names[i] = h.Hash
	}
	moved, err := a.store.MoveEvents(ctx, store.Move{ProjectID: p.ID, From: gid, To: nref.ID, Hashes: names,
		ShortID: nref.ShortID, Hash: nref.Hash}, moveWait)
	if err != nil {
		return nil, err
	}
	now := uint64(time.Now().UnixMilli())
	src, _ := json.Marshal(map[string]any{"fingerprints": names, "destination_id": strconv.FormatUint(nref.ID, 10), "events": moved})
	dst, _ := json.Marshal(map[string]any{"fingerprints": names, "source_id": strconv.FormatUint(gid, 10), "events": moved})
	if err := a.store.InsertActivity(ctx, []store.Activity{
		{ProjectID: p.ID, GroupID: gid, Type: activityUnmergeDestination, UserID: actor(c), Data: string(src), CreatedMS: now},
		{ProjectID: p.ID, GroupID: nref.ID, Type: activityUnmergeSource, UserID: actor(c), Data: string(dst), CreatedMS: now},
	}); err != nil {
		return nil, err
	}
	return &response{status: http.StatusAccepted}, nil
}
