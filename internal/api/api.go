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
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/attachment"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

// Config configures the API.
type Config struct {
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
	// marked for deletion its data starts being deleted (default 10s).
	DeletionDelay time.Duration
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
	Project(orgID uint64, slug string) (*meta.Project, bool)
	ProjectByID(id uint64) (*meta.Project, bool)
	Projects(orgID uint64) []*meta.Project
	CreateKey(ctx context.Context, p *meta.Project, label string) (*meta.Key, error)
	UpdateKey(ctx context.Context, k *meta.Key) error
	Keys(projectID uint64) []*meta.Key
}

// Store is the event store the API reads.
type Store interface {
	ListIssues(ctx context.Context, q store.IssueQuery) (store.IssuePage, error)
	GetIssue(ctx context.Context, projectID, groupID uint64, environments []string, statsPeriod string) (*store.Issue, error)
	SetStatus(ctx context.Context, changes []store.StatusChange) error
	ListEvents(ctx context.Context, q store.EventQuery) ([]store.StoredEvent, error)
	GetEvent(ctx context.Context, projectID uint64, eventID string) (*store.StoredEvent, error)
	LatestEvent(ctx context.Context, projectID, groupID uint64) (*store.StoredEvent, error)
	HideIssues(ctx context.Context, projectID uint64, groupIDs []uint64) error
	TagValues(ctx context.Context, projectID, groupID uint64, key string, limit int) ([]store.TagValue, error)
	ListDeploys(ctx context.Context, projectIDs []uint64, version string) ([]store.Deploy, error)
	ListAttachments(ctx context.Context, projectID uint64, eventID string) ([]store.Attachment, error)
	GetAttachment(ctx context.Context, projectID uint64, eventID string, id uint64) (*store.Attachment, error)
	ListUserReports(ctx context.Context, q store.UserReportQuery) ([]store.UserReport, error)
	EventGroups(ctx context.Context, projectID uint64, eventIDs []string) (map[string]uint64, error)
	IssueReleases(ctx context.Context, projectID, groupID uint64) (first, last *store.IssueRelease, err error)
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

// Register adds the API routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	h := func(pattern string, fn handlerFunc) { mux.Handle(pattern, a.wrap(fn)) }
	h("GET /api/0/organizations/", a.listOrganizations)
	h("POST /api/0/organizations/", a.createOrganization)
	h("GET /api/0/organizations/{org}/", a.getOrganization)
	h("GET /api/0/organizations/{org}/stats_v2/", a.statsV2)
	h("GET /api/0/organizations/{org}/teams/", a.listTeams)
	h("POST /api/0/organizations/{org}/teams/", a.createTeam)
	h("GET /api/0/organizations/{org}/projects/", a.listOrgProjects)
	h("POST /api/0/teams/{org}/{team}/projects/", a.createProject)
	h("GET /api/0/projects/", a.listProjects)
	h("GET /api/0/projects/{org}/{project}/", a.getProject)
	h("PUT /api/0/projects/{org}/{project}/", a.updateProject)
	h("GET /api/0/projects/{org}/{project}/keys/", a.listKeys)
	h("POST /api/0/projects/{org}/{project}/keys/", a.createKey)
	h("GET /api/0/projects/{org}/{project}/keys/{key}/", a.getKey)
	h("PUT /api/0/projects/{org}/{project}/keys/{key}/", a.updateKey)
	h("GET /api/0/projects/{org}/{project}/issues/", a.listIssues)
	h("GET /api/0/projects/{org}/{project}/events/{event_id}/", a.getProjectEvent)
	h("GET /api/0/projects/{org}/{project}/events/{event_id}/attachments/", a.listAttachments)
	h("GET /api/0/projects/{org}/{project}/events/{event_id}/attachments/{attachment_id}/", a.getAttachment)
	h("GET /api/0/projects/{org}/{project}/user-feedback/", a.listUserFeedback)
	h("GET /api/0/issues/{id}/", a.getIssue)
	h("PUT /api/0/issues/{id}/", a.updateIssue)
	h("GET /api/0/issues/{id}/events/", a.listIssueEvents)
	h("GET /api/0/issues/{id}/events/{event_id}/", a.getIssueEvent)
	h("GET /api/0/issues/{id}/grouping-info/", a.issueGroupingInfo)
	h("GET /api/0/organizations/{org}/issues/{id}/grouping-info/", a.issueGroupingInfo)
	h("GET /api/0/projects/{org}/{project}/events/{event_id}/grouping-info/", a.eventGroupingInfo)
	h("GET /api/0/organizations/{org}/issues/{id}/", a.getIssue)
	h("PUT /api/0/organizations/{org}/issues/{id}/", a.updateIssue)
	h("GET /api/0/organizations/{org}/issues/{id}/events/", a.listIssueEvents)
	h("GET /api/0/organizations/{org}/issues/{id}/events/{event_id}/", a.getIssueEvent)
	h("GET /api/0/organizations/{org}/releases/{version}/deploys/", a.listDeploys)
	h("GET /api/0/issues/{id}/tags/{key}/values/", a.issueTagValues)
	h("GET /api/0/organizations/{org}/issues/{id}/tags/{key}/values/", a.issueTagValues)
	a.registerDeletions(h)
}

// caller is the authenticated user of a request.
type caller struct {
	user  *meta.User
	token *meta.Token
}

// canSee reports whether the caller may act in org.
func (c *caller) canSee(org *meta.Organization) bool {
	return c.user.Superuser || org.HasMember(c.user.ID)
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

// wrap authenticates, runs fn, and maps its result or error to HTTP.
func (a *API) wrap(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := a.authenticate(r)
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
	h := r.Header.Get("Authorization")
	if h == "" {
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
		return errorf(http.StatusBadRequest, "Malformed JSON: %v", err)
	}
	return nil
}

// org resolves the {org} path value to an organization the caller sees.
func (a *API) org(r *http.Request, c *caller) (*meta.Organization, error) {
	o, ok := a.meta.Organization(r.PathValue("org"))
	if !ok || !c.canSee(o) || !visibleOrg(o) {
		return nil, errNotFound
	}
	return o, nil
}

// project resolves {org}/{project}.
func (a *API) project(r *http.Request, c *caller) (*meta.Organization, *meta.Project, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, nil, err
	}
	p, ok := a.meta.Project(o.ID, r.PathValue("project"))
	if !ok || !visibleProject(p) {
		return nil, nil, errNotFound
	}
	return o, p, nil
}
