package web

import (
	"net/http"
	"net/url"
)

// orgHomePage is the organization's page: its projects, each with its
// unresolved issues and a 24-hour sparkline of its events.
type orgHomePage struct {
	Nav      navData
	Projects []orgProject
}

func (p *orgHomePage) navData() *navData { return &p.Nav }

type orgProject struct {
	ID, Slug, Name, Platform string
	Unresolved               uint64
	Spark                    sparkline
}

// orgHome is /organizations/{org}/. The API's project list with
// statsPeriod=24h carries the counts and the hourly events of every
// project (two queries for the whole list).
func (ui *UI) orgHome(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	nav, err := ui.orgNav(ctx, r, "projects")
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	var projects []struct {
		ID              string     `json:"id"`
		Slug            string     `json:"slug"`
		Name            string     `json:"name"`
		Platform        *string    `json:"platform"`
		Stats           [][2]int64 `json:"stats"`
		UnresolvedCount uint64     `json:"unresolvedCount"`
	}
	if _, err := ui.callAPI(ctx, r, "GET", "/api/0/organizations/"+url.PathEscape(nav.Org.Slug)+"/projects/?statsPeriod=24h", nil, &projects); err != nil {
		ui.fail(w, r, err)
		return
	}
	page := &orgHomePage{Nav: nav}
	for _, p := range projects {
		op := orgProject{ID: p.ID, Slug: p.Slug, Name: p.Name, Unresolved: p.UnresolvedCount, Spark: newSparkline(p.Stats, "24h", 120, 28)}
		if p.Platform != nil {
			op.Platform = *p.Platform
		}
		page.Projects = append(page.Projects, op)
	}
	ui.render(w, r, http.StatusOK, "org_home", page)
}
