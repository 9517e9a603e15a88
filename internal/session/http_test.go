package session

import (
	"net/http"
	"testing"
)

func TestCheckOrigin(t *testing.T) {
	const origin = "https://faultline.example.com"
	cases := []struct {
		origin, referer string
		header          string
		ok              bool
	}{
		{"", "", "", true},
		{"https://faultline.example.com", "", "Origin", true},
		{"HTTPS://Faultline.example.com", "", "Origin", true},
		{"https://evil.example.com", "https://faultline.example.com/x", "Origin", false},
		{"null", "", "Origin", false},
		{"", "https://faultline.example.com/login/?next=/", "Referer", true},
		{"", "http://faultline.example.com/login/", "Referer", false},
		{"", "https://faultline.example.com.evil.example/", "Referer", false},
		{"", "%zz", "Referer", false},
	}
	for _, c := range cases {
		r, _ := http.NewRequest("POST", "https://faultline.example.com/login/", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.referer != "" {
			r.Header.Set("Referer", c.referer)
		}
		header, _, ok := CheckOrigin(r, origin)
		if ok != c.ok || (!ok && header != c.header) {
			t.Errorf("%+v: %q %v", c, header, ok)
		}
	}
}

func TestTokensMatch(t *testing.T) {
	for _, c := range []struct {
		got, want string
		ok        bool
	}{{"a", "a", true}, {"a", "b", false}, {"", "", false}, {"", "a", false}, {"a", "", false}} {
		if TokensMatch(c.got, c.want) != c.ok {
			t.Errorf("%+v", c)
		}
	}
}
