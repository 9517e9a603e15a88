package process

import (
	"testing"
	"time"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/scrub"
)

// TestNormalize: the defaults Relay fills in, before grouping.
func TestNormalize(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	e, err := event.Decode([]byte(`{"message":"retry %s of %d","extra":{},"level":"warn",
	"exception":{"values":[{"value":"TypeError: x is not a function","stacktrace":{"frames":[
	  {"filename":"https://cdn.x.com/static/js/app.3f9a8b7c.js?v=2","function":"go"},
	  {"abs_path":"/srv/app/node_modules/lib/index.js","function":"lib","in_app":true}]}}]},
	"user":{"ip_address":"{{auto}}"},"timestamp":"2026-12-31T00:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	e.LogEntry = &event.Message{Message: "retry %s of %d", Params: event.Raw(`["db",3]`)}
	Prepare(e, Source{EventID: "0123456789abcdef0123456789abcdef", Received: now, ClientIP: "192.0.2.1", Client: "sentry.javascript.node/11.12.0"},
		scrub.New(scrub.Config{}))
	ex := e.Exception.Values[0]
	f0, f1 := ex.Stacktrace.Frames[0], ex.Stacktrace.Frames[1]
	checks := []struct{ got, want string }{
		{e.EventID, "0123456789abcdef0123456789abcdef"},
		{e.Platform, "other"},
		{e.Level, "warning"},
		{e.Type, "error"},
		{e.Timestamp.UTC().Format(time.RFC3339), "2026-11-20T10:00:00Z"}, // in the future: the receive time
		{e.SDK.Name + " " + e.SDK.Version, "sentry.javascript.node 11.12.0"},
		{e.LogEntry.Formatted, "retry db of 3"},
		{ex.Type + "|" + string(ex.Value), "TypeError|x is not a function"},
		{f0.AbsPath + "|" + f0.Filename + "|" + f0.Module, "https://cdn.x.com/static/js/app.3f9a8b7c.js?v=2|/static/js/app.3f9a8b7c.js|"},
		{e.User.IPAddress, "192.0.2.1"},
	}
	for i, c := range checks {
		if c.got != c.want {
			t.Errorf("check %d: got %q, want %q", i, c.got, c.want)
		}
	}
	if f1.IsInApp() {
		t.Error("a node_modules frame stays in-app")
	}
	if k, ok := e.Tags.Get("level"); !ok || k != "warning" {
		t.Errorf("tags %v", e.Tags)
	}
	if len(e.Errors) != 1 || e.Errors[0].Type != "future_timestamp" {
		t.Errorf("errors %+v", e.Errors)
	}
}

func TestFormatMessage(t *testing.T) {
	cases := []struct{ tmpl, params, want string }{
		{"%s failed after %d tries (100%%)", `["job",3]`, "job failed after 3 tries (100%)"},
		{"{} of {}", `["a","b"]`, "a of b"},
		{"{1} before {0}", `["a","b"]`, "b before a"},
		{"too few %s %s", `["x"]`, "too few x %s"},
		{"no params %s", ``, "no params %s"},
		{"object params %(name)s", `{"name":"x"}`, "object params %(name)s"},
	}
	for _, c := range cases {
		if got := formatMessage(c.tmpl, event.Raw(c.params)); got != c.want {
			t.Errorf("formatMessage(%q, %s) = %q, want %q", c.tmpl, c.params, got, c.want)
		}
	}
}
