package web

import (
	"net/http"
	"net/url"
	"strings"
)

// projectKeyAction is POST /settings/{org}/projects/{project}/keys/: with
// action=create (and a name), or disable, enable, rotate or delete with
// key= its id. Rotating creates a new key named after the old one and
// disables the old one: events sent with the old DSN are refused from
// then on.
func (ui *UI) projectKeyAction(w http.ResponseWriter, r *http.Request) {
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
	f := r.PostForm
	action := f.Get("action")
	var key apiKey
	if action != "create" {
		id := f.Get("key")
		if id == "" {
			ui.renderProjectSettings(w, r, http.StatusBadRequest, "", "Choose a key.")
			return
		}
		if _, err := ui.callAPI(ctx, r, "GET", base+"keys/"+url.PathEscape(id)+"/", nil, &key); err != nil {
			ui.fail(w, r, err)
			return
		}
	}
	keyPath := base + "keys/" + url.PathEscape(key.ID) + "/"
	var err error
	done := ""
	switch action {
	case "create":
		_, err = ui.callAPI(ctx, r, "POST", base+"keys/", map[string]string{"name": strings.TrimSpace(f.Get("name"))}, nil)
		done = "key-created"
	case "disable", "enable":
		_, err = ui.callAPI(ctx, r, "PUT", keyPath, map[string]bool{"isActive": action == "enable"}, nil)
		done = "key-" + action + "d"
	case "rotate":
		name := key.Name
		if len(name) > 56 {
			name = name[:56]
		}
		if _, err = ui.callAPI(ctx, r, "POST", base+"keys/", map[string]string{"name": name}, nil); err == nil {
			_, err = ui.callAPI(ctx, r, "PUT", keyPath, map[string]bool{"isActive": false}, nil)
		}
		done = "key-rotated"
	case "delete":
		_, err = ui.callAPI(ctx, r, "DELETE", keyPath, nil, nil)
		done = "key-deleted"
	default:
		ui.renderProjectSettings(w, r, http.StatusBadRequest, "", "Unknown key action.")
		return
	}
	if err != nil {
		if msg := userError(err); msg != "" {
			ui.renderProjectSettings(w, r, http.StatusBadRequest, "", msg)
			return
		}
		ui.fail(w, r, err)
		return
	}
	seeOther(w, r, projectSettingsHref(org, slug), done)
}

// projectDelete is POST /settings/{org}/projects/{project}/delete/: with
// action=delete and confirm= the project's slug, it schedules the
// project's deletion (the API's deletion job, which waits its delay);
// with action=cancel it cancels a pending one.
func (ui *UI) projectDelete(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r) {
		return
	}
	ctx := r.Context()
	org, slug := r.PathValue("org"), r.PathValue("project")
	base := projectAPI(org, slug)
	var p apiProject
	if _, err := ui.callAPI(ctx, r, "GET", base, nil, &p); err != nil {
		ui.fail(w, r, err)
		return
	}
	var err error
	done := ""
	switch r.PostForm.Get("action") {
	case "delete":
		if strings.TrimSpace(r.PostForm.Get("confirm")) != p.Slug {
			ui.renderProjectSettings(w, r, http.StatusBadRequest, "", "Type the project's slug, "+p.Slug+", to confirm its deletion.")
			return
		}
		_, err = ui.callAPI(ctx, r, "DELETE", base, nil, nil)
		done = "deletion"
	case "cancel":
		_, err = ui.callAPI(ctx, r, "PUT", base, map[string]bool{"cancelDeletion": true}, nil)
		done = "cancelled"
	default:
		ui.renderProjectSettings(w, r, http.StatusBadRequest, "", "Unknown action.")
		return
	}
	if err != nil {
		if msg := userError(err); msg != "" {
			ui.renderProjectSettings(w, r, http.StatusBadRequest, "", msg)
			return
		}
		ui.fail(w, r, err)
		return
	}
	seeOther(w, r, projectSettingsHref(org, slug), done)
}
