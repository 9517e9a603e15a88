package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The issue page's events tab: /organizations/{org}/issues/{id}/events/
// lists the issue's events, newest first, 50 a page with the API's keyset
// cursors, searched by tag (Sentry's GET /api/0/issues/{id}/events/?query=:
// key:value, !key:value, user.email:..., free text). Three API calls: the
// organization (the header), the issue, its events.

const eventsPerPage = 50

// apiEventRow is an event of the API's list (not full).
type apiEventRow struct {
	EventID     string                        `json:"eventID"`
	DateCreated string                        `json:"dateCreated"`
	Title       string                        `json:"title"`
	Message     string                        `json:"message"`
	Tags        []struct{ Key, Value string } `json:"tags"`
	User        *struct {
		ID        string `json:"id"`
		Email     string `json:"email"`
		Username  string `json:"username"`
		IPAddress string `json:"ip_address"`
	} `json:"user"`
}

type issueEventsPage struct {
	Nav          navData
	Org          string
	Issue        *issueJSON
	LevelClass   string
	Tabs         []linkView
	Action       string // the form's target: this page
	Query, Error string
	Events       []eventRowView
	First, Next  string // paging links; "" when there is none
	Count        string
	Examples     []linkView
}

func (p *issueEventsPage) navData() *navData { return &p.Nav }

type eventRowView struct {
	ID, Href, Title, Message, Environment, Release, User string
	Date                                                 timeView
}

func (ui *UI) issueEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	nav, err := ui.orgNav(ctx, r, "issues")
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	org, gid := r.PathValue("org"), r.PathValue("id")
	base := "/api/0/organizations/" + url.PathEscape(org) + "/issues/" + url.PathEscape(gid) + "/"
	var is issueJSON
	if _, err := ui.callAPI(ctx, r, "GET", base, nil, &is); err != nil {
		ui.fail(w, r, err)
		return
	}
	issuePath := "/organizations/" + url.PathEscape(org) + "/issues/" + url.PathEscape(is.ID) + "/"
	in := r.URL.Query()
	p := &issueEventsPage{Nav: nav, Org: org, Issue: &is, LevelClass: "level-" + cssWord(is.Level), Query: in.Get("query"),
		Action: issuePath + "events/", Count: is.Count,
		Tabs: []linkView{{Text: "Details", Href: issuePath}, {Text: "Events"}}}
	for _, ex := range []string{"environment:production", "!level:error", "user.email:jane@example.com", "release:1.0"} {
		p.Examples = append(p.Examples, linkView{Text: ex, Href: p.Action + "?query=" + url.QueryEscape(ex)})
	}
	call := url.Values{}
	call.Set("limit", strconv.Itoa(eventsPerPage))
	if p.Query != "" {
		call.Set("query", p.Query)
	}
	keep := url.Values{}
	if p.Query != "" {
		keep.Set("query", p.Query)
	}
	if c := in.Get("cursor"); c != "" {
		call.Set("cursor", c)
		p.First = p.Action
		if len(keep) > 0 {
			p.First += "?" + keep.Encode()
		}
	}
	var rows []apiEventRow
	h, err := ui.callAPI(ctx, r, "GET", base+"events/?"+call.Encode(), nil, &rows)
	var ae *APIError
	status := http.StatusOK
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		p.Error, status = orStr(ae.Detail, "Invalid search query."), http.StatusBadRequest
	case err != nil:
		ui.fail(w, r, err)
		return
	}
	if next := nextCursor(h.Get("Link")); next != "" && p.Error == "" {
		v := url.Values{}
		for k, vs := range keep {
			v[k] = vs
		}
		v.Set("cursor", next)
		p.Next = p.Action + "?" + v.Encode()
	}
	now := time.Now()
	for _, e := range rows {
		row := eventRowView{ID: e.EventID, Href: issuePath + "events/" + url.PathEscape(e.EventID) + "/",
			Title: e.Title, Message: e.Message, Date: timeAt(e.DateCreated, now)}
		if row.Message == row.Title {
			row.Message = ""
		}
		for _, t := range e.Tags {
			switch t.Key {
			case "environment":
				row.Environment = t.Value
			case "release", "sentry:release":
				row.Release = t.Value
			}
		}
		if u := e.User; u != nil {
			row.User = orStr(u.Email, u.Username, u.ID, u.IPAddress)
		}
		p.Events = append(p.Events, row)
	}
	ui.render(w, r, status, "issue_events", p)
}
