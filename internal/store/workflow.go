package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The issue workflow (issue 19): who an issue is assigned to, each user's
// bookmark, subscription and seen state, and comments (Sentry's notes).
// They live beside the issue state in ClickHouse, not in the metadata
// bucket: they grow with issues × users, and the issue search filters on
// them (assigned:, bookmarks:), which a subquery on a table beside
// group_hourly does in the same query. Each table is a ReplacingMergeTree
// keyed by what it describes with a nanosecond version: a change is an
// insert, reads take the latest version (argMax), and merges drop the rest.

// Activity types of the workflow, as Sentry's ActivityType names them.
const (
	ActivityAssigned   = "assigned"
	ActivityUnassigned = "unassigned"
	ActivityNote       = "note"
)

// Assignee kinds.
const (
	AssigneeUser = "user"
	AssigneeTeam = "team"
)

// User flags: per user and issue.
const (
	FlagBookmarked = "bookmarked"
	FlagSubscribed = "subscribed"
	FlagSeen       = "seen"
)

// MaxCommentBytes bounds one comment's text.
const MaxCommentBytes = 64 << 10

// schema0013 adds the workflow tables. Like group_activity, their rows go
// with the issue when it is deleted (deletion finds tables by their
// project_id and group_id columns) and are not partitioned by time.
func schema0013(s *Store) []string {
	return []string{
		s.sql(`CREATE TABLE IF NOT EXISTS {db}.group_assignees (
	project_id UInt64,
	group_id UInt64,
	kind LowCardinality(String),
	target_id UInt64,
	actor_id UInt64,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, group_id)`),
		s.sql(`CREATE TABLE IF NOT EXISTS {db}.group_user_state (
	project_id UInt64,
	group_id UInt64,
	user_id UInt64,
	flag LowCardinality(String),
	value UInt8,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, group_id, user_id, flag)`),
		s.sql(`CREATE TABLE IF NOT EXISTS {db}.group_comments (
	project_id UInt64,
	group_id UInt64,
	id UInt64,
	user_id UInt64,
	text String,
	created_ms UInt64,
	updated_ms UInt64,
	deleted UInt8,
	version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, group_id, id)`),
	}
}

// version is a write's version: its time in nanoseconds, so that two
// changes of one row in the same millisecond keep their order.
func version(at time.Time) uint64 {
	if at.IsZero() {
		at = time.Now()
	}
	return uint64(at.UnixNano())
}

// Assignment is an issue's assignee: Kind "" is nobody.
type Assignment struct {
	ProjectID uint64
	GroupID   uint64
	Kind      string
	TargetID  uint64
	ActorID   uint64
	At        time.Time
	// Activity, if set, is recorded with the assignment.
	Activity *Activity
}

// SetAssignees records assignments (and their activities).
func (s *Store) SetAssignees(ctx context.Context, as []Assignment) error {
	if len(as) == 0 {
		return nil
	}
	rows := make([][]any, 0, len(as))
	var acts []Activity
	for _, a := range as {
		if a.Kind != "" && a.Kind != AssigneeUser && a.Kind != AssigneeTeam {
			return errors.New("store: unknown assignee kind " + strconv.Quote(a.Kind))
		}
		rows = append(rows, []any{a.ProjectID, a.GroupID, a.Kind, a.TargetID, a.ActorID, version(a.At)})
		if a.Activity != nil {
			act := *a.Activity
			act.ProjectID, act.GroupID = a.ProjectID, a.GroupID
			if act.CreatedMS == 0 && !a.At.IsZero() {
				act.CreatedMS = uint64(a.At.UnixMilli())
			}
			acts = append(acts, act)
		}
	}
	if err := s.t.insert(ctx, s.table("group_assignees"),
		[]string{"project_id", "group_id", "kind", "target_id", "actor_id", "version"}, rows); err != nil {
		return err
	}
	return s.InsertActivity(ctx, acts)
}

// IssueAssignee returns an issue's assignee (kind "" is nobody): what the
// notification sender reads to resolve IssueOwners. One query on the
// table's sorting key.
func (s *Store) IssueAssignee(ctx context.Context, projectID, groupID uint64) (string, uint64, error) {
	var as []struct {
		Kind   string `ch:"kind"`
		Target uint64 `ch:"target"`
	}
	if err := s.t.query(ctx, &as, "SELECT argMax(k, v) AS kind, argMax(t, v) AS target FROM (SELECT "+
		"CAST(kind AS String) AS k, target_id AS t, version AS v FROM "+s.table("group_assignees")+
		" WHERE project_id = "+num(projectID)+" AND group_id = "+num(groupID)+")"); err != nil {
		return "", 0, err
	}
	if len(as) == 0 {
		return "", 0, nil
	}
	return as[0].Kind, as[0].Target, nil
}

// UserFlag is one user's flag on an issue.
type UserFlag struct {
	ProjectID, GroupID, UserID uint64
	Flag                       string
	Value                      bool
	At                         time.Time
}

// SetUserFlags records flags.
func (s *Store) SetUserFlags(ctx context.Context, fs []UserFlag) error {
	if len(fs) == 0 {
		return nil
	}
	rows := make([][]any, len(fs))
	for i, f := range fs {
		v := uint8(0)
		if f.Value {
			v = 1
		}
		rows[i] = []any{f.ProjectID, f.GroupID, f.UserID, f.Flag, v, version(f.At)}
	}
	return s.t.insert(ctx, s.table("group_user_state"),
		[]string{"project_id", "group_id", "user_id", "flag", "value", "version"}, rows)
}

// Workflow is an issue's workflow state as one user sees it.
type Workflow struct {
	AssigneeKind string // "" for nobody
	AssigneeID   uint64
	Bookmarked   bool
	Subscribed   bool
	Seen         bool
	NumComments  uint64
}

// Workflows returns the workflow state of issues (ids of the projects)
// for user (0: nobody's flags). Issues without any have no entry.
func (s *Store) Workflows(ctx context.Context, projectIDs, groupIDs []uint64, user uint64) (map[uint64]Workflow, error) {
	out := map[uint64]Workflow{}
	if len(projectIDs) == 0 || len(groupIDs) == 0 {
		return out, nil
	}
	where := " WHERE project_id IN " + nums(projectIDs) + " AND group_id IN " + nums(groupIDs)
	var as []struct {
		GroupID uint64 `ch:"group_id"`
		Kind    string `ch:"kind"`
		Target  uint64 `ch:"target"`
	}
	if err := s.t.query(ctx, &as, "SELECT group_id, argMax(k, v) AS kind, argMax(t, v) AS target FROM (SELECT group_id, "+
		"CAST(kind AS String) AS k, target_id AS t, version AS v FROM "+s.table("group_assignees")+where+") GROUP BY group_id"); err != nil {
		return nil, err
	}
	for _, a := range as {
		w := out[a.GroupID]
		w.AssigneeKind, w.AssigneeID = a.Kind, a.Target
		out[a.GroupID] = w
	}
	if user != 0 {
		var fs []struct {
			GroupID uint64 `ch:"group_id"`
			Flag    string `ch:"flag"`
			Value   uint64 `ch:"value"`
		}
		if err := s.t.query(ctx, &fs, "SELECT group_id, f AS flag, toUInt64(argMax(x, v)) AS value FROM (SELECT group_id, "+
			"CAST(flag AS String) AS f, value AS x, version AS v FROM "+s.table("group_user_state")+where+
			" AND user_id = "+num(user)+") GROUP BY group_id, f"); err != nil {
			return nil, err
		}
		for _, f := range fs {
			w := out[f.GroupID]
			switch f.Flag {
			case FlagBookmarked:
				w.Bookmarked = f.Value == 1
			case FlagSubscribed:
				w.Subscribed = f.Value == 1
			case FlagSeen:
				w.Seen = f.Value == 1
			}
			out[f.GroupID] = w
		}
	}
	var cs []struct {
		GroupID uint64 `ch:"group_id"`
		N       uint64 `ch:"n"`
	}
	if err := s.t.query(ctx, &cs, "SELECT group_id, toUInt64(countIf(d = 0)) AS n FROM (SELECT group_id, id, argMax(deleted, version) AS d FROM "+
		s.table("group_comments")+where+" GROUP BY group_id, id) GROUP BY group_id"); err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.N > 0 {
			w := out[c.GroupID]
			w.NumComments = c.N
			out[c.GroupID] = w
		}
	}
	return out, nil
}

// Subscribers returns the users subscribed to an issue.
func (s *Store) Subscribers(ctx context.Context, projectID, groupID uint64) ([]uint64, error) {
	var rows []struct {
		UserID uint64 `ch:"user_id"`
	}
	err := s.t.query(ctx, &rows, "SELECT user_id FROM (SELECT user_id, argMax(value, version) AS x FROM "+
		s.table("group_user_state")+" WHERE project_id = "+num(projectID)+" AND group_id = "+num(groupID)+
		" AND flag = "+str(FlagSubscribed)+" GROUP BY user_id) WHERE x = 1 ORDER BY user_id")
	out := make([]uint64, len(rows))
	for i, r := range rows {
		out[i] = r.UserID
	}
	return out, err
}

// Comment is a note on an issue.
type Comment struct {
	ProjectID uint64 `ch:"project_id"`
	GroupID   uint64 `ch:"group_id"`
	ID        uint64 `ch:"id"`
	UserID    uint64 `ch:"user_id"`
	Text      string `ch:"text"`
	CreatedMS uint64 `ch:"created_ms"`
	UpdatedMS uint64 `ch:"updated_ms"`
	Deleted   uint64 `ch:"deleted"`
}

// Created returns when the comment was written.
func (c Comment) Created() time.Time { return time.UnixMilli(int64(c.CreatedMS)).UTC() }

// PutComment writes a comment, new (ID 0: a new id, set on c) or a new
// version of one (edited, or Deleted).
func (s *Store) PutComment(ctx context.Context, c *Comment) error {
	if len(c.Text) > MaxCommentBytes {
		return errors.New("store: comment too long")
	}
	now := time.Now()
	if c.ID == 0 {
		c.ID = randomActivityID()
	}
	if c.CreatedMS == 0 {
		c.CreatedMS = uint64(now.UnixMilli())
	}
	c.UpdatedMS = uint64(now.UnixMilli())
	del := uint8(0)
	if c.Deleted != 0 {
		del = 1
	}
	return s.t.insert(ctx, s.table("group_comments"),
		[]string{"project_id", "group_id", "id", "user_id", "text", "created_ms", "updated_ms", "deleted", "version"},
		[][]any{{c.ProjectID, c.GroupID, c.ID, c.UserID, c.Text, c.CreatedMS, c.UpdatedMS, del, version(now)}})
}

// ListComments returns an issue's comments (id: just that one, 0: all),
// newest first, at most limit (1 to 1000); deleted ones are left out.
func (s *Store) ListComments(ctx context.Context, projectID, groupID, id uint64, limit int) ([]Comment, error) {
	if limit < 1 || limit > 1000 {
		limit = 100
	}
	cond := ""
	if id != 0 {
		cond = " AND id = " + num(id)
	}
	var rows []Comment
	err := s.t.query(ctx, &rows, "SELECT project_id, group_id, id, argMax(u, v) AS user_id, argMax(t, v) AS text, "+
		"min(c) AS created_ms, argMax(up, v) AS updated_ms, toUInt64(argMax(d, v)) AS deleted FROM (SELECT project_id, group_id, id, "+
		"user_id AS u, text AS t, created_ms AS c, updated_ms AS up, deleted AS d, version AS v FROM "+s.table("group_comments")+
		" WHERE project_id = "+num(projectID)+" AND group_id = "+num(groupID)+cond+") GROUP BY project_id, group_id, id "+
		"HAVING deleted = 0 ORDER BY created_ms DESC, id DESC LIMIT "+strconv.Itoa(limit))
	return rows, err
}

// AssigneeRef is an assignee a search names: Kind "" is nobody.
type AssigneeRef struct {
	Kind string
	ID   uint64
}

// UserTerm is an assigned: or bookmarks: term: its value as written
// (me, #team, none, an e-mail or an id), resolved by ResolveUsers.
type UserTerm struct {
	Value    string
	Negate   bool
	Resolved *AssigneeRef
}

// UserResolver resolves a user term's value: bookmarks tells a bookmarks:
// term (only users). A value that names nobody known resolves to a
// user 0, which matches nothing.
type UserResolver func(ctx context.Context, value string, bookmarks bool) (AssigneeRef, error)

// ResolveUsers resolves the search's assigned:, bookmarks: and
// is:subscribed terms.
func (q *IssueSearch) ResolveUsers(ctx context.Context, resolve UserResolver) error {
	for _, l := range []struct {
		terms     []UserTerm
		bookmarks bool
	}{{q.Assigned, false}, {q.Bookmarks, true}, {q.Subscribed, true}} {
		for i := range l.terms {
			if l.terms[i].Resolved != nil {
				continue
			}
			ref, err := resolve(ctx, l.terms[i].Value, l.bookmarks)
			if err != nil {
				return err
			}
			l.terms[i].Resolved = &ref
		}
	}
	return nil
}

// workflowConds renders the search's assignment and bookmark conditions.
func (s *Store) workflowConds(projects []uint64, q *IssueSearch) ([]string, error) {
	var out []string
	assignees := func(cond string) string {
		return "(SELECT group_id FROM (SELECT group_id, argMax(k, v) AS kind, argMax(t, v) AS target FROM (SELECT group_id, " +
			"CAST(kind AS String) AS k, target_id AS t, version AS v FROM " + s.table("group_assignees") +
			" WHERE project_id IN " + nums(projects) + ") GROUP BY group_id) WHERE " + cond + ")"
	}
	if q.IsAssigned != nil {
		op := s.in()
		if !*q.IsAssigned {
			op = s.notIn()
		}
		out = append(out, "group_id "+op+" "+assignees("kind != ''"))
	}
	for _, t := range q.Assigned {
		if t.Resolved == nil {
			return nil, errors.New("store: assigned: was not resolved")
		}
		var cond string
		in, notIn := s.in(), s.notIn()
		if t.Resolved.Kind == "" { // none: not assigned to anyone
			cond = "kind != ''"
			in, notIn = notIn, in
		} else {
			cond = "kind = " + str(t.Resolved.Kind) + " AND target = " + num(t.Resolved.ID)
		}
		op := in
		if t.Negate {
			op = notIn
		}
		out = append(out, "group_id "+op+" "+assignees(cond))
	}
	for _, l := range []struct {
		terms []UserTerm
		flag  string
	}{{q.Bookmarks, FlagBookmarked}, {q.Subscribed, FlagSubscribed}} {
		for _, t := range l.terms {
			if t.Resolved == nil {
				return nil, errors.New("store: " + l.flag + " was not resolved")
			}
			op := s.in()
			if t.Negate {
				op = s.notIn()
			}
			out = append(out, "group_id "+op+" (SELECT group_id FROM (SELECT group_id, argMax(x, v) AS b FROM (SELECT group_id, "+
				"value AS x, version AS v FROM "+s.table("group_user_state")+" WHERE project_id IN "+nums(projects)+
				" AND flag = "+str(l.flag)+" AND user_id = "+num(t.Resolved.ID)+") GROUP BY group_id) WHERE b = 1)")
		}
	}
	return out, nil
}

// userTermValue checks a user term's value.
func userTermValue(key, v string) error {
	if v == "" {
		return searchErrorf("Invalid search query: %s: needs a value.", key)
	}
	if strings.ContainsAny(v, "*") {
		return searchErrorf("Invalid search query: %q: wildcards are not supported.", key+":"+v)
	}
	return nil
}
