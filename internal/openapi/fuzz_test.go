package openapi_test

import (
	"encoding/json"
	"testing"

	"github.com/faultline/faultline/internal/openapi"
	"github.com/faultline/faultline/internal/openapi/contract"
)

// FuzzResponse feeds arbitrary bodies to the validator: it never panics, a
// body it accepts is JSON, and it answers the same twice.
func FuzzResponse(f *testing.F) {
	f.Add([]byte(issueJSON), uint8(0))
	f.Add([]byte(`{"detail":"x"}`), uint8(1))
	f.Add([]byte(`[{"id":"1"}]`), uint8(2))
	f.Add([]byte(`{"count":1e999}`), uint8(0))
	f.Add([]byte(`null`), uint8(3))
	tab := table()
	doc, err := openapi.Build(openapi.Config{}, tab.Routes())
	if err != nil {
		f.Fatal(err)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		f.Fatal(err)
	}
	v, err := contract.New(raw)
	if err != nil {
		f.Fatal(err)
	}
	cases := []struct {
		path   string
		status int
	}{
		{"/api/0/issues/{id}/", 200}, {"/api/0/issues/{id}/", 404},
		{"/api/0/organizations/{org}/releases/{version}/deploys/", 200}, {"/api/0/unknown/", 200},
	}
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		c := cases[int(which)%len(cases)]
		err := v.Response("GET", c.path, c.status, body)
		if err == nil && !json.Valid(body) {
			t.Fatalf("accepted a body that is not JSON: %q", body)
		}
		if again := v.Response("GET", c.path, c.status, body); (again == nil) != (err == nil) {
			t.Fatalf("answered %v, then %v", err, again)
		}
	})
}
