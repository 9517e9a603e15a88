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
		{e.Breadcrumbs.Values[0].Message, "GET https://admin:[Filtered]@internal.example.com/x"},
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

// TestURLSecrets: a URL's password and sensitive query parameters are
// filtered wherever the URL is, and the rest of the URL is kept.
func TestURLSecrets(t *testing.T) {
	const ev = `{
 "message": {"formatted": "connect postgres://app:hunter2@db:5432/x failed", "message": "GET /login?user=bob&password=hunter2"},
 "exception": {"values": [{"type": "OperationalError", "value": "could not connect to redis://:s3cret@cache:6379/0 (api_key=k3y)"}]},
 "breadcrumbs": [{"type": "http", "category": "http", "message": "GET https://api.example.com/v1?token=abc123&page=2 [200]",
   "data": {"url": "https://api.example.com/v1?page=2&access_token=abc123#frag", "method": "GET"}}],
 "request": {"url": "https://shop.example.com/login?next=%2Fhome&password=hunter2&Api_Key=k3y&q=keep"}
}`
	e, err := event.Decode([]byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	scrub.New(scrub.Config{DataScrubber: true, Defaults: true}).Event(e)
	tests := []struct{ name, got, want string }{
		{"request.url", e.Request.URL, "https://shop.example.com/login?next=%2Fhome&password=[Filtered]&Api_Key=[Filtered]&q=keep"},
		{"breadcrumb data.url", string(e.Breadcrumbs.Values[0].Data), `{"method":"GET","url":"https://api.example.com/v1?page=2&access_token=[Filtered]#frag"}`},
		{"breadcrumb message", e.Breadcrumbs.Values[0].Message, "GET https://api.example.com/v1?token=[Filtered]&page=2 [200]"},
		{"message", e.Message.Message, "GET /login?user=bob&password=[Filtered]"},
		{"formatted", e.Message.Formatted, "connect postgres://app:[Filtered]@db:5432/x failed"},
		{"exception value", string(e.Exception.Values[0].Value), "could not connect to redis://:s3cret@cache:6379/0 (api_key=k3y)"},
	}
	// redis://:s3cret@ has no user: Relay's legacy rule needs one, the
	// userinfo rule needs a user too; it stays, as in Relay.
	for _, tc := range tests {
		if got := strings.ReplaceAll(tc.got, `\u0026`, "&"); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, tc.got, tc.want)
		}
	}

	s := scrub.New(scrub.Config{DataScrubber: true, Defaults: true})
	strs := []struct{ in, want string }{
		{"postgres://u:pass@host/db", "postgres://u:[Filtered]@host/db"},
		{"mysql://root:p!ss$w0rd@10.0.0.1:3306", "mysql://root:[Filtered]@10.0.0.1:3306"},
		{"see 'redis://redis:foo@localhost:6379/0' and pg://matt:bar@localhost/1", "see 'redis://redis:[Filtered]@localhost:6379/0' and pg://matt:[Filtered]@localhost/1"},
		{"https://KEY@o1.ingest.example.com/1", "https://[Filtered]@o1.ingest.example.com/1"},
		{"postgres:///path", "postgres:///path"},
		{"mail bob@example.com", "mail bob@example.com"},
		{"/a?password=&b=1", "/a?password=&b=1"},
		{"/a?passwd=x;sessionid=y&ok=1", "/a?passwd=[Filtered];sessionid=[Filtered]&ok=1"},
		{"/a?pass%77ord=x", "/a?pass%77ord=[Filtered]"},
		{"x = 1 & y = 2", "x = 1 & y = 2"},
		{"a=b", "a=b"},
	}
	for _, c := range strs {
		if got := s.String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// Only the project's sensitive fields, without the defaults.
	only := scrub.New(scrub.Config{DataScrubber: true, SensitiveFields: []string{"pin"}})
	if got := only.String("https://u:p@h/?pin=1234&password=x"); got != "https://u:p@h/?pin=[Filtered]&password=x" {
		t.Errorf("sensitive fields only: %q", got)
	}
	if got := scrub.New(scrub.Config{}).String("/a?password=x"); got != "/a?password=x" {
		t.Errorf("scrubbing off: %q", got)
	}
}

// FuzzString: scrubbing never panics, and a value scrubbed once is not
// changed by scrubbing it again (no replacement re-matches its own output).
func FuzzString(f *testing.F) {
	for _, s := range []string{"postgres://u:pass@host/db?password=x", "/a?token=1&b=2", "https://KEY@h/1", "4111 1111 1111 1111", "Bearer abc"} {
		f.Add(s)
	}
	s := scrub.New(scrub.Config{DataScrubber: true, Defaults: true})
	f.Fuzz(func(t *testing.T, v string) {
		once := s.String(v)
		if twice := s.String(once); twice != once {
			t.Fatalf("not idempotent: %q → %q → %q", v, once, twice)
		}
	})
}
