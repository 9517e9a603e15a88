package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// countingTransport counts the statements run through a store: the test's
// view of how many queries a page makes.
type countingTransport struct {
	transport
	n *atomic.Int64
}

func (c countingTransport) query(ctx context.Context, dest any, q string) error {
	c.n.Add(1)
	return c.transport.query(ctx, dest, q)
}

func (c countingTransport) exec(ctx context.Context, q string) error {
	c.n.Add(1)
	return c.transport.exec(ctx, q)
}

// TestPageQueriesAreBounded: the store queries behind the issue list page
// (page, stats, workflow, tab counts), the search page and the issue page
// (the sequences the API makes for them, as BenchmarkStore's pages run
// them) are as many for a page of 25 issues as for a page of 2, and as
// many (give or take its releases and neighbours) for an issue of 60
// events as for one of 1: no query per row.
func TestPageQueriesAreBounded(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := testNow().Add(-time.Hour)
		var events []Event
		var groups []Group
		for gid := uint64(1); gid <= 30; gid++ {
			n := 1
			if gid == 1 {
				n = 60 // the hot issue
			}
			for i := 0; i < n; i++ {
				e := ev(1, gid, i, now.Add(-time.Duration(i)*time.Minute), "production", fmt.Sprintf("u%d", i%7))
				e.TagKeys = []string{"environment", "browser", "release"}
				e.TagValues = []string{"production", fmt.Sprintf("B%d", i%3), fmt.Sprintf("r%d", gid%2)}
				e.Release = fmt.Sprintf("r%d", gid%2)
				e.Message = fmt.Sprintf("timed out %d", gid%2)
				events = append(events, e)
			}
			groups = append(groups, Group{ProjectID: 1, GroupID: gid, ShortID: gid, Title: fmt.Sprintf("Error %d", gid),
				Type: "error", LastSeen: now, RetentionDays: 90, Version: 1})
		}
		if err := s.UpsertGroups(ctx, groups); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		var n atomic.Int64
		s.t = countingTransport{transport: s.t, n: &n}
		count := func(name string, f func() error) int64 {
			t.Helper()
			n.Store(0)
			if err := f(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return n.Load()
		}
		list25 := count("list of 25", func() error { return pageIssueList(ctx, s, "is:unresolved", false) })
		list2 := count("list of 2", func() error { return pageIssueList(ctx, s, "is:unresolved timesSeen:>0 Error 1", false) })
		search := count("search", func() error { return pageIssueList(ctx, s, `is:unresolved release:r1 "timed out" browser:B0`, false) })
		hot := count("hot issue", func() error { return pageIssueDetail(ctx, s, 1, "latest", false) })
		one := count("issue of one event", func() error { return pageIssueDetail(ctx, s, 7, "latest", false) })
		t.Logf("queries: list %d, short list %d, search %d, hot issue %d, small issue %d", list25, list2, search, hot, one)
		// The list: page keys, aggregates, metadata, status, stats,
		// workflow (assignees and flags), the tab counts in one.
		if list25 != list2 || list25 != search || list25 > 10 {
			t.Errorf("issue list pages: %d queries for 25 issues, %d for 2, %d for a search; want the same, at most 10", list25, list2, search)
		}
		// The issue page's count depends on the issue's releases (two at
		// most) and where its neighbours are (a day's read or two), not
		// on its number of events.
		if hot > one+2 || hot > 30 || one > 30 {
			t.Errorf("issue page: %d queries for 60 events, %d for 1; want about the same, at most 30", hot, one)
		}
		before := count("tabs as before", func() error { return countTabs(ctx, s, "is:unresolved", true) })
		after := count("tabs", func() error { return countTabs(ctx, s, "is:unresolved", false) })
		if before != 4 || after != 1 {
			t.Errorf("tab counts: %d queries before, %d now; want 4 and 1", before, after)
		}
	})
}
