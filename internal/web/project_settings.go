package web

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/limits"
	"github.com/faultline/faultline/internal/meta"
)

// projectSettingsPage is the data of project_settings.html.
type projectSettingsPage struct {
	Nav           navData
	Project       apiProject
	Platforms     []platformOption
	Platform      string
	Limits        []limitRow
	Origins       string // one a line
	Sensitive     string
	Safe          string
	SpikeSince    *timeCell
	Keys          []apiKey
	Pending       bool // the project is pending deletion
	Href, Action  string
	Notice, Error string
}

func (p *projectSettingsPage) navData() *navData { return &p.Nav }

// limitRow is one data category's rate limits, 0 for none.
type limitRow struct {
	Category           string
	PerMinute, PerHour int64
}

// projectSettings is GET /settings/{org}/projects/{project}/.
func (ui *UI) projectSettings(w http.ResponseWriter, r *http.Request) {
	ui.renderProjectSettings(w, r, http.StatusOK, notice(r), "")
}

func (ui *UI) renderProjectSettings(w http.ResponseWriter, r *http.Request, status int, note, errMsg string) {
	ctx := r.Context()
	nav, err := ui.orgNav(ctx, r, "settings")
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	page := &projectSettingsPage{Nav: nav, Platforms: platforms, Notice: note, Error: errMsg}
	base := projectAPI(nav.Org.Slug, r.PathValue("project"))
	if _, err := ui.callAPI(ctx, r, "GET", base, nil, &page.Project); err != nil {
		ui.fail(w, r, err)
		return
	}
	p := &page.Project
	page.Pending = p.Status == meta.StatusPendingDeletion
	if !page.Pending {
		if _, err := ui.callAPI(ctx, r, "GET", base+"keys/", nil, &page.Keys); err != nil {
			ui.fail(w, r, err)
			return
		}
	}
	if p.Platform != nil {
		page.Platform = *p.Platform
	}
	for _, c := range limits.Categories {
		l := p.RateLimits[c]
		page.Limits = append(page.Limits, limitRow{Category: c, PerMinute: l.PerMinute, PerHour: l.PerHour})
	}
	page.Origins = strings.Join(p.AllowedDomains, "\n")
	page.Sensitive, page.Safe = strings.Join(p.Sensitive, "\n"), strings.Join(p.Safe, "\n")
	page.SpikeSince = when(p.Spike.ActiveSince, time.Now())
	page.Href = projectHref(nav.Org.Slug, p.Slug)
	page.Action = projectSettingsHref(nav.Org.Slug, p.Slug)
	ui.render(w, r, status, "project_settings", page)
}

// projectSettingsSave is POST /settings/{org}/projects/{project}/: one
// section of the settings (section=general, limits, spike, origins,
// retention or scrubbing), sent as Sentry's project PUT.
func (ui *UI) projectSettingsSave(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r) {
		return
	}
	ctx := r.Context()
	org, slug := r.PathValue("org"), r.PathValue("project")
	base := projectAPI(org, slug)
	if _, err := ui.callAPI(ctx, r, "GET", base, nil, nil); err != nil {
		ui.fail(w, r, err)
		return
	}
	body, msg := projectSettingsBody(r.PostForm)
	if msg != "" {
		ui.renderProjectSettings(w, r, http.StatusBadRequest, "", msg)
		return
	}
	var p apiProject
	if _, err := ui.callAPI(ctx, r, "PUT", base, body, &p); err != nil {
		if msg := userError(err); msg != "" {
			ui.renderProjectSettings(w, r, http.StatusBadRequest, "", msg)
			return
		}
		ui.fail(w, r, err)
		return
	}
	seeOther(w, r, projectSettingsHref(org, p.Slug), "settings")
}

// projectSettingsBody is the PUT body of a settings form, or a message
// saying what is wrong with it.
func projectSettingsBody(f map[string][]string) (map[string]any, string) {
	get := func(k string) string {
		if v := f[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	on := func(k string) bool { return get(k) != "" }
	count := func(k string) (int64, bool) {
		s := get(k)
		if s == "" {
			return 0, true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil && n >= 0
	}
	switch get("section") {
	case "general":
		return map[string]any{"name": get("name"), "platform": get("platform")}, ""
	case "retention":
		n, err := strconv.Atoi(get("retentionDays"))
		if err != nil {
			return nil, "Retention is a number of days."
		}
		return map[string]any{"retentionDays": n}, ""
	case "origins":
		return map[string]any{"allowedDomains": lines(get("allowedDomains"))}, ""
	case "scrubbing":
		return map[string]any{"dataScrubber": on("dataScrubber"), "dataScrubberDefaults": on("dataScrubberDefaults"),
			"scrubIPAddresses": on("scrubIPAddresses"), "sensitiveFields": lines(get("sensitiveFields")),
			"safeFields": lines(get("safeFields"))}, ""
	case "limits":
		rl := map[string]map[string]int64{}
		for _, c := range limits.Categories {
			pm, ok1 := count("perMinute." + c)
			ph, ok2 := count("perHour." + c)
			if !ok1 || !ok2 {
				return nil, "Rate limits are whole numbers of events (0 or empty: no limit)."
			}
			rl[c] = map[string]int64{"perMinute": pm, "perHour": ph}
		}
		return map[string]any{"rateLimits": rl}, ""
	case "spike":
		sp := map[string]any{"enabled": on("enabled")}
		if s := get("multiplier"); s != "" {
			m, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(m) || math.IsInf(m, 0) {
				return nil, "The multiplier is a number."
			}
			sp["multiplier"] = m
		}
		if s := get("floor"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, "The floor is a whole number of events."
			}
			sp["floor"] = n
		}
		return map[string]any{"spikeProtection": sp}, ""
	}
	return nil, "Unknown settings section."
}

// lines splits a textarea into its non-empty lines (at most 1000).
func lines(s string) []string {
	out := []string{}
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && len(out) < 1000 {
			out = append(out, l)
		}
	}
	return out
}
