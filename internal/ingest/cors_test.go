package ingest

import (
	"net/http"
	"testing"
)

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		allowed []string
		origin  string
		ok      bool
	}{
		{[]string{"*"}, "https://anything.test", true},
		{[]string{}, "https://anything.test", false}, // Relay: an empty list allows none
		{[]string{"example.com"}, "https://example.com", true},
		{[]string{"example.com"}, "http://example.com:8080", true},
		{[]string{"example.com"}, "https://www.example.com", false},
		{[]string{"*.example.com"}, "https://www.example.com", true},
		{[]string{"*.example.com"}, "https://example.com", true},
		{[]string{"*.example.com"}, "https://badexample.com", false},
		{[]string{"https://app.example.com:8443"}, "https://app.example.com:8443", true},
		{[]string{"https://app.example.com:8443/"}, "https://app.example.com:8443", true},
		{[]string{"https://app.example.com:8443"}, "http://app.example.com:8443", false},
		{[]string{"EXAMPLE.com"}, "https://Example.COM", true},
		{[]string{"example.com:8080"}, "http://example.com:8080", true},
	}
	for _, tt := range tests {
		if got := originAllowed(tt.allowed, tt.origin); got != tt.ok {
			t.Errorf("originAllowed(%q, %q) = %v", tt.allowed, tt.origin, got)
		}
	}
}

func TestRequestOrigin(t *testing.T) {
	for _, tt := range []struct{ origin, referer, want string }{
		{"https://a.test", "https://b.test/page", "https://a.test"},
		{"", "https://b.test:81/page?x=1", "https://b.test:81"},
		{"null", "", ""}, // a file:// page: no origin to check, as in Relay
		{"null", "https://c.test/", "https://c.test"},
		{"chrome-extension://abc", "", ""},
		{"", "", ""},
	} {
		r, _ := http.NewRequest("POST", "/", nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if tt.referer != "" {
			r.Header.Set("Referer", tt.referer)
		}
		got, ok := requestOrigin(r)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("requestOrigin(%q, %q) = %q, %v", tt.origin, tt.referer, got, ok)
		}
	}
}

// FuzzOrigin checks that the Origin and Referer headers, which come from
// the client, are read and matched without panics.
func FuzzOrigin(f *testing.F) {
	f.Add("https://shop.example.com", "*.example.com")
	f.Add("http://[::1]:8080", "https://[::1]:8080")
	f.Fuzz(func(t *testing.T, origin, allowed string) {
		r, _ := http.NewRequest("POST", "/", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Referer", origin)
		if o, ok := requestOrigin(r); ok {
			originAllowed([]string{allowed, "x.test"}, o)
		}
		originAllowed([]string{allowed}, origin)
	})
}
