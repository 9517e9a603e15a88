package event_test

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/event"
)

// TestDerive: titles, culprits and metadata as Sentry's event types and
// generate_culprit compute them.
func TestDerive(t *testing.T) {
	long := strings.Repeat("x", 120)
	cases := []struct {
		name, event            string
		typ, title, culprit    string
		mdType, mdValue, mdFun string
	}{
		{"error: type and first line of value",
			`{"platform":"python","exception":{"values":[{"type":"ValueError","value":"bad input\nsecond line","stacktrace":{"frames":[
			{"module":"lib","function":"inner","filename":"lib.py","in_app":false},{"module":"app.views","function":"show","filename":"views.py","in_app":true},
			{"module":"lib.x","function":"deep","in_app":false}]}}]}}`,
			"error", "ValueError: bad input", "app.views in show", "ValueError", "bad input\nsecond line", "show"},
		{"value cut at 100 characters with ...",
			`{"exception":{"values":[{"type":"E","value":"` + long + `"}]}}`,
			"error", "E: " + strings.Repeat("x", 97) + "...", "", "E", long, ""},
		{"no type: Error", `{"exception":{"values":[{"value":"boom"}]}}`, "error", "Error: boom", "", "Error", "boom", ""},
		{"no value: type alone", `{"exception":{"values":[{"type":"KeyError"}]}}`, "error", "KeyError", "", "KeyError", "", ""},
		{"synthetic: the crashing function, no culprit",
			`{"platform":"node","exception":{"values":[{"value":"user 4 not found","mechanism":{"synthetic":true},"stacktrace":{"frames":[{"module":"app","function":"notify","in_app":true}]}}]}}`,
			"error", "notify", "", "", "user 4 not found", "notify"},
		{"javascript culprit: function(module)",
			`{"platform":"javascript","exception":{"values":[{"type":"TypeError","value":"x","stacktrace":{"frames":[{"module":"app","function":"render","in_app":true}]}}]}}`,
			"error", "TypeError: x", "render(app)", "TypeError", "x", "render"},
		{"native culprit: the function",
			`{"platform":"native","exception":{"values":[{"type":"SIGSEGV","value":"x","stacktrace":{"frames":[{"package":"/usr/bin/a","function":"crash","in_app":true}]}}]}}`,
			"error", "SIGSEGV: x", "crash", "SIGSEGV", "x", "crash"},
		{"transaction wins over frames",
			`{"transaction":"/checkout","exception":{"values":[{"type":"E","value":"x","stacktrace":{"frames":[{"module":"m","function":"f","in_app":true}]}}]}}`,
			"error", "E: x", "/checkout", "E", "x", "f"},
		{"the SDK's culprit wins",
			`{"culprit":"legacy.culprit","transaction":"/t","exception":{"values":[{"type":"E","value":"x"}]}}`,
			"error", "E: x", "legacy.culprit", "E", "x", ""},
		{"message: first line, request URL culprit",
			`{"logentry":{"message":"disk %s full","formatted":"disk /var full\nmore"},"request":{"url":"https://x/y"}}`,
			"default", "disk /var full", "https://x/y", "", "", ""},
		{"nothing: unlabeled", `{}`, "default", "<unlabeled event>", "", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := event.Decode([]byte(c.event))
			if err != nil {
				t.Fatal(err)
			}
			d := event.Derive(e)
			if d.Type != c.typ || d.Title != c.title || d.Culprit != c.culprit || d.Metadata.Type != c.mdType ||
				d.Metadata.Value != c.mdValue || d.Metadata.Function != c.mdFun {
				t.Errorf("got %+v", d)
			}
		})
	}
}
