package web

import (
	"net/url"
	"strings"
	"testing"
)

func TestNoteParts(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"see https://example.com/a?b=1 now", "see |[https://example.com/a?b=1]| now"},
		{"javascript:alert(1) and http://x.test", "javascript:alert(1) and |[http://x.test]"},
		{"(https://a.test/x) <b>", "(|[https://a.test/x]|) <b>"},
		{"https://", "https://"},
	} {
		var got []string
		for _, p := range noteParts(c.in) {
			if p.Href != "" {
				got = append(got, "["+p.Text+"]")
			} else {
				got = append(got, p.Text)
			}
		}
		if g := strings.Join(got, "|"); g != c.want {
			t.Errorf("%q: %q, want %q", c.in, g, c.want)
		}
	}
}

// FuzzNoteParts: a comment's pieces put back together are the comment,
// and every link is an http(s) URL with a host.
func FuzzNoteParts(f *testing.F) {
	for _, s := range []string{"see https://example.com/a?b=1", "javascript:alert(1)", "http://[::1]:80/x", "https://a.test/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b strings.Builder
		for _, p := range noteParts(s) {
			b.WriteString(p.Text)
			if p.Href != "" {
				u, err := url.Parse(p.Href)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					t.Fatalf("link %q from %q", p.Href, s)
				}
			}
		}
		if b.String() != s {
			t.Fatalf("pieces %q of %q", b.String(), s)
		}
	})
}
