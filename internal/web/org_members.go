package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/faultline/faultline/internal/authz"
)

// apiMember is Sentry's organization member JSON, the part the pages show.
type apiMember struct {
	ID      string   `json:"id"`
	Email   string   `json:"email"`
	Name    string   `json:"name"`
	OrgRole string   `json:"orgRole"`
	Pending bool     `json:"pending"`
	Expired bool     `json:"expired"`
	Teams   []string `json:"teams"`
	User    *struct {
		ID string `json:"id"`
	} `json:"user"`
}

// membersPage is the data of members.html.
type membersPage struct {
	Nav     navData
	Members []apiMember
	Roles   []roleOption
	Teams   []teamRef
	// Invited is an invitation just made: its link is shown to the
	// inviter this once (the server may send no mail).
	Invited       *invitation
	Notice, Error string
	Action        string
}

func (p *membersPage) navData() *navData { return &p.Nav }

type roleOption struct{ ID, Name, Desc string }

type invitation struct{ Email, Link string }

func roleOptions() []roleOption {
	var out []roleOption
	for _, r := range authz.Roles() {
		out = append(out, roleOption{ID: r.ID, Name: r.Name, Desc: r.Desc})
	}
	return out
}

func membersHref(org string) string { return "/settings/" + url.PathEscape(org) + "/members/" }

// membersPage is GET /settings/{org}/members/.
func (ui *UI) membersPage(w http.ResponseWriter, r *http.Request) {
	ui.renderMembers(w, r, http.StatusOK, &membersPage{Notice: notice(r)})
}

func (ui *UI) renderMembers(w http.ResponseWriter, r *http.Request, status int, page *membersPage) {
	ctx := r.Context()
	nav, err := ui.orgNav(ctx, r, "settings")
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	page.Nav, page.Roles, page.Action = nav, roleOptions(), membersHref(nav.Org.Slug)
	org := orgPath(nav.Org.Slug)
	if _, err := ui.callAPI(ctx, r, "GET", "/api/0/organizations/"+org+"/members/", nil, &page.Members); err != nil {
		ui.fail(w, r, err)
		return
	}
	if _, err := ui.callAPI(ctx, r, "GET", "/api/0/organizations/"+org+"/teams/", nil, &page.Teams); err != nil {
		ui.fail(w, r, err)
		return
	}
	ui.render(w, r, status, "members", page)
}

// membersAction is POST /settings/{org}/members/: action=invite (email,
// role, teams), role (member, role) or remove (member). The API applies
// Sentry's rules: managers change members, only owners touch owners, and
// the last owner stays (its refusal is shown on the page).
func (ui *UI) membersAction(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r) {
		return
	}
	ctx := r.Context()
	org := r.PathValue("org")
	base := "/api/0/organizations/" + orgPath(org) + "/members/"
	if _, err := ui.callAPI(ctx, r, "GET", "/api/0/organizations/"+orgPath(org)+"/", nil, nil); err != nil {
		ui.fail(w, r, err)
		return
	}
	f := r.PostForm
	member := base + url.PathEscape(f.Get("member")) + "/"
	var err error
	done := ""
	switch f.Get("action") {
	case "invite":
		var m struct {
			Email      string `json:"email"`
			InviteLink string `json:"inviteLink"`
		}
		body := map[string]any{"email": strings.TrimSpace(f.Get("email")), "orgRole": f.Get("role"), "teams": orEmptyList(f["team"])}
		if _, err = ui.callAPI(ctx, r, "POST", base, body, &m); err == nil {
			// Shown once, not redirected: the link is a secret.
			page := &membersPage{Notice: "Added " + m.Email + "."}
			if m.InviteLink != "" {
				page.Notice = ""
				page.Invited = &invitation{Email: m.Email, Link: m.InviteLink}
			}
			ui.renderMembers(w, r, http.StatusOK, page)
			return
		}
	case "role":
		_, err = ui.callAPI(ctx, r, "PUT", member, map[string]string{"orgRole": f.Get("role")}, nil)
		done = "role"
	case "remove":
		_, err = ui.callAPI(ctx, r, "DELETE", member, nil, nil)
		done = "removed"
	default:
		ui.renderMembers(w, r, http.StatusBadRequest, &membersPage{Error: "Unknown action."})
		return
	}
	if err != nil {
		if msg := userError(err); msg != "" {
			ui.renderMembers(w, r, http.StatusBadRequest, &membersPage{Error: msg})
			return
		}
		if ae, ok := err.(*APIError); ok && ae.Status == http.StatusForbidden && ae.Detail != "" {
			// A refusal by role (only owners touch owners): say why, on the page.
			ui.renderMembers(w, r, http.StatusForbidden, &membersPage{Error: ae.Detail})
			return
		}
		ui.fail(w, r, err)
		return
	}
	seeOther(w, r, membersHref(org), done)
}

func orEmptyList(s []string) []string {
	out := []string{}
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}
