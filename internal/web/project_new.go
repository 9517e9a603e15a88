package web

import (
	"net/http"
	"net/url"
	"strings"
)

// projectNewPage is the data of project_new.html: the form that creates a
// project in one of the organization's teams.
type projectNewPage struct {
	Nav                  navData
	Teams                []teamRef
	Platforms            []platformOption
	Name, Platform, Team string
	Error                string
}

func (p *projectNewPage) navData() *navData { return &p.Nav }

type teamRef struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

type platformOption struct{ Value, Label string }

// platforms are the choices of the form, Sentry's platform ids; each has
// a setup snippet on the project page.
var platforms = []platformOption{
	{"go", "Go"}, {"node", "JavaScript (Node.js)"}, {"javascript", "JavaScript (browser)"}, {"python", "Python"},
	{"ruby", "Ruby"}, {"php", "PHP"}, {"java", "Java"}, {"other", "Other"},
}

// projectNew is GET /organizations/{org}/projects/: the form.
func (ui *UI) projectNew(w http.ResponseWriter, r *http.Request) {
	ui.renderProjectNew(w, r, http.StatusOK, &projectNewPage{Platform: "go"})
}

func (ui *UI) renderProjectNew(w http.ResponseWriter, r *http.Request, status int, page *projectNewPage) {
	ctx := r.Context()
	nav, err := ui.orgNav(ctx, r, "projects")
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	page.Nav, page.Platforms = nav, platforms
	if _, err := ui.callAPI(ctx, r, "GET", "/api/0/organizations/"+orgPath(nav.Org.Slug)+"/teams/", nil, &page.Teams); err != nil {
		ui.fail(w, r, err)
		return
	}
	ui.render(w, r, status, "project_new", page)
}

// projectCreate is POST /organizations/{org}/projects/: it creates the
// project in the chosen team (or, in an organization without teams, in a
// new team named in the form) and goes to the project's page.
func (ui *UI) projectCreate(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r) {
		return
	}
	ctx := r.Context()
	nav, err := ui.orgNav(ctx, r, "projects")
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	f := r.PostForm
	page := &projectNewPage{Name: strings.TrimSpace(f.Get("name")), Platform: f.Get("platform"), Team: f.Get("team")}
	org := orgPath(nav.Org.Slug)
	if page.Name == "" {
		page.Error = "Name the project."
		ui.renderProjectNew(w, r, http.StatusBadRequest, page)
		return
	}
	team := page.Team
	if newTeam := strings.TrimSpace(f.Get("new_team")); team == "" && newTeam != "" {
		var t teamRef
		if _, err := ui.callAPI(ctx, r, "POST", "/api/0/organizations/"+org+"/teams/", map[string]string{"name": newTeam}, &t); err != nil {
			if page.Error = userError(err); page.Error != "" {
				ui.renderProjectNew(w, r, http.StatusBadRequest, page)
				return
			}
			ui.fail(w, r, err)
			return
		}
		team = t.Slug
	}
	if team == "" {
		page.Error = "Choose the team the project belongs to."
		ui.renderProjectNew(w, r, http.StatusBadRequest, page)
		return
	}
	var p struct {
		Slug string `json:"slug"`
	}
	body := map[string]string{"name": page.Name, "platform": page.Platform}
	if _, err := ui.callAPI(ctx, r, "POST", "/api/0/teams/"+org+"/"+url.PathEscape(team)+"/projects/", body, &p); err != nil {
		if page.Error = userError(err); page.Error != "" {
			ui.renderProjectNew(w, r, http.StatusBadRequest, page)
			return
		}
		ui.fail(w, r, err)
		return
	}
	seeOther(w, r, projectHref(nav.Org.Slug, p.Slug), "project-created")
}

// projectHref is a project's page.
func projectHref(org, project string) string {
	return "/organizations/" + url.PathEscape(org) + "/projects/" + url.PathEscape(project) + "/"
}

// projectSettingsHref is a project's settings page.
func projectSettingsHref(org, project string) string {
	return "/settings/" + url.PathEscape(org) + "/projects/" + url.PathEscape(project) + "/"
}
