package web

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// issueListPage is an organization's issue list (all its projects, or
// ?project=ID): tabs with counts, the search, sort, environment and
// period, a page of issues with keyset paging, and the bulk actions.
type issueListPage struct {
	Nav                    navData
	Query, Sort, Period    string
	Start, End             string // the custom range (Period "custom")
	Environment, ProjectID string
	Projects               []projectRef
	Environments           []string
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
	// FirstRelease is the release the issue first appeared in ("":
	// none), ReleaseHref its page.
	FirstRelease, ReleaseHref string
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
	// FirstRelease comes with expand=firstRelease.
	FirstRelease *struct {
		Version string `json:"version"`
	} `json:"firstRelease"`
}

// The tabs: each is the query with its status term replaced.
var issueTabs = []struct{ label, term string }{
	{"Unresolved", "is:unresolved"}, {"Regressed", "is:regressed"}, {"Ignored", "is:ignored"}, {"Resolved", "is:resolved"}, {"All", ""},
}

// statusTerms are the is: values that pick a tab (is:assigned,
// is:bookmarked... are filters the tabs keep).
var statusTerms = map[string]bool{"is:unresolved": true, "is:resolved": true, "is:ignored": true, "is:archived": true,
	"is:muted": true, "is:regressed": true}

// withStatus returns q with its status terms replaced by term.
func withStatus(q, term string) string {
	var rest []string
	for _, f := range strings.Fields(q) {
		if !statusTerms[f] {
			rest = append(rest, f)
		}
	}
	return strings.TrimSpace(term + " " + strings.Join(rest, " "))
}

// currentStatus is the status term of q ("" for none).
func currentStatus(q string) string {
	for _, f := range strings.Fields(q) {
		if statusTerms[f] {
			switch f {
			case "is:archived", "is:muted":
				return "is:ignored"
			}
			return f
		}
	}
	return ""
}

var (
	issueSorts = []option{{"date", "Last seen"}, {"new", "First seen"}, {"freq", "Events"}, {"user", "Users"}}
	// The time range: Sentry's statsPeriod, or start and end.
	issuePeriods = []option{{"24h", "Last 24 hours"}, {"14d", "Last 14 days"}, {"30d", "Last 30 days"}, {"custom", "Custom range"}}
)

// rangeParams are the API's time range parameters for the page's period:
// statsPeriod, or start and end for a custom range (datetime-local
// values, UTC).
func (p *issueListPage) rangeParams(v url.Values) error {
	if p.Period != "custom" {
		v.Set("statsPeriod", p.Period)
		return nil
	}
	if p.Start == "" || p.End == "" {
		return errors.New("A custom range needs a start and an end.")
	}
	v.Set("start", p.Start)
	v.Set("end", p.End)
	return nil
}

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
		ProjectID: in.Get("project"), Start: in.Get("start"), End: in.Get("end"), Sorts: issueSorts, Periods: issuePeriods}
	if _, set := in["query"]; set {
		page.Query = in.Get("query")
	} else {
		page.Query = "is:unresolved"
	}
	if page.Sort == "" {
		page.Sort = "date"
	}
	if page.Period == "" {
		page.Period = "14d" // Sentry's default range
		if page.Start != "" || page.End != "" {
			page.Period = "custom"
		}
	}
	if !slices.ContainsFunc(issuePeriods, func(o option) bool { return o.Value == page.Period }) {
		page.Period = "14d"
	}
	org := "/api/0/organizations/" + url.PathEscape(nav.Org.Slug)
	if _, err := ui.callAPI(ctx, r, "GET", org+"/projects/", nil, &page.Projects); err != nil {
		ui.fail(w, r, err)
		return
	}
	var envs []struct {
		Name string `json:"name"`
	}
	envPath := org + "/environments/"
	if page.ProjectID != "" {
		envPath += "?" + url.Values{"project": {page.ProjectID}}.Encode()
	}
	if _, err := ui.callAPI(ctx, r, "GET", envPath, nil, &envs); err != nil {
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status >= 500 {
			ui.fail(w, r, err)
			return
		}
	}
	for _, e := range envs {
		page.Environments = append(page.Environments, e.Name)
	}
	if page.Environment != "" && !slices.Contains(page.Environments, page.Environment) {
		page.Environments = append(page.Environments, page.Environment) // no event yet, or in another project
	}
	// The list's own query string, without the cursor: the tabs, the
	// sort and the paging links keep the rest.
	keep := url.Values{}
	keep.Set("query", page.Query)
	for k, v := range map[string]string{"sort": in.Get("sort"), "statsPeriod": in.Get("statsPeriod"),
		"environment": page.Environment, "project": page.ProjectID, "start": page.Start, "end": page.End} {
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
	call.Del("statsPeriod")
	call.Del("start")
	call.Del("end")
	call.Set("expand", "firstRelease")
	var issues []apiIssue
	var h http.Header
	if err := page.rangeParams(call); err != nil {
		page.Error = err.Error() // shown above the list
	} else {
		var ae *APIError
		h, err = ui.callAPI(ctx, r, "GET", org+"/issues/?"+call.Encode(), nil, &issues)
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
			page.Error = ae.Detail
			if page.Error == "" {
				page.Error = "Invalid search query."
			}
		case err != nil:
			ui.fail(w, r, err)
			return
		}
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
		page.rangeParams(counts) //nolint:errcheck // checked above
		var n map[string]uint64
		if _, err := ui.callAPI(ctx, r, "GET", org+"/issues-count/?"+counts.Encode(), nil, &n); err != nil {
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
				ui.fail(w, r, err)
				return
			}
		}
		current := currentStatus(page.Query)
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
		if is.FirstRelease != nil && is.FirstRelease.Version != "" {
			row.FirstRelease = is.FirstRelease.Version
			row.ReleaseHref = "/organizations/" + url.PathEscape(nav.Org.Slug) + "/releases/" + url.PathEscape(is.FirstRelease.Version) + "/"
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
