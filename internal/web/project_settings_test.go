package web

import (
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestProjectSettingsBody(t *testing.T) {
	for _, c := range []struct {
		name string
		form url.Values
		want string // the PUT body as JSON, or the message
	}{
		{"general", url.Values{"section": {"general"}, "name": {" Shop "}, "platform": {"go"}}, `{"name":"Shop","platform":"go"}`},
		{"retention", url.Values{"section": {"retention"}, "retentionDays": {"30"}}, `{"retentionDays":30}`},
		{"retention, not a number", url.Values{"section": {"retention"}, "retentionDays": {"a month"}}, "Retention is a number of days."},
		{"origins", url.Values{"section": {"origins"}, "allowedDomains": {" https://a.example\r\n\n*\n"}}, `{"allowedDomains":["https://a.example","*"]}`},
		{"origins, none", url.Values{"section": {"origins"}, "allowedDomains": {""}}, `{"allowedDomains":[]}`},
		{"scrubbing", url.Values{"section": {"scrubbing"}, "dataScrubber": {"1"}, "sensitiveFields": {"card\nssn"}},
			`{"dataScrubber":true,"dataScrubberDefaults":false,"safeFields":[],"scrubIPAddresses":false,"sensitiveFields":["card","ssn"]}`},
		{"limits", url.Values{"section": {"limits"}, "perMinute.error": {"5"}, "perHour.attachment": {"1000"}},
			`{"rateLimits":{"attachment":{"perHour":1000,"perMinute":0},"default":{"perHour":0,"perMinute":0},"error":{"perHour":0,"perMinute":5},"security":{"perHour":0,"perMinute":0},"session":{"perHour":0,"perMinute":0},"transaction":{"perHour":0,"perMinute":0}}}`},
		{"limits, negative", url.Values{"section": {"limits"}, "perMinute.error": {"-1"}}, "Rate limits are whole numbers of events (0 or empty: no limit)."},
		{"spike", url.Values{"section": {"spike"}, "enabled": {"1"}, "multiplier": {"2.5"}, "floor": {"10"}}, `{"spikeProtection":{"enabled":true,"floor":10,"multiplier":2.5}}`},
		{"spike off, defaults", url.Values{"section": {"spike"}}, `{"spikeProtection":{"enabled":false}}`},
		{"spike, NaN", url.Values{"section": {"spike"}, "multiplier": {"NaN"}}, "The multiplier is a number."},
		{"spike, bad floor", url.Values{"section": {"spike"}, "floor": {"1e3"}}, "The floor is a whole number of events."},
		{"no section", url.Values{}, "Unknown settings section."},
	} {
		body, msg := projectSettingsBody(c.form)
		got := msg
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			got = string(b)
		}
		if got != c.want {
			t.Errorf("%s: got %s\nwant %s", c.name, got, c.want)
		}
	}
}

// FuzzProjectSettingsBody: any form gives a body that encodes as JSON, or
// a message, never both, and textareas stay bounded.
func FuzzProjectSettingsBody(f *testing.F) {
	for _, s := range []string{"section=general&name=x", "section=limits&perMinute.error=5", "section=origins&allowedDomains=a%0Ab",
		"section=spike&enabled=1&multiplier=NaN", "section=retention&retentionDays=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		body, msg := projectSettingsBody(form)
		if (body == nil) == (msg == "") {
			t.Fatalf("body %v and message %q", body, msg)
		}
		if body != nil {
			if _, err := json.Marshal(body); err != nil {
				t.Fatalf("the body does not encode: %v", err)
			}
			if l, ok := body["allowedDomains"].([]string); ok && len(l) > 1000 {
				t.Fatalf("%d origins", len(l))
			}
		}
	})
}

// TestSnippets compares the setup snippets of a DSN with the golden file
// (go test -run TestSnippets -update rewrites it): each carries the DSN
// once, as its language quotes it, and the project's platform is open.
func TestSnippets(t *testing.T) {
	const dsn = "https://0123456789abcdef0123456789abcdef@faultline.example.com/42"
	var b strings.Builder
	for _, s := range snippets(dsn, "php") {
		if strings.Count(s.Code, dsn) != 1 {
			t.Errorf("%s: the DSN is in the snippet %d times", s.ID, strings.Count(s.Code, dsn))
		}
		open := ""
		if s.Open {
			open = " (open)"
		}
		b.WriteString("== " + s.Label + open + "\n$ " + s.Install + "\n" + s.Code + "\n\n")
	}
	k := &apiKey{Public: "0123456789abcdef0123456789abcdef"}
	k.DSN.Store = "https://faultline.example.com/api/42/store/"
	b.WriteString("== curl\n" + curlCommand(k) + "\n")
	golden := filepath.Join("testdata", "snippets.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("snippets differ from %s (-update rewrites it):\n%s", golden, b.String())
	}
}
