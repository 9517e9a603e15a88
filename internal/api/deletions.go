package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/deletion"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

// Deletions schedules deletion jobs and reads their status.
type Deletions interface {
	Schedule(ctx context.Context, job deletion.Job, notBefore time.Time) (*deletion.Job, error)
	Get(id string) (*deletion.Job, bool)
	List(orgID uint64) []*deletion.Job
	Cancel(ctx context.Context, id string, by uint64) (*deletion.Job, error)
}

// defaultDeletionDelay is the time left to cancel the deletion of a
// project or an organization ({"cancelDeletion": true}) before its data
// starts being deleted; it also lets batches that workers took before it
// was marked finish first (later events of the project are dropped).
const defaultDeletionDelay = time.Hour

// deletionLocation is where a deletion job's status is read.
func (a *API) deletionLocation(j *deletion.Job) string {
	return a.public.String() + "/api/0/deletions/" + j.ID + "/"
}

func (a *API) accepted(j *deletion.Job, status int, body any) (*response, error) {
	h := http.Header{}
	h.Set("Location", a.deletionLocation(j))
	return &response{status: status, body: body, header: h}, nil
}

// deleteIssue is Sentry's DELETE /api/0/issues/{id}/: the issue leaves the
// lists at once, its data goes in the background, and the answer is 202
// with no body.
func (a *API) deleteIssue(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	is, err := a.store.GetIssue(ctx, p.ID, gid, nil, "")
	if err != nil {
		return nil, err
	}
	if is == nil {
		return nil, errNotFound // gone, or being deleted already
	}
	if err := a.store.HideIssues(ctx, p.ID, []uint64{gid}); err != nil {
		return nil, err
	}
	// The same error seen again is a new issue, as in Sentry.
	if gc := a.changer(); gc != nil {
		if err := gc.Forget(ctx, gid); err != nil {
			return nil, err
		}
	}
	j, err := a.scheduleIssueDeletion(ctx, c, o, p.ID, gid)
	if err != nil {
		return nil, err
	}
	return a.accepted(j, http.StatusAccepted, nil)
}

// scheduleIssueDeletion records the job that deletes a hidden issue's data.
func (a *API) scheduleIssueDeletion(ctx context.Context, c *caller, o *meta.Organization, pid, gid uint64) (*deletion.Job, error) {
	return a.deletions.Schedule(ctx, deletion.Job{Kind: deletion.KindIssue, OrgID: o.ID, ProjectIDs: []uint64{pid},
		GroupID: gid, CreatedBy: actor(c)}, time.Now())
}

// deleteProject is Sentry's DELETE /api/0/projects/{org}/{project}/: the
// project is marked pending deletion (hidden, and ingest refuses its
// events), then deleted in the background; the answer is 204.
func (a *API) deleteProject(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	if _, err := a.meta.MarkProjectForDeletion(ctx, p.ID); err != nil {
		return nil, err
	}
	j, err := a.deletions.Schedule(ctx, deletion.Job{Kind: deletion.KindProject, OrgID: o.ID, ProjectIDs: []uint64{p.ID},
		CreatedBy: c.user.ID}, time.Now().Add(a.deletionDelay()))
	if err != nil {
		return nil, err
	}
	return a.accepted(j, http.StatusNoContent, nil)
}

// deleteOrganization is Sentry's DELETE /api/0/organizations/{org}/: 202
// with the organization, now pending deletion.
func (a *API) deleteOrganization(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	var pids []uint64
	for _, p := range a.meta.Projects(o.ID) {
		pids = append(pids, p.ID)
	}
	marked, err := a.meta.MarkOrganizationForDeletion(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	j, err := a.deletions.Schedule(ctx, deletion.Job{Kind: deletion.KindOrganization, OrgID: o.ID, ProjectIDs: pids,
		CreatedBy: c.user.ID}, time.Now().Add(a.deletionDelay()))
	if err != nil {
		return nil, err
	}
	return a.accepted(j, http.StatusAccepted, a.serializeOrg(marked))
}

// userDeletion is the body of a user data erasure: any of the user's id,
// email and IP address (events matching any are erased).
type userDeletion struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	IPAddress string `json:"ipAddress"`
}

// deleteUserData erases one user's events across a project (GDPR): an
// admin route, for superusers only. 202 with the job.
func (a *API) deleteUserData(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	if !c.user.Superuser {
		return nil, errorf(http.StatusForbidden, "You do not have permission to perform this action.")
	}
	var b userDeletion
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	f := store.UserFilter{ID: strings.TrimSpace(b.ID), Email: strings.TrimSpace(b.Email), IPAddress: strings.TrimSpace(b.IPAddress)}
	if f.Empty() {
		return nil, errorf(http.StatusBadRequest, "Give the user's id, email or ipAddress.")
	}
	for _, v := range []string{f.ID, f.Email, f.IPAddress} {
		if len(v) > 256 {
			return nil, errorf(http.StatusBadRequest, "id, email and ipAddress are at most 256 characters.")
		}
	}
	j, err := a.deletions.Schedule(ctx, deletion.Job{Kind: deletion.KindUserData, OrgID: o.ID, ProjectIDs: []uint64{p.ID},
		User: &f, CreatedBy: c.user.ID}, time.Now())
	if err != nil {
		return nil, err
	}
	return a.accepted(j, http.StatusAccepted, a.serializeDeletion(j))
}

func (a *API) listDeletions(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, j := range a.deletions.List(o.ID) {
		if !a.canSeeJob(c, o, j) {
			continue
		}
		out = append(out, a.serializeDeletion(j))
	}
	return ok(out)
}

// getDeletion reads a job. The caller must be a superuser, the job's
// creator, or a member of its organization (which is gone once an
// organization's deletion is done).
func (a *API) getDeletion(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	t := tenantOf(ctx)
	if t == nil || t.job == nil {
		var err error
		if t, err = a.findJob(r, c); err != nil {
			return nil, err
		}
	}
	return ok(a.serializeDeletion(t.job))
}

// canSeeJob reports whether the caller may see a deletion job of org: not
// when it names a project the caller does not see (another team's, for a
// member or an admin); a project already deleted no longer counts.
func (a *API) canSeeJob(c *caller, o *meta.Organization, j *deletion.Job) bool {
	for _, pid := range j.ProjectIDs {
		if p, found := a.meta.ProjectByID(pid); found && !a.canSeeProject(c, o, p) {
			return false
		}
	}
	return true
}

func (a *API) serializeDeletion(j *deletion.Job) map[string]any {
	projects := make([]string, len(j.ProjectIDs))
	for i, p := range j.ProjectIDs {
		projects[i] = id(p)
	}
	var org, issue, errText any
	if o, found := a.meta.OrganizationByID(j.OrgID); found {
		org = o.Slug
	}
	if j.GroupID != 0 {
		issue = id(j.GroupID)
	}
	if j.Error != "" {
		errText = j.Error
	}
	var destination any // a move's new issue (an unmerge)
	if j.ToGroupID != 0 {
		destination = id(j.ToGroupID)
	}
	date := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return map[string]any{
		"id": j.ID, "kind": j.Kind, "status": j.Status, "organization": org, "projects": projects, "issue": issue,
		"eventsDeleted": j.EventsDeleted, "attempts": j.Attempts, "error": errText,
		"eventsMoved": j.EventsMoved, "destination": destination,
		"dateCreated": date(j.DateCreated), "dateStarted": date(j.DateStarted), "dateFinished": date(j.DateFinished),
	}
}

// visibleOrg and visibleProject hide what is being deleted, as Sentry hides
// objects pending deletion from its views.
func visibleOrg(o *meta.Organization) bool { return o.Status != meta.StatusPendingDeletion }

func visibleProject(p *meta.Project) bool { return p.Status != meta.StatusPendingDeletion }

// errPendingDeletion answers a change to an object pending deletion.
func errPendingDeletion(what string) *Error {
	return errorf(http.StatusConflict, "This %s is pending deletion. Send {\"cancelDeletion\": true} to cancel the deletion first.", what)
}

// errTooLate answers a cancellation that comes after the deletion started.
func errTooLate(what string) *Error {
	return errorf(http.StatusConflict, "Too late: the deletion of this %s has already started and can no longer be cancelled.", what)
}

// cancelJobs cancels the organization's unfinished deletion jobs that
// match. A job that started deleting (or failed after it did) makes the
// cancellation too late; the jobs cancelled before it stay cancelled,
// which changes nothing since the object stays pending.
func (a *API) cancelJobs(ctx context.Context, orgID uint64, c *caller, what string, match func(*deletion.Job) bool) error {
	if a.deletions == nil {
		return nil
	}
	for _, j := range a.deletions.List(orgID) {
		if !match(j) {
			continue
		}
		switch j.Status {
		case deletion.StatusCancelled, deletion.StatusDone:
			continue
		case deletion.StatusFailed:
			return errTooLate(what)
		}
		if _, err := a.deletions.Cancel(ctx, j.ID, c.user.ID); errors.Is(err, deletion.ErrTooLate) {
			return errTooLate(what)
		} else if err != nil && !errors.Is(err, deletion.ErrNotFound) {
			return err
		}
	}
	return nil
}

// liveProjectJob reports whether a project has its own deletion job that
// has not ended.
func (a *API) liveProjectJob(orgID, projectID uint64) bool {
	if a.deletions == nil {
		return false
	}
	for _, j := range a.deletions.List(orgID) {
		if j.Kind == deletion.KindProject && !j.Finished() && slices.Contains(j.ProjectIDs, projectID) {
			return true
		}
	}
	return false
}

// cancelOrganizationDeletion cancels an organization's pending deletion and
// makes it active again, with its projects that were pending only because
// of it (a project deleted on its own stays pending, and goes on its own
// schedule).
func (a *API) cancelOrganizationDeletion(ctx context.Context, o *meta.Organization, c *caller) (*meta.Organization, error) {
	if o.Status != meta.StatusPendingDeletion {
		return o, nil
	}
	err := a.cancelJobs(ctx, o.ID, c, "organization", func(j *deletion.Job) bool { return j.Kind == deletion.KindOrganization })
	if err != nil {
		return nil, err
	}
	var restore []uint64
	for _, p := range a.meta.Projects(o.ID) {
		if p.Status == meta.StatusPendingDeletion && !a.liveProjectJob(o.ID, p.ID) {
			restore = append(restore, p.ID)
		}
	}
	a.log.Info("organization deletion cancelled", "org", o.ID, "by", c.user.ID, "projects_restored", len(restore))
	return a.meta.RestoreOrganization(ctx, o.ID, restore)
}

// cancelProjectDeletion cancels a project's pending deletion and makes it
// active again. The project of an organization pending deletion is
// restored with its organization.
func (a *API) cancelProjectDeletion(ctx context.Context, o *meta.Organization, p *meta.Project, c *caller) (*meta.Project, error) {
	if o.Status == meta.StatusPendingDeletion {
		return nil, errorf(http.StatusConflict, "The organization of this project is pending deletion: cancel the organization's deletion (PUT /api/0/organizations/%s/ with {\"cancelDeletion\": true}).", o.Slug)
	}
	if p.Status != meta.StatusPendingDeletion {
		return p, nil
	}
	err := a.cancelJobs(ctx, o.ID, c, "project", func(j *deletion.Job) bool {
		return (j.Kind == deletion.KindProject || j.Kind == deletion.KindOrganization) && slices.Contains(j.ProjectIDs, p.ID)
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("project deletion cancelled", "project", p.ID, "by", c.user.ID)
	return a.meta.RestoreProject(ctx, p.ID)
}
