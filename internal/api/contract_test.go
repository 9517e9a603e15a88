package api_test

import (
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/faultline/faultline/internal/openapi"
	"github.com/faultline/faultline/internal/openapi/contract"
	"github.com/faultline/faultline/internal/testserver"
)

// contractCheck returns a check of real answers against the OpenAPI
// document the server serves: the answer (and the request's body, when
// there is one) of method on path, for the route the table matches. A
// status the operation does not document, a missing field or a wrong type
// fails the test.
func contractCheck(t *testing.T, f *testserver.Faultline) func(method, path, body string, status int, raw []byte) {
	t.Helper()
	resp, err := http.Get(f.URL + openapi.Path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s: %d %v", openapi.Path, resp.StatusCode, err)
	}
	v, err := contract.New(doc)
	if err != nil {
		t.Fatal(err)
	}
	table := f.Server.Routes()
	return func(method, path, body string, status int, raw []byte) {
		t.Helper()
		u, err := url.Parse(path)
		if err != nil {
			t.Fatal(err)
		}
		r, _, _ := table.Match(method, u.EscapedPath())
		if r == nil {
			t.Errorf("%s %s matches no route", method, path)
			return
		}
		if err := v.Response(method, r.Path, status, raw); err != nil {
			t.Errorf("%s %s: the answer breaks the OpenAPI document: %v\n%.2000s", method, path, err, raw)
		}
		if body != "" && status < 300 {
			if err := v.Request(method, r.Path, []byte(body)); err != nil {
				t.Errorf("%s %s: the request breaks the OpenAPI document: %v", method, path, err)
			}
		}
	}
}
