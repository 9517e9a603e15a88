package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rule is one of a project's issue alert rules, in Sentry's terms. The
// conditions, filters and actions are kept as the client sent them
// (validated by internal/alert), so that fields this version does not know
// survive a read and a write (forward compatibility).
type Rule struct {
	ID          uint64            `json:"id"`
	ProjectID   uint64            `json:"projectId"`
	Name        string            `json:"name"`
	ActionMatch string            `json:"actionMatch"` // all, any, none
	FilterMatch string            `json:"filterMatch"` // all, any, none
	Frequency   int               `json:"frequency"`   // minutes between two firings per issue
	Environment string            `json:"environment,omitempty"`
	Conditions  []json.RawMessage `json:"conditions"`
	Filters     []json.RawMessage `json:"filters"`
	Actions     []json.RawMessage `json:"actions"`
	Owner       string            `json:"owner,omitempty"`
	CreatedBy   uint64            `json:"createdBy,omitempty"`
	DateCreated time.Time         `json:"dateCreated"`
}

// WebhookPlugin is a project's WebHooks plugin, as Sentry's legacy plugin:
// the URLs notified by the rule action NotifyEventServiceAction with
// service "webhooks". Secret, Faultline's, signs the requests when set.
type WebhookPlugin struct {
	ProjectID uint64   `json:"projectId"`
	Enabled   bool     `json:"enabled"`
	URLs      []string `json:"urls"`
	Secret    string   `json:"secret,omitempty"`
}

// DefaultRule is the rule a new project gets: a new issue e-mails the
// issue's owners (the project's team members), at most every 30 minutes
// per issue.
func DefaultRule(projectID uint64) *Rule {
	return &Rule{ProjectID: projectID, Name: "Send a notification for new issues", ActionMatch: "all",
		FilterMatch: "all", Frequency: 30,
		Conditions: []json.RawMessage{json.RawMessage(`{"id":"sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}`)},
		Filters:    []json.RawMessage{},
		Actions: []json.RawMessage{json.RawMessage(
			`{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"IssueOwners","targetIdentifier":"","fallthroughType":"ActiveMembers"}`)},
	}
}

func ruleKey(id uint64) string { return "rules." + strconv.FormatUint(id, 10) }

func pluginKey(projectID uint64) string {
	return "plugins.webhooks." + strconv.FormatUint(projectID, 10)
}

// CreateRule stores a new rule (its ID and DateCreated are set here).
func (s *Store) CreateRule(ctx context.Context, r *Rule) (*Rule, error) {
	id, err := s.NextID(ctx, "rule")
	if err != nil {
		return nil, err
	}
	cp := *r
	cp.ID, cp.DateCreated = id, now()
	if err := s.put(ctx, ruleKey(id), &cp); err != nil {
		return nil, err
	}
	return &cp, nil
}

// UpdateRule stores a modified copy of a rule.
func (s *Store) UpdateRule(ctx context.Context, r *Rule) error {
	if _, ok := s.Rule(r.ProjectID, r.ID); !ok {
		return ErrNotFound
	}
	return s.put(ctx, ruleKey(r.ID), r)
}

// DeleteRule deletes a rule.
func (s *Store) DeleteRule(ctx context.Context, projectID, id uint64) error {
	if _, ok := s.Rule(projectID, id); !ok {
		return ErrNotFound
	}
	return s.del(ctx, ruleKey(id))
}

// Rule returns a rule of a project.
func (s *Store) Rule(projectID, id uint64) (*Rule, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.rules[id]
	if !ok || r.ProjectID != projectID {
		return nil, false
	}
	return r, true
}

// Rules lists a project's rules, oldest first: a read of the in-memory
// cache, which the workers make once per batch and project.
func (s *Store) Rules(projectID uint64) []*Rule {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Rule
	for _, r := range s.rules {
		if r.ProjectID == projectID {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *Rule) int { return cmpID(a.ID, b.ID) })
	return out
}

// SetWebhookPlugin stores a project's WebHooks plugin settings.
func (s *Store) SetWebhookPlugin(ctx context.Context, p *WebhookPlugin) error {
	if len(p.URLs) > 50 {
		return fmt.Errorf("%w: at most 50 URLs", ErrInvalid)
	}
	return s.put(ctx, pluginKey(p.ProjectID), p)
}

// WebhookPluginSettings returns a project's WebHooks plugin (disabled,
// with no URLs, when never configured).
func (s *Store) WebhookPluginSettings(projectID uint64) WebhookPlugin {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if p, ok := s.plugins[projectID]; ok {
		return *p
	}
	return WebhookPlugin{ProjectID: projectID, URLs: []string{}}
}

// WebhookPlugin is what the notification sender reads: the URLs the
// project's WebHooks plugin posts to, its signing secret ("" for none),
// and whether it is enabled.
func (s *Store) WebhookPlugin(projectID uint64) (urls []string, secret string, enabled bool) {
	p := s.WebhookPluginSettings(projectID)
	return slices.Clone(p.URLs), p.Secret, p.Enabled
}

// applyAlerting installs a rule or a plugin entry into the cache; the
// caller holds s.mu.
func (s *Store) applyAlerting(kind, id string, val []byte, deleted bool) error {
	if s.rules == nil {
		s.rules = map[uint64]*Rule{}
		s.plugins = map[uint64]*WebhookPlugin{}
	}
	switch kind {
	case "rules":
		n, _ := strconv.ParseUint(id, 10, 64)
		if deleted {
			delete(s.rules, n)
			return nil
		}
		var r Rule
		if err := json.Unmarshal(val, &r); err != nil {
			return err
		}
		s.rules[r.ID] = &r
	case "plugins":
		name, pid, _ := strings.Cut(id, ".")
		if name != "webhooks" {
			return nil // a plugin of a later version
		}
		n, _ := strconv.ParseUint(pid, 10, 64)
		if deleted {
			delete(s.plugins, n)
			return nil
		}
		var p WebhookPlugin
		if err := json.Unmarshal(val, &p); err != nil {
			return err
		}
		s.plugins[p.ProjectID] = &p
	}
	return nil
}

// Assignee kinds, as the issue workflow stores them (store.AssigneeUser,
// store.AssigneeTeam).
const (
	AssigneeUser = "user"
	AssigneeTeam = "team"
)

// IssueOwners resolves who owns an issue of a project, for e-mail actions
// whose targetType is IssueOwners: Faultline has no ownership rules, so
// they are the issue's assignee (kind "user" or "team", from the issue
// workflow; "" for nobody) when that is a joined member of the
// organization or a team of it with joined members, and otherwise the
// joined members of the project's teams. Users are returned once each, by
// member order. This is the one resolution of IssueOwners.
func (s *Store) IssueOwners(projectID uint64, assigneeKind string, assigneeID uint64) []*User {
	p, ok := s.ProjectByID(projectID)
	if !ok {
		return nil
	}
	members := func(keep func(m *Member) bool) []*User {
		var out []*User
		seen := map[uint64]bool{}
		for _, m := range s.Members(p.OrgID) {
			if m.Pending || m.UserID == 0 || seen[m.UserID] || !keep(m) {
				continue
			}
			if u, ok := s.MemberUser(m); ok {
				seen[m.UserID] = true
				out = append(out, u)
			}
		}
		return out
	}
	switch assigneeKind {
	case AssigneeUser:
		if out := members(func(m *Member) bool { return m.UserID == assigneeID }); len(out) > 0 {
			return out
		}
	case AssigneeTeam:
		if t, ok := s.TeamByID(assigneeID); ok && t.OrgID == p.OrgID {
			if out := members(func(m *Member) bool { return m.HasTeam(assigneeID) }); len(out) > 0 {
				return out
			}
		}
	}
	return members(func(m *Member) bool { return slices.ContainsFunc(p.TeamIDs, m.HasTeam) })
}

// deleteProjectAlerting deletes a project's rules and plugin settings,
// with the project.
func (s *Store) deleteProjectAlerting(ctx context.Context, projectID uint64) error {
	for _, r := range s.Rules(projectID) {
		if err := s.del(ctx, ruleKey(r.ID)); err != nil {
			return err
		}
	}
	if err := s.del(ctx, pluginKey(projectID)); err != nil {
		return err
	}
	return s.del(ctx, defaultRuleKey(projectID))
}
