package store

import (
	"context"
	"fmt"
	"testing"
)

// The web UI's pages, as the store sees them: every query that the API
// calls behind one page (internal/web reads through the API in process),
// in the order it makes them. The figure of a page is its queries' time,
// which is most of its server-side time (the rendering of a page is a few
// hundred microseconds). Run by BenchmarkStore (`make bench-store`).

// pageTabs are the issue list's tabs (internal/web/issuelist.go): one
// count each.
var pageTabs = []string{"is:unresolved", "is:ignored", "is:resolved", ""}

// pageIssueList is the issue list page for query q: the page of 25 issues
// with their 24-hour stats, their workflow (assignees, bookmarks) and the
// count of each tab.
func pageIssueList(ctx context.Context, s *Store, q string) error {
	search, err := ParseIssueSearch(q)
	if err != nil {
		return err
	}
	page, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{1}, Status: search.Status, Search: &search, Limit: 25, StatsPeriod: "24h"})
	if err != nil {
		return err
	}
	if len(page.Issues) == 0 {
		return fmt.Errorf("the issue list %q is empty", q)
	}
	gids := make([]uint64, len(page.Issues))
	for i, is := range page.Issues {
		gids[i] = is.GroupID
	}
	if _, err := s.Workflows(ctx, []uint64{1}, gids, 1); err != nil {
		return err
	}
	for _, tab := range pageTabs {
		ts, err := ParseIssueSearch(withStatusTerm(q, tab))
		if err != nil {
			return err
		}
		if _, err := s.CountIssues(ctx, IssueQuery{ProjectIDs: []uint64{1}, Status: ts.Status, Search: &ts}); err != nil {
			return err
		}
	}
	return nil
}

// withStatusTerm is q with its is: term replaced by tab's.
func withStatusTerm(q, tab string) string {
	out := tab
	for _, f := range splitFields(q) {
		if len(f) < 3 || f[:3] != "is:" {
			out += " " + f
		}
	}
	return out
}

func splitFields(q string) []string {
	var out []string
	cur, quoted := "", false
	for _, r := range q {
		switch {
		case r == '"':
			quoted = !quoted
			cur += string(r)
		case r == ' ' && !quoted:
			if cur != "" {
				out = append(out, cur)
			}
			cur = ""
		default:
			cur += string(r)
		}
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// pageIssueDetail is the issue page of gid with its latest event (or
// "oldest"): the issue (aggregates, releases, workflow, activity, comments,
// feedback count), the event with its neighbours and feedback, the tag
// distributions, the grouping info (the event again) and its attachments.
func pageIssueDetail(ctx context.Context, s *Store, gid uint64, which string) error {
	is, err := s.GetIssue(ctx, 1, gid, nil, "24h")
	if err != nil {
		return err
	}
	if is == nil {
		return fmt.Errorf("issue %d not found", gid)
	}
	first, last, err := s.IssueReleases(ctx, 1, gid)
	if err != nil {
		return err
	}
	var versions []string
	for _, ir := range []*IssueRelease{first, last} {
		if ir != nil {
			versions = append(versions, ir.Version)
			if _, err := s.GetRelease(ctx, 1, []uint64{1}, ir.Version); err != nil {
				return err
			}
		}
	}
	if _, err := s.ReleasesCommits(ctx, 1, versions); err != nil {
		return err
	}
	if _, err := s.Workflows(ctx, []uint64{1}, []uint64{gid}, 1); err != nil {
		return err
	}
	if _, err := s.ListActivity(ctx, 1, gid, 100); err != nil {
		return err
	}
	if _, err := s.ListComments(ctx, 1, gid, 0, 100); err != nil {
		return err
	}
	if _, err := s.IssueUserReportCount(ctx, 1, gid); err != nil {
		return err
	}
	var ev *StoredEvent
	if which == "oldest" {
		ev, err = s.OldestEvent(ctx, 1, gid)
	} else {
		ev, err = s.LatestEvent(ctx, 1, gid)
	}
	if err != nil {
		return err
	}
	if ev == nil {
		return fmt.Errorf("issue %d has no %s event", gid, which)
	}
	if _, err := s.ListUserReports(ctx, UserReportQuery{ProjectID: 1, EventIDs: []string{ev.EventID}, Limit: 1}); err != nil {
		return err
	}
	if _, _, err := s.AdjacentEvents(ctx, ev); err != nil {
		return err
	}
	if _, err := s.TagSummary(ctx, 1, gid, 5); err != nil {
		return err
	}
	if _, err := s.GetEvent(ctx, 1, ev.EventID); err != nil { // grouping-info
		return err
	}
	_, err = s.ListAttachments(ctx, 1, ev.EventID)
	return err
}

// pageIssueEvents is the issue page's events tab: 50 events of the issue
// matching a tag search.
func pageIssueEvents(ctx context.Context, s *Store, gid uint64) error {
	if _, err := s.GetIssue(ctx, 1, gid, nil, "24h"); err != nil {
		return err
	}
	evs, err := s.ListEvents(ctx, EventQuery{ProjectID: 1, GroupID: gid, Limit: 51,
		Tags: []TagFilter{{Key: "environment", Value: "production"}}})
	if err == nil && len(evs) == 0 {
		err = fmt.Errorf("issue %d has no production events", gid)
	}
	return err
}

// benchPages runs the pages' benchmarks on d.
func benchPages(b *testing.B, d *benchData) {
	ctx := context.Background()
	s := d.s
	b.Run("page_issue_list", func(b *testing.B) {
		timeIt(b, func(int) error { return pageIssueList(ctx, s, "is:unresolved") })
	})
	b.Run("page_issue_search", func(b *testing.B) {
		timeIt(b, func(int) error { return pageIssueList(ctx, s, `is:unresolved release:backend@3.1.0 "timed out"`) })
	})
	b.Run("page_issue_detail/hot", func(b *testing.B) {
		timeIt(b, func(int) error { return pageIssueDetail(ctx, s, d.hot, "latest") })
	})
	b.Run("page_issue_detail/hot_oldest", func(b *testing.B) {
		timeIt(b, func(int) error { return pageIssueDetail(ctx, s, d.hot, "oldest") })
	})
	b.Run("page_issue_detail/typical", func(b *testing.B) {
		timeIt(b, func(i int) error { return pageIssueDetail(ctx, s, d.typical[i%len(d.typical)], "latest") })
	})
	b.Run("page_issue_events/hot", func(b *testing.B) {
		timeIt(b, func(int) error { return pageIssueEvents(ctx, s, d.hot) })
	})
}
