package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// issueAction is the issue page's forms (POST with csrfmiddlewaretoken):
// resolve, resolve in the next release, ignore (forever, for a while,
// until N more events or users), unresolve; the workflow's assign,
// bookmark, subscribe, comment (and edit or delete one's own), and delete and discard (confirmed by a
// ticked box). It changes the issue through the API as the visitor (PUT
// of the issue, POST of its comments) and goes back to the issue page
// (to the list after a discard).
func (ui *UI) issueAction(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	org, gid := r.PathValue("org"), r.PathValue("id")
	path := "/api/0/organizations/" + url.PathEscape(org) + "/issues/" + url.PathEscape(gid) + "/"
	// Read first: an issue the visitor may not see is the 404 page, before
	// the form's own checks.
	if _, err := ui.callAPI(ctx, r, "GET", path, nil, nil); err != nil {
		ui.fail(w, r, err)
		return
	}
	back := "/organizations/" + url.PathEscape(org) + "/issues/" + url.PathEscape(gid) + "/"
	switch r.PostForm.Get("action") {
	case "comment":
		text := strings.TrimSpace(r.PostForm.Get("text"))
		if text == "" {
			http.Error(w, "empty comment", http.StatusBadRequest)
			return
		}
		if _, err := ui.callAPI(ctx, r, "POST", path+"comments/", map[string]any{"text": text}, nil); err != nil {
			ui.fail(w, r, err)
			return
		}
		securityHeaders(w.Header())
		http.Redirect(w, r, back+"#activity", http.StatusSeeOther)
		return
	case "editComment", "deleteComment":
		// One's own comment (the API answers 404 for another's). The id
		// is a number: nothing else reaches the API's path.
		id, err := strconv.ParseUint(r.PostForm.Get("comment"), 10, 64)
		if err != nil || id == 0 {
			http.Error(w, "no such comment", http.StatusBadRequest)
			return
		}
		cpath := path + "comments/" + strconv.FormatUint(id, 10) + "/"
		if r.PostForm.Get("action") == "deleteComment" {
			_, err = ui.callAPI(ctx, r, "DELETE", cpath, nil, nil)
		} else {
			text := strings.TrimSpace(r.PostForm.Get("text"))
			if text == "" {
				http.Error(w, "empty comment", http.StatusBadRequest)
				return
			}
			_, err = ui.callAPI(ctx, r, "PUT", cpath, map[string]any{"text": text}, nil)
		}
		if err != nil {
			ui.fail(w, r, err)
			return
		}
		securityHeaders(w.Header())
		http.Redirect(w, r, back+"#activity", http.StatusSeeOther)
		return
	case "discard":
		// Deleting and discarding cannot be undone: the form's box must
		// be ticked.
		if r.PostForm.Get("confirm") != "yes" {
			http.Error(w, "tick the box to confirm the discard", http.StatusBadRequest)
			return
		}
		back = "/organizations/" + url.PathEscape(org) + "/issues/"
	}
	body, ok := issueActionBody(r.PostForm)
	if !ok {
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	if _, err := ui.callAPI(ctx, r, "PUT", path, body, nil); err != nil {
		ui.fail(w, r, err)
		return
	}
	securityHeaders(w.Header())
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// issueActionBody is the PUT body of a status form.
func issueActionBody(f url.Values) (map[string]any, bool) {
	positive := func(name string) (int, bool) {
		n, err := strconv.Atoi(f.Get(name))
		return n, err == nil && n > 0 && n <= 1_000_000_000
	}
	switch f.Get("action") {
	case "resolve":
		return map[string]any{"status": "resolved"}, true
	case "resolveInNextRelease":
		return map[string]any{"status": "resolved", "statusDetails": map[string]any{"inNextRelease": true}}, true
	case "unresolve":
		return map[string]any{"status": "unresolved"}, true
	case "bookmark", "unbookmark":
		return map[string]any{"isBookmarked": f.Get("action") == "bookmark"}, true
	case "subscribe", "unsubscribe":
		return map[string]any{"isSubscribed": f.Get("action") == "subscribe"}, true
	case "assign":
		v := f.Get("assignedTo")
		if len(v) > 320 {
			return nil, false
		}
		return map[string]any{"assignedTo": v}, true
	case "discard":
		return map[string]any{"discard": true}, true
	case "ignore":
		details := map[string]any{}
		if f.Get("ignoreDuration") != "" {
			n, ok := positive("ignoreDuration")
			if !ok {
				return nil, false
			}
			details["ignoreDuration"] = n
		}
		if f.Get("ignoreCount") != "" {
			n, ok := positive("ignoreCount")
			if !ok {
				return nil, false
			}
			details["ignoreCount"] = n
		}
		if f.Get("ignoreUserCount") != "" {
			n, ok := positive("ignoreUserCount")
			if !ok {
				return nil, false
			}
			details["ignoreUserCount"] = n
		}
		return map[string]any{"status": "ignored", "statusDetails": details}, true
	}
	return nil, false
}
