package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

// serializeUserReport renders user feedback as Sentry's
// UserReportWithGroupSerializer does; issue is the serialized issue of the
// event, or nil when the event is not stored (yet).
func serializeUserReport(r *store.UserReport, issue any) map[string]any {
	return map[string]any{
		"id":          strconv.FormatUint(r.ID, 10),
		"eventID":     r.EventID,
		"name":        r.Name,
		"email":       r.Email,
		"comments":    r.Comments,
		"dateCreated": r.Created.UTC().Format(time.RFC3339),
		"user":        nil,
		"event":       map[string]any{"id": r.EventID, "eventID": r.EventID},
		"issue":       issue,
	}
}

// listUserFeedback serves GET /api/0/projects/{org}/{project}/user-feedback/:
// a project's user reports, newest first, each with its event's issue.
func (a *API) listUserFeedback(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	limit := 100
	if l := q.Get("per_page"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 100 {
			return nil, errorf(http.StatusBadRequest, "per_page must be between 1 and 100")
		}
	}
	var before *store.UserReportCursor
	if cur := q.Get("cursor"); cur != "" && cur != "0:0:0" && cur != "0:0:1" {
		ms, id, found := strings.Cut(cur, ":")
		t, err1 := strconv.ParseInt(ms, 10, 64)
		n, err2 := strconv.ParseUint(id, 10, 64)
		if !found || err1 != nil || err2 != nil {
			return nil, errorf(http.StatusBadRequest, "Invalid cursor parameter.")
		}
		before = &store.UserReportCursor{Time: time.Unix(t, 0).UTC(), ID: n}
	}
	reports, err := a.store.ListUserReports(ctx, store.UserReportQuery{ProjectID: p.ID, Limit: limit + 1, Before: before})
	if err != nil {
		return nil, err
	}
	next := ""
	if len(reports) > limit {
		reports = reports[:limit]
		last := reports[len(reports)-1]
		next = strconv.FormatInt(last.Created.Unix(), 10) + ":" + strconv.FormatUint(last.ID, 10)
	}
	issues, err := a.reportIssues(ctx, p, o, reports)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(reports))
	for i := range reports {
		out = append(out, serializeUserReport(&reports[i], issues[reports[i].EventID]))
	}
	resp := &response{status: http.StatusOK, body: out, header: http.Header{}}
	resp.header.Set("Link", a.link(r, q.Get("cursor"), next))
	return resp, nil
}

// reportIssues links reports to the issues of their events.
func (a *API) reportIssues(ctx context.Context, p *meta.Project, o *meta.Organization, reports []store.UserReport) (map[string]any, error) {
	ids := make([]string, 0, len(reports))
	for _, r := range reports {
		ids = append(ids, r.EventID)
	}
	groups, err := a.store.EventGroups(ctx, p.ID, ids)
	if err != nil {
		return nil, err
	}
	byGroup := map[uint64]any{}
	out := map[string]any{}
	for eid, gid := range groups {
		is, seen := byGroup[gid]
		if !seen {
			g, err := a.store.GetIssue(ctx, p.ID, gid, nil, "")
			if err != nil {
				return nil, err
			}
			if g != nil {
				is = a.serializeIssue(g, p, o)
			}
			byGroup[gid] = is
		}
		if is != nil {
			out[eid] = is
		}
	}
	return out, nil
}

// userReportOf returns the feedback on an event for its details (Sentry's
// "userReport"), or nil.
func (a *API) userReportOf(ctx context.Context, projectID uint64, eventID string) (any, error) {
	rs, err := a.store.ListUserReports(ctx, store.UserReportQuery{ProjectID: projectID, EventIDs: []string{eventID}, Limit: 1})
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	return serializeUserReport(&rs[0], nil), nil
}
