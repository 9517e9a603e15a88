package api

import (
	"context"
	"net/http"
	"reflect"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

// IssueCounter counts issues and events per project, for the issue list's
// tabs and the organization's projects.
type IssueCounter interface {
	CountIssues(ctx context.Context, q store.IssueQuery) (map[uint64]uint64, error)
	CountIssuesByStatus(ctx context.Context, q store.IssueQuery) (map[string]uint64, error)
	ProjectHourly(ctx context.Context, projectIDs []uint64, now time.Time) (map[uint64][]store.Bucket, error)
}

// maxCountQueries bounds the queries of one issues-count call (Sentry's
// UI asks for one per tab).
const maxCountQueries = 10

// issuesCount is Sentry's GET /api/0/organizations/{org}/issues-count/:
// for each ?query= (Sentry's issue search, as the issue list takes it),
// the number of issues it matches in the caller's projects (or the
// ?project= ids) and ?environment=, as {"<query>": n}.
func (a *API) issuesCount(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	projects, err := a.orgProjects(r, c, o)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	queries := q["query"]
	if len(queries) > maxCountQueries {
		return nil, errorf(http.StatusBadRequest, "At most %d queries.", maxCountQueries)
	}
	pids := make([]uint64, len(projects))
	for i, p := range projects {
		pids[i] = p.ID
	}
	now := time.Now()
	start, end, err := timeRange(q, true, now)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(queries))
	searches := make([]store.IssueSearch, len(queries))
	for i, query := range queries {
		if searches[i], err = a.issueSearch(ctx, c, o, query, true, pids); err != nil {
			return nil, err
		}
	}
	if statusVariants(searches) {
		// The issue list's tabs: one search under several is: terms,
		// counted in one query.
		search := searches[0]
		counts, err := a.store.CountIssuesByStatus(ctx, store.IssueQuery{ProjectIDs: pids, Environments: nonEmpty(q["environment"]),
			Search: &search, Start: start, End: end, Now: now})
		if err != nil {
			return nil, err
		}
		for i, query := range queries {
			if st := searches[i].Status; st != "" {
				out[query] = counts[st]
				continue
			}
			var n uint64
			for st, c := range counts {
				if st != store.StatusPendingDeletion {
					n += c
				}
			}
			out[query] = n
		}
		return ok(out)
	}
	for i, query := range queries {
		search := searches[i]
		counts, err := a.store.CountIssues(ctx, store.IssueQuery{ProjectIDs: pids, Environments: nonEmpty(q["environment"]),
			Status: search.Status, Search: &search, Start: start, End: end, Now: now})
		if err != nil {
			return nil, err
		}
		var n uint64
		for _, c := range counts {
			n += c
		}
		out[query] = n
	}
	return ok(out)
}

// statusVariants tells whether searches (two or more) differ in their
// status only, with no substatus (is:regressed narrows one status):
// CountIssuesByStatus counts them all at once.
func statusVariants(searches []store.IssueSearch) bool {
	if len(searches) < 2 {
		return false
	}
	first := searches[0]
	first.Status, first.StatusSet = "", false
	for _, s := range searches {
		if s.Substatus != "" {
			return false
		}
		s.Status, s.StatusSet = "", false
		if !reflect.DeepEqual(s, first) {
			return false
		}
	}
	return true
}

// addProjectStats adds, for ?statsPeriod=24h on an organization's project
// list, Sentry's "stats" (events per hour, [[unix, n], ...]) and
// Faultline's "unresolvedCount" to each project: two queries for the whole
// list.
func (a *API) addProjectStats(ctx context.Context, r *http.Request, projects []*meta.Project, out []map[string]any) error {
	switch r.URL.Query().Get("statsPeriod") {
	case "":
		return nil
	case "24h":
	default:
		return errorf(http.StatusBadRequest, "Invalid stats_period. Valid choices are '' and '24h'")
	}
	pids := make([]uint64, len(projects))
	for i, p := range projects {
		pids[i] = p.ID
	}
	hourly, err := a.store.ProjectHourly(ctx, pids, time.Now())
	if err != nil {
		return err
	}
	unresolved, err := a.store.CountIssues(ctx, store.IssueQuery{ProjectIDs: pids, Status: store.StatusUnresolved})
	if err != nil {
		return err
	}
	for i, p := range projects {
		out[i]["stats"] = buckets(hourly[p.ID])
		out[i]["unresolvedCount"] = unresolved[p.ID]
	}
	return nil
}
