package scrub_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/scrub"
)

const sample = `{
 "message": {"message": "card 4111 1111 1111 1111 for bob@example.com from 203.0.113.9", "formatted": "card 4111-1111-1111-1111 for bob@example.com, ssn 123-45-6789"},
 "exception": {"values": [{"type": "PaymentError", "value": "card 4111111111111111 declined from 203.0.113.9",
   "stacktrace": {"frames": [{"function": "charge", "filename": "/home/alice/app/pay.py", "abs_path": "/home/alice/app/pay.py",
     "context_line": "    api_key = 'sk_live_x'", "vars": {"password": "hunter2", "amount": 12, "nested": {"token": ["a", "b"], "ok": "fine"}}}]}}]},
 "breadcrumbs": [{"message": "GET https://admin:s3cret@internal.example.com/x", "data": {"Authorization": "Bearer abc.def", "url": "/home/alice/x"}}],
 "request": {"url": "https://shop.example.com/cart?x=1", "query_string": "x=1&access_token=abc%20d&card=4111111111111111", "cookies": {"sessionid": "abc", "theme": "dark"},
   "headers": [["Authorization", "Basic dXNlcjpwYXNz"], ["Cookie", "sessionid=abc"], ["User-Agent", "Mozilla/5.0 (token)"], ["X-Request-Id", "r-1"]],
   "data": {"username": "bob", "password": "hunter2", "card": "5500 0000 0000 0004"}, "env": {"REMOTE_ADDR": "203.0.113.9", "SERVER_NAME": "web-1"}},
 "extra": {"db_password": "x", "note": "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----", "ssn_number": "x", "plain": "keep"},
 "contexts": {"app": {"secret_key": "x", "name": "shop"}},
 "tags": {"api_token": "t", "region": "eu"},
 "user": {"id": "42", "email": "bob@example.com", "ip_address": "203.0.113.9", "username": "bob"}
}`

func scrubbed(t *testing.T, cfg scrub.Config) *event.Event {
	t.Helper()
	e, err := event.Decode([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	scrub.New(cfg).Event(e)
	return e
}

func body(t *testing.T, e *event.Event) string {
	b, err := event.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDefaults(t *testing.T) {
	e := scrubbed(t, scrub.Config{DataScrubber: true, Defaults: true})
	b := body(t, e)
	for _, secret := range []string{"hunter2", "4111 1111 1111 1111", "4111-1111-1111-1111", "5500 0000 0000 0004", "123-45-6789",
		"s3cret", "MIIEvQ", "dXNlcjpwYXNz", "sessionid=abc", "abc.def", `"abc"`} {
		if strings.Contains(b, secret) {
			t.Errorf("%q survived scrubbing:\n%s", secret, b)
		}
	}
	checks := []struct{ got, want string }{
		{e.Message.Message, "card [Filtered] for bob@example.com from 203.0.113.9"},
		{e.Message.Formatted, "card [creditcard] for [email], ssn [us-ssn]"},
		// As in Relay, exception values and file paths are left alone.
		{string(e.Exception.Values[0].Value), "card 4111111111111111 declined from 203.0.113.9"},
		{e.Exception.Values[0].Stacktrace.Frames[0].AbsPath, "/home/alice/app/pay.py"},
		{e.Breadcrumbs.Values[0].Message, "GET https://[Filtered]@internal.example.com/x"},
		{string(e.Breadcrumbs.Values[0].Data), `{"Authorization":"[Filtered]","url":"/home/[Filtered]/x"}`},
		{e.Request.Headers[0][1], scrub.Filtered},
		{e.Request.Headers[1][1], scrub.Filtered},
		{e.Request.Headers[2][1], "Mozilla/5.0 (token)"},
		{e.Request.Headers[3][1], "r-1"},
		{string(e.Request.Cookies), `{"sessionid":"[Filtered]","theme":"[Filtered]"}`},
		{string(e.Extra["db_password"]), `"[Filtered]"`},
		{string(e.Extra["plain"]), `"keep"`},
		{string(e.Extra["ssn_number"]), `"x"`},
		{string(e.Extra["note"]), `"-----BEGIN PRIVATE KEY-----\n[Filtered]\n-----END PRIVATE KEY-----"`},
		{string(e.Contexts["app"]), `{"name":"shop","secret_key":"[Filtered]"}`},
		{string(e.Exception.Values[0].Stacktrace.Frames[0].Vars), `{"amount":12,"nested":{"ok":"fine","token":"[Filtered]"},"password":"[Filtered]"}`},
		{string(e.Request.QueryString), `[["x","1"],["access_token","[Filtered]"],["card","[Filtered]"]]`},
		{e.Tags[0][1], scrub.Filtered},
		{e.Tags[1][1], "eu"},
		{e.User.IPAddress, "203.0.113.9"},
		{e.User.Email, "bob@example.com"},
	}
	for i, c := range checks {
		if c.got != c.want {
			t.Errorf("check %d: got %q, want %q", i, c.got, c.want)
		}
	}
	var data map[string]any
	if err := json.Unmarshal(e.Request.Data, &data); err != nil || data["password"] != scrub.Filtered || data["card"] != scrub.Filtered || data["username"] != "bob" {
		t.Errorf("request data %s", e.Request.Data)
	}
}

func TestProjectSettings(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		e := scrubbed(t, scrub.Config{DataScrubber: false, Defaults: true})
		if b := body(t, e); !strings.Contains(b, "hunter2") || !strings.Contains(b, "203.0.113.9") {
			t.Errorf("scrubbed with dataScrubber off: %s", b)
		}
	})
	t.Run("sensitive and safe fields", func(t *testing.T) {
		e := scrubbed(t, scrub.Config{DataScrubber: true, Defaults: true, SensitiveFields: []string{"ssn_number", "Plain"}, SafeFields: []string{"db_password"}})
		if string(e.Extra["ssn_number"]) != `"[Filtered]"` || string(e.Extra["plain"]) != `"[Filtered]"` || string(e.Extra["db_password"]) != `"x"` {
			t.Errorf("extra %v", e.Extra)
		}
	})
	t.Run("only sensitive fields, no defaults", func(t *testing.T) {
		e := scrubbed(t, scrub.Config{DataScrubber: true, Defaults: false, SensitiveFields: []string{"plain"}})
		b := body(t, e)
		if string(e.Extra["plain"]) != `"[Filtered]"` || !strings.Contains(b, "hunter2") || !strings.Contains(b, "4111 1111 1111 1111") {
			t.Errorf("without defaults: %s", b)
		}
	})
	t.Run("IP addresses", func(t *testing.T) {
		e := scrubbed(t, scrub.Config{ScrubIPAddresses: true})
		b := body(t, e)
		if strings.Contains(b, "203.0.113.9") {
			t.Errorf("an IP address survived: %s", b)
		}
		if e.User.IPAddress != "" || strings.Contains(string(e.Request.Env), "REMOTE_ADDR") || !strings.Contains(b, "hunter2") {
			t.Errorf("user %+v env %s", e.User, e.Request.Env)
		}
		if got := string(e.Exception.Values[0].Value); got != "card 4111111111111111 declined from [ip]" {
			t.Errorf("exception value %q", got)
		}
	})
}

// FuzzRaw: any JSON is scrubbed into valid JSON, without panicking, and
// scrubbing again changes nothing.
func FuzzRaw(f *testing.F) {
	f.Add([]byte(`{"password":"x","a":[{"token":1},"4111 1111 1111 1111"],"b":{"c":"https://u:p@h"}}`))
	f.Add([]byte(`"-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----"`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["10.0.0.1"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`))
	s := scrub.New(scrub.Config{DataScrubber: true, Defaults: true, ScrubIPAddresses: true, SensitiveFields: []string{"x"}})
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		once := s.Raw(raw)
		if !json.Valid(once) {
			t.Fatalf("invalid JSON out: %q", once)
		}
		if twice := s.Raw(once); string(twice) != string(once) {
			var a, b any
			json.Unmarshal(once, &a)  //nolint:errcheck
			json.Unmarshal(twice, &b) //nolint:errcheck
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if string(ja) != string(jb) {
				t.Fatalf("not idempotent:\n%s\n%s", once, twice)
			}
		}
	})
}
