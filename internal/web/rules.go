package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/faultline/faultline/internal/route"
)

// The alert rule pages of a project: the list with each action's last
// delivery (rules.go), the form to create or edit a rule (rule_edit.go,
// rule_form.go), the deletion with its confirmation (rule_delete.go), a
// test-fire of a rule's actions (rule_testfire.go) and the WebHooks
// plugin's settings (webhooks.go). Every read and write is the API's
// (/api/0/projects/{org}/{project}/rules/...), called as the visitor.

// ruleRoutes are the alert rule pages.
func (ui *UI) ruleRoutes() []route.Route {
	base := "/organizations/{org}/projects/{project}/"
	page := func(method, path string, h http.HandlerFunc, scope, name string) route.Route {
		return route.Route{Method: method, Path: base + path, Handler: h, Auth: route.Session,
			Tenant: route.TenantProject, Scope: scope, Name: "web: " + name}
	}
	return []route.Route{
		page("GET", "alerts/rules/", ui.ruleList, "alerts:read", "a project's alert rules and their last deliveries"),
		page("GET", "alerts/rules/new/", ui.ruleEdit, "alerts:write", "the form of a new alert rule"),
		page("POST", "alerts/rules/new/", ui.ruleSave, "alerts:write", "create an alert rule (form)"),
		page("GET", "alerts/rules/{rule_id}/", ui.ruleEdit, "alerts:read", "an alert rule's form"),
		page("POST", "alerts/rules/{rule_id}/", ui.ruleSave, "alerts:write", "save an alert rule (form)"),
		page("GET", "alerts/rules/{rule_id}/delete/", ui.ruleDeleteConfirm, "alerts:write", "confirm an alert rule's deletion"),
		page("POST", "alerts/rules/{rule_id}/delete/", ui.ruleDelete, "alerts:write", "delete an alert rule (form)"),
		page("POST", "alerts/rules/{rule_id}/test/", ui.ruleTestFire, "alerts:write", "test-fire an alert rule's actions (form)"),
		page("GET", "settings/webhooks/", ui.webhooksPage, "project:read", "the WebHooks plugin's settings"),
		page("POST", "settings/webhooks/", ui.webhooksSave, "project:write", "save the WebHooks plugin's settings (form)"),
	}
}

// apiRule is a rule as the API answers it.
type apiRule struct {
	ID            string           `json:"id"`
	Name          string           `json:"name"`
	ActionMatch   string           `json:"actionMatch"`
	FilterMatch   string           `json:"filterMatch"`
	Frequency     int              `json:"frequency"`
	Environment   *string          `json:"environment"`
	Conditions    []map[string]any `json:"conditions"`
	Filters       []map[string]any `json:"filters"`
	Actions       []map[string]any `json:"actions"`
	LastTriggered *string          `json:"lastTriggered"`
	FiredCount    uint64           `json:"firedCount"`
	Deliveries    []*apiDelivery   `json:"deliveries"`
}

// apiDelivery is an action's last delivery (Faultline's field).
type apiDelivery struct {
	Status         string  `json:"status"`
	Error          *string `json:"error"`
	At             string  `json:"at"`
	Attempts       int     `json:"attempts"`
	IdempotencyKey string  `json:"idempotencyKey"`
}

// projectHeader is the header of a project's pages.
type projectHeader struct {
	Nav            navData
	Project        string // slug
	ProjectName    string
	RulesHref      string
	WebhooksHref   string
	ProjectAPIPath string
}

func (p *projectHeader) navData() *navData { return &p.Nav }

// projectNav resolves the organization and the project through the API
// (404 for what the visitor may not see) and fills the header.
func (ui *UI) projectNav(ctx context.Context, r *http.Request) (projectHeader, error) {
	nav, err := ui.orgNav(ctx, r, "projects")
	if err != nil {
		return projectHeader{}, err
	}
	org, slug := url.PathEscape(nav.Org.Slug), url.PathEscape(r.PathValue("project"))
	var p struct {
		Slug string `json:"slug"`
		Name string `json:"name"`
	}
	apiPath := "/api/0/projects/" + org + "/" + slug + "/"
	if _, err := ui.callAPI(ctx, r, "GET", apiPath, nil, &p); err != nil {
		return projectHeader{}, err
	}
	base := "/organizations/" + org + "/projects/" + url.PathEscape(p.Slug) + "/"
	return projectHeader{Nav: nav, Project: p.Slug, ProjectName: p.Name, RulesHref: base + "alerts/rules/",
		WebhooksHref: base + "settings/webhooks/", ProjectAPIPath: "/api/0/projects/" + org + "/" + url.PathEscape(p.Slug) + "/"}, nil
}

// projectForm reads a posted form of at most limit bytes and resolves the
// project's header through the API; when it answers false, the answer
// (400, or the API's 404/403 page) has been written.
func (ui *UI) projectForm(w http.ResponseWriter, r *http.Request, limit int64) (projectHeader, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		securityHeaders(w.Header())
		http.Error(w, "bad form", http.StatusBadRequest)
		return projectHeader{}, false
	}
	pp, err := ui.projectNav(r.Context(), r)
	if err != nil {
		ui.fail(w, r, err)
		return projectHeader{}, false
	}
	return pp, true
}

// ruleRow is one rule of the list.
type ruleRow struct {
	ID, Name, Href, DeleteHref, TestHref string
	Environment                          string
	Frequency                            int
	Conditions, Filters                  []string
	Actions                              []actionRow
	LastTriggered                        *timeCell
	FiredCount                           uint64
}

// actionRow is one action with its last delivery.
type actionRow struct {
	Label    string
	Status   string // "" never delivered
	Error    string
	At       *timeCell
	Key      string
	Attempts int
}

type ruleListPage struct {
	projectHeader
	Rules []ruleRow
	// Notice is a message carried back by a form (?done=).
	Notice string
}

// ruleListNotices are the messages the forms send back to the list.
var ruleListNotices = map[string]string{"created": "The rule was created.", "saved": "The rule was saved.",
	"deleted": "The rule was deleted."}

// ruleList is .../alerts/rules/.
func (ui *UI) ruleList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pp, err := ui.projectNav(ctx, r)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	var rules []apiRule
	if _, err := ui.callAPI(ctx, r, "GET", pp.ProjectAPIPath+"rules/", nil, &rules); err != nil {
		ui.fail(w, r, err)
		return
	}
	now := time.Now()
	page := &ruleListPage{projectHeader: pp, Notice: ruleListNotices[r.URL.Query().Get("done")]}
	for _, rl := range rules {
		row := ruleRow{ID: rl.ID, Name: rl.Name, Href: pp.RulesHref + url.PathEscape(rl.ID) + "/",
			Frequency: rl.Frequency, LastTriggered: when(rl.LastTriggered, now), FiredCount: rl.FiredCount}
		row.DeleteHref, row.TestHref = row.Href+"delete/", row.Href+"test/"
		if rl.Environment != nil {
			row.Environment = *rl.Environment
		}
		for _, n := range rl.Conditions {
			row.Conditions = append(row.Conditions, nodeLabel(n))
		}
		for _, n := range rl.Filters {
			row.Filters = append(row.Filters, nodeLabel(n))
		}
		for i, n := range rl.Actions {
			a := actionRow{Label: nodeLabel(n)}
			if i < len(rl.Deliveries) && rl.Deliveries[i] != nil {
				d := rl.Deliveries[i]
				a.Status, a.At, a.Key, a.Attempts = d.Status, when(&d.At, now), d.IdempotencyKey, d.Attempts
				if d.Error != nil {
					a.Error = *d.Error
				}
			}
			row.Actions = append(row.Actions, a)
		}
		page.Rules = append(page.Rules, row)
	}
	ui.render(w, r, http.StatusOK, "rules", page)
}

// nodeLabel is a condition's, filter's or action's label, as the API
// names it.
func nodeLabel(n map[string]any) string {
	if s, ok := n["name"].(string); ok && s != "" {
		return s
	}
	s, _ := n["id"].(string)
	return s
}
