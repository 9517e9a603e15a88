package contract

import (
	"strings"
	"testing"
)

// doc is a minimal OpenAPI 3.1 document: one operation answering a
// Sentry-style object, and one answering 204 without a body.
const doc = `{
  "openapi": "3.1.1",
  "info": {"title": "t", "version": "1"},
  "paths": {
    "/api/0/things/{id}/": {
      "get": {"responses": {
        "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
        "404": {"description": "no", "content": {"application/json": {"schema": {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}}}}}
      }},
      "delete": {"responses": {"204": {"description": "gone"}}}
    }
  },
  "components": {"schemas": {
    "Thing": {"type": "object", "required": ["id", "count", "lastSeen"], "properties": {
      "id": {"type": "string", "pattern": "^[0-9]+$"},
      "count": {"type": "string"},
      "lastSeen": {"type": "string", "format": "date-time"}
    }}
  }}
}`

func TestResponse(t *testing.T) {
	v, err := New([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.CompileAll(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, method string
		status       int
		body, err    string
	}{
		{"valid", "GET", 200, `{"id": "12", "count": "3", "lastSeen": "2026-12-07T10:00:00Z"}`, ""},
		{"count as a number", "GET", 200, `{"id": "12", "count": 3, "lastSeen": "2026-12-07T10:00:00Z"}`, "count"},
		{"id not digits", "GET", 200, `{"id": "x", "count": "3", "lastSeen": "2026-12-07T10:00:00Z"}`, "id"},
		{"missing field", "GET", 200, `{"id": "12", "count": "3"}`, "lastSeen"},
		{"bad date", "GET", 200, `{"id": "12", "count": "3", "lastSeen": "yesterday"}`, "lastSeen"},
		{"not JSON", "GET", 200, `<html>`, "JSON"},
		{"documented error", "GET", 404, `{"detail": "The requested resource does not exist"}`, ""},
		{"undocumented status", "GET", 500, `{"detail": "x"}`, "500"},
		{"no body", "DELETE", 204, ``, ""},
		{"a body where none is documented", "DELETE", 204, `{}`, "body"},
	} {
		err := v.Response(c.method, "/api/0/things/{id}/", c.status, []byte(c.body))
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.err)
		}
	}
	if err := v.Response("GET", "/api/0/unknown/", 200, []byte(`{}`)); err == nil {
		t.Error("an undocumented path passed")
	}
}
