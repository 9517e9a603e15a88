package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/eventgen"
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
//
// before counts the tabs as before the page's performance work: one
// CountIssues per tab, where the API now makes one CountIssuesByStatus.
func pageIssueList(ctx context.Context, s *Store, q string, before bool) error {
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
	return countTabs(ctx, s, q, before)
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
//
// before runs the queries as they were before the issue page's work
// (beforeQueries), for the figures of BENCHMARKS.md on the same data.
func pageIssueDetail(ctx context.Context, s *Store, gid uint64, which string, before bool) error {
	getIssue, latest, oldest, adjacent := s.GetIssue, s.LatestEvent, s.OldestEvent, s.AdjacentEvents
	if before {
		b := beforeQueries{s}
		getIssue, latest, oldest, adjacent = b.GetIssue, b.LatestEvent, b.OldestEvent, b.AdjacentEvents
	}
	is, err := getIssue(ctx, 1, gid, nil, "24h")
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
		ev, err = oldest(ctx, 1, gid)
	} else {
		ev, err = latest(ctx, 1, gid)
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
	if _, _, err := adjacent(ctx, ev); err != nil {
		return err
	}
	tagSummary := s.TagSummary
	if before {
		tagSummary = beforeQueries{s}.TagSummary
	}
	if _, err := tagSummary(ctx, 1, gid, 5); err != nil {
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

// pageSearch is the issue search page's query: three filters.
const pageSearch = `is:unresolved release:backend@3.1.0 "timed out"`

// benchPages runs the pages' benchmarks on d.
func benchPages(b *testing.B, d *benchData) {
	ctx := context.Background()
	s := d.s
	for _, before := range []bool{true, false} {
		suffix := ""
		if before {
			suffix = "_before"
		}
		b.Run("page_issue_list"+suffix, func(b *testing.B) {
			timeIt(b, func(int) error { return pageIssueList(ctx, s, "is:unresolved", before) })
		})
		b.Run("page_issue_search"+suffix, func(b *testing.B) {
			timeIt(b, func(int) error { return pageIssueList(ctx, s, pageSearch, before) })
		})
	}
	for _, before := range []bool{true, false} {
		suffix := ""
		if before {
			suffix = "_before"
		}
		b.Run("page_issue_detail/hot"+suffix, func(b *testing.B) {
			timeIt(b, func(int) error { return pageIssueDetail(ctx, s, d.hot, "latest", before) })
		})
		b.Run("page_issue_detail/hot_oldest"+suffix, func(b *testing.B) {
			if before {
				// Seconds each: a few samples are enough.
				timeItMax(b, 3, func(int) error { return pageIssueDetail(ctx, s, d.hot, "oldest", before) })
				return
			}
			timeIt(b, func(int) error { return pageIssueDetail(ctx, s, d.hot, "oldest", before) })
		})
		b.Run("page_issue_detail/typical"+suffix, func(b *testing.B) {
			timeIt(b, func(i int) error { return pageIssueDetail(ctx, s, d.typical[i%len(d.typical)], "latest", before) })
		})
	}
	// The queries of the issue page one by one, the hottest issue.
	for name, f := range map[string]func() error{
		"get_issue":          func() error { _, err := s.GetIssue(ctx, 1, d.hot, nil, "24h"); return err },
		"get_issue_before":   func() error { _, err := beforeQueries{s}.GetIssue(ctx, 1, d.hot, nil, "24h"); return err },
		"oldest_event":       func() error { _, err := s.OldestEvent(ctx, 1, d.hot); return err },
		"tag_summary":        func() error { _, err := s.TagSummary(ctx, 1, d.hot, 5); return err },
		"tag_summary_before": func() error { _, err := beforeQueries{s}.TagSummary(ctx, 1, d.hot, 5); return err },
		"count_tabs":         func() error { return countTabs(ctx, s, pageSearch, false) },
		"count_tabs_before":  func() error { return countTabs(ctx, s, pageSearch, true) },
		"adjacent_events": func() error {
			ev, err := s.LatestEvent(ctx, 1, d.hot)
			if err == nil {
				_, _, err = s.AdjacentEvents(ctx, ev)
			}
			return err
		},
	} {
		b.Run("query/"+name, func(b *testing.B) { timeIt(b, func(int) error { return f() }) })
	}
	b.Run("page_issue_events/hot", func(b *testing.B) {
		timeIt(b, func(int) error { return pageIssueEvents(ctx, s, d.hot) })
	})
	// The same pages while events arrive: 1,000 events every second,
	// inserted as the worker does (chDB runs one query at a time, so
	// reads wait for inserts and inserts for reads).
	b.Run("ingest", func(b *testing.B) {
		stop := ingestLoad(ctx, b, s, 1000, time.Second)
		defer stop()
		b.Run("page_issue_list", func(b *testing.B) {
			timeIt(b, func(int) error { return pageIssueList(ctx, s, "is:unresolved", false) })
		})
		b.Run("page_issue_search", func(b *testing.B) {
			timeIt(b, func(int) error { return pageIssueList(ctx, s, pageSearch, false) })
		})
		b.Run("page_issue_detail/hot", func(b *testing.B) {
			timeIt(b, func(int) error { return pageIssueDetail(ctx, s, d.hot, "latest", false) })
		})
		b.Run("page_issue_detail/typical", func(b *testing.B) {
			timeIt(b, func(i int) error { return pageIssueDetail(ctx, s, d.typical[i%len(d.typical)], "latest", false) })
		})
	})
}

// ingestLoad inserts batches of n generated events every period until
// stopped, and reports how many it inserted.
func ingestLoad(ctx context.Context, b *testing.B, s *Store, n int, period time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	inserted := 0
	go func() {
		defer close(done)
		g := eventgen.New(eventgen.Config{Seed: 7, Issues: benchEnv("FAULTLINE_BENCH_ISSUES", 10_000)})
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			events, groups := genBatch(g, n, nil)
			if err := s.UpsertGroups(ctx, groups); err == nil {
				if err := s.InsertEvents(ctx, events); err == nil {
					inserted += len(events)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	return func() {
		cancel()
		<-done
		b.Logf("ingest: %d events inserted in %s beside the pages", inserted, time.Since(start).Round(time.Second))
	}
}

// beforeQueries are the issue page's queries as they were before its
// performance work: GetIssue as a one-row ListIssues (its status filter
// reads every issue's status), the latest and oldest events and the
// neighbours read through all of the issue's days, the oldest one paged
// through 1,000 full events at a time.
type beforeQueries struct{ s *Store }

func (b beforeQueries) GetIssue(ctx context.Context, projectID, groupID uint64, environments []string, statsPeriod string) (*Issue, error) {
	page, err := b.s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{projectID}, GroupIDs: []uint64{groupID},
		Environments: environments, Limit: 1, StatsPeriod: statsPeriod})
	if err != nil || len(page.Issues) == 0 {
		return nil, err
	}
	return &page.Issues[0], nil
}

func (b beforeQueries) LatestEvent(ctx context.Context, projectID, groupID uint64) (*StoredEvent, error) {
	rows, err := b.s.ListEvents(ctx, EventQuery{ProjectID: projectID, GroupID: groupID, Limit: 1})
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

func (b beforeQueries) OldestEvent(ctx context.Context, projectID, groupID uint64) (*StoredEvent, error) {
	var last *StoredEvent
	var before *EventCursor
	for {
		evs, err := b.s.ListEvents(ctx, EventQuery{ProjectID: projectID, GroupID: groupID, Limit: 1000, Before: before})
		if err != nil || len(evs) == 0 {
			return last, err
		}
		last = &evs[len(evs)-1]
		before = &EventCursor{Time: last.Time(), EventID: last.EventID}
	}
}

func (b beforeQueries) AdjacentEvents(ctx context.Context, ev *StoredEvent) (prev, next string, err error) {
	sec, ms := ts(ev.Timestamp.UTC().Truncate(time.Second)), uint64(ev.TimestampMS)
	base := "SELECT event_id FROM " + b.s.table("events") + " WHERE project_id = " + num(ev.ProjectID) +
		" AND group_id = " + num(ev.GroupID) + " AND deleted = 0 AND " + live("timestamp", time.Now())
	for _, d := range []struct {
		op, order string
		out       *string
	}{{"<", "DESC", &prev}, {">", "ASC", &next}} {
		var rows []struct {
			EventID string `ch:"event_id"`
		}
		q := base + fmt.Sprintf(" AND (timestamp %[1]s %[2]s OR (timestamp = %[2]s AND (timestamp_ms %[1]s %[3]d OR (timestamp_ms = %[3]d AND event_id %[1]s %[4]s))))",
			d.op, sec, ms, str(ev.EventID)) +
			" ORDER BY timestamp " + d.order + ", timestamp_ms " + d.order + ", event_id " + d.order + " LIMIT 1"
		if err := b.s.t.query(ctx, &rows, q); err != nil {
			return "", "", err
		}
		if len(rows) > 0 {
			*d.out = rows[0].EventID
		}
	}
	return prev, next, nil
}

// timeItMax is timeIt with at most n samples, for the slow "before" runs.
func timeItMax(b *testing.B, n int, f func(i int) error) {
	b.Helper()
	lat := make([]time.Duration, 0, n)
	for i := 0; i < min(b.N, n); i++ {
		t0 := time.Now()
		if err := f(i); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	p50, p95 := lat[len(lat)/2], lat[len(lat)*95/100]
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
	recordResult(b, &benchResult{p50: p50, p95: p95})
}

// TagSummary is TagSummary as it was before group_tag_values: two
// ARRAY JOINs of the tags of every event of the issue.
func (b beforeQueries) TagSummary(ctx context.Context, projectID, groupID uint64, top int) ([]TagKeySummary, error) {
	where := " WHERE project_id = " + num(projectID) + " AND group_id = " + num(groupID) + " AND deleted = 0 AND " +
		live("timestamp", time.Now())
	var keys []struct {
		Key   string `ch:"tag_key"`
		Count uint64 `ch:"count"`
	}
	if err := b.s.t.query(ctx, &keys, "SELECT tag_key, count() AS count FROM "+b.s.table("events")+
		" ARRAY JOIN `tags.key` AS tag_key"+where+" GROUP BY tag_key ORDER BY count DESC, tag_key LIMIT "+
		fmt.Sprint(MaxSummaryKeys)); err != nil || len(keys) == 0 {
		return nil, err
	}
	var values []struct {
		Key       string    `ch:"tag_key"`
		Value     string    `ch:"value"`
		Count     uint64    `ch:"count"`
		FirstSeen time.Time `ch:"first_seen"`
		LastSeen  time.Time `ch:"last_seen"`
	}
	err := b.s.t.query(ctx, &values, "SELECT tag_key, tag_value AS value, count() AS count, min(timestamp) AS first_seen, "+
		"max(timestamp) AS last_seen FROM "+b.s.table("events")+" ARRAY JOIN `tags.key` AS tag_key, `tags.value` AS tag_value"+
		where+" GROUP BY tag_key, tag_value ORDER BY tag_key, count DESC, tag_value LIMIT "+fmt.Sprint(top)+" BY tag_key")
	return nil, err
}

// countTabs is the issue list's tab counts for q: one query, or before,
// one per tab.
func countTabs(ctx context.Context, s *Store, q string, before bool) error {
	if !before {
		ts, err := ParseIssueSearch(withStatusTerm(q, ""))
		if err != nil {
			return err
		}
		_, err = s.CountIssuesByStatus(ctx, IssueQuery{ProjectIDs: []uint64{1}, Search: &ts})
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
