package web

import (
	"net/http"
	"strings"

	"github.com/faultline/faultline/internal/meta"
)

const apiTokensHref = "/settings/account/api/auth-tokens/"

// apiTokensPage is GET /settings/account/api/auth-tokens/: the visitor's
// own API tokens (sntryu_), as in Sentry.
func (ui *UI) apiTokensPage(w http.ResponseWriter, r *http.Request) {
	ui.renderAPITokens(w, r, http.StatusOK, &tokensPage{Notice: notice(r)})
}

func (ui *UI) renderAPITokens(w http.ResponseWriter, r *http.Request, status int, page *tokensPage) {
	var ts []apiToken
	if _, err := ui.callAPI(r.Context(), r, "GET", "/api/0/api-tokens/", nil, &ts); err != nil {
		ui.fail(w, r, err)
		return
	}
	if _, sess := ui.sessionUser(r); sess != nil {
		page.CSRF = sess.CSRF
	}
	page.Tokens, page.Scopes, page.Action = tokenRows(ts), meta.Scopes, apiTokensHref
	ui.render(w, r, status, "tokens", page)
}

// apiTokensAction is POST /settings/account/api/auth-tokens/:
// action=create (name, scope...), which shows the new token once, or
// revoke (token).
func (ui *UI) apiTokensAction(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r) {
		return
	}
	ctx := r.Context()
	if _, err := ui.callAPI(ctx, r, "GET", "/api/0/api-tokens/", nil, nil); err != nil {
		ui.fail(w, r, err)
		return
	}
	f := r.PostForm
	show := func(msg string) { ui.renderAPITokens(w, r, http.StatusBadRequest, &tokensPage{Error: msg}) }
	switch f.Get("action") {
	case "create":
		var t apiToken
		body := map[string]any{"name": strings.TrimSpace(f.Get("name")), "scopes": orEmptyList(f["scope"])}
		if _, err := ui.callAPI(ctx, r, "POST", "/api/0/api-tokens/", body, &t); err != nil {
			ui.tokenFail(w, r, err, show)
			return
		}
		ui.renderAPITokens(w, r, http.StatusCreated, &tokensPage{Created: t.Token})
	case "revoke":
		if _, err := ui.callAPI(ctx, r, "DELETE", "/api/0/api-tokens/", map[string]string{"tokenId": f.Get("token")}, nil); err != nil {
			ui.tokenFail(w, r, err, show)
			return
		}
		seeOther(w, r, apiTokensHref, "revoked")
	default:
		show("Unknown action.")
	}
}
