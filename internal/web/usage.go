package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// usageOutcomes are the outcomes the usage page shows, in order.
var usageOutcomes = []string{"accepted", "filtered", "rate_limited", "invalid"}

// usagePage is the data of usage.html.
type usagePage struct {
	Nav      navData
	Outcomes []string
	Days     []usageDay     // newest first
	Projects []usageProject // by accepted events, most first
	Totals   map[string]uint64
	Chart    usageChart
}

func (p *usagePage) navData() *navData { return &p.Nav }

type usageDay struct {
	Date   string
	Counts []uint64 // by usageOutcomes
}

type usageProject struct {
	Slug   string
	Counts []uint64
}

// usageChart is a stacked bar chart of the days, as inline SVG (shaped by
// attributes, coloured by the stylesheet's classes).
type usageChart struct {
	Width, Height int
	Bars          []usageBar
	Label         string
	Max           uint64
}

type usageBar struct {
	X, Y, W, H, Class, Title string
}

// usagePage is /organizations/{org}/stats/: what became of the events sent
// to the organization's projects in the last 30 days, per day and per
// project, from the outcomes (the API's stats_v2).
func (ui *UI) usagePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	nav, err := ui.orgNav(ctx, r, "usage")
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	q := url.Values{"field": {"sum(quantity)"}, "groupBy": {"outcome", "project"}, "interval": {"1d"},
		"statsPeriod": {"30d"}, "category": {"error,default,security"}}
	var stats struct {
		Intervals []string `json:"intervals"`
		Groups    []struct {
			By struct {
				Outcome string `json:"outcome"`
				Project flexID `json:"project"`
			} `json:"by"`
			Totals map[string]uint64   `json:"totals"`
			Series map[string][]uint64 `json:"series"`
		} `json:"groups"`
	}
	org := "/api/0/organizations/" + orgPath(nav.Org.Slug)
	if _, err := ui.callAPI(ctx, r, "GET", org+"/stats_v2/?"+q.Encode(), nil, &stats); err != nil {
		ui.fail(w, r, err)
		return
	}
	var projects []struct {
		ID   flexID `json:"id"`
		Slug string `json:"slug"`
	}
	if _, err := ui.callAPI(ctx, r, "GET", org+"/projects/", nil, &projects); err != nil {
		ui.fail(w, r, err)
		return
	}
	page := &usagePage{Nav: nav, Outcomes: usageOutcomes, Totals: map[string]uint64{}}
	days := make([][]uint64, len(stats.Intervals))
	for i := range days {
		days[i] = make([]uint64, len(usageOutcomes))
	}
	byProject := map[string][]uint64{}
	for _, p := range projects {
		byProject[string(p.ID)] = make([]uint64, len(usageOutcomes))
	}
	for _, g := range stats.Groups {
		k := slices.Index(usageOutcomes, g.By.Outcome)
		if k < 0 {
			continue
		}
		series := g.Series["sum(quantity)"]
		for i := range min(len(series), len(days)) {
			days[i][k] += series[i]
		}
		total := g.Totals["sum(quantity)"]
		page.Totals[g.By.Outcome] += total
		if c := byProject[string(g.By.Project)]; c != nil {
			c[k] += total
		}
	}
	for i := len(stats.Intervals) - 1; i >= 0; i-- {
		d := stats.Intervals[i]
		if t, err := time.Parse(time.RFC3339, d); err == nil {
			d = t.UTC().Format("2006-01-02")
		}
		page.Days = append(page.Days, usageDay{Date: d, Counts: days[i]})
	}
	for _, p := range projects {
		page.Projects = append(page.Projects, usageProject{Slug: p.Slug, Counts: byProject[string(p.ID)]})
	}
	slices.SortStableFunc(page.Projects, func(a, b usageProject) int {
		switch {
		case a.Counts[0] > b.Counts[0]:
			return -1
		case a.Counts[0] < b.Counts[0]:
			return 1
		}
		return 0
	})
	page.Chart = newUsageChart(stats.Intervals, days, 720, 160)
	ui.render(w, r, http.StatusOK, "usage", page)
}

// newUsageChart stacks each day's outcomes into one bar.
func newUsageChart(intervals []string, days [][]uint64, width, height int) usageChart {
	c := usageChart{Width: width, Height: height}
	var total uint64
	for _, d := range days {
		var s uint64
		for _, n := range d {
			s += n
		}
		c.Max = max(c.Max, s)
		total += s
	}
	c.Label = fmt.Sprintf("%d events in %d days, per day and outcome", total, len(days))
	if len(days) == 0 || c.Max == 0 {
		return c
	}
	w := float64(width) / float64(len(days))
	for i, d := range days {
		y := float64(height)
		date := intervals[i]
		if t, err := time.Parse(time.RFC3339, date); err == nil {
			date = t.UTC().Format("2006-01-02")
		}
		for k, n := range d {
			if n == 0 {
				continue
			}
			h := float64(height) * float64(n) / float64(c.Max)
			y -= h
			c.Bars = append(c.Bars, usageBar{X: ftoa(float64(i) * w), Y: ftoa(y), W: ftoa(w * 0.8), H: ftoa(h),
				Class: "o-" + usageOutcomes[k], Title: date + ": " + strconv.FormatUint(n, 10) + " " + usageOutcomes[k]})
		}
	}
	return c
}
