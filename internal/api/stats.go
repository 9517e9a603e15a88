package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/store"
)

// Stats reads the outcomes table.
type Stats interface {
	OutcomeSeries(ctx context.Context, q store.OutcomeSeriesQuery) ([]store.OutcomeBucket, error)
}

// statsV2 serves GET /api/0/organizations/{org}/stats_v2/ in Sentry's
// shape: what became of the data sent to the organization's projects,
// summed per interval and grouped as asked.
//
//	field=sum(quantity)|sum(times_seen) (repeatable)
//	groupBy=outcome|category|reason|project (repeatable)
//	statsPeriod=24h|14d|... or start=&end= (RFC 3339); interval=1h|1d
//	project=ID (repeatable; -1 or none for all), category=, outcome=, reason= (filters)
func (a *API) statsV2(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	st, isStats := a.store.(Stats)
	if !isStats {
		return nil, errorf(http.StatusNotImplemented, "stats are not available")
	}
	q := r.URL.Query()
	fields := q["field"]
	if len(fields) == 0 {
		return nil, errorf(http.StatusBadRequest, "At least one field is required: sum(quantity) or sum(times_seen)")
	}
	for _, f := range fields {
		if f != "sum(quantity)" && f != "sum(times_seen)" {
			return nil, errorf(http.StatusBadRequest, "Invalid field: %q", f)
		}
	}
	groupBy := q["groupBy"]
	for _, g := range groupBy {
		switch g {
		case "outcome", "category", "reason", "project":
		default:
			return nil, errorf(http.StatusBadRequest, "Invalid groupBy: %q", g)
		}
	}
	step := time.Hour
	switch iv := q.Get("interval"); iv {
	case "", "1h", "60m":
	case "1d", "24h":
		step = 24 * time.Hour
	default:
		return nil, errorf(http.StatusBadRequest, "Invalid interval: %q (want 1h or 1d)", iv)
	}
	now := time.Now().UTC()
	end := now.Truncate(step).Add(step)
	start := end.Add(-24 * time.Hour)
	if sp := q.Get("statsPeriod"); sp != "" {
		d, err := parsePeriod(sp)
		if err != nil {
			return nil, err
		}
		start = end.Add(-d)
	} else if q.Get("start") != "" || q.Get("end") != "" {
		s, err1 := time.Parse(time.RFC3339, q.Get("start"))
		e, err2 := time.Parse(time.RFC3339, q.Get("end"))
		if err1 != nil || err2 != nil || !e.After(s) {
			return nil, errorf(http.StatusBadRequest, "start and end must be RFC 3339 times, start before end")
		}
		start, end = s.UTC().Truncate(step), e.UTC().Truncate(step).Add(step)
	}
	if end.Sub(start)/step > 24*90 {
		return nil, errorf(http.StatusBadRequest, "Too many intervals; use a longer interval or a shorter period")
	}
	// Projects: the organization's, narrowed by ?project=.
	var pids []uint64
	want := map[uint64]bool{}
	for _, s := range q["project"] {
		if s == "-1" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "Invalid project: %q", s)
		}
		want[n] = true
	}
	for _, p := range a.meta.Projects(o.ID) {
		if (len(want) == 0 || want[p.ID]) && a.canSeeProject(c, o, p) {
			pids = append(pids, p.ID)
		}
	}
	rows, err := st.OutcomeSeries(ctx, store.OutcomeSeriesQuery{ProjectIDs: pids, Since: start, Until: end, Daily: step > time.Hour})
	if err != nil {
		return nil, err
	}
	var intervals []string
	index := map[int64]int{}
	for t := start; t.Before(end); t = t.Add(step) {
		index[t.Unix()] = len(intervals)
		intervals = append(intervals, t.Format(time.RFC3339))
	}
	type group struct {
		by     map[string]any
		totals map[string]uint64
		series map[string][]uint64
	}
	groups := map[string]*group{}
	var order []string
	for _, row := range rows {
		if !matches(q["category"], row.Category.String()) || !matches(q["outcome"], row.Kind.String()) || !matches(q["reason"], row.Reason) {
			continue
		}
		by := map[string]any{}
		var key strings.Builder
		for _, g := range groupBy {
			var v any
			switch g {
			case "outcome":
				v = row.Kind.String()
			case "category":
				v = row.Category.String()
			case "reason":
				v = row.Reason
			case "project":
				v = row.ProjectID
			}
			by[g] = v
			key.WriteString(g + "=" + strings.ReplaceAll(anyString(v), "|", "") + "|")
		}
		gr := groups[key.String()]
		if gr == nil {
			gr = &group{by: by, totals: map[string]uint64{}, series: map[string][]uint64{}}
			for _, f := range fields {
				gr.series[f] = make([]uint64, len(intervals))
				gr.totals[f] = 0
			}
			groups[key.String()] = gr
			order = append(order, key.String())
		}
		i, ok := index[row.Bucket.Unix()]
		if !ok {
			continue
		}
		for _, f := range fields {
			v := row.Quantity
			if f == "sum(times_seen)" {
				v = row.TimesSeen
			}
			gr.totals[f] += v
			gr.series[f][i] += v
		}
	}
	slices.Sort(order)
	out := make([]map[string]any, 0, len(order))
	for _, k := range order {
		g := groups[k]
		out = append(out, map[string]any{"by": g.by, "totals": g.totals, "series": g.series})
	}
	if intervals == nil {
		intervals = []string{}
	}
	return ok(map[string]any{"start": start.Format(time.RFC3339), "end": end.Format(time.RFC3339),
		"intervals": intervals, "groups": out})
}

func matches(filter []string, v string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, f := range filter {
		for _, part := range strings.Split(f, ",") {
			if strings.TrimSpace(part) == v {
				return true
			}
		}
	}
	return false
}

func anyString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case uint64:
		return strconv.FormatUint(x, 10)
	}
	return ""
}

// maxStatsPeriod is the longest statsPeriod accepted: far beyond any
// retention, far below time.Duration's range.
const maxStatsPeriod = 100 * 365 * 24 * time.Hour

// parsePeriod reads Sentry's statsPeriod: a number and a unit (m, h, d, w).
func parsePeriod(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, errorf(http.StatusBadRequest, "Invalid statsPeriod: %q", s)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 {
		return 0, errorf(http.StatusBadRequest, "Invalid statsPeriod: %q", s)
	}
	unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[len(s)-1]]
	// A period past maxStatsPeriod would overflow (99999999999999d wrapped
	// into a start after the end): refused, as Sentry refuses it.
	if unit == 0 || n > int(maxStatsPeriod/unit) {
		return 0, errorf(http.StatusBadRequest, "Invalid statsPeriod: %q", s)
	}
	return time.Duration(n) * unit, nil
}
