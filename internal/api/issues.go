package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

func (a *API) serializeIssue(is *store.Issue, p *meta.Project, o *meta.Organization) map[string]any {
	var md map[string]any
	if is.Metadata != "" {
		json.Unmarshal([]byte(is.Metadata), &md) //nolint:errcheck // written by us
	}
	if md == nil {
		md = map[string]any{}
	}
	details := map[string]any{}
	if is.StatusDetails != "" {
		json.Unmarshal([]byte(is.StatusDetails), &details) //nolint:errcheck
	}
	substatus := is.Substatus
	if substatus == "" && is.Status == store.StatusUnresolved {
		substatus = "ongoing"
	}
	typ := is.Type
	if typ == "" {
		typ = "error"
	}
	out := map[string]any{
		"id":                  id(is.GroupID),
		"shareId":             nil,
		"shortId":             meta.ShortID(p.Slug, is.ShortID),
		"title":               is.Title,
		"culprit":             is.Culprit,
		"permalink":           a.public.String() + "/organizations/" + o.Slug + "/issues/" + id(is.GroupID) + "/",
		"logger":              nil,
		"level":               orDefault(is.Level, "error"),
		"status":              is.Status,
		"statusDetails":       details,
		"substatus":           substatus,
		"isPublic":            false,
		"platform":            orDefault(is.Platform, p.Platform),
		"project":             map[string]any{"id": id(p.ID), "slug": p.Slug, "name": p.Name, "platform": nilIfEmpty(p.Platform)},
		"type":                typ,
		"issueType":           "error",
		"issueCategory":       "error",
		"metadata":            md,
		"numComments":         0,
		"assignedTo":          nil,
		"isBookmarked":        false,
		"isSubscribed":        false,
		"subscriptionDetails": nil,
		"hasSeen":             false,
		"annotations":         []string{},
		"isUnhandled":         false,
		"priority":            nil,
		"priorityLockedAt":    nil,
		"count":               strconv.FormatUint(is.TimesSeen, 10),
		"userCount":           is.Users,
		"firstSeen":           is.FirstSeen.UTC().Format(time.RFC3339),
		"lastSeen":            is.LastSeen.UTC().Format(time.RFC3339),
	}
	if len(is.Stats) > 0 {
		out["stats"] = map[string]any{statsKey(is.Stats): buckets(is.Stats)}
	}
	return out
}

func statsKey(b []store.Bucket) string {
	if len(b) > 1 && b[1].Start.Sub(b[0].Start) == time.Hour {
		return "24h"
	}
	return strconv.Itoa(len(b)) + "d"
}

func buckets(bs []store.Bucket) [][2]int64 {
	out := make([][2]int64, len(bs))
	for i, b := range bs {
		out[i] = [2]int64{b.Start.Unix(), int64(b.Count)}
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// parseQuery reads the status of Sentry's issue search (the rest of the
// query is checked too): it delegates to the store's one search parser.
// New code calls parseIssueSearch, which returns every term.
func parseQuery(q string, present bool) (status string, err error) {
	s, err := parseIssueSearch(q, present)
	if err != nil {
		return "", err
	}
	return s.Status, nil
}

func (a *API) listIssues(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	iq, err := a.issueListQuery(ctx, c, o, q, []uint64{p.ID}, false)
	if err != nil {
		return nil, err
	}
	iq.Environments = q["environment"]
	page, err := a.store.ListIssues(ctx, iq)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(page.Issues))
	for i := range page.Issues {
		out = append(out, a.serializeIssue(&page.Issues[i], p, o))
	}
	if err := a.withWorkflow(ctx, c, page.Issues, out); err != nil {
		return nil, err
	}
	if expands(q, "firstRelease") {
		if err := a.withFirstReleases(ctx, page.Issues, out); err != nil {
			return nil, err
		}
	}
	resp := &response{status: http.StatusOK, body: out, header: http.Header{}}
	resp.header.Set("Link", a.link(r, q.Get("cursor"), page.Next))
	return resp, nil
}

// issueListQuery reads the parameters the issue lists share (a project's
// and the organization's): the search (default is:unresolved, with
// release:latest and the user terms resolved), limit, sort, the time
// range and the sparkline's period, for the projects pids. On the
// project's list (Sentry's legacy endpoint, which GitLab calls),
// statsPeriod is the sparkline's period (24h or 14d) and start and end
// the range; on the organization's, as in Sentry, statsPeriod (or start
// and end) is the range and groupStatsPeriod the sparkline's.
func (a *API) issueListQuery(ctx context.Context, c *caller, o *meta.Organization, q url.Values, pids []uint64, orgList bool) (store.IssueQuery, error) {
	_, present := q["query"]
	search, err := a.issueSearch(ctx, c, o, q.Get("query"), present, pids)
	if err != nil {
		return store.IssueQuery{}, err
	}
	limit := 25
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 100 {
			return store.IssueQuery{}, errorf(http.StatusBadRequest, "limit must be between 1 and 100")
		}
	}
	sort := q.Get("sort")
	switch sort {
	case "", store.SortDate, store.SortNew, store.SortFreq, store.SortUser:
	case "priority", "trends", "inbox":
		sort = store.SortDate
	default:
		return store.IssueQuery{}, errorf(http.StatusBadRequest, "Invalid sort: %q", sort)
	}
	iq := store.IssueQuery{ProjectIDs: pids, Status: search.Status, Sort: sort, Limit: limit,
		Cursor: pageCursor(q.Get("cursor")), Search: &search, Now: time.Now()}
	stats := q.Get("statsPeriod")
	if orgList {
		if iq.Start, iq.End, err = timeRange(q, true, iq.Now); err != nil {
			return store.IssueQuery{}, err
		}
		stats = q.Get("groupStatsPeriod")
		if stats == "auto" || stats == "" {
			stats = "24h"
			if !iq.Start.IsZero() && iq.Now.Sub(iq.Start) > 25*time.Hour {
				stats = "14d"
			}
		}
		if stats != "24h" && stats != "14d" {
			return store.IssueQuery{}, errorf(http.StatusBadRequest, "Invalid groupStatsPeriod. Valid choices are '', 'auto', '24h', and '14d'")
		}
	} else {
		if iq.Start, iq.End, err = timeRange(q, false, iq.Now); err != nil {
			return store.IssueQuery{}, err
		}
		switch stats {
		case "", "24h", "14d":
		default:
			return store.IssueQuery{}, errorf(http.StatusBadRequest, "Invalid stats_period. Valid choices are '', '24h', and '14d'")
		}
	}
	if stats == "" { // stats are always sent (GitLab reads stats["24h"] without asking)
		stats = "24h"
	}
	iq.StatsPeriod = stats
	return iq, nil
}

// issueSearch parses an issue search and resolves its release:latest and
// user terms for the projects pids.
func (a *API) issueSearch(ctx context.Context, c *caller, o *meta.Organization, query string, present bool, pids []uint64) (store.IssueSearch, error) {
	search, err := parseIssueSearch(query, present)
	if err != nil {
		return search, err
	}
	if err := search.ResolveLatest(ctx, pids, a.resolveLatestRelease); err != nil {
		return search, err
	}
	if err := search.ResolveUsers(ctx, a.resolveSearchUsers(c, o.ID)); err != nil {
		return search, err
	}
	return search, nil
}

// timeRange reads Sentry's time range parameters: start and end (ISO
// 8601, both or neither) or, where periodIsRange, statsPeriod (a number
// and a unit, m, h, d or w: the range ending now). None is no range.
func timeRange(q url.Values, periodIsRange bool, now time.Time) (start, end time.Time, err error) {
	s, e := q.Get("start"), q.Get("end")
	if s != "" || e != "" {
		if s == "" || e == "" {
			return start, end, errorf(http.StatusBadRequest, "start and end are both required")
		}
		if start, err = store.ParseDate(s); err != nil {
			return start, end, errorf(http.StatusBadRequest, "Invalid start: %q", s)
		}
		if end, err = store.ParseDate(e); err != nil {
			return start, end, errorf(http.StatusBadRequest, "Invalid end: %q", e)
		}
		if !end.After(start) {
			return start, end, errorf(http.StatusBadRequest, "start must be before end")
		}
		return start, end, nil
	}
	if p := q.Get("statsPeriod"); periodIsRange && p != "" {
		d, err := parsePeriod(p)
		if err != nil {
			return start, end, err
		}
		return now.Add(-d), time.Time{}, nil
	}
	return start, end, nil
}

// nonEmpty drops empty values (?environment= means no filter).
func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// pageCursor is the store's cursor for a client's: the first page for
// none, and for the "0:0:0" and "0:0:1" cursors that the Link header
// carries when there is no next page and as the previous page (whose
// results="false" tells clients not to follow it).
func pageCursor(c string) string {
	if c == "0:0:0" || c == "0:0:1" {
		return ""
	}
	return c
}

// link renders Sentry's Link header: a previous and a next cursor, each
// saying whether it has results. Clients (GitLab) split the header on
// commas, so no URL holds one: the query is encoded (a comma as %2C) and
// so is any comma in the path.
func (a *API) link(r *http.Request, current, next string) string {
	path := strings.ReplaceAll(r.URL.EscapedPath(), ",", "%2C")
	u := func(cursor string) string {
		q := r.URL.Query()
		q.Set("cursor", cursor)
		return a.public.String() + path + "?" + q.Encode()
	}
	prev := "0:0:1"
	nextCursor, hasNext := next, "true"
	if next == "" {
		nextCursor, hasNext = "0:0:0", "false"
	}
	return fmt.Sprintf(`<%s>; rel="previous"; results="false"; cursor="%s", <%s>; rel="next"; results="%s"; cursor="%s"`,
		u(prev), prev, u(nextCursor), hasNext, nextCursor)
}

// issue resolves {id} (and {org}, when in the path) to an issue the caller
// may see.
func (a *API) issue(ctx context.Context, r *http.Request, c *caller) (*meta.Organization, *meta.Project, uint64, error) {
	if t := tenantOf(ctx); t != nil && t.groupID != 0 {
		return t.org, t.project, t.groupID, nil // resolved and checked by wrap
	}
	return a.findIssue(ctx, r, c)
}

func (a *API) getIssue(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	is, err := a.store.GetIssue(ctx, p.ID, gid, r.URL.Query()["environment"], "24h")
	if err != nil {
		return nil, err
	}
	if is == nil {
		return nil, errNotFound
	}
	out := a.serializeIssue(is, p, o)
	// Sentry's issue details carry both charts: events per hour over 24
	// hours and per day over 30 days.
	month, err := a.store.IssueStats(ctx, p.ID, gid, r.URL.Query()["environment"], "30d")
	if err != nil {
		return nil, err
	}
	out["stats"] = map[string]any{"24h": buckets(is.Stats), "30d": buckets(month)}
	first, last, err := a.store.IssueReleases(ctx, p.ID, gid)
	if err != nil {
		return nil, err
	}
	var versions []string
	for _, ir := range []*store.IssueRelease{first, last} {
		if ir != nil {
			versions = append(versions, ir.Version)
		}
	}
	rels := map[string]*store.OrgRelease{}
	for _, v := range versions {
		rel, err := a.store.GetRelease(ctx, o.ID, []uint64{p.ID}, v)
		if err != nil {
			return nil, err
		}
		rels[v] = rel
	}
	commits, err := a.store.ReleasesCommits(ctx, o.ID, versions)
	if err != nil {
		return nil, err
	}
	render := func(ir *store.IssueRelease) any {
		if ir == nil {
			return nil
		}
		return serializeIssueRelease(ir, rels[ir.Version], commits[ir.Version])
	}
	out["firstRelease"], out["lastRelease"] = render(first), render(last)
	is.ProjectID, is.GroupID = p.ID, gid
	if err := a.withWorkflow(ctx, c, []store.Issue{*is}, []map[string]any{out}); err != nil {
		return nil, err
	}
	// Reading changes nothing: as Sentry's, a client marks an issue seen
	// with PUT {"hasSeen": true}.
	if out["activity"], err = a.issueActivity(ctx, is); err != nil {
		return nil, err
	}
	reports, err := a.store.IssueUserReportCount(ctx, p.ID, gid)
	if err != nil {
		return nil, err
	}
	// The rest of Sentry's issue details; Faultline has no plugins or
	// seen-by records (yet): empty lists, as Sentry shows an issue
	// without them.
	out["userReportCount"] = reports
	out["participants"] = []any{}
	out["seenBy"] = []any{}
	out["pluginActions"] = []any{}
	out["pluginIssues"] = []any{}
	out["pluginContexts"] = []any{}
	return ok(out)
}

// serializeIssueRelease renders a release the way Sentry's issue details
// show firstRelease and lastRelease: version, shortVersion, dateCreated,
// dateReleased and lastCommit (null, or the last commit's id: GitLab reads
// a string) from the organization's release when there is one.
func serializeIssueRelease(r *store.IssueRelease, rel *store.OrgRelease, commits []store.Commit) any {
	if r == nil {
		return nil
	}
	created := r.ReleaseFirstSeen
	if created.IsZero() {
		created = r.FirstSeen
	}
	var ref, url, released any
	if rel != nil {
		created = rel.DateCreated
		ref, url, released = nilIfEmpty(rel.Ref), nilIfEmpty(rel.URL), isoTime(rel.DateReleased)
	}
	var lastCommit any
	if len(commits) > 0 {
		lastCommit = commits[0].ID
	}
	return map[string]any{
		"version": r.Version, "shortVersion": r.Version, "ref": ref, "url": url,
		"dateCreated": created.UTC().Format(time.RFC3339), "dateReleased": released,
		"firstEvent": r.FirstSeen.UTC().Format(time.RFC3339), "lastEvent": r.LastSeen.UTC().Format(time.RFC3339),
		"newGroups": nil, "owner": nil, "commitCount": len(commits), "lastCommit": lastCommit, "deployCount": 0, "lastDeploy": nil,
		"authors": []any{}, "projects": []any{}, "data": map[string]any{},
	}
}

// issueUpdate is Sentry's issue PUT body. The ignore conditions may come
// inside statusDetails or, as older clients send them, at the top level.
type issueUpdate struct {
	Status        string          `json:"status"`
	StatusDetails json.RawMessage `json:"statusDetails"`
	Substatus     string          `json:"substatus"`
	statusDetailsBody
}

// statusDetailsBody is Sentry's StatusDetailsValidator.
type statusDetailsBody struct {
	InNextRelease    *bool   `json:"inNextRelease"`
	IgnoreDuration   *int    `json:"ignoreDuration"`   // minutes
	IgnoreCount      *int    `json:"ignoreCount"`      // events
	IgnoreWindow     *int    `json:"ignoreWindow"`     // minutes
	IgnoreUserCount  *int    `json:"ignoreUserCount"`  // users
	IgnoreUserWindow *int    `json:"ignoreUserWindow"` // minutes
	IgnoreUntil      *string `json:"ignoreUntil"`
	InRelease        *string `json:"inRelease"`
}

// maxIgnoreMinutes bounds durations and windows (Sentry: a week of
// windows, any duration); a year keeps arithmetic far from overflow.
const maxIgnoreMinutes = 366 * 24 * 60

func positive(name string, v *int, limit int) (int, error) {
	if v == nil {
		return 0, nil
	}
	if *v < 1 || *v > limit {
		return 0, errorf(http.StatusBadRequest, "statusDetails.%s: must be between 1 and %d", name, limit)
	}
	return *v, nil
}

// details validates the body's status details into what is stored.
func (b *statusDetailsBody) details(now time.Time) (store.StatusDetails, error) {
	var d store.StatusDetails
	var err error
	if b.InNextRelease != nil {
		d.InNextRelease = *b.InNextRelease
	}
	if b.InRelease != nil {
		if len(*b.InRelease) > 200 {
			return d, errorf(http.StatusBadRequest, "statusDetails.inRelease: at most 200 characters")
		}
		d.InRelease = *b.InRelease
	}
	if d.IgnoreCount, err = positive("ignoreCount", b.IgnoreCount, 1<<30); err != nil {
		return d, err
	}
	if d.IgnoreWindow, err = positive("ignoreWindow", b.IgnoreWindow, maxIgnoreMinutes); err != nil {
		return d, err
	}
	if d.IgnoreUserCount, err = positive("ignoreUserCount", b.IgnoreUserCount, 1<<30); err != nil {
		return d, err
	}
	if d.IgnoreUserWindow, err = positive("ignoreUserWindow", b.IgnoreUserWindow, maxIgnoreMinutes); err != nil {
		return d, err
	}
	minutes, err := positive("ignoreDuration", b.IgnoreDuration, 100*maxIgnoreMinutes)
	if err != nil {
		return d, err
	}
	if minutes > 0 {
		until := now.Add(time.Duration(minutes) * time.Minute).UTC().Truncate(time.Second)
		d.IgnoreUntil = &until
	}
	if b.IgnoreUntil != nil && *b.IgnoreUntil != "" {
		t, err := time.Parse(time.RFC3339Nano, *b.IgnoreUntil)
		if err != nil {
			if t, err = time.Parse("2006-01-02T15:04:05", *b.IgnoreUntil); err != nil {
				return d, errorf(http.StatusBadRequest, "statusDetails.ignoreUntil: not a date-time")
			}
		}
		t = t.UTC()
		d.IgnoreUntil = &t
	}
	return d, nil
}

func (d statusDetailsBody) any() bool {
	return d.InNextRelease != nil || d.IgnoreDuration != nil || d.IgnoreCount != nil || d.IgnoreWindow != nil ||
		d.IgnoreUserCount != nil || d.IgnoreUserWindow != nil || d.IgnoreUntil != nil || d.InRelease != nil
}

// updateIssue is Sentry's PUT /api/0/issues/{id}/: the mutation of one
// issue (mutateIssues), answered with the issue's JSON, which GitLab reads.
func (a *API) updateIssue(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	m, err := parseMutation(r, now)
	if err != nil {
		return nil, err
	}
	is, err := a.store.GetIssue(ctx, p.ID, gid, nil, "24h")
	if err != nil {
		return nil, err
	}
	if is == nil {
		return nil, errNotFound
	}
	is.ProjectID, is.GroupID = p.ID, gid
	if m.merge {
		return nil, errorf(http.StatusBadRequest, "Only a single issue was given: merging needs at least two.")
	}
	if err := a.mutateIssues(ctx, c, []store.Issue{*is}, m, now); err != nil {
		return nil, err
	}
	if m.discard {
		return &response{status: http.StatusNoContent}, nil
	}
	if m.status != "" {
		is.Status, is.Substatus, is.StatusDetails = m.status, m.substatus, m.detailsJSON
	}
	out := a.serializeIssue(is, p, o)
	if err := a.withWorkflow(ctx, c, []store.Issue{*is}, []map[string]any{out}); err != nil {
		return nil, err
	}
	return ok(out)
}

func ptr[T any](v T) *T { return &v }

func (a *API) listIssueEvents(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	full := q.Get("full") == "true" || q.Get("full") == "1"
	limit := 100
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 100 {
			return nil, errorf(http.StatusBadRequest, "limit must be between 1 and 100")
		}
	}
	var before *store.EventCursor
	if cur := pageCursor(q.Get("cursor")); cur != "" {
		before, err = decodeEventCursor(cur)
		if err != nil {
			return nil, err
		}
	}
	tags, text, err := parseEventSearch(q.Get("query"))
	if err != nil {
		return nil, err
	}
	if len(q["environment"]) > maxSearchTerms {
		return nil, errorf(http.StatusBadRequest, "At most %d environments.", maxSearchTerms)
	}
	events, err := a.store.ListEvents(ctx, store.EventQuery{ProjectID: p.ID, GroupID: gid, Limit: limit + 1, Before: before,
		Environments: nonEmpty(q["environment"]), Tags: tags, Text: text})
	if err != nil {
		return nil, err
	}
	next := ""
	if len(events) > limit {
		events = events[:limit]
		last := events[len(events)-1]
		next = encodeEventCursor(last.Time(), last.EventID)
	}
	out := make([]map[string]any, 0, len(events))
	for i := range events {
		out = append(out, serializeEvent(&events[i], full))
	}
	resp := &response{status: http.StatusOK, body: out, header: http.Header{}}
	resp.header.Set("Link", a.link(r, q.Get("cursor"), next))
	return resp, nil
}

func (a *API) getIssueEvent(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	var ev *store.StoredEvent
	switch which := r.PathValue("event_id"); which {
	case "latest", "recommended":
		ev, err = a.store.LatestEvent(ctx, p.ID, gid)
	case "oldest":
		ev, err = a.store.OldestEvent(ctx, p.ID, gid)
	default:
		eid := strings.ReplaceAll(strings.ToLower(which), "-", "")
		ev, err = a.store.GetEvent(ctx, p.ID, eid)
		if ev != nil && ev.GroupID != gid {
			ev = nil
		}
	}
	if err != nil {
		return nil, err
	}
	if ev == nil {
		return nil, errNotFound
	}
	return a.eventDetails(ctx, ev)
}

// eventDetails renders an event with everything Sentry's event details
// show, the user's feedback included.
func (a *API) eventDetails(ctx context.Context, ev *store.StoredEvent) (*response, error) {
	out := serializeEvent(ev, true)
	report, err := a.userReportOf(ctx, ev.ProjectID, ev.EventID)
	if err != nil {
		return nil, err
	}
	out["userReport"] = report
	// Sentry's neighbours of the event in its issue, and the keys of its
	// event details that Faultline has no value for.
	prev, next, err := a.store.AdjacentEvents(ctx, ev)
	if err != nil {
		return nil, err
	}
	out["previousEventID"], out["nextEventID"] = nilIfEmpty(prev), nilIfEmpty(next)
	out["sdkUpdates"] = []any{}
	out["resolvedWith"] = []any{}
	return ok(out)
}

func (a *API) getProjectEvent(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	eid := strings.ReplaceAll(strings.ToLower(r.PathValue("event_id")), "-", "")
	ev, err := a.store.GetEvent(ctx, p.ID, eid)
	if err != nil {
		return nil, err
	}
	if ev == nil {
		return nil, errNotFound
	}
	return a.eventDetails(ctx, ev)
}

// Event cursors: "<unix ms>:<event id>", URL-safe.
func encodeEventCursor(t time.Time, eventID string) string {
	return strconv.FormatInt(t.UnixMilli(), 10) + ":" + eventID
}

func decodeEventCursor(c string) (*store.EventCursor, error) {
	c, _ = url.QueryUnescape(c)
	ms, eid, found := strings.Cut(c, ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !found || err != nil || len(eid) != 32 {
		return nil, errorf(http.StatusBadRequest, "Invalid cursor parameter.")
	}
	return &store.EventCursor{Time: time.UnixMilli(n).UTC(), EventID: eid}, nil
}
