package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/faultline/faultline/internal/alert"
	"github.com/faultline/faultline/internal/meta"
)

// Directory is the metadata the sender reads (meta.Store implements it).
type Directory interface {
	ProjectByID(id uint64) (*meta.Project, bool)
	TeamByID(id uint64) (*meta.Team, bool)
	Members(orgID uint64) []*meta.Member
	MemberUser(m *meta.Member) (*meta.User, bool)
}

// WebhookPlugins reads a project's WebHooks plugin settings (the rules'
// metadata implements it).
type WebhookPlugins interface {
	WebhookPlugin(projectID uint64) (urls []string, secret string, enabled bool)
}

// Owners resolves an issue's owners (meta.Store implements it; see
// meta.Store.IssueOwners, the one resolution of IssueOwners).
type Owners interface {
	IssueOwners(projectID uint64, assigneeKind string, assigneeID uint64) []*meta.User
}

// Assignees reads an issue's assignee from the issue workflow
// (store.Store implements it): kind "" is nobody.
type Assignees interface {
	IssueAssignee(ctx context.Context, projectID, groupID uint64) (kind string, id uint64, err error)
}

// IssueOwners returns the e-mail addresses of who owns the firing's
// issue: its assignee (a user, or a team's members) if any, else the
// members of the project's teams. Without assignees (nil) or an issue
// (a test-fire), the project's teams.
func IssueOwners(ctx context.Context, d Directory, as Assignees, f *alert.Fired) ([]string, error) {
	owners, ok := d.(Owners)
	if !ok {
		return nil, errors.New("notify: the directory cannot resolve issue owners")
	}
	kind, id := "", uint64(0)
	if as != nil && f.GroupID != 0 {
		var err error
		if kind, id, err = as.IssueAssignee(ctx, f.ProjectID, f.GroupID); err != nil {
			return nil, fmt.Errorf("notify: the issue's assignee: %w", err)
		}
	}
	var out []string
	for _, u := range owners.IssueOwners(f.ProjectID, kind, id) {
		if u.Email != "" && !slices.Contains(out, u.Email) {
			out = append(out, u.Email)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Recipients resolves an e-mail action's targets to addresses: the
// issue's owners, a team's members (targetIdentifier is the team id) or
// one member (the user id). Pending invitations receive nothing.
func Recipients(ctx context.Context, d Directory, as Assignees, f *alert.Fired, a Action) ([]string, error) {
	switch a.TargetType {
	case TargetIssueOwners, "":
		return IssueOwners(ctx, d, as, f)
	case TargetTeam:
		id, err := strconv.ParseUint(a.TargetIdentifier, 10, 64)
		if err != nil {
			return nil, nil
		}
		if t, ok := d.TeamByID(id); !ok || t.OrgID != f.OrgID {
			return nil, nil
		}
		return memberEmails(d, f.OrgID, func(m *meta.Member) bool { return m.HasTeam(id) }), nil
	case TargetMember:
		id, err := strconv.ParseUint(a.TargetIdentifier, 10, 64)
		if err != nil {
			return nil, nil
		}
		return memberEmails(d, f.OrgID, func(m *meta.Member) bool { return m.UserID == id }), nil
	}
	return nil, nil
}

func memberEmails(d Directory, orgID uint64, keep func(*meta.Member) bool) []string {
	var out []string
	for _, m := range d.Members(orgID) {
		if m.Pending || !keep(m) {
			continue
		}
		if u, ok := d.MemberUser(m); ok && u.Email != "" && !slices.Contains(out, u.Email) {
			out = append(out, u.Email)
		}
	}
	slices.Sort(out)
	return out
}
