package store

import (
	"context"
	"fmt"
	"time"
)

// TagKeySummary is one tag key of an issue's events: on how many events it
// is set, and its most frequent values.
type TagKeySummary struct {
	Key    string
	Total  uint64
	Values []TagValue
}

// Bounds of TagSummary.
const (
	MaxSummaryKeys = 100
	MaxSummaryTop  = 20
)

// TagSummary returns the tag keys of an issue's events, the most set
// first (at most MaxSummaryKeys), each with its top most frequent values:
// Sentry's issue tags summary, for the issue page's distributions. Two
// queries, whatever the number of keys, of the rows of
// group_tag_values (per tag value and day), not of its events.
func (s *Store) TagSummary(ctx context.Context, projectID, groupID uint64, top int) ([]TagKeySummary, error) {
	if top <= 0 || top > MaxSummaryTop {
		top = 5
	}
	where := " WHERE project_id = " + num(projectID) + " AND group_id = " + num(groupID) + " AND " + liveDay(time.Now())
	var keys []struct {
		Key   string `ch:"tag_key"`
		Count uint64 `ch:"count"`
	}
	if err := s.t.query(ctx, &keys, "SELECT key AS tag_key, countMerge(times_seen) AS count FROM "+s.table("group_tag_values")+
		where+" GROUP BY tag_key ORDER BY count DESC, tag_key LIMIT "+fmt.Sprint(MaxSummaryKeys)); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return []TagKeySummary{}, nil
	}
	var values []struct {
		Key       string    `ch:"tag_key"`
		Value     string    `ch:"value"`
		Count     uint64    `ch:"count"`
		FirstSeen time.Time `ch:"first_seen"`
		LastSeen  time.Time `ch:"last_seen"`
	}
	if err := s.t.query(ctx, &values, "SELECT key AS tag_key, value, countMerge(times_seen) AS count, "+
		"minMerge(first_seen) AS first_seen, maxMerge(last_seen) AS last_seen FROM "+s.table("group_tag_values")+
		where+" GROUP BY tag_key, value ORDER BY tag_key, count DESC, value LIMIT "+fmt.Sprint(top)+" BY tag_key"); err != nil {
		return nil, err
	}
	out := make([]TagKeySummary, len(keys))
	at := make(map[string]int, len(keys))
	for i, k := range keys {
		out[i] = TagKeySummary{Key: k.Key, Total: k.Count, Values: []TagValue{}}
		at[k.Key] = i
	}
	for _, v := range values {
		if i, ok := at[v.Key]; ok {
			out[i].Values = append(out[i].Values, TagValue{Value: v.Value, Count: v.Count, FirstSeen: v.FirstSeen, LastSeen: v.LastSeen})
		}
	}
	return out, nil
}
