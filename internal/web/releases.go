package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/route"
)

// The release pages (issue 14): the organization's releases, and one
// release with its new issues, commits and deploys. Like every page they
// read through the API, called in process with the visitor's session
// (apicall.go): the API resolves the organization, checks the role and
// the scope, and 404s what the visitor may not see.

func (ui *UI) releaseRoutes() []route.Route {
	return []route.Route{
		{Method: "GET", Path: "/organizations/{org}/releases/", Handler: http.HandlerFunc(ui.releaseList), Auth: route.Session,
			Tenant: route.TenantOrganization, Scope: "project:releases", Name: "web: the organization's releases"},
		{Method: "GET", Path: "/organizations/{org}/releases/{version}/", Handler: http.HandlerFunc(ui.releaseDetail), Auth: route.Session,
			Tenant: route.TenantOrganization, Scope: "project:releases", Name: "web: a release, its new issues, commits and deploys"},
	}
}

// releasesPerPage is the page size of the release list.
const releasesPerPage = 25

// apiRelease is the part of Sentry's release JSON the pages show.
type apiRelease struct {
	Version      string  `json:"version"`
	ShortVersion string  `json:"shortVersion"`
	Ref          *string `json:"ref"`
	URL          *string `json:"url"`
	DateCreated  *string `json:"dateCreated"`
	DateReleased *string `json:"dateReleased"`
	FirstEvent   *string `json:"firstEvent"`
	LastEvent    *string `json:"lastEvent"`
	NewGroups    uint64  `json:"newGroups"`
	CommitCount  int     `json:"commitCount"`
	DeployCount  int     `json:"deployCount"`
	LastDeploy   *struct {
		Environment  string  `json:"environment"`
		DateFinished *string `json:"dateFinished"`
		DateStarted  *string `json:"dateStarted"`
	} `json:"lastDeploy"`
	Projects []struct {
		Slug      string `json:"slug"`
		NewGroups uint64 `json:"newGroups"`
	} `json:"projects"`
	Authors []struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"authors"`
}

// timeCell is a date as the pages show it: "N min ago", with the exact
// time in the title attribute and the machine-readable one in datetime.
type timeCell struct {
	Ago, Exact, ISO string
}

// when turns one of the API's ISO dates into a timeCell (nil: none).
func when(iso *string, now time.Time) *timeCell {
	if iso == nil || *iso == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, *iso)
	if err != nil {
		return &timeCell{Ago: *iso, Exact: *iso}
	}
	return &timeCell{Ago: ago(t, now), Exact: t.UTC().Format("2006-01-02 15:04:05 UTC"), ISO: t.UTC().Format(time.RFC3339)}
}

// releaseRow is one release of the list.
type releaseRow struct {
	Version, ShortVersion, Href string
	Projects                    []string
	Created, Released           *timeCell
	NewGroups                   uint64
	Commits                     int
	DeployEnv                   string
	Deployed                    *timeCell
}

// projectOption is a project of the list's filter.
type projectOption struct {
	ID, Slug string
	Selected bool
}

// releaseListPage is the data of releases.html.
type releaseListPage struct {
	Org, Query     string
	Projects       []projectOption
	Rows           []releaseRow
	Error          string
	Prev, Next     string // the pages' URLs, empty when there is none
	FilteredByProj bool
}

// releaseHref is the UI's page of a release.
func releaseHref(org, version string) string {
	return "/organizations/" + url.PathEscape(org) + "/releases/" + url.PathEscape(version) + "/"
}

// releaseList serves /organizations/{org}/releases/: the releases of the
// organization's projects the visitor sees, newest first, filtered by
// ?project= (ids) and ?query= (part of the version), paged by ?cursor=.
func (ui *UI) releaseList(w http.ResponseWriter, r *http.Request) {
	org := r.PathValue("org")
	in := r.URL.Query()
	page := releaseListPage{Org: org, Query: in.Get("query")}
	q := url.Values{"per_page": {strconv.Itoa(releasesPerPage)}}
	for _, k := range []string{"query", "cursor"} {
		if v := in.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	wantProject := map[string]bool{}
	for _, p := range in["project"] {
		if p != "" {
			q.Add("project", p)
			wantProject[p] = true
		}
	}
	page.FilteredByProj = len(wantProject) > 0
	var projects []struct {
		ID   flexID `json:"id"`
		Slug string `json:"slug"`
	}
	if _, err := ui.callAPI(r.Context(), r, "GET", "/api/0/organizations/"+url.PathEscape(org)+"/projects/", nil, &projects); err != nil {
		ui.fail(w, r, err)
		return
	}
	for _, p := range projects {
		page.Projects = append(page.Projects, projectOption{ID: string(p.ID), Slug: p.Slug, Selected: wantProject[string(p.ID)]})
	}
	var rels []apiRelease
	h, err := ui.callAPI(r.Context(), r, "GET", "/api/0/organizations/"+url.PathEscape(org)+"/releases/?"+q.Encode(), nil, &rels)
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest:
		page.Error = apiErr.Detail // a bad filter or cursor: say so
	case err != nil:
		ui.fail(w, r, err)
		return
	}
	now := time.Now()
	for _, rel := range rels {
		row := releaseRow{Version: rel.Version, ShortVersion: rel.ShortVersion, Href: releaseHref(org, rel.Version),
			Created: when(rel.DateCreated, now), Released: when(rel.DateReleased, now), NewGroups: rel.NewGroups,
			Commits: rel.CommitCount}
		if row.ShortVersion == "" {
			row.ShortVersion = rel.Version
		}
		for _, p := range rel.Projects {
			row.Projects = append(row.Projects, p.Slug)
		}
		if d := rel.LastDeploy; d != nil {
			row.DeployEnv = d.Environment
			row.Deployed = when(d.DateFinished, now)
			if row.Deployed == nil {
				row.Deployed = when(d.DateStarted, now)
			}
		}
		page.Rows = append(page.Rows, row)
	}
	if h != nil {
		prev, next := linkCursors(h.Get("Link"))
		page.Prev, page.Next = pageHref(r.URL, prev), pageHref(r.URL, next)
	}
	ui.render(w, r, http.StatusOK, "releases", page)
}

// pageHref is the page's own URL with another cursor ("" for none).
func pageHref(u *url.URL, cursor string) string {
	if cursor == "" {
		return ""
	}
	q := u.Query()
	q.Set("cursor", cursor)
	return u.EscapedPath() + "?" + q.Encode()
}

// linkCursors reads the previous and next cursors of Sentry's Link header
// (`<url>; rel="previous"; results="false"; cursor="…", <url>; rel="next";
// results="true"; cursor="…"`): a cursor counts only when its results
// are "true".
func linkCursors(link string) (prev, next string) {
	for part := range strings.SplitSeq(link, ",") {
		var rel, results, cursor string
		for attr := range strings.SplitSeq(part, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(attr), "=")
			if !ok {
				continue
			}
			// Values are quoted, with no quote inside.
			if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' || strings.Contains(v[1:len(v)-1], `"`) {
				continue
			}
			v = v[1 : len(v)-1]
			switch k {
			case "rel":
				rel = v
			case "results":
				results = v
			case "cursor":
				cursor = v
			}
		}
		if results != "true" || cursor == "" {
			continue
		}
		switch rel {
		case "previous":
			prev = cursor
		case "next":
			next = cursor
		}
	}
	return prev, next
}

// flexID reads an id sent as a JSON string or number.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("web: id %s: %w", b, err)
	}
	*f = flexID(n.String())
	return nil
}
