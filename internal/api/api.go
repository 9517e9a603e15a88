// Package api is Faultline's Sentry-compatible web API (/api/0/...): the
// paths, JSON shapes, paging and errors are Sentry's, so that tools written
// for Sentry (GitLab's error tracking, sentry-cli) work against Faultline.
// Every route authenticates its caller and checks that the organization it
// names is one the caller may see.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/attachment"
	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/deadletter"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/openapi"
	"github.com/faultline/faultline/internal/route"
	"github.com/faultline/faultline/internal/session"
	"github.com/faultline/faultline/internal/store"
)

// Invitations queues invitation mails (notify.Queue implements it).
type Invitations interface {
	EnqueueInvitation(ctx context.Context, memberID uint64, org, to, link string) error
}

// Config configures the API.
type Config struct {
	// Invitations mails invitations (nil without SMTP: the inviter is
	// shown the link in any case).
	Invitations Invitations
	// PublicURL is how clients reach this server (DSNs and links use it),
	// e.g. http://127.0.0.1:8000.
	PublicURL string
	// Attachments serves attachment downloads; nil answers them with 404.
	Attachments AttachmentReader
	// Spikes reports spike protection caps; nil reports none.
	Spikes SpikeStatus
	// Deletions schedules deletion jobs and reads their status; nil
	// leaves out the deletion routes.
	Deletions Deletions
	// DeletionDelay is how long after a project or an organization is
	// marked for deletion its data starts being deleted, during which the
	// deletion can be cancelled (default 1 hour).
	DeletionDelay time.Duration
	// UnmergeInlineMax is how many events an unmerge moves within its
	// request; above it the move is left to a background job and the
	// answer is 202 with the job (default DefaultUnmergeInlineMax;
	// negative: always a job).
	UnmergeInlineMax int
	// DeadLetters and Requeue serve the dead-letter routes (superusers
	// only); either nil leaves them out.
	DeadLetters DeadLetters
	Requeue     deadletter.Publisher
	// TokenUsage records when tokens were last used; nil records nothing.
	TokenUsage TokenUsage
	// Users serves the user routes; nil leaves them out.
	Users Users
	// Sessions serves login, logout and session cookies; nil leaves them
	// out (and with Users nil).
	Sessions Sessions
	// Routes returns the process's route table, which the OpenAPI
	// document at /api/openapi.json describes; nil leaves it out.
	Routes func() []*route.Route
	// Subscriptions mails an issue's subscribers about comments and
	// assignments (nil without SMTP: nothing is mailed).
	Subscriptions IssueMailer
	// Alerts queues the notifications of rule test-fires
	// (POST .../rule-actions/); nil answers them with 400.
	Alerts AlertQueue
	// Artifacts keeps source-map uploads (chunks, bundles, release
	// files); nil leaves their routes out.
	Artifacts Artifacts
	// TestFire delivers test-fires at once, answering each action's
	// result (notify.NewDeliverer); nil queues them on Alerts.
	TestFire TestFirer
	// TrustForwarded counts login failures by the address a trusted proxy
	// appended to X-Forwarded-For.
	TrustForwarded bool
}

// AttachmentReader reads the bytes of stored attachments.
type AttachmentReader interface {
	// Get opens the object under key once its bytes match wantSHA1.
	Get(ctx context.Context, key, wantSHA1 string) (attachment.Object, uint64, error)
}

// Meta is the metadata the API reads and writes.
type Meta interface {
	Authenticate(token string) (*meta.User, *meta.Token, bool)
	CreateOrganization(ctx context.Context, name, slug string, creator uint64) (*meta.Organization, error)
	Organization(slug string) (*meta.Organization, bool)
	OrganizationByID(id uint64) (*meta.Organization, bool)
	Organizations() []*meta.Organization
	CreateTeam(ctx context.Context, org *meta.Organization, name, slug string) (*meta.Team, error)
	Team(orgID uint64, slug string) (*meta.Team, bool)
	TeamByID(id uint64) (*meta.Team, bool)
	Teams(orgID uint64) []*meta.Team
	CreateProject(ctx context.Context, team *meta.Team, name, slug, platform string) (*meta.Project, *meta.Key, error)
	UpdateProject(ctx context.Context, p *meta.Project) error
	MarkProjectForDeletion(ctx context.Context, id uint64) (*meta.Project, error)
	MarkOrganizationForDeletion(ctx context.Context, id uint64) (*meta.Organization, error)
	UpdateOrganization(ctx context.Context, o *meta.Organization) error
	RestoreOrganization(ctx context.Context, id uint64, projectIDs []uint64) (*meta.Organization, error)
	RestoreProject(ctx context.Context, id uint64) (*meta.Project, error)
	Project(orgID uint64, slug string) (*meta.Project, bool)
	ProjectByID(id uint64) (*meta.Project, bool)
	Projects(orgID uint64) []*meta.Project
	CreateKey(ctx context.Context, p *meta.Project, label string) (*meta.Key, error)
	UpdateKey(ctx context.Context, k *meta.Key) error
	DeleteKey(ctx context.Context, k *meta.Key) error
	Keys(projectID uint64) []*meta.Key
	tokenMeta
	MemberMeta
	RuleMeta
}

// Store is the event store the API reads.
type Store interface {
	ListIssues(ctx context.Context, q store.IssueQuery) (store.IssuePage, error)
	GetIssue(ctx context.Context, projectID, groupID uint64, environments []string, statsPeriod string) (*store.Issue, error)
	SetStatus(ctx context.Context, changes []store.StatusChange) error
	ListActivity(ctx context.Context, projectID, groupID uint64, limit int) ([]store.Activity, error)
	ListEvents(ctx context.Context, q store.EventQuery) ([]store.StoredEvent, error)
	GetEvent(ctx context.Context, projectID uint64, eventID string) (*store.StoredEvent, error)
	LatestEvent(ctx context.Context, projectID, groupID uint64) (*store.StoredEvent, error)
	OldestEvent(ctx context.Context, projectID, groupID uint64) (*store.StoredEvent, error)
	IssueStats(ctx context.Context, projectID, groupID uint64, environments []string, period string) ([]store.Bucket, error)
	HideIssues(ctx context.Context, projectID uint64, groupIDs []uint64) error
	TagValues(ctx context.Context, projectID, groupID uint64, key string, limit int) ([]store.TagValue, error)
	TagSummary(ctx context.Context, projectID, groupID uint64, top int) ([]store.TagKeySummary, error)
	ListDeploys(ctx context.Context, projectIDs []uint64, version string) ([]store.Deploy, error)
	ListAttachments(ctx context.Context, projectID uint64, eventID string) ([]store.Attachment, error)
	GetAttachment(ctx context.Context, projectID uint64, eventID string, id uint64) (*store.Attachment, error)
	ListUserReports(ctx context.Context, q store.UserReportQuery) ([]store.UserReport, error)
	EventGroups(ctx context.Context, projectID uint64, eventIDs []string) (map[string]uint64, error)
	IssueReleases(ctx context.Context, projectID, groupID uint64) (first, last *store.IssueRelease, err error)
	ReleaseStore
	AdjacentEvents(ctx context.Context, ev *store.StoredEvent) (prev, next string, err error)
	IssueUserReportCount(ctx context.Context, projectID, groupID uint64) (uint64, error)
	IssueCounter
	EnvironmentLister
	WorkflowStore
	MergeStore
	FirstReleases(ctx context.Context, projectIDs, groupIDs []uint64) (map[uint64]string, error)
}

// Groups maps issue ids to their project.
type Groups interface {
	Get(ctx context.Context, id uint64) (meta.GroupRef, error)
}

// API serves /api/0/.
type API struct {
	cfg       Config
	meta      Meta
	store     Store
	groups    Groups
	deletions Deletions // nil: no deletion routes
	log       *slog.Logger
	public    *url.URL
	reserved  func(slug string) bool // organization slugs taken by routes
}

// New returns the API.
func New(cfg Config, m Meta, s Store, g Groups, log *slog.Logger) (*API, error) {
	u, err := url.Parse(strings.TrimRight(cfg.PublicURL, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("api: public URL %q must be like http://host:port", cfg.PublicURL)
	}
	if log == nil {
		log = slog.Default()
	}
	return &API{cfg: cfg, meta: m, store: s, groups: g, deletions: cfg.Deletions, log: log, public: u}, nil
}

func (a *API) deletionDelay() time.Duration {
	if a.cfg.DeletionDelay > 0 {
		return a.cfg.DeletionDelay
	}
	return defaultDeletionDelay
}

// Routes returns the API's routes, for the route table.
func (a *API) Routes() []route.Route {
	const (
		none    = route.TenantNone
		org     = route.TenantOrganization
		team    = route.TenantTeam
		project = route.TenantProject
		issue   = route.TenantIssue
		event   = route.TenantEvent
		job     = route.TenantJob
	)
	rs := []route.Route{
		a.route("GET", "/api/0/organizations/", a.listOrganizations, none, "org:read", "list organizations"),
		a.route("POST", "/api/0/organizations/", a.createOrganization, none, "org:write", "create an organization"),
		a.ciRoute("GET", "/api/0/organizations/{org}/", a.getOrganization, org, "org:read", "get an organization"),
		a.route("PUT", "/api/0/organizations/{org}/", a.updateOrganization, org, "org:write", "update an organization, or cancel its deletion"),
		a.route("GET", "/api/0/organizations/{org}/stats_v2/", a.statsV2, org, "org:read", "event outcome statistics"),
		a.route("GET", "/api/0/organizations/{org}/teams/", a.listTeams, org, "team:read", "list teams"),
		a.route("POST", "/api/0/organizations/{org}/teams/", a.createTeam, org, "team:write", "create a team"),
		a.ciRoute("GET", "/api/0/organizations/{org}/projects/", a.listOrgProjects, org, "project:read", "list an organization's projects"),
		a.route("POST", "/api/0/teams/{org}/{team}/projects/", a.createProject, team, "project:write", "create a project"),
		a.route("GET", "/api/0/projects/", a.listProjects, none, "project:read", "list projects"),
		a.route("GET", "/api/0/projects/{org}/{project}/", a.getProject, project, "project:read", "get a project"),
		a.route("PUT", "/api/0/projects/{org}/{project}/", a.updateProject, project, "project:write", "update a project"),
		a.route("GET", "/api/0/projects/{org}/{project}/keys/", a.listKeys, project, "project:read", "list client keys"),
		a.route("POST", "/api/0/projects/{org}/{project}/keys/", a.createKey, project, "project:write", "create a client key"),
		a.route("GET", "/api/0/projects/{org}/{project}/keys/{key}/", a.getKey, project, "project:read", "get a client key"),
		a.route("PUT", "/api/0/projects/{org}/{project}/keys/{key}/", a.updateKey, project, "project:write", "update a client key"),
		a.route("DELETE", "/api/0/projects/{org}/{project}/keys/{key}/", a.deleteKey, project, "project:write", "delete a client key"),
		a.route("POST", "/api/0/projects/{org}/{project}/teams/{team}/", a.addProjectTeam, project, "project:write", "give a team access to a project"),
		a.route("DELETE", "/api/0/projects/{org}/{project}/teams/{team}/", a.removeProjectTeam, project, "project:write", "take a team's access to a project"),
		a.route("GET", "/api/0/projects/{org}/{project}/issues/", a.listIssues, project, "event:read", "list a project's issues"),
		a.route("PUT", "/api/0/projects/{org}/{project}/issues/", a.bulkUpdateProjectIssues, project, "event:write", "change a project's issues in bulk"),
		a.route("GET", "/api/0/organizations/{org}/issues/", a.listOrgIssues, org, "event:read", "list an organization's issues"),
		a.route("PUT", "/api/0/organizations/{org}/issues/", a.bulkUpdateOrgIssues, org, "event:write", "change an organization's issues in bulk"),
		a.route("GET", "/api/0/organizations/{org}/issues-count/", a.issuesCount, org, "event:read", "count an organization's issues per search (the issue list's tabs)"),
		a.route("GET", "/api/0/organizations/{org}/environments/", a.listOrgEnvironments, org, "project:read", "list the environments of an organization's events"),
		a.route("GET", "/api/0/projects/{org}/{project}/environments/", a.listProjectEnvironments, project, "project:read", "list the environments of a project's events"),
		a.route("GET", "/api/0/projects/{org}/{project}/events/{event_id}/", a.getProjectEvent, event, "event:read", "get an event"),
		a.route("GET", "/api/0/projects/{org}/{project}/events/{event_id}/attachments/", a.listAttachments, event, "event:read", "list an event's attachments"),
		a.route("GET", "/api/0/projects/{org}/{project}/events/{event_id}/attachments/{attachment_id}/", a.getAttachment, event, "event:read", "download an attachment"),
		a.route("GET", "/api/0/projects/{org}/{project}/events/{event_id}/grouping-info/", a.eventGroupingInfo, event, "event:read", "an event's grouping information"),
		a.route("GET", "/api/0/projects/{org}/{project}/user-feedback/", a.listUserFeedback, project, "project:read", "list user feedback"),
		a.route("GET", "/api/0/issues/{id}/", a.getIssue, issue, "event:read", "get an issue"),
		a.route("PUT", "/api/0/issues/{id}/", a.updateIssue, issue, "event:write", "update an issue"),
		a.route("GET", "/api/0/issues/{id}/events/", a.listIssueEvents, issue, "event:read", "list an issue's events"),
		a.route("GET", "/api/0/issues/{id}/events/{event_id}/", a.getIssueEvent, issue, "event:read", "get an issue's event"),
		a.route("GET", "/api/0/issues/{id}/grouping-info/", a.issueGroupingInfo, issue, "event:read", "an issue's grouping information"),
		a.route("GET", "/api/0/issues/{id}/tags/{key}/values/", a.issueTagValues, issue, "event:read", "an issue's tag values"),
		a.route("GET", "/api/0/organizations/{org}/issues/{id}/", a.getIssue, issue, "event:read", "get an issue"),
		a.route("PUT", "/api/0/organizations/{org}/issues/{id}/", a.updateIssue, issue, "event:write", "update an issue"),
		a.route("GET", "/api/0/organizations/{org}/issues/{id}/events/", a.listIssueEvents, issue, "event:read", "list an issue's events"),
		a.route("GET", "/api/0/organizations/{org}/issues/{id}/events/{event_id}/", a.getIssueEvent, issue, "event:read", "get an issue's event"),
		a.route("GET", "/api/0/organizations/{org}/issues/{id}/grouping-info/", a.issueGroupingInfo, issue, "event:read", "an issue's grouping information"),
		a.route("GET", "/api/0/organizations/{org}/issues/{id}/tags/{key}/values/", a.issueTagValues, issue, "event:read", "an issue's tag values"),
		a.route("GET", "/api/0/issues/{id}/tags/", a.issueTags, issue, "event:read", "an issue's tag keys with their top values"),
		a.route("GET", "/api/0/organizations/{org}/issues/{id}/tags/", a.issueTags, issue, "event:read", "an issue's tag keys with their top values"),
		a.route("GET", "/api/0/issues/{id}/comments/", a.listComments, issue, "event:read", "list an issue's comments"),
		a.route("POST", "/api/0/issues/{id}/comments/", a.createComment, issue, "event:write", "comment on an issue"),
		a.route("PUT", "/api/0/issues/{id}/comments/{comment_id}/", a.updateComment, issue, "event:write", "edit one's comment"),
		a.route("DELETE", "/api/0/issues/{id}/comments/{comment_id}/", a.deleteComment, issue, "event:admin", "delete one's comment"),
		a.route("GET", "/api/0/issues/{id}/activities/", a.listIssueActivities, issue, "event:read", "an issue's activity"),
		a.route("GET", "/api/0/organizations/{org}/issues/{id}/comments/", a.listComments, issue, "event:read", "list an issue's comments"),
		a.route("POST", "/api/0/organizations/{org}/issues/{id}/comments/", a.createComment, issue, "event:write", "comment on an issue"),
		a.route("PUT", "/api/0/organizations/{org}/issues/{id}/comments/{comment_id}/", a.updateComment, issue, "event:write", "edit one's comment"),
		a.route("DELETE", "/api/0/organizations/{org}/issues/{id}/comments/{comment_id}/", a.deleteComment, issue, "event:admin", "delete one's comment"),
		a.route("GET", "/api/0/organizations/{org}/issues/{id}/activities/", a.listIssueActivities, issue, "event:read", "an issue's activity"),
		a.route("GET", "/api/0/issues/{id}/hashes/", a.listIssueHashes, issue, "event:read", "list an issue's hashes with their latest event"),
		a.route("DELETE", "/api/0/issues/{id}/hashes/", a.unmergeIssueHashes, issue, "event:admin", "unmerge hashes into a new issue"),
		a.route("GET", "/api/0/organizations/{org}/issues/{id}/hashes/", a.listIssueHashes, issue, "event:read", "list an issue's hashes with their latest event"),
		a.route("DELETE", "/api/0/organizations/{org}/issues/{id}/hashes/", a.unmergeIssueHashes, issue, "event:admin", "unmerge hashes into a new issue"),
		a.ciRoute("GET", "/api/0/organizations/{org}/releases/{version}/deploys/", a.listDeploys, org, "project:releases", "list a release's deploys"),
		a.ciRoute("POST", "/api/0/organizations/{org}/releases/{version}/deploys/", a.createDeploy, org, "project:releases", "create a deploy"),
		a.ciRoute("GET", "/api/0/organizations/{org}/releases/", a.listReleases, org, "project:releases", "list an organization's releases"),
		a.ciRoute("POST", "/api/0/organizations/{org}/releases/", a.createRelease, org, "project:releases", "create a release"),
		a.ciRoute("GET", "/api/0/organizations/{org}/releases/{version}/", a.getRelease, org, "project:releases", "get a release"),
		a.ciRoute("PUT", "/api/0/organizations/{org}/releases/{version}/", a.updateRelease, org, "project:releases", "update a release, or set its commits"),
		a.ciRoute("DELETE", "/api/0/organizations/{org}/releases/{version}/", a.deleteRelease, org, "project:releases", "delete a release"),
		a.ciRoute("GET", "/api/0/organizations/{org}/releases/{version}/commits/", a.listReleaseCommits, org, "project:releases", "list a release's commits"),
		a.ciRoute("GET", "/api/0/organizations/{org}/releases/{version}/previous-with-commits/", a.previousWithCommits, org, "project:releases", "the previous release with commits"),
		a.ciRoute("GET", "/api/0/projects/{org}/{project}/releases/", a.listReleases, project, "project:releases", "list a project's releases"),
		a.ciRoute("POST", "/api/0/projects/{org}/{project}/releases/", a.createRelease, project, "project:releases", "create a project's release"),
		a.ciRoute("GET", "/api/0/projects/{org}/{project}/releases/{version}/", a.getRelease, project, "project:releases", "get a project's release"),
		a.ciRoute("PUT", "/api/0/projects/{org}/{project}/releases/{version}/", a.updateRelease, project, "project:releases", "update a project's release"),
		a.ciRoute("DELETE", "/api/0/projects/{org}/{project}/releases/{version}/", a.deleteRelease, project, "project:releases", "delete a project's release"),
		a.ciRoute("GET", "/api/0/projects/{org}/{project}/releases/{version}/commits/", a.listReleaseCommits, project, "project:releases", "list a project's release's commits"),
		a.ciRoute("GET", "/api/0/organizations/{org}/repos/", a.listRepos, org, "org:read", "list repositories"),
		a.route("GET", "/api/0/projects/{org}/{project}/rules/", a.listRules, project, "alerts:read", "list a project's issue alert rules"),
		a.route("POST", "/api/0/projects/{org}/{project}/rules/", a.createRule, project, "alerts:write", "create an issue alert rule"),
		a.route("GET", "/api/0/projects/{org}/{project}/rules/{rule_id}/", a.getRule, project, "alerts:read", "get an issue alert rule"),
		a.route("PUT", "/api/0/projects/{org}/{project}/rules/{rule_id}/", a.updateRule, project, "alerts:write", "replace an issue alert rule"),
		a.route("DELETE", "/api/0/projects/{org}/{project}/rules/{rule_id}/", a.deleteRule, project, "alerts:write", "delete an issue alert rule"),
		a.route("POST", "/api/0/projects/{org}/{project}/rule-actions/", a.testRuleActions, project, "alerts:write", "test-fire alert rule actions"),
		a.route("GET", "/api/0/projects/{org}/{project}/plugins/webhooks/", a.getWebhookPlugin, project, "project:read", "get the WebHooks plugin"),
		a.route("PUT", "/api/0/projects/{org}/{project}/plugins/webhooks/", a.updateWebhookPlugin, project, "project:write", "configure the WebHooks plugin"),
		a.route("POST", "/api/0/projects/{org}/{project}/plugins/webhooks/", a.updateWebhookPlugin, project, "project:write", "enable the WebHooks plugin"),
		a.route("DELETE", "/api/0/projects/{org}/{project}/plugins/webhooks/", a.disableWebhookPlugin, project, "project:write", "disable the WebHooks plugin"),
		a.ciRoute("POST", "/api/0/organizations/{org}/repos/", a.createRepo, org, "org:write", "add a repository"),
		a.rootRoute(),
		a.route("GET", "/api/0/api-tokens/", a.listAPITokens, route.TenantUser, "", "list the caller's API tokens"),
		a.route("POST", "/api/0/api-tokens/", a.createAPIToken, route.TenantUser, "", "create an API token"),
		a.route("DELETE", "/api/0/api-tokens/", a.deleteAPIToken, route.TenantUser, "", "revoke an API token"),
		a.route("GET", "/api/0/organizations/{org}/org-auth-tokens/", a.listOrgTokens, org, "org:read", "list organization tokens"),
		a.route("POST", "/api/0/organizations/{org}/org-auth-tokens/", a.createOrgToken, org, "org:write", "create an organization token"),
		a.route("DELETE", "/api/0/organizations/{org}/org-auth-tokens/{token_id}/", a.deleteOrgToken, org, "org:write", "revoke an organization token"),
		a.route("GET", "/api/0/organizations/{org}/members/", a.listMembers, org, "member:read", "list members"),
		a.route("POST", "/api/0/organizations/{org}/members/", a.addMember, org, "member:write", "add or invite a member"),
		a.route("GET", "/api/0/organizations/{org}/members/{member_id}/", a.getMember, org, "member:read", "get a member"),
		a.route("PUT", "/api/0/organizations/{org}/members/{member_id}/", a.updateMember, org, "member:admin", "change a member's role"),
		a.route("DELETE", "/api/0/organizations/{org}/members/{member_id}/", a.deleteMember, org, "member:admin", "remove a member"),
		a.route("POST", "/api/0/organizations/{org}/members/{member_id}/teams/{team}/", a.addMemberTeam, org, "org:read", "add a member to a team"),
		a.route("DELETE", "/api/0/organizations/{org}/members/{member_id}/teams/{team}/", a.removeMemberTeam, org, "org:read", "remove a member from a team"),
	}
	if a.deletions != nil {
		rs = append(rs,
			a.route("DELETE", "/api/0/issues/{id}/", a.deleteIssue, issue, "event:admin", "delete an issue"),
			a.route("DELETE", "/api/0/organizations/{org}/issues/{id}/", a.deleteIssue, issue, "event:admin", "delete an issue"),
			a.route("DELETE", "/api/0/projects/{org}/{project}/issues/", a.bulkDeleteProjectIssues, project, "event:admin", "delete a project's issues in bulk"),
			a.route("DELETE", "/api/0/organizations/{org}/issues/", a.bulkDeleteOrgIssues, org, "event:admin", "delete an organization's issues in bulk"),
			a.route("DELETE", "/api/0/projects/{org}/{project}/", a.deleteProject, project, "project:admin", "delete a project"),
			a.route("DELETE", "/api/0/organizations/{org}/", a.deleteOrganization, org, "org:admin", "delete an organization"),
			a.route("POST", "/api/0/projects/{org}/{project}/user-deletions/", a.deleteUserData, project, "project:admin", "erase one user's data"),
			a.route("GET", "/api/0/organizations/{org}/deletions/", a.listDeletions, org, "org:read", "list deletion jobs"),
			a.route("GET", "/api/0/deletions/{id}/", a.getDeletion, job, "org:read", "get a deletion job"),
		)
	}
	if a.cfg.Artifacts != nil {
		rs = append(rs,
			a.ciRoute("GET", "/api/0/organizations/{org}/chunk-upload/", a.chunkUploadOptions, org, "project:releases", "chunk upload options"),
			a.ciRoute("POST", "/api/0/organizations/{org}/chunk-upload/", a.chunkUpload, org, "project:releases", "upload chunks of a bundle"),
			a.ciRoute("POST", "/api/0/organizations/{org}/artifactbundle/assemble/", a.assembleBundle, org, "project:releases", "assemble an artifact bundle"),
			a.ciRoute("POST", "/api/0/organizations/{org}/releases/{version}/assemble/", a.assembleRelease, org, "project:releases", "assemble a release's files"),
			a.ciRoute("GET", "/api/0/organizations/{org}/releases/{version}/files/", a.listReleaseFiles, org, "project:releases", "list a release's files"),
			a.ciRoute("POST", "/api/0/organizations/{org}/releases/{version}/files/", a.uploadReleaseFile, org, "project:releases", "upload a release file"),
			a.ciRoute("GET", "/api/0/organizations/{org}/releases/{version}/files/{file_id}/", a.getReleaseFile, org, "project:releases", "get a release file"),
			a.ciRoute("DELETE", "/api/0/organizations/{org}/releases/{version}/files/{file_id}/", a.deleteReleaseFile, org, "project:releases", "delete a release file"),
			a.ciRoute("GET", "/api/0/projects/{org}/{project}/releases/{version}/files/", a.listReleaseFiles, project, "project:releases", "list a project's release files"),
			a.ciRoute("POST", "/api/0/projects/{org}/{project}/releases/{version}/files/", a.uploadReleaseFile, project, "project:releases", "upload a project's release file"),
			a.ciRoute("GET", "/api/0/projects/{org}/{project}/releases/{version}/files/{file_id}/", a.getReleaseFile, project, "project:releases", "get a project's release file"),
			a.ciRoute("DELETE", "/api/0/projects/{org}/{project}/releases/{version}/files/{file_id}/", a.deleteReleaseFile, project, "project:releases", "delete a project's release file"),
		)
	}
	if a.cfg.DeadLetters != nil && a.cfg.Requeue != nil {
		rs = append(rs,
			a.superuserRoute("GET", "/api/0/internal/dead-letters/", a.listDeadLetters, "list dead letters"),
			a.superuserRoute("POST", "/api/0/internal/dead-letters/{id}/replay/", a.replayDeadLetter, "replay a dead letter"),
			a.superuserRoute("DELETE", "/api/0/internal/dead-letters/{id}/", a.deleteDeadLetter, "delete a dead letter"),
		)
	}
	if a.cfg.Routes != nil {
		rs = append(rs, route.Route{Method: "GET", Path: openapi.Path, Auth: route.Public, Name: "the OpenAPI document",
			Handler: openapi.Handler(openapi.Config{ServerURL: a.public.String()}, a.cfg.Routes)})
	}
	if a.cfg.Users != nil {
		rs = append(rs,
			a.route("GET", "/api/0/users/me/", a.getMe, route.TenantUser, route.AnyScope, "get the caller"),
			a.route("PUT", "/api/0/users/me/", a.updateMe, route.TenantUser, "", "change the caller's name"),
			a.route("PUT", "/api/0/users/me/password/", a.changePassword, route.TenantUser, "", "change the caller's password"),
			a.superuserRoute("GET", "/api/0/users/", a.listUsers, "list users"),
			a.superuserRoute("POST", "/api/0/users/", a.createUser, "create a user"),
		)
		if a.cfg.Sessions != nil {
			rs = append(rs,
				a.publicRoute("POST", "/api/0/auth/login/", a.login, "log in"),
				a.route("DELETE", "/api/0/auth/", a.logout, none, "", "log out"),
			)
		}
	}
	return rs
}

// route declares an API route: a user (session or token) with scope may
// call it, for the tenant its path names.
func (a *API) route(method, path string, fn handlerFunc, tenant route.Tenant, scope, name string) route.Route {
	r := route.Route{Method: method, Path: path, Auth: route.User, Tenant: tenant, Scope: scope, Name: name}
	r.Handler = a.wrap(r, fn)
	return r
}

// superuserRoute declares a route only superusers may call.
func (a *API) superuserRoute(method, path string, fn handlerFunc, name string) route.Route {
	r := route.Route{Method: method, Path: path, Auth: route.User, Superuser: true, Name: name}
	r.Handler = a.wrap(r, fn)
	return r
}

// caller is the authenticated user of a request.
type caller struct {
	user  *meta.User
	token *meta.Token
	// session is the caller's login session (nil for a token).
	session *session.Session
}

// canSee reports whether the caller may act in org.
func (c *caller) canSee(org *meta.Organization) bool {
	if c.token != nil && c.token.IsOrgToken() {
		return c.token.OrgID == org.ID
	}
	return c.user.Superuser || org.HasMember(c.user.ID)
}

// canSeeProject reports whether the caller may act on project p of org:
// every lookup and listing of projects (and of what hangs off them: issues,
// events, attachments, feedback, statistics) goes through it. It is canSee,
// narrowed as Sentry narrows its member and admin roles: unless the
// organization has open membership, they see only the projects of their
// teams. Managers, owners, superusers and organization tokens see every
// project of the organizations they see.
func (a *API) canSeeProject(c *caller, o *meta.Organization, p *meta.Project) bool {
	if p.OrgID != o.ID || !c.canSee(o) {
		return false
	}
	if c.user == nil || c.user.Superuser || (c.token != nil && c.token.IsOrgToken()) || o.OpenMembership {
		return true
	}
	if authz.AtLeast(o.Role(c.user.ID), authz.Manager) {
		return true
	}
	m, ok := a.meta.MemberByUser(o.ID, c.user.ID)
	if !ok {
		return false
	}
	for _, t := range p.TeamIDs {
		if m.HasTeam(t) {
			return true
		}
	}
	return false
}

// response is a handler's answer: JSON, or a file to download.
type response struct {
	status   int
	body     any
	header   http.Header
	download *download
}

// download is a file sent as the answer's body, closed once sent.
type download struct {
	name, contentType string
	size              uint64
	body              io.ReadCloser
}

func ok(body any) (*response, error) { return &response{status: http.StatusOK, body: body}, nil }
func created(body any) (*response, error) {
	return &response{status: http.StatusCreated, body: body}, nil
}

type handlerFunc func(ctx context.Context, r *http.Request, c *caller) (*response, error)

// Error is an API error: an HTTP status and Sentry's {"detail": ...} body.
type Error struct {
	Status int
	Detail string
}

func (e *Error) Error() string { return e.Detail }

func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Detail: fmt.Sprintf(format, args...)}
}

var errNotFound = &Error{Status: http.StatusNotFound, Detail: "The requested resource does not exist"}

// wrap authenticates, checks what the route demands of every caller, runs
// fn, and maps its result or error to HTTP.
func (a *API) wrap(rt route.Route, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := a.authenticate(r)
		var t *tenant
		if err == nil {
			// 401, then 404 for what the caller may not see, then 403.
			t, err = a.resolveTenant(r.Context(), rt, r, c)
		}
		if t != nil {
			r = r.WithContext(context.WithValue(r.Context(), tenantKey{}, t))
		}
		if err == nil && rt.Superuser && !c.user.Superuser {
			err = errorf(http.StatusForbidden, "You do not have permission to perform this action.")
		}
		if err == nil {
			err = checkScope(rt, c)
		}
		if err == nil {
			err = a.checkRole(rt, t, c)
		}
		if err == nil {
			a.recordUse(r.Context(), c)
		}
		var resp *response
		if err == nil {
			resp, err = fn(r.Context(), r, c)
		}
		if err != nil {
			var e *Error
			switch {
			case errors.As(err, &e):
			case errors.Is(err, meta.ErrNotFound):
				e = errNotFound
			case errors.Is(err, meta.ErrExists):
				e = errorf(http.StatusConflict, "An object with this slug already exists.")
			case errors.Is(err, meta.ErrInvalid):
				e = errorf(http.StatusBadRequest, "%s", strings.TrimPrefix(err.Error(), "meta: invalid: "))
			case errors.Is(err, store.ErrBadCursor):
				e = errorf(http.StatusBadRequest, "Invalid cursor parameter.")
			default:
				a.log.Error("api error", "method", r.Method, "path", r.URL.Path, "err", err)
				e = errorf(http.StatusInternalServerError, "Internal Error")
			}
			writeJSON(w, e.Status, nil, map[string]string{"detail": e.Detail})
			return
		}
		if d := resp.download; d != nil {
			defer d.body.Close()
			h := w.Header()
			h.Set("Content-Type", d.contentType)
			h.Set("Content-Length", strconv.FormatUint(d.size, 10))
			h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.name}))
			// The bytes are the client's: never let a browser render them.
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Content-Security-Policy", "sandbox")
			w.WriteHeader(http.StatusOK)
			if _, err := io.Copy(w, d.body); err != nil {
				a.log.Warn("attachment download interrupted", "path", r.URL.Path, "err", err)
			}
			return
		}
		writeJSON(w, resp.status, resp.header, resp.body)
	})
}

func writeJSON(w http.ResponseWriter, status int, header http.Header, body any) {
	for k, vs := range header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if body == nil && status != http.StatusOK {
		// 202 and 204 answers without a body, as Sentry's.
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status == http.StatusNoContent {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(body) //nolint:errcheck
}

func (a *API) authenticate(r *http.Request) (*caller, error) {
	if r.Context().Value(publicKey{}) != nil {
		return &caller{}, nil // a public route: no credentials
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		if c, ok, err := a.authenticateSession(r); ok {
			return c, err
		}
		return nil, errorf(http.StatusUnauthorized, "Authentication credentials were not provided.")
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, errorf(http.StatusUnauthorized, "Invalid authorization header.")
	}
	u, t, ok := a.meta.Authenticate(strings.TrimSpace(token))
	if !ok {
		return nil, errorf(http.StatusUnauthorized, "Invalid token")
	}
	return &caller{user: u, token: t}, nil
}

// decodeBody reads a JSON request body of at most 1 MiB into v.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err != nil {
		return errorf(http.StatusRequestEntityTooLarge, "Request body too large.")
	}
	if len(body) == 0 {
		return errorf(http.StatusBadRequest, "Request body is empty.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError describes a request body that failed to decode in the client's
// terms: where the syntax broke, or which field has a value of the wrong
// kind. It never names Go's types or struct fields.
func jsonError(err error) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errorf(http.StatusBadRequest, "JSON parse error at byte %d.", syn.Offset)
	case errors.As(err, &typ):
		want := "a valid value"
		switch typ.Type.Kind() {
		case reflect.String:
			want = "a string"
		case reflect.Bool:
			want = "a boolean"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			want = "an integer"
		case reflect.Float32, reflect.Float64:
			want = "a number"
		case reflect.Slice, reflect.Array:
			want = "a list"
		case reflect.Map, reflect.Struct:
			want = "an object"
		}
		if typ.Field == "" {
			return errorf(http.StatusBadRequest, "Invalid request body: expected %s.", want)
		}
		return errorf(http.StatusBadRequest, "Invalid value for %q: expected %s.", typ.Field, want)
	}
	return errorf(http.StatusBadRequest, "Malformed JSON.")
}

// org resolves the {org} path value to an organization the caller sees.
// An organization pending deletion is hidden.
func (a *API) org(r *http.Request, c *caller) (*meta.Organization, error) {
	return a.lookupOrg(r, c, false)
}

// lookupOrg is org; with pending, an organization pending deletion is
// found too (only its GET and PUT routes see it, to cancel the deletion).
func (a *API) lookupOrg(r *http.Request, c *caller, pending bool) (*meta.Organization, error) {
	var o *meta.Organization
	var ok bool
	if t := tenantOf(r.Context()); t != nil && t.org != nil && t.org.Slug == r.PathValue("org") {
		o, ok = t.org, true // resolved by wrap
	} else {
		o, ok = a.meta.Organization(r.PathValue("org"))
	}
	if !ok || !c.canSee(o) || !pending && !visibleOrg(o) {
		return nil, errNotFound
	}
	return o, nil
}

// project resolves {org}/{project}, hiding what is pending deletion.
func (a *API) project(r *http.Request, c *caller) (*meta.Organization, *meta.Project, error) {
	return a.lookupProject(r, c, false)
}

// lookupProject is project; with pending, a project pending deletion, or
// one of an organization pending deletion, is found too.
func (a *API) lookupProject(r *http.Request, c *caller, pending bool) (*meta.Organization, *meta.Project, error) {
	o, err := a.lookupOrg(r, c, pending)
	if err != nil {
		return nil, nil, err
	}
	var p *meta.Project
	var ok bool
	if t := tenantOf(r.Context()); t != nil && t.project != nil && t.project.Slug == r.PathValue("project") && t.project.OrgID == o.ID {
		p, ok = t.project, true // resolved by wrap
	} else {
		p, ok = a.meta.Project(o.ID, r.PathValue("project"))
	}
	if !ok || !pending && !visibleProject(p) || !a.canSeeProject(c, o, p) {
		return nil, nil, errNotFound
	}
	return o, p, nil
}
