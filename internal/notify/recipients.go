package notify

import (
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

// IssueOwners returns the e-mail addresses of who owns the firing's
// issue. Faultline has no ownership rules: it is the members of the
// project's teams (the issue workflow adds the assignee first).
func IssueOwners(d Directory, f *alert.Fired) []string {
	p, ok := d.ProjectByID(f.ProjectID)
	if !ok {
		return nil
	}
	return memberEmails(d, f.OrgID, func(m *meta.Member) bool {
		return slices.ContainsFunc(p.TeamIDs, m.HasTeam)
	})
}

// Recipients resolves an e-mail action's targets to addresses: the
// issue's owners, a team's members (targetIdentifier is the team id) or
// one member (the user id). Pending invitations receive nothing.
func Recipients(d Directory, f *alert.Fired, a Action) []string {
	switch a.TargetType {
	case TargetIssueOwners, "":
		return IssueOwners(d, f)
	case TargetTeam:
		id, err := strconv.ParseUint(a.TargetIdentifier, 10, 64)
		if err != nil {
			return nil
		}
		if t, ok := d.TeamByID(id); !ok || t.OrgID != f.OrgID {
			return nil
		}
		return memberEmails(d, f.OrgID, func(m *meta.Member) bool { return m.HasTeam(id) })
	case TargetMember:
		id, err := strconv.ParseUint(a.TargetIdentifier, 10, 64)
		if err != nil {
			return nil
		}
		return memberEmails(d, f.OrgID, func(m *meta.Member) bool { return m.UserID == id })
	}
	return nil
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
