package api

import (
	"reflect"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/store"
)

func TestParseEventSearch(t *testing.T) {
	tests := []struct {
		q     string
		tags  []store.TagFilter
		text  []string
		wrong bool
	}{
		{q: ""},
		{q: "   "},
		{q: "browser:Firefox", tags: []store.TagFilter{{Key: "browser", Value: "Firefox"}}},
		{q: "!browser:Firefox timeout", tags: []store.TagFilter{{Key: "browser", Value: "Firefox", Negate: true}}, text: []string{"timeout"}},
		{q: `user.email:a@b.c "connection refused" db`, tags: []store.TagFilter{{Key: "user.email", Value: "a@b.c"}}, text: []string{"connection refused", "db"}},
		{q: `os:"Mac OS X" message:"disk full"`, tags: []store.TagFilter{{Key: "os", Value: "Mac OS X"}}, text: []string{"disk full"}},
		{q: `k:"a \"quoted\" \\ value"`, tags: []store.TagFilter{{Key: "k", Value: `a "quoted" \ value`}}},
		{q: "url:http://x/y?a=b", tags: []store.TagFilter{{Key: "url", Value: "http://x/y?a=b"}}},
		{q: ":x", text: []string{":x"}},
		{q: "! x", text: []string{"!", "x"}},
		{q: "k:", tags: []store.TagFilter{{Key: "k", Value: ""}}},
		{q: `k:"*"`, tags: []store.TagFilter{{Key: "k", Value: "*"}}},
		{q: `"unclosed`, wrong: true},
		{q: `k:"unclosed`, wrong: true},
		{q: "count:>10", wrong: true},
		{q: "browser:Fire*", wrong: true},
		{q: strings.Repeat("a ", maxSearchTerms+1), wrong: true},
	}
	for _, tc := range tests {
		tags, text, err := parseEventSearch(tc.q)
		if (err != nil) != tc.wrong {
			t.Errorf("%q: err %v", tc.q, err)
			continue
		}
		if !reflect.DeepEqual(tags, tc.tags) || !reflect.DeepEqual(text, tc.text) {
			t.Errorf("%q: tags %+v text %q, want %+v %q", tc.q, tags, text, tc.tags, tc.text)
		}
	}
}

// FuzzParseEventSearch: any query parses or is refused with a 400, never
// more terms than the bound, and no term is empty-keyed with a negation.
func FuzzParseEventSearch(f *testing.F) {
	for _, s := range []string{`a:b "c d" !e:"f \" g"`, `"`, `k:"\\`, "message:x y", `!:x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		tags, text, err := parseEventSearch(q)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Status != 400 {
				t.Fatalf("%q: %v", q, err)
			}
			return
		}
		if len(tags)+len(text) > maxSearchTerms {
			t.Fatalf("%q: %d terms", q, len(tags)+len(text))
		}
		for _, tg := range tags {
			if tg.Key == "" {
				t.Fatalf("%q: empty key", q)
			}
		}
	})
}

// TestParseQuery: the status-only parser the bulk routes call delegates
// to the store's parser: the default search without a query, the status
// of a query with free text, and Sentry's 400 for what it can't do.
func TestParseQuery(t *testing.T) {
	for _, c := range []struct {
		q       string
		present bool
		status  string
		wrong   bool
	}{
		{"", false, store.StatusUnresolved, false},
		{"", true, "", false},
		{"is:resolved", true, store.StatusResolved, false},
		{"is:unresolved connection refused", true, store.StatusUnresolved, false},
		{"is:archived", true, store.StatusIgnored, false},
		{"timeout", true, "", false},
		{"browser:Firefox", true, "", false},
		{"browser:>3", true, "", true},
		{"is:nope", true, "", true},
	} {
		status, err := parseQuery(c.q, c.present)
		if c.wrong {
			if e, ok := err.(*Error); !ok || e.Status != 400 {
				t.Errorf("%q: %v, want a 400", c.q, err)
			}
			continue
		}
		if err != nil || status != c.status {
			t.Errorf("%q (present %v): %q %v, want %q", c.q, c.present, status, err, c.status)
		}
	}
}
