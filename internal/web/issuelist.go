package web

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// issueListPage is an organization's issue list (all its projects, or
// ?project=ID): tabs with counts, the search, sort, environment and
// period, a page of issues with keyset paging, and the bulk actions.
type issueListPage struct {
	Nav                    navData
	Query, Sort, Period    string
	Environment, ProjectID string
	Projects               []projectRef
	Tabs                   []issueTab
	Issues                 []issueRow
	Error                  string // the API's 400 message for a bad search
	Next, First            string // paging links ("": none)
	Back                   string // this list's query string, for the bulk form's redirect
	Sorts, Periods         []option
}

func (p *issueListPage) navData() *navData { return &p.Nav }

type projectRef struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

type option struct{ Value, Label string }

type issueTab struct {
	Label, Href string
	Count       uint64
	Current     bool
}

type issueRow struct {
	ID, ShortID, Title, Culprit, Level, Project, Href string
	Count                                             string
	Users                                             uint64
	FirstSeen, LastSeen                               time.Time
	FirstAgo, LastAgo                                 string
	Regressed, New, Ignored                           bool
	Spark                                             sparkline
}

// apiIssue is the part of the API's issue JSON the list shows.
type apiIssue struct {
	ID        string                `json:"id"`
	ShortID   string                `json:"shortId"`
	Title     string                `json:"title"`
	Culprit   string                `json:"culprit"`
	Level     string                `json:"level"`
	Status    string                `json:"status"`
	Substatus string                `json:"substatus"`
	Count     string                `json:"count"`
	UserCount uint64                `json:"userCount"`
	FirstSeen time.Time             `json:"firstSeen"`
	LastSeen  time.Time             `json:"lastSeen"`
	Stats     map[string][][2]int64 `json:"stats"`
	Project   projectRef            `json:"project"`
}

// The tabs: each is the query with its is: term replaced. Regressed is
// left out: the search has no is:regressed yet.
var issueTabs = []struct{ label, term string }{
	{"Unresolved", "is:unresolved"}, {"Ignored", "is:ignored"}, {"Resolved", "is:resolved"}, {"All", ""},
}

// isTerm matches the status terms of a search.
var isTerm = regexp.MustCompile(`(^|\s)is:\S*`)

// withStatus returns q with its status term replaced by term.
func withStatus(q, term string) string {
	rest := strings.Join(strings.Fields(isTerm.ReplaceAllString(q, " ")), " ")
	return strings.TrimSpace(term + " " + rest)
}

var (
	issueSorts   = []option{{"date", "Last seen"}, {"new", "First seen"}, {"freq", "Events"}, {"user", "Users"}}
	issuePeriods = []option{{"24h", "24 hours"}, {"14d", "14 days"}}
)

// issueList is /organizations/{org}/issues/. It calls the API's list and
// its issues-count (one count per tab), as a script would.
func (ui *UI) issueList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	nav, err := ui.orgNav(ctx, r, "issues")
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	in := r.URL.Query()
	page := &issueListPage{Nav: nav, Sort: in.Get("sort"), Period: in.Get("statsPeriod"), Environment: in.Get("environment"),
		ProjectID: in.Get("project"), Sorts: issueSorts, Periods: issuePeriods}
	if _, set := in["query"]; set {
		page.Query = in.Get("query")
	} else {
		page.Query = "is:unresolved"
	}
	if page.Sort == "" {
		page.Sort = "date"
	}
	if page.Period == "" {
		page.Period = "24h"
	}
	org := "/api/0/organizations/" + url.PathEscape(nav.Org.Slug)
	if _, err := ui.callAPI(ctx, r, "GET", org+"/projects/", nil, &page.Projects); err != nil {
		ui.fail(w, r, err)
		return
	}
	// The list's own query string, without the cursor: the tabs, the
	// sort and the paging links keep the rest.
	keep := url.Values{}
	keep.Set("query", page.Query)
	for k, v := range map[string]string{"sort": in.Get("sort"), "statsPeriod": in.Get("statsPeriod"),
		"environment": page.Environment, "project": page.ProjectID} {
		if v != "" {
			keep.Set(k, v)
		}
	}
	page.Back = keep.Encode()
	base := "/organizations/" + url.PathEscape(nav.Org.Slug) + "/issues/"

	call := url.Values{}
	for k, v := range keep {
		call[k] = v
	}
	if c := in.Get("cursor"); c != "" {
		call.Set("cursor", c)
		page.First = base + "?" + page.Back
	}
	call.Set("statsPeriod", page.Period)
	var issues []apiIssue
	h, err := ui.callAPI(ctx, r, "GET", org+"/issues/?"+call.Encode(), nil, &issues)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		page.Error = ae.Detail
		if page.Error == "" {
			page.Error = "Invalid search query."
		}
	} else if err != nil {
		ui.fail(w, r, err)
		return
	}
	if page.Error == "" {
		counts := url.Values{}
		for _, t := range issueTabs {
			counts.Add("query", withStatus(page.Query, t.term))
		}
		for _, k := range []string{"environment", "project"} {
			if v := keep.Get(k); v != "" {
				counts.Set(k, v)
			}
		}
		var n map[string]uint64
		if _, err := ui.callAPI(ctx, r, "GET", org+"/issues-count/?"+counts.Encode(), nil, &n); err != nil {
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
				ui.fail(w, r, err)
				return
			}
		}
		current := ""
		if m := isTerm.FindString(page.Query); m != "" {
			current = strings.TrimSpace(m)
		}
		for _, t := range issueTabs {
			q := withStatus(page.Query, t.term)
			v := url.Values{}
			for k, vs := range keep {
				v[k] = vs
			}
			v.Set("query", q)
			page.Tabs = append(page.Tabs, issueTab{Label: t.label, Href: base + "?" + v.Encode(), Count: n[q], Current: t.term == current})
		}
		if next := nextCursor(h.Get("Link")); next != "" {
			v := url.Values{}
			for k, vs := range keep {
				v[k] = vs
			}
			v.Set("cursor", next)
			page.Next = base + "?" + v.Encode()
		}
	}
	now := time.Now()
	for _, is := range issues {
		row := issueRow{ID: is.ID, ShortID: is.ShortID, Title: is.Title, Culprit: is.Culprit, Level: is.Level,
			Project: is.Project.Slug, Count: is.Count, Users: is.UserCount, FirstSeen: is.FirstSeen.UTC(), LastSeen: is.LastSeen.UTC(),
			FirstAgo: ago(is.FirstSeen, now), LastAgo: ago(is.LastSeen, now),
			Regressed: is.Substatus == "regressed", New: now.Sub(is.FirstSeen) < 7*24*time.Hour, Ignored: is.Status == "ignored",
			Href: "/organizations/" + url.PathEscape(nav.Org.Slug) + "/issues/" + url.PathEscape(is.ID) + "/"}
		if row.Title == "" {
			row.Title = "(no title)"
		}
		for k, pts := range is.Stats {
			row.Spark = newSparkline(pts, k, 96, 24)
		}
		page.Issues = append(page.Issues, row)
	}
	status := http.StatusOK
	if page.Error != "" {
		status = http.StatusBadRequest
	}
	ui.render(w, r, status, "issue_list", page)
}

// linkPart matches one link of Sentry's Link header.
var linkPart = regexp.MustCompile(`rel="(\w+)"; results="(\w+)"; cursor="([^"]*)"`)

// nextCursor returns the next page's cursor of a Link header, "" when it
// has no results.
func nextCursor(link string) string {
	for _, m := range linkPart.FindAllStringSubmatch(link, -1) {
		if m[1] == "next" && m[2] == "true" {
			return m[3]
		}
	}
	return ""
}
