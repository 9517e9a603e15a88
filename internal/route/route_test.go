package route

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// named answers with its own name and the path values, so a test sees which
// route a request reached.
func named(name string, params ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := name
		for _, p := range params {
			out += " " + p + "=" + r.PathValue(p)
		}
		io.WriteString(w, out) //nolint:errcheck
	})
}

func testTable() *Table {
	t := New(Config{NotFound: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "ui 404") //nolint:errcheck
	})})
	t.Add(
		Route{Method: "GET", Path: "/api/0/organizations/{org}/", Handler: named("get-org", "org"), Auth: User},
		Route{Method: "DELETE", Path: "/api/0/organizations/{org}/", Handler: named("delete-org", "org"), Auth: User},
		Route{Method: "GET", Path: "/api/0/organizations/{org}/releases/{version}/", Handler: named("get-release", "org", "version"), Auth: User},
		Route{Method: "GET", Path: "/api/0/projects/", Handler: named("list-projects"), Auth: User},
		Route{Method: "GET", Path: "/api/0/projects/{org}/{project}/", Handler: named("get-project", "org", "project"), Auth: User},
		Route{Method: "POST", Path: "/api/{project_id}/store/", Handler: named("store", "project_id"), Auth: DSNKey},
		Route{Method: "OPTIONS", Path: "/api/{project_id}/store/", Handler: named("preflight"), Auth: Public},
		Route{Method: "GET", Path: "/healthz", Handler: named("healthz"), Auth: Public},
	)
	return t
}

func TestDispatch(t *testing.T) {
	tab := testTable()
	cases := []struct {
		method, path string
		status       int
		body         string // exact body, or the JSON detail for errors under /api/
		allow        string
	}{
		{"GET", "/api/0/organizations/acme/", 200, "get-org org=acme", ""},
		{"GET", "/api/0/organizations/acme", 200, "get-org org=acme", ""}, // no redirect
		{"HEAD", "/api/0/organizations/acme/", 200, "", ""},
		{"DELETE", "/api/0/organizations/acme/", 200, "delete-org org=acme", ""},
		// The subtree is not the organization's: the defects of issue 11.
		{"DELETE", "/api/0/organizations/acme/releases/1.0/", 405, `Method "DELETE" not allowed.`, "GET, HEAD"},
		{"GET", "/api/0/organizations/acme/releases/1.0/", 200, "get-release org=acme version=1.0", ""},
		{"GET", "/api/0/organizations/acme/members/", 404, "The requested resource does not exist", ""},
		{"GET", "/api/0/organizations/acme/releases/1.0/x/", 404, "The requested resource does not exist", ""},
		// Percent-encoding names the same value.
		{"GET", "/api/0/organizations/acme/releases/1.0%2Bbuild/", 200, "get-release org=acme version=1.0+build", ""},
		{"GET", "/api/0/organizations/acme/releases/1.0+build/", 200, "get-release org=acme version=1.0+build", ""},
		{"GET", "/api/0/organizations/acme/releases/a%2Fb/", 200, "get-release org=acme version=a/b", ""},
		// Literal segments win over placeholders, whatever the order.
		{"GET", "/api/0/projects/", 200, "list-projects", ""},
		{"GET", "/api/0/projects/acme/web/", 200, "get-project org=acme project=web", ""},
		{"POST", "/api/0/store/", 200, "store project_id=0", ""},
		{"POST", "/api/42/store", 200, "store project_id=42", ""},
		{"OPTIONS", "/api/42/store/", 200, "preflight", ""},
		// No CORS preflight for management routes.
		{"OPTIONS", "/api/0/projects/", 405, `Method "OPTIONS" not allowed.`, "GET, HEAD"},
		{"GET", "/api/0/nonexistent/", 404, "The requested resource does not exist", ""},
		{"GET", "/api/0/organizations//", 404, "The requested resource does not exist", ""},
		{"PUT", "/api/0/projects/", 405, `Method "PUT" not allowed.`, "GET, HEAD"},
		{"GET", "/healthz", 200, "healthz", ""},
		{"GET", "/healthz/x", 404, "ui 404", ""},
		{"POST", "/healthz", 405, "405 method not allowed\n", "GET, HEAD"},
		{"GET", "/", 404, "ui 404", ""},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			req := httptest.NewRequest(c.method, "http://x"+c.path, nil)
			w := httptest.NewRecorder()
			tab.ServeHTTP(w, req)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d (%s)", w.Code, c.status, w.Body)
			}
			if got := w.Header().Get("Allow"); got != c.allow {
				t.Errorf("Allow %q, want %q", got, c.allow)
			}
			body := w.Body.String()
			if c.method == "HEAD" {
				return
			}
			if c.status >= 400 && strings.HasPrefix(c.path, "/api/") {
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				var e struct{ Detail string }
				if err := json.Unmarshal([]byte(body), &e); err != nil {
					t.Fatalf("body %q: %v", body, err)
				}
				body = e.Detail
			}
			if body != c.body {
				t.Errorf("body %q, want %q", body, c.body)
			}
		})
	}
}

func TestAddRefusesConflictsAndBadRoutes(t *testing.T) {
	h := named("x")
	bad := [][]Route{
		{{Method: "GET", Path: "/api/0/{a}/", Handler: h, Auth: User}, {Method: "GET", Path: "/api/0/{b}", Handler: h, Auth: User}},
		{{Method: "GET", Path: "/api/0/x/", Handler: h}},
		{{Method: "GET", Path: "/api/0/x/", Auth: User}},
		{{Method: "get", Path: "/api/0/x/", Handler: h, Auth: User}},
		{{Method: "GET", Path: "api/0/x/", Handler: h, Auth: User}},
		{{Method: "GET", Path: "/api/0/x{y}/", Handler: h, Auth: User}},
	}
	for i, rs := range bad {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("case %d: no panic", i)
				}
			}()
			New(Config{}).Add(rs...)
		}()
	}
}

func TestMatchReturnsTheTablesRoute(t *testing.T) {
	tab := testTable()
	for _, r := range tab.Routes() {
		path := r.Path
		for _, p := range r.Placeholders() {
			path = strings.Replace(path, "{"+p+"}", "v", 1)
		}
		got, params, _ := tab.Match(r.Method, path)
		if got != r {
			t.Errorf("%s %s: matched %v", r.Method, path, got)
		}
		if len(params) != len(r.Placeholders()) {
			t.Errorf("%s %s: params %v", r.Method, path, params)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	tab := testTable()
	b.ReportAllocs()
	for b.Loop() {
		var m matcher
		if r, _ := m.match(tab.root, "POST", "/api/42/store/"); r == nil {
			b.Fatal("no match")
		}
	}
}

func TestIsFirstSegment(t *testing.T) {
	tab := New(Config{})
	tab.Add(
		Route{Method: "GET", Path: "/", Handler: named("home"), Auth: Session},
		Route{Method: "GET", Path: "/login/", Handler: named("login"), Auth: Public},
		Route{Method: "GET", Path: "/api/0/organizations/{org}/", Handler: named("org"), Auth: User},
		Route{Method: "GET", Path: "/{org}/issues/", Handler: named("issues"), Auth: User},
	)
	for seg, want := range map[string]bool{"login": true, "api": true, "": false, "organizations": false, "acme": false, "issues": false} {
		if got := tab.IsFirstSegment(seg); got != want {
			t.Errorf("IsFirstSegment(%q) = %v, want %v", seg, got, want)
		}
	}
}
