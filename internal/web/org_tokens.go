package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiToken is Sentry's token JSON (the token itself only when created).
type apiToken struct {
	ID        string   `json:"id"`
	Name      *string  `json:"name"`
	Scopes    []string `json:"scopes"`
	LastChars *string  `json:"tokenLastCharacters"`
	Created   *string  `json:"dateCreated"`
	LastUsed  *string  `json:"lastUsed"`
	Token     string   `json:"token"`
}

// tokenRow is a token as the pages list it.
type tokenRow struct {
	ID, Name, LastChars, Scopes string
	Created, LastUsed           *timeCell
}

// tokensPage is the data of tokens.html, for organization tokens and the
// visitor's API tokens.
type tokensPage struct {
	Nav    *navData // nil on the account's page
	Org    bool     // organization tokens (else the visitor's API tokens)
	CSRF   string
	Tokens []tokenRow
	// Created is a token just made, shown this once.
	Created       string
	Scopes        []string // the scopes an API token may be given
	Notice, Error string
	Action        string
}

func (p *tokensPage) navData() *navData { return p.Nav }

func tokenRows(ts []apiToken) []tokenRow {
	var out []tokenRow
	for _, t := range ts {
		row := tokenRow{ID: t.ID, Scopes: strings.Join(t.Scopes, " "), Created: when(t.Created, time.Now()), LastUsed: when(t.LastUsed, time.Now())}
		if t.Name != nil {
			row.Name = *t.Name
		}
		if t.LastChars != nil {
			row.LastChars = *t.LastChars
		}
		out = append(out, row)
	}
	return out
}

func orgTokensHref(org string) string { return "/settings/" + url.PathEscape(org) + "/auth-tokens/" }

// orgTokensPage is GET /settings/{org}/auth-tokens/: the organization's
// tokens (sntrys_, what sentry-cli uses in CI).
func (ui *UI) orgTokensPage(w http.ResponseWriter, r *http.Request) {
	ui.renderOrgTokens(w, r, http.StatusOK, &tokensPage{Notice: notice(r)})
}

func (ui *UI) renderOrgTokens(w http.ResponseWriter, r *http.Request, status int, page *tokensPage) {
	ctx := r.Context()
	nav, err := ui.orgNav(ctx, r, "settings")
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	page.Nav, page.Org, page.CSRF, page.Action = &nav, true, nav.CSRF, orgTokensHref(nav.Org.Slug)
	var ts []apiToken
	if _, err := ui.callAPI(ctx, r, "GET", "/api/0/organizations/"+orgPath(nav.Org.Slug)+"/org-auth-tokens/", nil, &ts); err != nil {
		ui.fail(w, r, err)
		return
	}
	page.Tokens = tokenRows(ts)
	ui.render(w, r, status, "tokens", page)
}

// orgTokensAction is POST /settings/{org}/auth-tokens/: action=create
// (name), which shows the new token once, or revoke (token).
func (ui *UI) orgTokensAction(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r) {
		return
	}
	ctx := r.Context()
	org := r.PathValue("org")
	api := "/api/0/organizations/" + orgPath(org) + "/org-auth-tokens/"
	if _, err := ui.callAPI(ctx, r, "GET", "/api/0/organizations/"+orgPath(org)+"/", nil, nil); err != nil {
		ui.fail(w, r, err)
		return
	}
	f := r.PostForm
	switch f.Get("action") {
	case "create":
		var t apiToken
		if _, err := ui.callAPI(ctx, r, "POST", api, map[string]string{"name": strings.TrimSpace(f.Get("name"))}, &t); err != nil {
			ui.tokenFail(w, r, err, func(msg string) { ui.renderOrgTokens(w, r, http.StatusBadRequest, &tokensPage{Error: msg}) })
			return
		}
		ui.renderOrgTokens(w, r, http.StatusCreated, &tokensPage{Created: t.Token})
	case "revoke":
		if _, err := ui.callAPI(ctx, r, "DELETE", api+url.PathEscape(f.Get("token"))+"/", nil, nil); err != nil {
			ui.tokenFail(w, r, err, func(msg string) { ui.renderOrgTokens(w, r, http.StatusBadRequest, &tokensPage{Error: msg}) })
			return
		}
		seeOther(w, r, orgTokensHref(org), "revoked")
	default:
		ui.renderOrgTokens(w, r, http.StatusBadRequest, &tokensPage{Error: "Unknown action."})
	}
}

// tokenFail shows an API refusal of a token form on its page, or fails.
func (ui *UI) tokenFail(w http.ResponseWriter, r *http.Request, err error, show func(string)) {
	if msg := userError(err); msg != "" {
		show(msg)
		return
	}
	ui.fail(w, r, err)
}
