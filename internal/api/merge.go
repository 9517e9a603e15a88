package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/faultline/faultline/internal/deletion"
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
	activityMerge              = deletion.ActivityMerge
	activityUnmergeSource      = deletion.ActivityUnmergeSource
	activityUnmergeDestination = deletion.ActivityUnmergeDestination
)

// DefaultUnmergeInlineMax is how many events an unmerge moves within its
// request by default; a larger one is a background job. A move is mostly
// fixed cost (the deletes and the wait for them) up to a few thousand
// events; past that the copy of the events' bodies (~10 KB each) grows
// with them (BENCHMARKS.md), and the request would hang on it.
const DefaultUnmergeInlineMax = 10_000

// moveJobs is what runs moves as jobs (deletion.Jobs).
type moveJobs interface {
	Hold(ctx context.Context, job deletion.Job, lease time.Duration) (*deletion.Held, error)
}

// runMove runs a merge or an unmerge: as a job that this request holds
// (background false: it returns once the events moved, or with the
// error, the job then pending for a runner to finish), or as a job left
// to the runners (background: it returns the recorded job at once).
// Without jobs (no deletion runners) the move runs in the request only.
func (a *API) runMove(ctx context.Context, job deletion.Job, background bool) (*deletion.Job, error) {
	mover, ok := a.store.(deletion.Mover)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "merge: not supported here.")
	}
	var gm deletion.GroupMerger
	if gc := a.changer(); gc != nil {
		gm = gc
	}
	if p, found := a.meta.ProjectByID(job.ProjectIDs[0]); found {
		job.OrgID = p.OrgID
	}
	jobs, ok := a.deletions.(moveJobs)
	if a.deletions == nil || !ok {
		n, err := deletion.RunMove(ctx, mover, gm, &job, false, moveWait)
		job.EventsMoved, job.Status = n, deletion.StatusDone
		return &job, err
	}
	if background {
		return a.deletions.Schedule(ctx, job, time.Now())
	}
	h, err := jobs.Hold(ctx, job, 0)
	if err != nil {
		return nil, err
	}
	held := h.Job()
	n, runErr := deletion.RunMove(ctx, mover, gm, &held, false, moveWait)
	rec, err := h.Release(ctx, n, runErr)
	if runErr != nil {
		return nil, fmt.Errorf("%s stopped (job %s resumes it): %w", job.Kind, held.ID, runErr)
	}
	return rec, err
}

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
	// One job, run in this request: the children leave the lists,
	// their hashes point to the parent (every worker follows within a
	// second), then their events, comments and activity move. A process
	// killed halfway leaves the job to a runner, which finishes it.
	data, _ := json.Marshal(map[string]any{"issues": refs})
	if _, err := a.runMove(ctx, deletion.Job{Kind: deletion.KindMerge, ProjectIDs: []uint64{pid}, GroupID: parent.GroupID,
		FromGroupIDs: ids, ActivityData: string(data), CreatedBy: actor(c), DateCreated: now}, false); err != nil {
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
// and counts move to it, and the issue keeps the rest. 202, as Sentry,
// with the move's job: done when it answers, unless it moves more than
// UnmergeInlineMax events, which a background job moves (pending).
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
	// The hashes point to the new issue now; their events follow, in
	// this request when they are few, else in a background job (Sentry
	// answers 202 either way). Either way the answer carries the job.
	stored, err := a.store.IssueHashes(ctx, p.ID, gid)
	if err != nil {
		return nil, err
	}
	var n uint64
	for _, h := range names {
		n += stored[h].Count
	}
	limit := a.cfg.UnmergeInlineMax
	if limit == 0 {
		limit = DefaultUnmergeInlineMax
	}
	job, err := a.runMove(ctx, deletion.Job{Kind: deletion.KindUnmerge, ProjectIDs: []uint64{p.ID}, GroupID: gid, ToGroupID: nref.ID,
		Hashes: names, ShortID: nref.ShortID, Hash: nref.Hash, CreatedBy: actor(c), DateCreated: time.Now().UTC()}, int64(n) > int64(limit))
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusAccepted, body: a.serializeDeletion(job)}, nil
}
