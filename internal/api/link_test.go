package api

import (
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestLinkHeader checks Sentry's Link header byte for byte, and that no
// comma appears inside a URL (GitLab splits the header on commas and
// reads each part with its own pattern).
func TestLinkHeader(t *testing.T) {
	pub, _ := url.Parse("http://faultline.test:8080")
	a := &API{public: pub}
	tests := []struct {
		target, next, want string
	}{
		{
			target: "/api/0/projects/acme/web/issues/?query=is:unresolved&limit=20",
			next:   "MTA6Mg",
			want: `<http://faultline.test:8080/api/0/projects/acme/web/issues/?cursor=0%3A0%3A1&limit=20&query=is%3Aunresolved>; rel="previous"; results="false"; cursor="0:0:1", ` +
				`<http://faultline.test:8080/api/0/projects/acme/web/issues/?cursor=MTA6Mg&limit=20&query=is%3Aunresolved>; rel="next"; results="true"; cursor="MTA6Mg"`,
		},
		{
			// Commas in the query and the path, a cursor already there.
			target: "/api/0/projects/acme/a,b/issues/?query=is:unresolved%20a,b%20%22x,y%22&sort=freq&cursor=MTA6Mg",
			want: `<http://faultline.test:8080/api/0/projects/acme/a%2Cb/issues/?cursor=0%3A0%3A1&query=is%3Aunresolved+a%2Cb+%22x%2Cy%22&sort=freq>; rel="previous"; results="false"; cursor="0:0:1", ` +
				`<http://faultline.test:8080/api/0/projects/acme/a%2Cb/issues/?cursor=0%3A0%3A0&query=is%3Aunresolved+a%2Cb+%22x%2Cy%22&sort=freq>; rel="next"; results="false"; cursor="0:0:0"`,
		},
	}
	// GitLab's pagination pattern, applied to each comma-separated part.
	gitlab := regexp.MustCompile(`rel="(\w+)";\sresults="(\w+)";\scursor="(.+)"`)
	for _, tc := range tests {
		r := httptest.NewRequest("GET", tc.target, nil)
		got := a.link(r, r.URL.Query().Get("cursor"), tc.next)
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.target, got, tc.want)
		}
		parts := strings.Split(got, ",")
		if len(parts) != 2 {
			t.Fatalf("%s: %d comma-separated parts", tc.target, len(parts))
		}
		for i, p := range parts {
			m := gitlab.FindStringSubmatch(p)
			if m == nil || m[1] != []string{"previous", "next"}[i] {
				t.Errorf("%s: part %q does not read as GitLab reads it", tc.target, p)
			}
		}
		if m := gitlab.FindStringSubmatch(parts[1]); m != nil && tc.next != "" && (m[2] != "true" || m[3] != tc.next) {
			t.Errorf("%s: next part %q", tc.target, parts[1])
		}
	}
}
