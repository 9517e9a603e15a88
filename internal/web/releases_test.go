package web

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/store"
)

func TestLinkCursors(t *testing.T) {
	for _, c := range []struct {
		name, link, prev, next string
	}{
		{"first page", `<http://x/api/0/organizations/acme/releases/?cursor=>; rel="previous"; results="false"; cursor="", ` +
			`<http://x/api/0/organizations/acme/releases/?cursor=25>; rel="next"; results="true"; cursor="25"`, "", "25"},
		{"middle", `<u>; rel="previous"; results="true"; cursor="0:0:1", <u>; rel="next"; results="true"; cursor="0:50:0"`, "0:0:1", "0:50:0"},
		{"last page", `<u>; rel="previous"; results="true"; cursor="25", <u>; rel="next"; results="false"; cursor="50"`, "25", ""},
		{"no header", "", "", ""},
		{"garbage", `rel=next; cursor; ;;, ,`, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			prev, next := linkCursors(c.link)
			if prev != c.prev || next != c.next {
				t.Errorf("linkCursors(%q) = %q, %q; want %q, %q", c.link, prev, next, c.prev, c.next)
			}
		})
	}
}

func FuzzLinkCursors(f *testing.F) {
	f.Add(`<u>; rel="previous"; results="true"; cursor="0:0:1", <u>; rel="next"; results="true"; cursor="0:50:0"`)
	f.Add(`;,="`)
	f.Fuzz(func(t *testing.T, link string) {
		prev, next := linkCursors(link)
		for _, c := range []string{prev, next} {
			if strings.ContainsAny(c, `,;"`) || len(c) > len(link) {
				t.Errorf("linkCursors(%q): cursor %q", link, c)
			}
		}
	})
}

// TestWhen: the release pages' times ("N ago", exact in the title);
// ago itself is tested with the issue list.
func TestWhen(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	iso := "2026-12-07T11:30:00.000000Z"
	if got := when(&iso, now); got == nil || got.Ago != "30 min ago" || got.Exact != "2026-12-07 11:30:00 UTC" || got.ISO != "2026-12-07T11:30:00Z" {
		t.Errorf("when(%s) = %+v", iso, got)
	}
	if when(nil, now) != nil {
		t.Error("when(nil) is not nil")
	}
}

func TestWebLink(t *testing.T) {
	for u, want := range map[string]string{
		"https://ci.example.com/build/7":       "https://ci.example.com/build/7",
		"HTTP://ci.example.com/":               "http://ci.example.com/",
		"javascript:alert(1)":                  "",
		"JavaScript://example.com/%0aalert(1)": "",
		"data:text/html,<script>":              "",
		"//example.com/x":                      "",
		"/relative":                            "",
		"ftp://example.com/":                   "",
		"":                                     "",
	} {
		if got := webLink(u); got != want {
			t.Errorf("webLink(%q) = %q, want %q", u, got, want)
		}
	}
}

// TestReleaseSearch checks that the issue search the release page sends
// names exactly the version, whatever it contains, through the store's
// one parser.
func TestReleaseSearch(t *testing.T) {
	for _, v := range []string{"1.0", "web@1.0+build", `a"b`, `back\slash"`, "ünïcode-1", "x:y", "release:1"} {
		checkReleaseSearch(t, v)
	}
}

func FuzzReleaseSearch(f *testing.F) {
	for _, v := range []string{"1.0", `a"b\`, "web@1.0+build"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		// The versions the API accepts (its validVersion), short enough
		// for one search term once escaped.
		if v == "" || v == "latest" || v == "." || v == ".." || strings.TrimSpace(v) != v ||
			strings.ContainsAny(v, "\r\n\f\t/\\\x00") || len(releaseSearch(v)) > store.MaxSearchTermBytes {
			return
		}
		checkReleaseSearch(t, v)
	})
}

func checkReleaseSearch(t *testing.T, v string) {
	t.Helper()
	s, err := store.ParseIssueSearch(releaseSearch(v))
	if err != nil {
		t.Fatalf("%q: %v", releaseSearch(v), err)
	}
	if !slices.Equal(s.Releases, []string{v}) || len(s.Text) != 0 || s.StatusSet {
		t.Errorf("%q parses to %+v, want release %q", releaseSearch(v), s, v)
	}
}

func TestReleaseHref(t *testing.T) {
	for v, want := range map[string]string{
		"1.0+build": "/organizations/acme/releases/1.0+build/",
		"a b?c#d%":  "/organizations/acme/releases/a%20b%3Fc%23d%25/",
	} {
		got := releaseHref("acme", v)
		if got != want {
			t.Errorf("releaseHref(%q) = %q, want %q", v, got, want)
		}
		u, err := url.Parse(got)
		if err != nil || strings.TrimSuffix(strings.TrimPrefix(u.Path, "/organizations/acme/releases/"), "/") != v {
			t.Errorf("%q does not decode to %q", got, v)
		}
	}
}

// TestFail checks how a page answers each failure of its API
// call: the login redirect, the 404 page, the 403 page, the 500 page.
func TestFail(t *testing.T) {
	ui, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		err      error
		status   int
		location string
		text     string
	}{
		{&APIError{Status: 401}, 303, "/login/?next=%2Forganizations%2Facme%2Freleases%2F%3Fquery%3Dx", ""},
		{&APIError{Status: 404}, 404, "", "Page not found"},
		{&APIError{Status: 403, Detail: "You do not have permission to perform this action."}, 403, "", "Your role does not allow this"},
		{&APIError{Status: 500, Detail: "boom"}, 500, "", "Something went wrong"},
		{errors.New("decode"), 500, "", "Something went wrong"},
	} {
		w := httptest.NewRecorder()
		ui.fail(w, httptest.NewRequest("GET", "/organizations/acme/releases/?query=x", nil), c.err)
		if w.Code != c.status || w.Header().Get("Location") != c.location || !strings.Contains(w.Body.String(), c.text) {
			t.Errorf("%v: %d %q %s", c.err, w.Code, w.Header().Get("Location"), w.Body)
		}
		if w.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%v: no Content-Security-Policy", c.err)
		}
	}
}
