package scrub

import (
	"strings"
	"testing"
)

// The one-pass prescan decides as the Unicode-aware one did, for every
// configuration, on ASCII and other text.
var prescanConfigs = []Config{
	{DataScrubber: true, Defaults: true},
	{DataScrubber: true, Defaults: true, ScrubIPAddresses: true, SensitiveFields: []string{"CardHolder", "pin"}, SafeFields: []string{"authority"}},
	{DataScrubber: true, SensitiveFields: []string{"kelvin\u212a"}},
	{ScrubIPAddresses: true},
}

func checkPrescan(t *testing.T, v string) {
	for _, cfg := range prescanConfigs {
		s := New(cfg)
		if got, want := s.mayMatch([]byte(v)), s.mayMatchUnicode([]byte(v)); got != want {
			t.Errorf("%+v: mayMatch(%q) = %v, want %v", cfg, v, got, want)
		}
	}
	for _, w := range []string{"users", "home", "bearer", "documents and settings"} {
		if got, want := containsFold(v, w), strings.Contains(strings.ToLower(v), w); got != want {
			t.Errorf("containsFold(%q, %q) = %v, want %v", v, w, got, want)
		}
	}
}

func TestPrescan(t *testing.T) {
	for _, v := range []string{"", "{}", `{"url":"https://api.example.com/v1/Token"}`, `{"a":"PASSWORD"}`, `"Bearer x"`,
		`"C:\\Users\\bob"`, `"/HOME/x"`, `"4111 1111 1111 1111"`, `"123-45-6789"`, `"10.0.0.1"`, `"fe80::1"`,
		`"-----BEGIN RSA PRIVATE KEY-----"`, `"to\u212aen"`, `"user@host//x"`, `"HoMe"`, `{"cardholder":1}`} {
		checkPrescan(t, v)
	}
}

func FuzzPrescan(f *testing.F) {
	for _, v := range []string{`{"url":"https://x/Token"}`, `"Bearer x"`, `"C:\\Users\\bob"`, `"10.0.0.1"`, "to\u212aen"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) { checkPrescan(t, v) })
}

// checkQueryPrescan: skipping the query parameter expression on values
// without a sensitive word changes nothing.
func checkQueryPrescan(t *testing.T, v string) {
	for _, cfg := range prescanConfigs {
		fast, full := New(cfg), New(cfg)
		full.keyWords = nil
		if got, want := fast.String(v), full.String(v); got != want {
			t.Errorf("%+v: String(%q) = %q, want %q", cfg, v, got, want)
		}
	}
}

func TestQueryPrescan(t *testing.T) {
	for _, v := range []string{"const a = f(x);", "/x?a=1&password=2", "/x?a=1&PassWord=2", "/x?pass%77ord=2", "/x?api+key=1",
		"https://h/p?sessionid=abc;x=1", "?cardholder=bob&pin=1", "  if (token === x) { a = 1; }"} {
		checkQueryPrescan(t, v)
	}
}

func FuzzQueryPrescan(f *testing.F) {
	for _, v := range []string{"/x?a=1&password=2", "const a = f(x);", "/x?pass%77ord=2", "?my+token=1"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) { checkQueryPrescan(t, v) })
}
