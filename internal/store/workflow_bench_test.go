package store

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

var workflowBenchOnce sync.Map // engine -> struct{}: workflow rows written

// BenchmarkWorkflow measures what the issue workflow adds to the API's
// issue queries on the store benchmark's data (BenchmarkStore's dataset):
// half of the issues assigned (to one of 20 users or 5 teams), a tenth
// bookmarked by the searching user, a comment on every 20th issue. The
// figures are the workflow state of a page of 25 issues (what each issue
// list adds) and the list with assigned: and bookmarks: terms.
//
//	FAULTLINE_BENCH_EVENTS=100000 go test ./internal/store -run XXX -bench Workflow -benchtime 50x
func BenchmarkWorkflow(b *testing.B) {
	for _, engine := range []string{"chdb", "server"} {
		b.Run(engine, func(b *testing.B) {
			d := benchDataset(b, engine)
			s, ctx := d.s, context.Background()
			var ids []uint64
			page, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{1}, Limit: 100})
			if err != nil {
				b.Fatal(err)
			}
			for cursor := ""; ; {
				for _, is := range page.Issues {
					ids = append(ids, is.GroupID)
				}
				if cursor = page.Next; cursor == "" {
					break
				}
				if page, err = s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{1}, Limit: 100, Cursor: cursor}); err != nil {
					b.Fatal(err)
				}
			}
			if _, done := workflowBenchOnce.LoadOrStore(engine, struct{}{}); !done {
				var as []Assignment
				var fs []UserFlag
				start := time.Now()
				for i, id := range ids {
					switch {
					case i%2 == 0:
						as = append(as, Assignment{ProjectID: 1, GroupID: id, Kind: AssigneeUser, TargetID: uint64(1 + i%20)})
					case i%10 == 1:
						as = append(as, Assignment{ProjectID: 1, GroupID: id, Kind: AssigneeTeam, TargetID: uint64(1 + i%5)})
					}
					if i%10 == 0 {
						fs = append(fs, UserFlag{ProjectID: 1, GroupID: id, UserID: 1, Flag: FlagBookmarked, Value: true})
					}
					if i%20 == 0 {
						if err := s.PutComment(ctx, &Comment{ProjectID: 1, GroupID: id, UserID: 1, Text: "a comment"}); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := s.SetAssignees(ctx, as); err != nil {
					b.Fatal(err)
				}
				if err := s.SetUserFlags(ctx, fs); err != nil {
					b.Fatal(err)
				}
				b.Logf("%s: %d issues, %d assigned, %d bookmarked, written in %s", engine, len(ids), len(as), len(fs),
					time.Since(start).Round(time.Millisecond))
			}
			measure := func(b *testing.B, f func(i int) error) {
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					t0 := time.Now()
					if err := f(i); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
			}
			b.Run("workflows_page", func(b *testing.B) {
				measure(b, func(i int) error {
					lo := (i * 25) % max(1, len(ids)-25)
					_, err := s.Workflows(ctx, []uint64{1}, ids[lo:min(len(ids), lo+25)], 1)
					return err
				})
			})
			for name, q := range map[string]string{"plain": "is:unresolved", "assigned": "is:unresolved assigned:me",
				"unassigned": "is:unresolved is:unassigned", "bookmarks": "is:unresolved bookmarks:me"} {
				search, err := ParseIssueSearch(q)
				if err != nil {
					b.Fatal(err)
				}
				if err := search.ResolveUsers(ctx, func(context.Context, string, bool) (AssigneeRef, error) {
					return AssigneeRef{Kind: AssigneeUser, ID: 1}, nil
				}); err != nil {
					b.Fatal(err)
				}
				b.Run("issue_list/"+name, func(b *testing.B) {
					measure(b, func(int) error {
						_, err := s.ListIssues(ctx, IssueQuery{ProjectIDs: []uint64{1}, Status: search.Status, Search: &search,
							Limit: 25, StatsPeriod: "24h"})
						return err
					})
				})
			}
		})
	}
}
