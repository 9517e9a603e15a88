package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"
)

// webhooksPageData is the WebHooks plugin's settings page.
type webhooksPageData struct {
	projectHeader
	Enabled   bool
	URLs      string
	HasSecret bool
	Saved     bool
	Problems  []string
}

// apiPlugin is Sentry's plugin answer.
type apiPlugin struct {
	Enabled bool `json:"enabled"`
	Config  []struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
	} `json:"config"`
}

func (p *apiPlugin) value(name string) string {
	for _, c := range p.Config {
		if c.Name == name {
			s, _ := c.Value.(string)
			return s
		}
	}
	return ""
}

// webhooksPage (GET .../settings/webhooks/) shows the WebHooks plugin's
// URLs, whether it is enabled and whether a signing secret is set.
func (ui *UI) webhooksPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pp, err := ui.projectNav(ctx, r)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	var p apiPlugin
	if _, err := ui.callAPI(ctx, r, "GET", pp.ProjectAPIPath+"plugins/webhooks/", nil, &p); err != nil {
		ui.fail(w, r, err)
		return
	}
	ui.render(w, r, http.StatusOK, "webhooks", &webhooksPageData{projectHeader: pp, Enabled: p.Enabled, URLs: p.value("urls"),
		HasSecret: p.value("secret") != "", Saved: r.URL.Query().Get("done") == "saved"})
}

// webhooksSave (POST .../settings/webhooks/) stores the URLs and, when
// typed, the secret (PUT), and enables (POST) or disables the plugin.
func (ui *UI) webhooksSave(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var err error
	pp, ok := ui.projectForm(w, r, 256<<10)
	if !ok {
		return
	}
	path := pp.ProjectAPIPath + "plugins/webhooks/"
	var cur apiPlugin
	if _, err := ui.callAPI(ctx, r, "GET", path, nil, &cur); err != nil {
		ui.fail(w, r, err)
		return
	}
	urls := strings.ReplaceAll(r.PostFormValue("urls"), "\r\n", "\n")
	body := map[string]any{"urls": urls}
	if s := r.PostFormValue("secret"); s != "" {
		body["secret"] = s
	}
	if r.PostFormValue("clearSecret") != "" {
		body["secret"] = ""
	}
	_, err = ui.callAPI(ctx, r, "PUT", path, body, nil)
	if err == nil {
		if r.PostFormValue("enabled") != "" {
			_, err = ui.callAPI(ctx, r, "POST", path, nil, nil)
		} else if cur.Enabled {
			_, err = ui.callAPI(ctx, r, "DELETE", path, nil, nil)
		}
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		page := &webhooksPageData{projectHeader: pp, Enabled: r.PostFormValue("enabled") != "", URLs: urls, HasSecret: cur.value("secret") != ""}
		if ae.Detail != "" {
			page.Problems = append(page.Problems, ae.Detail)
		}
		for k, msgs := range ae.Fields {
			page.Problems = append(page.Problems, k+": "+strings.Join(msgs, " "))
		}
		slices.Sort(page.Problems)
		ui.render(w, r, http.StatusBadRequest, "webhooks", page)
		return
	}
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	securityHeaders(w.Header())
	http.Redirect(w, r, pp.WebhooksHref+"?done=saved", http.StatusSeeOther)
}
