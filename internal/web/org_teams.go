package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// teamsPage is the data of teams.html.
type teamsPage struct {
	Nav           navData
	Teams         []teamRow
	Members       []apiMember
	Projects      []teamProject
	Notice, Error string
	Action        string
}

func (p *teamsPage) navData() *navData { return &p.Nav }

// teamRow is a team with its members and projects.
type teamRow struct {
	teamRef
	Members  []apiMember
	Projects []teamProject
}

type teamProject struct {
	Slug  string    `json:"slug"`
	Name  string    `json:"name"`
	Teams []teamRef `json:"teams"`
}

func teamsHref(org string) string { return "/settings/" + url.PathEscape(org) + "/teams/" }

// teamsPage is GET /settings/{org}/teams/.
func (ui *UI) teamsPage(w http.ResponseWriter, r *http.Request) {
	ui.renderTeams(w, r, http.StatusOK, &teamsPage{Notice: notice(r)})
}

func (ui *UI) renderTeams(w http.ResponseWriter, r *http.Request, status int, page *teamsPage) {
	ctx := r.Context()
	nav, err := ui.orgNav(ctx, r, "settings")
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	page.Nav, page.Action = nav, teamsHref(nav.Org.Slug)
	org := "/api/0/organizations/" + orgPath(nav.Org.Slug)
	var teams []teamRef
	if _, err := ui.callAPI(ctx, r, "GET", org+"/teams/", nil, &teams); err != nil {
		ui.fail(w, r, err)
		return
	}
	if _, err := ui.callAPI(ctx, r, "GET", org+"/members/", nil, &page.Members); err != nil {
		ui.fail(w, r, err)
		return
	}
	if _, err := ui.callAPI(ctx, r, "GET", org+"/projects/", nil, &page.Projects); err != nil {
		ui.fail(w, r, err)
		return
	}
	for _, t := range teams {
		row := teamRow{teamRef: t}
		for _, m := range page.Members {
			if slices.Contains(m.Teams, t.Slug) {
				row.Members = append(row.Members, m)
			}
		}
		for _, p := range page.Projects {
			if slices.ContainsFunc(p.Teams, func(pt teamRef) bool { return pt.Slug == t.Slug }) {
				row.Projects = append(row.Projects, p)
			}
		}
		page.Teams = append(page.Teams, row)
	}
	ui.render(w, r, status, "teams", page)
}

// teamsAction is POST /settings/{org}/teams/: action=create (name),
// add-member or remove-member (team, member), add-project or
// remove-project (team, project).
func (ui *UI) teamsAction(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r) {
		return
	}
	ctx := r.Context()
	org := r.PathValue("org")
	api := "/api/0/organizations/" + orgPath(org)
	if _, err := ui.callAPI(ctx, r, "GET", api+"/", nil, nil); err != nil {
		ui.fail(w, r, err)
		return
	}
	f := r.PostForm
	team := url.PathEscape(f.Get("team"))
	var err error
	done := "team-changed"
	switch f.Get("action") {
	case "create":
		_, err = ui.callAPI(ctx, r, "POST", api+"/teams/", map[string]string{"name": strings.TrimSpace(f.Get("name"))}, nil)
		done = "team-created"
	case "add-member":
		_, err = ui.callAPI(ctx, r, "POST", api+"/members/"+url.PathEscape(f.Get("member"))+"/teams/"+team+"/", nil, nil)
	case "remove-member":
		_, err = ui.callAPI(ctx, r, "DELETE", api+"/members/"+url.PathEscape(f.Get("member"))+"/teams/"+team+"/", nil, nil)
	case "add-project":
		_, err = ui.callAPI(ctx, r, "POST", projectAPI(org, f.Get("project"))+"teams/"+team+"/", nil, nil)
	case "remove-project":
		_, err = ui.callAPI(ctx, r, "DELETE", projectAPI(org, f.Get("project"))+"teams/"+team+"/", nil, nil)
	default:
		ui.renderTeams(w, r, http.StatusBadRequest, &teamsPage{Error: "Unknown action."})
		return
	}
	if err != nil {
		if msg := userError(err); msg != "" {
			ui.renderTeams(w, r, http.StatusBadRequest, &teamsPage{Error: msg})
			return
		}
		ui.fail(w, r, err)
		return
	}
	seeOther(w, r, teamsHref(org), done)
}
