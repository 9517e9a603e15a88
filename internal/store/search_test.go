package store

import (
	"context"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseIssueSearch(t *testing.T) {
	tests := []struct {
		q     string
		want  IssueSearch
		wrong string // part of the refusal's message
	}{
		{q: "", want: IssueSearch{}},
		{q: "is:unresolved", want: IssueSearch{Status: StatusUnresolved, StatusSet: true}},
		{q: "is:archived", want: IssueSearch{Status: StatusIgnored, StatusSet: true}},
		{q: "is:muted is:ignored", want: IssueSearch{Status: StatusIgnored, StatusSet: true}},
		// GitLab's search box: the status, then free text.
		{q: "is:unresolved Connection refused", want: IssueSearch{Status: StatusUnresolved, StatusSet: true, Text: []string{"Connection", "refused"}}},
		{q: `is:resolved "connection refused" message:db`, want: IssueSearch{Status: StatusResolved, StatusSet: true, Text: []string{"connection refused", "db"}}},
		{q: `message:"disk \"full\""`, want: IssueSearch{Text: []string{`disk "full"`}}},
		{q: "release:1.0+build !release:2.0", want: IssueSearch{Releases: []string{"1.0+build"}, NotReleases: []string{"2.0"}}},
		{q: `release:"my app@1.0"`, want: IssueSearch{Releases: []string{"my app@1.0"}}},
		{q: "release:latest", want: IssueSearch{Releases: []string{ReleaseLatest}}},
		{q: `""`, want: IssueSearch{}},
		{q: "is:bogus", wrong: "unknown status"},
		{q: "is:assigned", want: IssueSearch{IsAssigned: ptrTo(true)}},
		{q: "is:unassigned is:unresolved", want: IssueSearch{IsAssigned: ptrTo(false), Status: StatusUnresolved, StatusSet: true}},
		{q: "is:assigned is:unassigned", wrong: "exclude each other"},
		{q: "is:bookmarked", want: IssueSearch{Bookmarks: []UserTerm{{Value: "me"}}}},
		{q: "is:subscribed", want: IssueSearch{Subscribed: []UserTerm{{Value: "me"}}}},
		{q: "is:for_review", wrong: "not supported yet"},
		{q: "is:un*", wrong: "wildcards are not supported on is:"},
		{q: "has:br*", wrong: "wildcards are not supported on has:"},
		{q: "k:a*\xff", wrong: "valid UTF-8"},
		{q: "a*\xff", wrong: "valid UTF-8"},
		// Wildcards: kept as written, rendered as patterns by the store.
		{q: `release:1.* message:*timeout* browser:*Fire* "conn*refused" environment:[prod-*,dev] !os:"Win*"`, want: IssueSearch{
			Text: []string{"*timeout*", "conn*refused"}, Releases: []string{"1.*"}, Environments: [][]string{{"prod-*", "dev"}},
			Tags: []TagTerm{{Key: "browser", Values: []string{"*Fire*"}}, {Key: "os", Values: []string{"Win*"}, Negate: true}}}},
		{q: "is:regressed", want: IssueSearch{Status: StatusUnresolved, StatusSet: true, Substatus: SubstatusRegressed}},
		{q: "is:regressed is:resolved", wrong: "only one status"},
		{q: "is:new", want: IssueSearch{Aggs: []AggTerm{{Field: AggFirstSeen, Op: ">=", Ago: 7 * 24 * time.Hour, Relative: true}}}},
		{q: "level:error !browser:Firefox user.email:a@b.c", want: IssueSearch{Tags: []TagTerm{
			{Key: "level", Values: []string{"error"}}, {Key: "browser", Values: []string{"Firefox"}, Negate: true},
			{Key: "user.email", Values: []string{"a@b.c"}}}}},
		{q: `browser:[Firefox, "Mobile Safari"] !os:[a,b]`, want: IssueSearch{Tags: []TagTerm{
			{Key: "browser", Values: []string{"Firefox", "Mobile Safari"}}, {Key: "os", Values: []string{"a", "b"}, Negate: true}}}},
		{q: "has:browser !has:user.email", want: IssueSearch{Tags: []TagTerm{{Key: "browser", Has: true}, {Key: "user.email", Has: true, Negate: true}}}},
		{q: "tags[is]:x", want: IssueSearch{Tags: []TagTerm{{Key: "is", Values: []string{"x"}}}}},
		{q: "environment:prod environment:[a,b] !environment:c", want: IssueSearch{Environments: [][]string{{"prod"}, {"a", "b"}},
			Tags: []TagTerm{{Key: "environment", Values: []string{"c"}, Negate: true}}}},
		{q: "release:[1.0,latest]", want: IssueSearch{ReleaseAny: [][]string{{"1.0", ReleaseLatest}}}},
		{q: "timesSeen:>100 times_seen:<=5 timesSeen:7 !timesSeen:>=3", want: IssueSearch{Aggs: []AggTerm{
			{Field: AggTimesSeen, Op: ">", N: 100}, {Field: AggTimesSeen, Op: "<=", N: 5}, {Field: AggTimesSeen, Op: "=", N: 7},
			{Field: AggTimesSeen, Op: "<", N: 3}}}},
		{q: "firstSeen:-24h lastSeen:+7d age:-2w", want: IssueSearch{Aggs: []AggTerm{
			{Field: AggFirstSeen, Op: ">=", Ago: 24 * time.Hour, Relative: true}, {Field: AggLastSeen, Op: "<=", Ago: 7 * 24 * time.Hour, Relative: true},
			{Field: AggFirstSeen, Op: ">=", Ago: 14 * 24 * time.Hour, Relative: true}}}},
		{q: "firstSeen:>2026-01-02T03:04:05 lastSeen:<=2026-01-02T03:04:05Z", want: IssueSearch{Aggs: []AggTerm{
			{Field: AggFirstSeen, Op: ">", At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			{Field: AggLastSeen, Op: "<=", At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}}},
		{q: "firstSeen:2026-01-02", want: IssueSearch{Aggs: []AggTerm{
			{Field: AggFirstSeen, Op: ">=", At: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
			{Field: AggFirstSeen, Op: "<", At: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)}}}},
		{q: "timesSeen:>lots", wrong: `"timesSeen:>lots": Invalid number`},
		{q: "firstSeen:-24x", wrong: `"firstSeen:-24x": Invalid duration`},
		{q: "lastSeen:>yesterday", wrong: `"lastSeen:>yesterday": Invalid date`},
		{q: "firstSeen:-99999999w", wrong: "at most 100 years"},
		{q: "!firstSeen:2026-01-02", wrong: "negated date"},
		{q: "level:>error", wrong: `"level:>error": comparisons`},
		{q: "browser:[a", wrong: "unbalanced brackets"},
		{q: "browser:[]", wrong: "empty"},
		{q: "has:[a,b]", wrong: "takes one value"},
		{q: "level:", wrong: `"level:" needs a value`},
		{q: `assigned:me !assigned:#ops assigned:"a b@example.com" bookmarks:me`, want: IssueSearch{
			Assigned:  []UserTerm{{Value: "me"}, {Value: "#ops", Negate: true}, {Value: "a b@example.com"}},
			Bookmarks: []UserTerm{{Value: "me"}}}},
		{q: "assigned:none", want: IssueSearch{Assigned: []UserTerm{{Value: "none"}}}},
		{q: "assigned:", wrong: "needs a value"},
		{q: "bookmarks:m*", wrong: "wildcards"},
		{q: "!is:resolved", wrong: "!is:"},
		{q: "is:resolved is:unresolved", wrong: "only one status"},
		{q: "release:", wrong: "needs a value"},
		{q: "!message:x", wrong: "!message:"},
		{q: `"unclosed`, wrong: "unbalanced quotes"},
		{q: strings.Repeat("a ", MaxSearchTerms+1), wrong: "at most"},
		{q: strings.Repeat("a", MaxSearchTermBytes+1), wrong: "longer than"},
	}
	for _, tc := range tests {
		got, err := ParseIssueSearch(tc.q)
		if tc.wrong != "" {
			if err == nil || !IsSearchError(err) || !strings.Contains(err.Error(), tc.wrong) {
				t.Errorf("%q: err %v, want a search error with %q", tc.q, err, tc.wrong)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.q, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %+v, want %+v", tc.q, got, tc.want)
		}
	}
}

// TestSearchTagKey: a tag key that the syntax uses for something else is
// written tags[key], and reads back as that tag.
func TestSearchTagKey(t *testing.T) {
	for _, k := range []string{"browser", "is", "has", "timesSeen", "age", "message", "tags[x]", "release"} {
		s, err := ParseIssueSearch(SearchTagKey(k) + `:"v"`)
		if k == "release" {
			if err != nil || !slices.Equal(s.Releases, []string{"v"}) {
				t.Errorf("%s: %+v %v", k, s, err)
			}
			continue
		}
		if err != nil || len(s.Tags) != 1 || s.Tags[0].Key != k || !slices.Equal(s.Tags[0].Values, []string{"v"}) {
			t.Errorf("%s: %q -> %+v %v", k, SearchTagKey(k), s, err)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestResolveLatest(t *testing.T) {
	s, err := ParseIssueSearch("release:latest !release:latest release:1.0")
	if err != nil {
		t.Fatal(err)
	}
	var asked []uint64
	err = s.ResolveLatest(context.Background(), []uint64{3}, func(_ context.Context, p []uint64) (string, error) {
		asked = p
		return "2.0", nil
	})
	if err != nil || !slices.Equal(asked, []uint64{3}) {
		t.Fatal(err, asked)
	}
	if !slices.Equal(s.Releases, []string{"2.0", "1.0"}) || !slices.Equal(s.NotReleases, []string{"2.0"}) {
		t.Fatalf("%+v", s)
	}
	// Not asked when the search doesn't name it.
	s, _ = ParseIssueSearch("release:1.0")
	if err := s.ResolveLatest(context.Background(), nil, func(context.Context, []uint64) (string, error) {
		t.Fatal("asked")
		return "", nil
	}); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseIssueSearch: any query parses or is refused with a
// *SearchError; a parsed search stays within the bounds.
func FuzzParseIssueSearch(f *testing.F) {
	for _, s := range []string{`is:unresolved a "b c" message:"d \" e"`, `"`, `k:["a b",c] !x:[d]`, `timesSeen:>=10 firstSeen:-24h lastSeen:+7d`,
		`age:>2026-01-01T10:00:00 lastSeen:2026-01-01 has:user.email tags[is]:x is:regressed is:new`, `k:"\\`, `!release:x release:latest`, `!:x`, `is:`, `assigned:#t !bookmarks:"me"`, `is:unassigned assigned:none`,
		`release:1.* message:*a\*b* k:[*x,y*] is:subscribed`, `"(*)" k:a**b*`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		s, err := ParseIssueSearch(q)
		if err != nil {
			if !IsSearchError(err) {
				t.Fatalf("%q: %v", q, err)
			}
			return
		}
		if n := len(s.Text) + len(s.Releases) + len(s.NotReleases) + len(s.Assigned) + len(s.Bookmarks) + len(s.Subscribed) + len(s.ReleaseAny) +
			len(s.Environments) + len(s.Tags); n > MaxSearchTerms {
			t.Fatalf("%q: %d terms", q, n)
		}
		if len(s.Aggs) > 2*MaxSearchTerms {
			t.Fatalf("%q: %d aggregate terms", q, len(s.Aggs))
		}
		lists := [][]string{s.Text, s.Releases, s.NotReleases}
		lists = append(lists, s.ReleaseAny...)
		lists = append(lists, s.Environments...)
		for _, tt := range s.Tags {
			if tt.Key == "" || tt.Has != (len(tt.Values) == 0) {
				t.Fatalf("%q: tag term %+v", q, tt)
			}
			lists = append(lists, tt.Values)
		}
		for _, a := range s.Aggs {
			if _, ok := negatedOp[a.Op]; !ok || (a.Relative && a.Ago < 0) {
				t.Fatalf("%q: aggregate term %+v", q, a)
			}
		}
		for _, l := range lists {
			if len(l) > MaxSearchTerms {
				t.Fatalf("%q: %d values", q, len(l))
			}
			for _, v := range l {
				if v == "" || len(v) > MaxSearchTermBytes {
					t.Fatalf("%q: term %q", q, v)
				}
				if IsSearchPattern(v) {
					for _, anchored := range []bool{true, false} {
						re, err := regexp.Compile(searchRegexp(v, anchored))
						if err != nil {
							t.Fatalf("%q: pattern %q: %v", q, v, err)
						}
						// The pattern matches the value with each * read as itself.
						if anchored && !re.MatchString(v) {
							t.Fatalf("%q: pattern %q does not match itself", q, v)
						}
					}
				}
			}
		}
		if s.StatusSet != (s.Status != "") {
			t.Fatalf("%q: %+v", q, s)
		}
		for _, l := range [][]UserTerm{s.Assigned, s.Bookmarks, s.Subscribed} {
			for _, u := range l {
				if u.Value == "" || u.Resolved != nil || len(u.Value) > MaxSearchTermBytes {
					t.Fatalf("%q: user term %+v", q, u)
				}
			}
		}
	})
}

// TestIssueSearch runs searches against stored events on both engines:
// free text matches title, culprit or message in any case, every term
// must match one event, releases match exactly, and quotes in terms are
// inert.
func TestIssueSearch(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow().Add(-time.Hour)
		mk := func(gid uint64, n int, title, culprit, message, release string) Event {
			e := ev(9, gid, n, now.Add(time.Duration(n)*time.Second), "prod", "")
			e.Title, e.Culprit, e.Message, e.Release = title, culprit, message, release
			return e
		}
		events := []Event{
			mk(1, 0, "ConnectionError: refused", "db.Open", "dial tcp: Connection REFUSED", "1.0+build"),
			mk(1, 1, "ConnectionError: refused", "db.Open", "dial tcp: Connection REFUSED", "1.0+build"),
			withTag(mk(2, 2, "TypeError: x is undefined", "app/Cart.render", "x is undefined", "2.0"), "browser", "Firefox 120"),
			mk(3, 3, "Panic", "worker.run", "it's O'Brien's \"quoted\" fault", "2.0"),
			mk(4, 4, "Über Fehler", "naïve.go", "ÄÖÜ", ""),
		}
		other := ev(10, 5, 5, now, "prod", "") // another project, same words
		other.Title = "ConnectionError: refused"
		if err := s.InsertEvents(ctx, append(events, other)); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			q    string
			want []uint64 // newest first (sort by last seen)
		}{
			{"", []uint64{4, 3, 2, 1}},
			{"refused", []uint64{1}},
			{"CONNECTIONERROR", []uint64{1}},
			{"cart.RENDER", []uint64{2}},            // culprit
			{"undefined x", []uint64{2}},            // two terms, any order
			{"refused undefined", nil},              // every term must match
			{`message:"dial tcp"`, []uint64{1}},     // message only
			{`"O'Brien's \"quoted\""`, []uint64{3}}, // quotes are inert
			{"') OR 1=1 --", nil},
			{"über", []uint64{4}}, // lowercase of UTF-8
			{"release:2.0", []uint64{3, 2}},
			{"release:1.0+build", []uint64{1}},
			{"release:1.0", nil}, // exact
			{"!release:2.0", []uint64{4, 1}},
			{"release:2.0 panic", []uint64{3}},
			{"is:unresolved refused", []uint64{1}},
			{"is:resolved refused", nil},
			// Wildcards: a release, environment or tag pattern matches the
			// whole value; a text pattern any part, in any case.
			{"release:1.*", []uint64{1}},
			{"release:*build", []uint64{1}},
			{"release:1", nil},
			{"release:2*", []uint64{3, 2}},
			{"!release:1.*", []uint64{4, 3, 2}},
			{"release:[1.*,x]", []uint64{1}},
			{"release:?.0", nil}, // ? is no wildcard
			{"message:*tcp*refused*", []uint64{1}},
			{"CONNECTION*refused", []uint64{1}},
			{"über*fehler", []uint64{4}},
			{`"O'Brien*\"quoted"`, []uint64{3}},
			{"cart.*", []uint64{2}},
			{"cart(*", nil}, // regexp syntax is literal
			{"a[b*", nil},
			{`"type*x is"`, []uint64{2}},
			{"type*x.is", nil}, // the dot is literal
			{"environment:pr*", []uint64{4, 3, 2, 1}},
			{"environment:[dev,*od]", []uint64{4, 3, 2, 1}},
			{"environment:dev*", nil},
			{"!environment:p*", nil},
			{"browser:Fire*", []uint64{2}},
			{"browser:*120", []uint64{2}},
			{"browser:fire*", nil}, // tag values keep their case
			{"!browser:*", []uint64{4, 3, 1}},
			{"browser:*", []uint64{2}},
		}
		for _, tc := range tests {
			search, err := ParseIssueSearch(tc.q)
			if err != nil {
				t.Fatalf("%q: %v", tc.q, err)
			}
			page, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{9}, Status: search.Status, Search: &search, Limit: 100})
			if err != nil {
				t.Fatalf("%q: %v", tc.q, err)
			}
			var got []uint64
			for _, is := range page.Issues {
				got = append(got, is.GroupID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%q: %v, want %v", tc.q, got, tc.want)
			}
		}
		// An unresolved release:latest is an error, never a silent match.
		search, _ := ParseIssueSearch("release:latest")
		if _, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{9}, Search: &search}); err == nil {
			t.Error("release:latest unresolved: no error")
		}
	})
}

func withTag(e Event, k, v string) Event {
	e.TagKeys = append(e.TagKeys, k)
	e.TagValues = append(e.TagValues, v)
	return e
}
