package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/faultline/faultline/internal/route"
)

func newTable(t *testing.T) (*UI, *route.Table) {
	t.Helper()
	ui, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tab := route.New(route.Config{NotFound: ui.NotFound()})
	tab.Add(ui.Routes()...)
	return ui, tab
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://x"+path, nil))
	return w
}

func TestNotFoundPage(t *testing.T) {
	_, tab := newTable(t)
	w := get(t, tab, "/issues/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
	if w.Code != 404 {
		t.Fatalf("status %d", w.Code)
	}
	body := w.Body.String()
	if !strings.Contains(body, "Page not found") || strings.Contains(body, "<script>alert") ||
		!strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("body not escaped or not the page:\n%s", body)
	}
	for k, want := range map[string]string{
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Content-Type":            "text/html; charset=utf-8",
	} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if strings.Contains(body, "style=") || strings.Contains(body, "<style") || strings.Contains(body, "<script>") {
		t.Errorf("inline style or script, which the CSP forbids:\n%s", body)
	}
}

func TestAssetsAreHashedAndImmutable(t *testing.T) {
	ui, tab := newTable(t)
	for _, name := range []string{"app.css", "app.js"} {
		h := ui.hashed[name]
		if h == "" || h == name {
			t.Fatalf("%s has no hashed name", name)
		}
		w := get(t, tab, "/static/"+h)
		if w.Code != 200 {
			t.Fatalf("%s: %d", h, w.Code)
		}
		if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q", h, cc)
		}
		want, _ := staticFS.ReadFile("static/" + name)
		if got, _ := io.ReadAll(w.Body); string(got) != string(want) {
			t.Errorf("%s: wrong body", h)
		}
		// The page links the hashed name.
		nf := get(t, tab, "/nosuchpage")
		if !strings.Contains(nf.Body.String(), "/static/"+h) {
			t.Errorf("the layout does not link %s", h)
		}
	}
	// The unhashed name, or a stale hash, is not served.
	for _, p := range []string{"/static/app.css", "/static/app.0000000000.css", "/static/../web.go"} {
		if w := get(t, tab, p); w.Code != 404 {
			t.Errorf("%s: %d", p, w.Code)
		}
	}
}

func TestBrokenTemplatesFailTheStart(t *testing.T) {
	good := func() fstest.MapFS {
		m := fstest.MapFS{}
		for _, n := range []string{"layout.html", "not_found.html", "error.html"} {
			b, err := templateFS.ReadFile("templates/" + n)
			if err != nil {
				t.Fatal(err)
			}
			m[n] = &fstest.MapFile{Data: b}
		}
		return m
	}
	if _, err := New(Config{Templates: good()}, nil); err != nil {
		t.Fatalf("the embedded templates: %v", err)
	}
	cases := map[string]func(fstest.MapFS){
		"syntax error": func(m fstest.MapFS) {
			m["page.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{if}}{{end}}`)}
		},
		"unknown asset": func(m fstest.MapFS) {
			m["page.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{asset "nope.css"}}{{end}}`)}
		},
		"no content":  func(m fstest.MapFS) { m["page.html"] = &fstest.MapFile{Data: []byte(`{{define "x"}}{{end}}`)} },
		"no 404 page": func(m fstest.MapFS) { delete(m, "not_found.html") },
	}
	for name, breakIt := range cases {
		m := good()
		breakIt(m)
		if _, err := New(Config{Templates: m}, nil); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestFailingPageAnswersTheErrorPage(t *testing.T) {
	ui, _ := newTable(t)
	w := httptest.NewRecorder()
	// A page whose data makes the template fail.
	ui.render(w, httptest.NewRequest("GET", "/x", nil), 200, "not_found", 42)
	if w.Code != 500 || !strings.Contains(w.Body.String(), "Something went wrong") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	if w.Header().Get("Content-Security-Policy") == "" {
		t.Error("no CSP on the error page")
	}
}
