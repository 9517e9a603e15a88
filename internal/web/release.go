package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// releaseIssuesPerPage is the page size of a release's issues.
const releaseIssuesPerPage = 25

// releaseCommitsShown bounds the commits a release's page lists (a
// release may carry up to 10,000).
const releaseCommitsShown = 200

// releaseIssue is one issue of a release's page.
type releaseIssue struct {
	Href, ShortID, Title, Culprit, Level, Status, Project, Count string
	Users                                                        int
	FirstSeen, LastSeen                                          *timeCell
}

// releaseCommit is one commit of a release's page.
type releaseCommit struct {
	ID, ShortID, Subject, Author, Email, Repository string
	Files                                           int
	Date                                            *timeCell
}

// releaseDeploy is one deploy of a release's page.
type releaseDeploy struct {
	Environment, Name, URL string
	// Href is the URL as a link: only when its scheme is http or https.
	Href              string
	Started, Finished *timeCell
	Projects          []string
}

// releaseDetailPage is the data of release.html.
type releaseDetailPage struct {
	Org, Version, ShortVersion, Ref, URL, Href, ListHref string
	Created, Released, FirstEvent, LastEvent             *timeCell
	NewGroups                                            uint64
	Projects, Authors                                    []string
	// IssuesQuery is the issue search the issues were listed with.
	IssuesQuery                string
	Issues                     []releaseIssue
	IssuesError                string
	IssuesPrev, IssuesNext     string
	Commits                    []releaseCommit
	CommitCount, CommitsHidden int
	Deploys                    []releaseDeploy
}

// webLink returns u when it is an absolute http or https URL, for an
// href; anything else (javascript:, data:, relative) is shown as text.
func webLink(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return ""
	}
	switch strings.ToLower(p.Scheme) {
	case "http", "https":
		return p.String()
	}
	return ""
}

// releaseSearch is the issue search of a release's issues: release:"V",
// quoted with the parser's escapes (store.SearchTokens).
func releaseSearch(version string) string {
	return `release:"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(version) + `"`
}

// releaseDetail serves /organizations/{org}/releases/{version}/ (the
// version percent-encoded as needed: 1.0%2Bbuild): the release, the
// issues seen in it, its commits and its deploys.
func (ui *UI) releaseDetail(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	org, version := r.PathValue("org"), r.PathValue("version")
	base := "/api/0/organizations/" + url.PathEscape(org) + "/releases/" + url.PathEscape(version) + "/"
	var rel apiRelease
	if _, err := ui.callAPI(ctx, r, "GET", base, nil, &rel); err != nil {
		ui.fail(w, r, err)
		return
	}
	now := time.Now()
	page := releaseDetailPage{Org: org, Version: rel.Version, ShortVersion: rel.ShortVersion,
		ListHref: "/organizations/" + url.PathEscape(org) + "/releases/",
		Created:  when(rel.DateCreated, now), Released: when(rel.DateReleased, now),
		FirstEvent: when(rel.FirstEvent, now), LastEvent: when(rel.LastEvent, now), NewGroups: rel.NewGroups,
		CommitCount: rel.CommitCount}
	if page.ShortVersion == "" {
		page.ShortVersion = rel.Version
	}
	if rel.Ref != nil {
		page.Ref = *rel.Ref
	}
	if rel.URL != nil {
		page.URL = *rel.URL
		page.Href = webLink(page.URL)
	}
	for _, p := range rel.Projects {
		page.Projects = append(page.Projects, p.Slug)
	}
	for _, a := range rel.Authors {
		switch {
		case a.Name != "" && a.Email != "":
			page.Authors = append(page.Authors, a.Name+" <"+a.Email+">")
		case a.Name != "":
			page.Authors = append(page.Authors, a.Name)
		default:
			page.Authors = append(page.Authors, a.Email)
		}
	}

	// The issues: the store's search parser has no first-release: key
	// (ParseIssueSearch refuses it), so the page lists the issues seen in
	// the release, release:"V" with any status, and says so; the release's
	// newGroups tells how many of them are new.
	page.IssuesQuery = releaseSearch(rel.Version)
	iq := url.Values{"query": {page.IssuesQuery}, "limit": {strconv.Itoa(releaseIssuesPerPage)}, "statsPeriod": {""}}
	if c := r.URL.Query().Get("cursor"); c != "" {
		iq.Set("cursor", c)
	}
	var issues []struct {
		ID        string `json:"id"`
		ShortID   string `json:"shortId"`
		Title     string `json:"title"`
		Culprit   string `json:"culprit"`
		Level     string `json:"level"`
		Status    string `json:"status"`
		Count     string `json:"count"`
		UserCount int    `json:"userCount"`
		FirstSeen string `json:"firstSeen"`
		LastSeen  string `json:"lastSeen"`
		Project   struct {
			Slug string `json:"slug"`
		} `json:"project"`
	}
	h, err := ui.callAPI(ctx, r, "GET", "/api/0/organizations/"+url.PathEscape(org)+"/issues/?"+iq.Encode(), nil, &issues)
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest:
		page.IssuesError = apiErr.Detail
	case err != nil:
		ui.fail(w, r, err)
		return
	}
	for _, is := range issues {
		page.Issues = append(page.Issues, releaseIssue{
			Href:    "/organizations/" + url.PathEscape(org) + "/issues/" + url.PathEscape(is.ID) + "/",
			ShortID: is.ShortID, Title: is.Title, Culprit: is.Culprit, Level: is.Level, Status: is.Status,
			Project: is.Project.Slug, Count: is.Count, Users: is.UserCount,
			FirstSeen: when(&is.FirstSeen, now), LastSeen: when(&is.LastSeen, now)})
	}
	if h != nil {
		prev, next := linkCursors(h.Get("Link"))
		page.IssuesPrev, page.IssuesNext = pageHref(r.URL, prev), pageHref(r.URL, next)
	}

	var commits []struct {
		ID          string  `json:"id"`
		Message     *string `json:"message"`
		DateCreated *string `json:"dateCreated"`
		Author      *struct {
			Name  string `json:"name"`
			Email string `json:"email"`
		} `json:"author"`
		Repository *struct {
			Name string `json:"name"`
		} `json:"repository"`
		Files []struct{} `json:"files"`
	}
	if _, err := ui.callAPI(ctx, r, "GET", base+"commits/", nil, &commits); err != nil {
		ui.fail(w, r, err)
		return
	}
	page.CommitCount = len(commits)
	for i, c := range commits {
		if i == releaseCommitsShown {
			page.CommitsHidden = len(commits) - i
			break
		}
		rc := releaseCommit{ID: c.ID, ShortID: c.ID, Files: len(c.Files), Date: when(c.DateCreated, now)}
		if len(rc.ShortID) > 12 {
			rc.ShortID = rc.ShortID[:12]
		}
		if c.Message != nil {
			rc.Subject, _, _ = strings.Cut(*c.Message, "\n")
		}
		if c.Author != nil {
			rc.Author, rc.Email = c.Author.Name, c.Author.Email
			if rc.Author == "" {
				rc.Author = rc.Email
			}
		}
		if c.Repository != nil {
			rc.Repository = c.Repository.Name
		}
		page.Commits = append(page.Commits, rc)
	}

	var deploys []struct {
		Environment  string   `json:"environment"`
		Name         *string  `json:"name"`
		URL          *string  `json:"url"`
		DateStarted  *string  `json:"dateStarted"`
		DateFinished *string  `json:"dateFinished"`
		Projects     []string `json:"projects"`
	}
	if _, err := ui.callAPI(ctx, r, "GET", base+"deploys/", nil, &deploys); err != nil {
		ui.fail(w, r, err)
		return
	}
	for _, d := range deploys {
		rd := releaseDeploy{Environment: d.Environment, Started: when(d.DateStarted, now), Finished: when(d.DateFinished, now),
			Projects: d.Projects}
		if d.Name != nil {
			rd.Name = *d.Name
		}
		if d.URL != nil {
			rd.URL = *d.URL
			rd.Href = webLink(rd.URL)
		}
		page.Deploys = append(page.Deploys, rd)
	}
	ui.render(w, r, http.StatusOK, "release", page)
}
