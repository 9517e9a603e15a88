package web

import (
	"fmt"
	"strconv"
	"time"
)

// sparkline is an inline SVG bar chart of counts per bucket, built on the
// server (the CSP allows no script to draw it, and no inline style: the
// bars are shaped by attributes, coloured by the stylesheet).
type sparkline struct {
	Width, Height int
	Bars          []sparkBar
	Total         uint64
	Label         string // for screen readers: "12 events in 24 h"
}

type sparkBar struct {
	X, Y, W, H string
	Title      string // the bucket's time and count, on hover
}

// newSparkline draws points ([[unix, count], ...], oldest first) as bars
// in a width×height box.
func newSparkline(points [][2]int64, period string, width, height int) sparkline {
	s := sparkline{Width: width, Height: height}
	var max int64
	for _, p := range points {
		max = maxInt(max, p[1])
		if p[1] > 0 {
			s.Total += uint64(p[1])
		}
	}
	s.Label = fmt.Sprintf("%d events in %s", s.Total, period)
	if len(points) == 0 {
		return s
	}
	w := float64(width) / float64(len(points))
	for i, p := range points {
		h := 0.0
		if max > 0 && p[1] > 0 {
			h = float64(height-1)*float64(p[1])/float64(max) + 1
		}
		format := "2006-01-02 15:04 UTC"
		if period != "24h" {
			format = "2006-01-02"
		}
		s.Bars = append(s.Bars, sparkBar{
			X: ftoa(float64(i) * w), Y: ftoa(float64(height) - h), W: ftoa(w * 0.8), H: ftoa(h),
			Title: time.Unix(p[0], 0).UTC().Format(format) + ": " + strconv.FormatInt(p[1], 10),
		})
	}
	return s
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// ago renders how long before now t was: "just now", "5 min ago",
// "3 h ago", "2 days ago".
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	case d < 60*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	case d < 730*24*time.Hour:
		return fmt.Sprintf("%d months ago", int(d/(30*24*time.Hour)))
	}
	return fmt.Sprintf("%d years ago", int(d/(365*24*time.Hour)))
}
