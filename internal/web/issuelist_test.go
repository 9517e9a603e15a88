package web

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/store"
)

func TestWithStatus(t *testing.T) {
	for _, c := range []struct{ q, term, want string }{
		{"", "is:unresolved", "is:unresolved"},
		{"is:unresolved", "is:resolved", "is:resolved"},
		{"checkout is:ignored release:1.0", "is:unresolved", "is:unresolved checkout release:1.0"},
		{"is:resolved  checkout", "", "checkout"},
		{"this:is:fine", "is:ignored", "is:ignored this:is:fine"},
		{"is:regressed is:assigned level:error", "is:resolved", "is:resolved is:assigned level:error"},
		{"is:muted", "is:regressed", "is:regressed"},
	} {
		if got := withStatus(c.q, c.term); got != c.want {
			t.Errorf("withStatus(%q, %q) = %q, want %q", c.q, c.term, got, c.want)
		}
	}
}

func TestCurrentStatus(t *testing.T) {
	for q, want := range map[string]string{"": "", "is:assigned x": "", "x is:regressed": "is:regressed", "is:archived": "is:ignored"} {
		if got := currentStatus(q); got != want {
			t.Errorf("currentStatus(%q) = %q, want %q", q, got, want)
		}
	}
}

func TestNextCursor(t *testing.T) {
	for _, c := range []struct{ link, want string }{
		{`<http://x/?cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", <http://x/?cursor=abc>; rel="next"; results="true"; cursor="abc"`, "abc"},
		{`<http://x/?cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", <http://x/?cursor=0:0:0>; rel="next"; results="false"; cursor="0:0:0"`, ""},
		{"", ""},
	} {
		if got := nextCursor(c.link); got != c.want {
			t.Errorf("nextCursor(%q) = %q, want %q", c.link, got, c.want)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{10 * time.Second, "just now"}, {5 * time.Minute, "5 min ago"}, {3 * time.Hour, "3 h ago"},
		{72 * time.Hour, "3 days ago"}, {90 * 24 * time.Hour, "3 months ago"}, {800 * 24 * time.Hour, "2 years ago"},
	} {
		if got := ago(now.Add(-c.d), now); got != c.want {
			t.Errorf("ago(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestSparkline(t *testing.T) {
	s := newSparkline([][2]int64{{0, 0}, {3600, 4}, {7200, 2}}, "24h", 30, 20)
	if s.Total != 6 || len(s.Bars) != 3 || s.Label != "6 events in 24h" {
		t.Fatalf("sparkline = %+v", s)
	}
	// The highest bar fills the box; an empty bucket has no height.
	if s.Bars[1].H != "20.00" || s.Bars[1].Y != "0.00" || s.Bars[0].H != "0.00" || !strings.HasSuffix(s.Bars[1].Title, ": 4") {
		t.Errorf("bars = %+v", s.Bars)
	}
	if e := newSparkline(nil, "14d", 30, 20); len(e.Bars) != 0 || e.Total != 0 {
		t.Errorf("empty sparkline = %+v", e)
	}
}

// TestBulkQuery: "every issue matching the search" sends the list's
// search, environment, time range and project, as terms the store's one
// parser reads back (an environment with quotes stays one term).
func TestBulkQuery(t *testing.T) {
	for _, c := range []struct{ back, query, project string }{
		{"", "is:unresolved lastSeen:-14d", ""},
		{"query=", "lastSeen:-14d", ""},
		{"query=is:ignored+checkout&statsPeriod=24h&project=7", "is:ignored checkout lastSeen:-24h", "7"},
		{`query=x&environment=pr"od\&statsPeriod=30d`, `x environment:"pr\"od\\" lastSeen:-30d`, ""},
		{"query=x&statsPeriod=custom&start=2026-01-02T03:04&end=2026-01-03T00:00", "x lastSeen:>=2026-01-02T03:04 lastSeen:<=2026-01-03T00:00", ""},
		{"query=x&statsPeriod=bogus", "x lastSeen:-14d", ""}, // the list's default
	} {
		back, err := url.ParseQuery(c.back)
		if err != nil {
			t.Fatal(err)
		}
		q := bulkQuery(back)
		if q.Get("query") != c.query || q.Get("project") != c.project {
			t.Errorf("%q: %v, want query %q project %q", c.back, q, c.query, c.project)
			continue
		}
		s, err := store.ParseIssueSearch(q.Get("query"))
		if err != nil {
			t.Errorf("%q: %q does not parse: %v", c.back, q.Get("query"), err)
		}
		if env := back.Get("environment"); env != "" && (len(s.Environments) != 1 || s.Environments[0][0] != env) {
			t.Errorf("%q: environments %v", c.back, s.Environments)
		}
	}
}
