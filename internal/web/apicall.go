package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/faultline/faultline/internal/session"
)

// Pages read and change data through the API's own handlers, called in
// process with the visitor's session: the same route table, the same
// authentication, tenant resolution, role and scope checks, and the same
// store queries as a script calling /api/0/ (the UI is a client of the
// API, as Sentry's own front end is). A page never looks a tenant's
// object up by itself, so it can't see what the API would hide.

// maxAPIAnswer bounds an answer a page reads (an event with large
// entries is the largest).
const maxAPIAnswer = 16 << 20

// SetAPI gives the pages the handler that serves /api/0/ (the route
// table).
func (ui *UI) SetAPI(h http.Handler) { ui.api = h }

// APIError is an API answer other than 2xx: its status and Sentry's
// {"detail"}.
type APIError struct {
	Status int
	Detail string
	// Fields are the messages by field of a validation error (Sentry's
	// serializers' 400: {"field": ["message"]}), for the forms.
	Fields map[string][]string
}

func (e *APIError) Error() string { return fmt.Sprintf("api: %d %s", e.Status, e.Detail) }

// callAPI calls the API as the visitor of r: method and path (under
// /api/0/, with its query), body encoded as JSON when not nil, and the
// answer decoded into out when not nil. A write carries the visitor's
// CSRF token (the form's csrfmiddlewaretoken, already read by the caller
// into r's form) and Origin, which the API checks as for any browser
// request. It returns the answer's header (Link, for paging).
func (ui *UI) callAPI(ctx context.Context, r *http.Request, method, pathAndQuery string, body, out any) (http.Header, error) {
	if ui.api == nil {
		return nil, errors.New("web: no API to call")
	}
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u, err := url.Parse(pathAndQuery)
	if err != nil || !strings.HasPrefix(u.Path, "/api/0/") {
		return nil, fmt.Errorf("web: bad API path %q", pathAndQuery)
	}
	req, err := http.NewRequestWithContext(ctx, method, pathAndQuery, rd)
	if err != nil {
		return nil, err
	}
	req.Host, req.RemoteAddr = r.Host, r.RemoteAddr
	for _, k := range []string{"Cookie", "X-Forwarded-For", "User-Agent"} {
		if v := r.Header.Values(k); len(v) > 0 {
			req.Header[k] = v
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet && method != http.MethodHead {
		if o := r.Header.Get("Origin"); o != "" {
			req.Header.Set("Origin", o)
		} else if ref := r.Header.Get("Referer"); ref != "" {
			req.Header.Set("Referer", ref)
		}
		req.Header.Set(session.CSRFHeader, r.PostFormValue(session.CSRFFormField))
	}
	rec := &recorder{header: http.Header{}}
	ui.api.ServeHTTP(rec, req)
	if rec.overflow {
		return nil, fmt.Errorf("web: API answer to %s %s over %d bytes", method, u.Path, maxAPIAnswer)
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	if status < 200 || status > 299 {
		var e struct {
			Detail string `json:"detail"`
		}
		json.Unmarshal(rec.body.Bytes(), &e) //nolint:errcheck // the detail is optional
		ae := &APIError{Status: status, Detail: e.Detail}
		if e.Detail == "" && status == http.StatusBadRequest {
			json.Unmarshal(rec.body.Bytes(), &ae.Fields) //nolint:errcheck // only field messages
		}
		return rec.header, ae
	}
	if out != nil && rec.body.Len() > 0 {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return nil, fmt.Errorf("web: decode %s %s: %w", method, u.Path, err)
		}
	}
	return rec.header, nil
}

// recorder is the in-process ResponseWriter of callAPI, bounded.
type recorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

func (w *recorder) Header() http.Header { return w.header }
func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.body.Len()+len(b) > maxAPIAnswer {
		w.overflow = true
		return 0, errors.New("web: API answer too large")
	}
	return w.body.Write(b)
}
