package web

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/faultline/faultline/internal/session"
)

// projectTestEvent is POST /organizations/{org}/projects/{project}/test-event/:
// it sends the project an event through ingest's own /store/ route, in
// process, authenticated with the project's first active DSN key, as an
// SDK would: the same authentication, limits, queue and processing as any
// event. Then it goes back to the project's page.
func (ui *UI) projectTestEvent(w http.ResponseWriter, r *http.Request) {
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
	// No API write checks this form's token: check it here.
	if !ui.sessionForm(w, r) {
		return
	}
	var keys []apiKey
	if _, err := ui.callAPI(ctx, r, "GET", base+"keys/", nil, &keys); err != nil {
		ui.fail(w, r, err)
		return
	}
	var key *apiKey
	for i := range keys {
		if keys[i].IsActive {
			key = &keys[i]
			break
		}
	}
	back := projectHref(org, p.Slug)
	if key == nil || !ui.sendTestEvent(r, string(p.ID), key.Public) {
		securityHeaders(w.Header())
		http.Redirect(w, r, back+"?error=ingest", http.StatusSeeOther)
		return
	}
	seeOther(w, r, back, "test-event")
}

// sessionForm checks that a posted form comes from this site and carries
// the visitor's session CSRF token (forms whose action makes no API
// write, which would check it). It answers the refusal itself.
func (ui *UI) sessionForm(w http.ResponseWriter, r *http.Request) bool {
	_, sess := ui.sessionUser(r)
	_, _, sameOrigin := session.CheckOrigin(r, ui.acc.origin)
	if sess == nil || !sameOrigin || !session.TokensMatch(r.PostForm.Get(csrfField), sess.CSRF) {
		ui.render(w, r, http.StatusForbidden, "forbidden",
			struct{ Detail string }{"The form's security check failed (CSRF). Reload the page and try again."})
		return false
	}
	return true
}

// sendTestEvent posts a test event to /api/{project_id}/store/ through the
// route table and reports whether ingest accepted it.
func (ui *UI) sendTestEvent(r *http.Request, projectID, publicKey string) bool {
	var id [16]byte
	rand.Read(id[:]) //nolint:errcheck // never fails
	u, _ := ui.sessionUser(r)
	ev := map[string]any{
		"event_id":  hex.EncodeToString(id[:]),
		"timestamp": float64(time.Now().UnixMilli()) / 1000,
		"level":     "error",
		"platform":  "other",
		"logger":    "faultline",
		"message":   map[string]any{"formatted": "This is a test event sent from Faultline's project page"},
		"tags":      map[string]string{"test_event": "yes"},
		"sdk":       map[string]string{"name": "faultline.test-event", "version": "1.0"},
	}
	if u != nil {
		ev["user"] = map[string]string{"id": strconv.FormatUint(u.ID, 10), "email": u.Email}
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return false
	}
	req, err := http.NewRequestWithContext(r.Context(), "POST", "/api/"+url.PathEscape(projectID)+"/store/", bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Host, req.RemoteAddr = r.Host, r.RemoteAddr
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_client=faultline.test-event/1.0, sentry_key="+publicKey)
	rec := &recorder{header: http.Header{}}
	ui.api.ServeHTTP(rec, req)
	if rec.status != http.StatusOK {
		ui.log.Warn("the test event was refused", "project", projectID, "status", rec.status, "body", truncateBytes(rec.body.Bytes(), 200))
		return false
	}
	return true
}

func truncateBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
