package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

// The issue workflow (issue 19): assignment, bookmarks, subscriptions and
// the seen state through the one mutation function, and comments
// (Sentry's notes). Everything is stored in ClickHouse beside the issue
// state (store/workflow.go), so the issue search filters on it.

// WorkflowStore is what the workflow needs of the store.
type WorkflowStore interface {
	SetAssignees(ctx context.Context, as []store.Assignment) error
	SetUserFlags(ctx context.Context, fs []store.UserFlag) error
	Workflows(ctx context.Context, projectIDs, groupIDs []uint64, user uint64) (map[uint64]store.Workflow, error)
	PutComment(ctx context.Context, c *store.Comment) error
	ListComments(ctx context.Context, projectID, groupID, id uint64, limit int) ([]store.Comment, error)
}

// workflowChange is the workflow part of a mutation body.
type workflowChange struct {
	// assign is the assignedTo value as sent ("" unassigns); assignSet
	// tells whether the body had one.
	assign                   string
	assignSet                bool
	bookmark, subscribe, see *bool
}

func (w *workflowChange) any() bool {
	return w.assignSet || w.bookmark != nil || w.subscribe != nil || w.see != nil
}

// parseWorkflow reads assignedTo (a string, a number or null) and the
// three flags (booleans) of a mutation body.
func parseWorkflow(b *mutationBody) (workflowChange, error) {
	var w workflowChange
	if len(b.AssignedTo) > 0 {
		w.assignSet = true
		var v any
		if err := json.Unmarshal(b.AssignedTo, &v); err != nil {
			return w, errorf(http.StatusBadRequest, "assignedTo: Unknown actor input")
		}
		switch v := v.(type) {
		case nil:
		case string:
			w.assign = strings.TrimSpace(v)
		case float64:
			if v < 1 || v != float64(uint64(v)) {
				return w, errorf(http.StatusBadRequest, "assignedTo: Unknown actor input")
			}
			w.assign = strconv.FormatUint(uint64(v), 10)
		default:
			return w, errorf(http.StatusBadRequest, "assignedTo: Unknown actor input")
		}
		if len(w.assign) > 320 {
			return w, errorf(http.StatusBadRequest, "assignedTo: Unknown actor input")
		}
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  **bool
	}{{"isBookmarked", b.IsBookmarked, &w.bookmark}, {"isSubscribed", b.IsSubscribed, &w.subscribe}, {"hasSeen", b.HasSeen, &w.see}} {
		if !setRaw(f.raw) {
			continue
		}
		var v bool
		if err := json.Unmarshal(f.raw, &v); err != nil {
			return w, errorf(http.StatusBadRequest, "%s: Must be a valid boolean.", f.name)
		}
		*f.dst = &v
	}
	return w, nil
}

// assignee is a resolved assignee: kind "" is nobody.
type assignee struct {
	kind string
	user *meta.User
	team *meta.Team
}

func (as assignee) id() uint64 {
	switch {
	case as.user != nil:
		return as.user.ID
	case as.team != nil:
		return as.team.ID
	}
	return 0
}

// resolveAssignee resolves an assignedTo value for issues of projects of
// o: "user:ID", "team:ID", a user id, "me", an e-mail (Sentry's username).
// A user must be a member of o who can see every project; a team must be
// o's and on every project, as Sentry requires.
func (a *API) resolveAssignee(c *caller, o *meta.Organization, projects []*meta.Project, v string) (assignee, error) {
	if v == "" {
		return assignee{}, nil
	}
	unknown := errorf(http.StatusBadRequest, "assignedTo: Unknown actor input")
	var u *meta.User
	switch {
	case strings.HasPrefix(v, "team:"):
		id, err := strconv.ParseUint(v[len("team:"):], 10, 64)
		if err != nil {
			return assignee{}, unknown
		}
		t, ok := a.meta.TeamByID(id)
		if !ok || t.OrgID != o.ID {
			return assignee{}, unknown
		}
		for _, p := range projects {
			if !slices.Contains(p.TeamIDs, t.ID) {
				return assignee{}, errorf(http.StatusBadRequest, "assignedTo: Cannot assign to a team without access to the project")
			}
		}
		return assignee{kind: store.AssigneeTeam, team: t}, nil
	case v == "me":
		if c != nil {
			u = c.user
		}
	default:
		if a.cfg.Users == nil {
			return assignee{}, unknown
		}
		idText := strings.TrimPrefix(v, "user:")
		if id, err := strconv.ParseUint(idText, 10, 64); err == nil {
			u, _ = a.cfg.Users.User(id)
		} else if !strings.HasPrefix(v, "user:") {
			u, _ = a.cfg.Users.UserByEmail(v)
		}
	}
	if u == nil {
		return assignee{}, unknown
	}
	m, ok := a.meta.MemberByUser(o.ID, u.ID)
	if !ok || m.Pending {
		return assignee{}, errorf(http.StatusBadRequest, "assignedTo: Cannot assign to non-team member")
	}
	as := &caller{user: u}
	for _, p := range projects {
		if !a.canSeeProject(as, o, p) {
			return assignee{}, errorf(http.StatusBadRequest, "assignedTo: Cannot assign to non-team member")
		}
	}
	return assignee{kind: store.AssigneeUser, user: u}, nil
}

// assigneeJSON is Sentry's assignedTo: {type, id, name, email} or null.
func (a *API) assigneeJSON(kind string, id uint64) any {
	switch kind {
	case store.AssigneeUser:
		if a.cfg.Users == nil {
			return nil
		}
		u, ok := a.cfg.Users.User(id)
		if !ok {
			return nil
		}
		name := u.Name
		if strings.TrimSpace(name) == "" {
			name = u.Email
		}
		return map[string]any{"type": "user", "id": strconv.FormatUint(u.ID, 10), "name": name, "email": u.Email}
	case store.AssigneeTeam:
		t, ok := a.meta.TeamByID(id)
		if !ok {
			return nil
		}
		return map[string]any{"type": "team", "id": strconv.FormatUint(t.ID, 10), "name": t.Slug}
	}
	return nil
}

// applyWorkflow applies the workflow part of a mutation to issues (of
// org o, each the caller may change): it is checked first, so that a bad
// assignee changes nothing. It returns the fields of the bulk answer.
func (a *API) applyWorkflow(ctx context.Context, c *caller, issues []store.Issue, w workflowChange, now time.Time) (_ map[string]any, err error) {
	ans := map[string]any{}
	if !w.any() || len(issues) == 0 {
		return ans, nil
	}
	var user uint64
	if c != nil && c.user != nil {
		user = c.user.ID
	}
	if user == 0 && (w.bookmark != nil || w.subscribe != nil || w.see != nil) {
		return nil, errorf(http.StatusBadRequest, "Bookmarks, subscriptions and the seen state are a user's: call as a user.")
	}
	var projects []*meta.Project
	var pids, gids []uint64
	for _, is := range issues {
		gids = append(gids, is.GroupID)
		if slices.Contains(pids, is.ProjectID) {
			continue
		}
		p, ok := a.meta.ProjectByID(is.ProjectID)
		if !ok {
			return nil, errNotFound
		}
		pids, projects = append(pids, p.ID), append(projects, p)
	}
	o, ok := a.meta.OrganizationByID(projects[0].OrgID)
	if !ok {
		return nil, errNotFound
	}
	var flags []store.UserFlag
	if w.assignSet {
		to, err := a.resolveAssignee(c, o, projects, w.assign)
		if err != nil {
			return nil, err
		}
		current, err := a.store.Workflows(ctx, pids, gids, 0)
		if err != nil {
			return nil, err
		}
		var changes []store.Assignment
		for _, is := range issues {
			cur := current[is.GroupID]
			if cur.AssigneeKind == to.kind && (to.kind == "" || cur.AssigneeID == to.id()) {
				continue // unchanged: no activity
			}
			act := &store.Activity{Type: store.ActivityUnassigned, UserID: user, CreatedMS: uint64(now.UnixMilli())}
			if to.kind != "" {
				data := map[string]any{"assignee": strconv.FormatUint(to.id(), 10), "assigneeType": to.kind, "assigneeEmail": nil}
				if to.user != nil {
					data["assigneeEmail"] = to.user.Email
				}
				raw, _ := json.Marshal(data)
				act.Type, act.Data = store.ActivityAssigned, string(raw)
			}
			changes = append(changes, store.Assignment{ProjectID: is.ProjectID, GroupID: is.GroupID, Kind: to.kind,
				TargetID: to.id(), ActorID: user, At: now, Activity: act})
			if to.user != nil { // an assignee is subscribed, as in Sentry
				flags = append(flags, store.UserFlag{ProjectID: is.ProjectID, GroupID: is.GroupID, UserID: to.user.ID,
					Flag: store.FlagSubscribed, Value: true, At: now})
			}
		}
		if err := a.store.SetAssignees(ctx, changes); err != nil {
			return nil, err
		}
		who := "nobody"
		if aj, ok := a.assigneeJSON(to.kind, to.id()).(map[string]any); ok {
			who = fmt.Sprint(aj["name"])
		}
		// Mailed once the flags are written: the new assignee is a
		// subscriber by then.
		defer func() {
			if err != nil {
				return
			}
			for i := range issues {
				if !slices.ContainsFunc(changes, func(ch store.Assignment) bool { return ch.GroupID == issues[i].GroupID }) {
					continue
				}
				a.mailSubscribers(ctx, &issues[i], user, "assign:"+strconv.FormatUint(issues[i].GroupID, 10)+":"+
					strconv.FormatInt(now.UnixNano(), 10), a.actorName(user)+" assigned the issue to "+who+".")
			}
		}()
		ans["assignedTo"] = a.assigneeJSON(to.kind, to.id())
	}
	for _, f := range []struct {
		v    *bool
		flag string
		name string
	}{{w.bookmark, store.FlagBookmarked, "isBookmarked"}, {w.subscribe, store.FlagSubscribed, "isSubscribed"}, {w.see, store.FlagSeen, "hasSeen"}} {
		if f.v == nil {
			continue
		}
		for _, is := range issues {
			flags = append(flags, store.UserFlag{ProjectID: is.ProjectID, GroupID: is.GroupID, UserID: user, Flag: f.flag, Value: *f.v, At: now})
		}
		ans[f.name] = *f.v
		if f.flag == store.FlagSubscribed {
			ans["subscriptionDetails"] = subscriptionDetails(*f.v)
		}
	}
	// Explicit flags come after automatic ones: the caller's choice wins.
	if err := a.store.SetUserFlags(ctx, flags); err != nil {
		return nil, err
	}
	return ans, nil
}

func subscriptionDetails(subscribed bool) any {
	if !subscribed {
		return nil
	}
	return map[string]any{"reason": "unknown"}
}

// withWorkflow fills the workflow fields of serialized issues (out[i] is
// issues[i]'s JSON) as the caller sees them.
func (a *API) withWorkflow(ctx context.Context, c *caller, issues []store.Issue, out []map[string]any) error {
	if len(issues) == 0 {
		return nil
	}
	var pids, gids []uint64
	for _, is := range issues {
		if !slices.Contains(pids, is.ProjectID) {
			pids = append(pids, is.ProjectID)
		}
		gids = append(gids, is.GroupID)
	}
	ws, err := a.store.Workflows(ctx, pids, gids, actor(c))
	if err != nil {
		return err
	}
	for i, is := range issues {
		w := ws[is.GroupID]
		out[i]["assignedTo"] = a.assigneeJSON(w.AssigneeKind, w.AssigneeID)
		out[i]["isBookmarked"] = w.Bookmarked
		out[i]["isSubscribed"] = w.Subscribed
		out[i]["subscriptionDetails"] = subscriptionDetails(w.Subscribed)
		out[i]["hasSeen"] = w.Seen
		out[i]["numComments"] = w.NumComments
	}
	return nil
}

// resolveSearchUsers resolves the assigned: and bookmarks: terms of an
// issue search in organization o: me (the caller), #team (a team slug),
// none, a user id, user:ID, team:ID or an e-mail. A value naming nobody
// matches nothing, as in Sentry.
func (a *API) resolveSearchUsers(c *caller, orgID uint64) store.UserResolver {
	return func(_ context.Context, v string, bookmarks bool) (store.AssigneeRef, error) {
		nobody := store.AssigneeRef{Kind: store.AssigneeUser}
		switch {
		case v == "me":
			return store.AssigneeRef{Kind: store.AssigneeUser, ID: actor(c)}, nil
		case v == "none" && !bookmarks:
			return store.AssigneeRef{}, nil
		case strings.HasPrefix(v, "#") || strings.HasPrefix(v, "team:"):
			if bookmarks {
				return nobody, nil
			}
			var t *meta.Team
			ok := false
			if id, err := strconv.ParseUint(strings.TrimPrefix(v, "team:"), 10, 64); err == nil && strings.HasPrefix(v, "team:") {
				t, ok = a.meta.TeamByID(id)
			} else {
				t, ok = a.meta.Team(orgID, strings.TrimPrefix(v, "#"))
			}
			if !ok || t.OrgID != orgID {
				return store.AssigneeRef{Kind: store.AssigneeTeam}, nil
			}
			return store.AssigneeRef{Kind: store.AssigneeTeam, ID: t.ID}, nil
		}
		if a.cfg.Users == nil {
			return nobody, nil
		}
		var u *meta.User
		if id, err := strconv.ParseUint(strings.TrimPrefix(v, "user:"), 10, 64); err == nil {
			u, _ = a.cfg.Users.User(id)
		} else {
			u, _ = a.cfg.Users.UserByEmail(v)
		}
		if u == nil {
			return nobody, nil
		}
		if _, ok := a.meta.MemberByUser(orgID, u.ID); !ok {
			return nobody, nil
		}
		return store.AssigneeRef{Kind: store.AssigneeUser, ID: u.ID}, nil
	}
}

// Comments: Sentry's group notes.

type commentBody struct {
	Text *string `json:"text"`
}

func parseCommentBody(r *http.Request) (string, error) {
	var b commentBody
	if err := decodeBody(r, &b); err != nil {
		return "", err
	}
	if b.Text == nil || strings.TrimSpace(*b.Text) == "" {
		return "", errorf(http.StatusBadRequest, "text: This field is required.")
	}
	if len(*b.Text) > store.MaxCommentBytes {
		return "", errorf(http.StatusBadRequest, "text: Ensure this field has no more than %d bytes.", store.MaxCommentBytes)
	}
	return *b.Text, nil
}

// noteJSON is a comment as Sentry's activity of type note.
func (a *API) noteJSON(cm *store.Comment) map[string]any {
	return map[string]any{"id": strconv.FormatUint(cm.ID, 10), "user": a.activityUser(cm.UserID), "type": store.ActivityNote,
		"data": map[string]any{"text": cm.Text}, "dateCreated": cm.Created().Format(time.RFC3339Nano)}
}

func (a *API) listComments(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	cs, err := a.store.ListComments(ctx, p.ID, gid, 0, activityLimit)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(cs))
	for i := range cs {
		out = append(out, a.noteJSON(&cs[i]))
	}
	return ok(out)
}

func (a *API) createComment(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	text, err := parseCommentBody(r)
	if err != nil {
		return nil, err
	}
	if actor(c) == 0 {
		return nil, errorf(http.StatusBadRequest, "Comments are a user's: call as a user.")
	}
	cm := store.Comment{ProjectID: p.ID, GroupID: gid, UserID: actor(c), Text: text}
	if err := a.store.PutComment(ctx, &cm); err != nil {
		return nil, err
	}
	// A commenter is subscribed, as in Sentry.
	if err := a.store.SetUserFlags(ctx, []store.UserFlag{{ProjectID: p.ID, GroupID: gid, UserID: cm.UserID,
		Flag: store.FlagSubscribed, Value: true}}); err != nil {
		return nil, err
	}
	if is, err := a.store.GetIssue(ctx, p.ID, gid, nil, ""); err == nil && is != nil {
		a.mailSubscribers(ctx, is, cm.UserID, "note:"+strconv.FormatUint(cm.ID, 10),
			a.actorName(cm.UserID)+" commented:\n\n"+text)
	}
	return &response{status: http.StatusCreated, body: a.noteJSON(&cm)}, nil
}

// ownComment finds the caller's comment {comment_id} on the issue: another
// user's comment is 404, as in Sentry.
func (a *API) ownComment(ctx context.Context, r *http.Request, c *caller) (*store.Comment, error) {
	_, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseUint(r.PathValue("comment_id"), 10, 64)
	if err != nil || id == 0 {
		return nil, errNotFound
	}
	cs, err := a.store.ListComments(ctx, p.ID, gid, id, 1)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 || cs[0].UserID == 0 || cs[0].UserID != actor(c) {
		return nil, errNotFound
	}
	return &cs[0], nil
}

func (a *API) updateComment(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	cm, err := a.ownComment(ctx, r, c)
	if err != nil {
		return nil, err
	}
	text, err := parseCommentBody(r)
	if err != nil {
		return nil, err
	}
	cm.Text = text
	if err := a.store.PutComment(ctx, cm); err != nil {
		return nil, err
	}
	return ok(a.noteJSON(cm))
}

func (a *API) deleteComment(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	cm, err := a.ownComment(ctx, r, c)
	if err != nil {
		return nil, err
	}
	cm.Deleted = 1
	if err := a.store.PutComment(ctx, cm); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent}, nil
}

// listIssueActivities is Sentry's GET /api/0/issues/{id}/activities/:
// {"activity": [...]}, newest first, the first sighting last.
func (a *API) listIssueActivities(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	is, err := a.store.GetIssue(ctx, p.ID, gid, nil, "")
	if err != nil {
		return nil, err
	}
	if is == nil {
		return nil, errNotFound
	}
	is.ProjectID, is.GroupID = p.ID, gid
	acts, err := a.issueActivity(ctx, is)
	if err != nil {
		return nil, err
	}
	return ok(map[string]any{"activity": acts})
}
