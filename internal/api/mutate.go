package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

// Issue mutations: one function, mutateIssues, applies Sentry's mutation
// body to a set of issues, for the single-issue PUT (which answers the
// issue's JSON) and for the bulk routes (which answer the changed fields,
// as Sentry's update_groups). Every status change records its activity.

// bulkLimit is how many issues one bulk call changes at most, as Sentry's
// BULK_MUTATION_LIMIT: more ids are refused; a query changes the first
// bulkLimit matches (most recently seen first), and another call the rest.
const bulkLimit = 1000

// mutationBody is Sentry's issue mutation body: the status and its
// details (issueUpdate), and sentry-cli's snoozeDuration.
type mutationBody struct {
	issueUpdate
	// SnoozeDuration is minutes of ignore, as `sentry-cli issues mute`
	// sends with {"status": "muted"}; null is none.
	SnoozeDuration *int `json:"snoozeDuration"`
	// The issue workflow: assignment, bookmarks, subscriptions and the
	// seen state (workflow.go); merge, discard and isPublic are refused
	// until they are built, never ignored.
	HasSeen      json.RawMessage `json:"hasSeen"`
	IsBookmarked json.RawMessage `json:"isBookmarked"`
	IsSubscribed json.RawMessage `json:"isSubscribed"`
	IsPublic     json.RawMessage `json:"isPublic"`
	AssignedTo   json.RawMessage `json:"assignedTo"`
	Merge        json.RawMessage `json:"merge"`
	Discard      json.RawMessage `json:"discard"`
}

// mutation is a validated mutation body.
type mutation struct {
	status, substatus string
	details           store.StatusDetails
	detailsJSON       string
	// activity is the type and data a status change records.
	activity     string
	activityData map[string]any
	// workflow is the body's assignment and flags; workflowAnswer the
	// fields mutateIssues changed with them, for the bulk answer.
	workflow       workflowChange
	workflowAnswer map[string]any
	// merge and discard are Sentry's {"merge": 1} and {"discard": true}
	// (merge.go); mergeAnswer is the merge's answer.
	merge, discard bool
	mergeAnswer    map[string]any
}

func setRaw(m json.RawMessage) bool { return len(m) > 0 && string(m) != "null" }

// parseMutation reads and validates a mutation body.
func parseMutation(r *http.Request, now time.Time) (*mutation, error) {
	var b mutationBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		v    json.RawMessage
	}{{"isPublic", b.IsPublic}} {
		if setRaw(f.v) {
			return nil, errorf(http.StatusBadRequest, "%s: not supported yet.", f.name)
		}
	}
	wf, err := parseWorkflow(&b)
	if err != nil {
		return nil, err
	}
	merge, err := parseFlag("merge", b.Merge)
	if err != nil {
		return nil, err
	}
	discard, err := parseFlag("discard", b.Discard)
	if err != nil {
		return nil, err
	}
	if merge || discard {
		// Sentry handles a discard (then a merge) before anything else
		// the body says, and answers with it alone.
		return &mutation{merge: merge && !discard, discard: discard}, nil
	}
	body := b.statusDetailsBody
	if setRaw(b.StatusDetails) {
		var inner statusDetailsBody
		if err := json.Unmarshal(b.StatusDetails, &inner); err != nil {
			return nil, errorf(http.StatusBadRequest, "statusDetails must be an object of Sentry's status details")
		}
		if inner.any() {
			body = inner
		}
	}
	if b.SnoozeDuration != nil && body.IgnoreDuration == nil {
		body.IgnoreDuration = b.SnoozeDuration
	}
	m := &mutation{status: b.Status, substatus: b.Substatus, workflow: wf}
	if b.Status == "" && !body.any() && wf.any() {
		return m, nil // no status change
	}
	switch b.Status {
	case store.StatusResolved, store.StatusUnresolved, store.StatusIgnored:
	case "muted": // sentry-cli's name for ignored
		m.status = store.StatusIgnored
	case "resolvedInNextRelease":
		m.status, body = store.StatusResolved, statusDetailsBody{InNextRelease: ptr(true)}
	case "":
		if !body.any() {
			return nil, errorf(http.StatusBadRequest, "status: This field is required.")
		}
		m.status = store.StatusIgnored
		if body.InNextRelease != nil || body.InRelease != nil {
			m.status = store.StatusResolved
		}
	default:
		return nil, errorf(http.StatusBadRequest, "status: %q is not a valid choice.", b.Status)
	}
	d, err := body.details(now)
	if err != nil {
		return nil, err
	}
	m.activityData = map[string]any{}
	// Only what applies to the status is kept.
	switch m.status {
	case store.StatusResolved:
		d = store.StatusDetails{InNextRelease: d.InNextRelease, InRelease: d.InRelease}
		m.activity = store.ActivitySetResolved
		switch {
		case d.InRelease != "":
			d.InNextRelease = false
			m.activity, m.activityData["version"] = store.ActivitySetResolvedInRelease, d.InRelease
		case d.InNextRelease:
			// Sentry's: the version is not known yet.
			m.activity, m.activityData["version"] = store.ActivitySetResolvedInRelease, ""
		}
	case store.StatusUnresolved:
		d = store.StatusDetails{}
		m.activity = store.ActivitySetUnresolved
	case store.StatusIgnored:
		d.InNextRelease, d.InRelease = false, ""
		m.activity = store.ActivitySetIgnored
		raw, _ := json.Marshal(d)
		json.Unmarshal(raw, &m.activityData) //nolint:errcheck // just marshalled
		if body.IgnoreDuration != nil {
			m.activityData["ignoreDuration"] = *body.IgnoreDuration
		}
	}
	if m.substatus == "" {
		switch m.status {
		case store.StatusUnresolved:
			m.substatus = "ongoing"
		case store.StatusIgnored:
			m.substatus = "archived_forever"
			if d.IgnoreUntil != nil || d.IgnoreCount > 0 || d.IgnoreUserCount > 0 {
				m.substatus = "archived_until_condition_met"
			}
		}
	}
	m.details = d
	raw, _ := json.Marshal(d)
	m.detailsJSON = string(raw)
	return m, nil
}

// answer is Sentry's bulk answer: the fields the mutation changed.
func (m *mutation) answer() map[string]any {
	out := map[string]any{}
	if m.mergeAnswer != nil {
		return m.mergeAnswer
	}
	if m.status != "" {
		details := map[string]any{}
		json.Unmarshal([]byte(m.detailsJSON), &details) //nolint:errcheck // marshalled by parseMutation
		out = map[string]any{"status": m.status, "statusDetails": details, "substatus": m.substatus}
	}
	for k, v := range m.workflowAnswer {
		out[k] = v
	}
	return out
}

// actor is the user id activities record for the caller (0: none).
func actor(c *caller) uint64 {
	if c == nil || c.user == nil {
		return 0
	}
	return c.user.ID
}

// mutateIssues applies m to issues (each one the caller may change): one
// status write for all, each with its activity when its status or details
// change (setting an issue's status again records nothing new).
func (a *API) mutateIssues(ctx context.Context, c *caller, issues []store.Issue, m *mutation, now time.Time) error {
	if len(issues) == 0 {
		return nil
	}
	switch {
	case m.discard:
		return a.discardIssues(ctx, c, issues)
	case m.merge:
		ans, err := a.mergeIssues(ctx, c, issues, now)
		m.mergeAnswer = ans
		return err
	}
	// The workflow first: a bad assignee changes nothing.
	ans, err := a.applyWorkflow(ctx, c, issues, m.workflow, now)
	if err != nil {
		return err
	}
	m.workflowAnswer = ans
	if m.status == "" {
		return nil
	}
	data, _ := json.Marshal(m.activityData)
	// Resolved in the next release: the next after each project's latest
	// release now, in the project's release order.
	details := map[uint64]string{}
	if m.details.InNextRelease {
		for _, is := range issues {
			if _, ok := details[is.ProjectID]; ok {
				continue
			}
			latest, err := a.store.LatestRelease(ctx, is.ProjectID)
			if err != nil {
				return err
			}
			d := m.details
			d.ReleaseAtResolution = latest
			raw, _ := json.Marshal(d)
			details[is.ProjectID] = string(raw)
		}
	}
	changes := make([]store.StatusChange, 0, len(issues))
	for i := range issues {
		is := &issues[i]
		ch := store.StatusChange{ProjectID: is.ProjectID, GroupID: is.GroupID, Status: m.status,
			Substatus: m.substatus, Details: m.detailsJSON, At: now}
		if d, ok := details[is.ProjectID]; ok {
			ch.Details = d
		}
		if is.Status != m.status || !sameJSON(is.StatusDetails, ch.Details) {
			ch.Activity = &store.Activity{Type: m.activity, UserID: actor(c), Data: string(data)}
		}
		changes = append(changes, ch)
	}
	return a.store.SetStatus(ctx, changes)
}

// sameJSON compares two JSON objects ("" is {}).
func sameJSON(x, y string) bool {
	var a, b any
	if x == "" {
		x = "{}"
	}
	if y == "" {
		y = "{}"
	}
	if json.Unmarshal([]byte(x), &a) != nil || json.Unmarshal([]byte(y), &b) != nil {
		return false
	}
	ra, _ := json.Marshal(a)
	rb, _ := json.Marshal(b)
	return string(ra) == string(rb)
}

// bulkTargets resolves the issues a bulk request names, in projects (all
// of which the caller may see): the ?id= values (repeated; at most
// bulkLimit; an id of an issue the caller cannot see, or that is gone, is
// skipped, as Sentry does), else ?status=, else the query (Sentry's
// default is:unresolved without one), at most bulkLimit of them. A
// deletion must name its issues by id, status or query: without any
// filter it is refused rather than taken to mean every unresolved issue.
func (a *API) bulkTargets(ctx context.Context, r *http.Request, c *caller, projects []*meta.Project, deleting bool) ([]store.Issue, error) {
	q := r.URL.Query()
	pids := make([]uint64, len(projects))
	for i, p := range projects {
		pids[i] = p.ID
	}
	iq := store.IssueQuery{ProjectIDs: pids, Sort: store.SortDate}
	if vals := nonEmpty(q["id"]); len(vals) > 0 {
		if len(vals) > bulkLimit {
			return nil, errorf(http.StatusBadRequest, "At most %d issues may be changed at once.", bulkLimit)
		}
		var ids []uint64
		for _, v := range vals {
			id, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "Invalid id: %q is not an issue id.", v)
			}
			ref, err := a.groups.Get(ctx, id)
			if errors.Is(err, meta.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if slices.Contains(pids, ref.ProjectID) && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return nil, nil
		}
		iq.GroupIDs = ids
	} else {
		_, hasQuery := q["query"]
		status := q.Get("status")
		switch {
		case status != "":
			switch status {
			case store.StatusResolved, store.StatusUnresolved, store.StatusIgnored:
			case "muted", "archived":
				status = store.StatusIgnored
			default:
				return nil, errorf(http.StatusBadRequest, "status: %q is not a valid choice.", status)
			}
			iq.Status = status
		case deleting && !hasQuery:
			return nil, errorf(http.StatusBadRequest, "Name the issues to delete with id=, status= or query=.")
		default:
			search, err := parseIssueSearch(q.Get("query"), hasQuery)
			if err != nil {
				return nil, err
			}
			if err := search.ResolveLatest(ctx, pids, a.resolveLatestRelease); err != nil {
				return nil, err
			}
			if len(projects) > 0 {
				if err := search.ResolveUsers(ctx, a.resolveSearchUsers(c, projects[0].OrgID)); err != nil {
					return nil, err
				}
			}
			iq.Status, iq.Search = search.Status, &search
		}
	}
	var out []store.Issue
	for len(out) < bulkLimit {
		iq.Limit = min(100, bulkLimit-len(out))
		page, err := a.store.ListIssues(ctx, iq)
		if err != nil {
			return nil, err
		}
		for _, is := range page.Issues {
			if slices.Contains(pids, is.ProjectID) { // its metadata names its project
				out = append(out, is)
			}
		}
		if page.Next == "" {
			break
		}
		iq.Cursor = page.Next
	}
	return out, nil
}

// orgProjects is the projects of o the caller sees, narrowed to the
// ?project= ids when given (-1, or none, is every project). An id the
// caller cannot see is 404, as the organization would be.
func (a *API) orgProjects(r *http.Request, c *caller, o *meta.Organization) ([]*meta.Project, error) {
	var all []*meta.Project
	for _, p := range a.meta.Projects(o.ID) {
		if visibleProject(p) && a.canSeeProject(c, o, p) {
			all = append(all, p)
		}
	}
	want := nonEmpty(r.URL.Query()["project"])
	if len(want) == 0 || slices.Contains(want, "-1") {
		return all, nil
	}
	if len(want) > maxSearchTerms {
		return nil, errorf(http.StatusBadRequest, "At most %d projects.", maxSearchTerms)
	}
	var out []*meta.Project
	for _, v := range want {
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "Invalid project parameter. Values must be numbers.")
		}
		i := slices.IndexFunc(all, func(p *meta.Project) bool { return p.ID == id })
		if i < 0 {
			return nil, errNotFound
		}
		if !slices.Contains(out, all[i]) {
			out = append(out, all[i])
		}
	}
	return out, nil
}

// bulkUpdate applies the body to the issues the request names in
// projects: 204 when it names none (as Sentry), else the changed fields.
func (a *API) bulkUpdate(ctx context.Context, r *http.Request, c *caller, projects []*meta.Project) (*response, error) {
	now := time.Now()
	m, err := parseMutation(r, now) // a bad body changes nothing
	if err != nil {
		return nil, err
	}
	issues, err := a.bulkTargets(ctx, r, c, projects, false)
	if err != nil {
		return nil, err
	}
	if len(issues) == 0 {
		return &response{status: http.StatusNoContent}, nil
	}
	if err := a.mutateIssues(ctx, c, issues, m, now); err != nil {
		return nil, err
	}
	if m.discard {
		return &response{status: http.StatusNoContent}, nil
	}
	return ok(m.answer())
}

// bulkDelete deletes the issues the request names in projects: they leave
// the lists at once and a deletion job per issue deletes their data. 204,
// as Sentry.
func (a *API) bulkDelete(ctx context.Context, r *http.Request, c *caller, o *meta.Organization, projects []*meta.Project) (*response, error) {
	issues, err := a.bulkTargets(ctx, r, c, projects, true)
	if err != nil {
		return nil, err
	}
	if err := a.deleteIssues(ctx, c, issues, true); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent}, nil
}

func (a *API) bulkUpdateProjectIssues(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	return a.bulkUpdate(ctx, r, c, []*meta.Project{p})
}

func (a *API) bulkDeleteProjectIssues(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	return a.bulkDelete(ctx, r, c, o, []*meta.Project{p})
}

func (a *API) bulkUpdateOrgIssues(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	projects, err := a.orgProjects(r, c, o)
	if err != nil {
		return nil, err
	}
	return a.bulkUpdate(ctx, r, c, projects)
}

func (a *API) bulkDeleteOrgIssues(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	projects, err := a.orgProjects(r, c, o)
	if err != nil {
		return nil, err
	}
	return a.bulkDelete(ctx, r, c, o, projects)
}

// listOrgIssues is Sentry's GET /api/0/organizations/{org}/issues/: the
// issues of every project the caller sees (or of the ?project= ids), with
// the parameters of a project's list.
func (a *API) listOrgIssues(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	projects, err := a.orgProjects(r, c, o)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	pids := make([]uint64, len(projects))
	for i, p := range projects {
		pids[i] = p.ID
	}
	iq, err := a.issueListQuery(ctx, c, o, q, pids, true)
	if err != nil {
		return nil, err
	}
	iq.Environments = nonEmpty(q["environment"])
	out := []map[string]any{}
	resp := &response{status: http.StatusOK, header: http.Header{}}
	next := ""
	if len(projects) > 0 {
		byID := make(map[uint64]*meta.Project, len(projects))
		for _, p := range projects {
			byID[p.ID] = p
		}
		page, err := a.store.ListIssues(ctx, iq)
		if err != nil {
			return nil, err
		}
		var shown []store.Issue
		for i := range page.Issues {
			if p := byID[page.Issues[i].ProjectID]; p != nil {
				out = append(out, a.serializeIssue(&page.Issues[i], p, o))
				shown = append(shown, page.Issues[i])
			}
		}
		if err := a.withWorkflow(ctx, c, shown, out); err != nil {
			return nil, err
		}
		if expands(q, "firstRelease") {
			if err := a.withFirstReleases(ctx, shown, out); err != nil {
				return nil, err
			}
		}
		next = page.Next
	}
	resp.body = out
	resp.header.Set("Link", a.link(r, q.Get("cursor"), next))
	return resp, nil
}

// activityLimit bounds the activity an issue's details carry, as Sentry's
// (100, and the first seen).
const activityLimit = 100

// issueActivity is Sentry's activity of an issue's details: the recorded
// activities, newest first, then the issue's first sighting.
func (a *API) issueActivity(ctx context.Context, is *store.Issue) ([]map[string]any, error) {
	acts, err := a.store.ListActivity(ctx, is.ProjectID, is.GroupID, activityLimit)
	if err != nil {
		return nil, err
	}
	users := map[uint64]any{}
	out := make([]map[string]any, 0, len(acts)+1)
	for _, act := range acts {
		data := map[string]any{}
		json.Unmarshal([]byte(act.Data), &data) //nolint:errcheck // written by us
		u, seen := users[act.UserID]
		if !seen {
			u = a.activityUser(act.UserID)
			users[act.UserID] = u
		}
		out = append(out, map[string]any{"id": strconv.FormatUint(act.ID, 10), "user": u, "type": act.Type,
			"data": data, "dateCreated": act.Created().Format(time.RFC3339Nano)})
	}
	// Comments are notes, newest first among the rest.
	notes, err := a.store.ListComments(ctx, is.ProjectID, is.GroupID, 0, activityLimit)
	if err != nil {
		return nil, err
	}
	for i := range notes {
		out = append(out, a.noteJSON(&notes[i]))
	}
	when := func(m map[string]any) time.Time {
		t, _ := time.Parse(time.RFC3339Nano, m["dateCreated"].(string))
		return t
	}
	slices.SortStableFunc(out, func(x, y map[string]any) int { return when(y).Compare(when(x)) })
	if len(out) > activityLimit {
		out = out[:activityLimit]
	}
	out = append(out, map[string]any{"id": "0", "user": nil, "type": store.ActivityFirstSeen,
		"data": map[string]any{}, "dateCreated": is.FirstSeen.UTC().Format(time.RFC3339)})
	return out, nil
}

// activityUser is Sentry's user of an activity: null for Faultline's own
// changes (and for users that no longer exist).
func (a *API) activityUser(id uint64) any {
	if id == 0 || a.cfg.Users == nil {
		return nil
	}
	u, ok := a.cfg.Users.User(id)
	if !ok {
		return nil
	}
	sid := strconv.FormatUint(u.ID, 10)
	name := u.Name
	if strings.TrimSpace(name) == "" {
		name = u.Email
	}
	return map[string]any{"id": sid, "name": name, "username": u.Email, "email": u.Email, "avatarUrl": nil,
		"isActive": true, "avatar": map[string]any{"avatarType": "letter_avatar", "avatarUuid": nil}}
}
