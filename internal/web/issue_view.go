package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/store"
)

// The API's JSON as the issue page reads it (what it does not show is
// left out), and the page's view of it. Everything here is event data,
// attacker-controlled: it reaches the page as text, through html/template's
// escaping; only chroma's highlighted lines are HTML (highlight.go).

type issueJSON struct {
	ID            string                    `json:"id"`
	ShortID       string                    `json:"shortId"`
	Title         string                    `json:"title"`
	Culprit       string                    `json:"culprit"`
	Level         string                    `json:"level"`
	Status        string                    `json:"status"`
	StatusDetails map[string]any            `json:"statusDetails"`
	Substatus     string                    `json:"substatus"`
	Platform      string                    `json:"platform"`
	Project       struct{ Slug string }     `json:"project"`
	Count         string                    `json:"count"`
	UserCount     uint64                    `json:"userCount"`
	FirstSeen     string                    `json:"firstSeen"`
	LastSeen      string                    `json:"lastSeen"`
	Stats         map[string][][2]int64     `json:"stats"`
	FirstRelease  *struct{ Version string } `json:"firstRelease"`
	LastRelease   *struct{ Version string } `json:"lastRelease"`
	Activity      []apiActivity             `json:"activity"`
	IsBookmarked  bool                      `json:"isBookmarked"`
	IsSubscribed  bool                      `json:"isSubscribed"`
	AssignedTo    *struct {
		Type  string `json:"type"`
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"assignedTo"`
}

type apiActivity struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Data        json.RawMessage `json:"data"`
	DateCreated string          `json:"dateCreated"`
	User        *struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"user"`
}

type apiEvent struct {
	EventID     string                          `json:"eventID"`
	DateCreated string                          `json:"dateCreated"`
	Title       string                          `json:"title"`
	Message     string                          `json:"message"`
	Platform    string                          `json:"platform"`
	Tags        []struct{ Key, Value string }   `json:"tags"`
	User        map[string]json.RawMessage      `json:"user"`
	Environment string                          `json:"environment"`
	Release     *struct{ Version string }       `json:"release"`
	SDK         *struct{ Name, Version string } `json:"sdk"`
	Contexts    map[string]json.RawMessage      `json:"contexts"`
	Extra       map[string]json.RawMessage      `json:"context"`
	Entries     []struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	} `json:"entries"`
	PreviousEventID string                                  `json:"previousEventID"`
	NextEventID     string                                  `json:"nextEventID"`
	UserReport      *struct{ Name, Email, Comments string } `json:"userReport"`
}

type apiException struct {
	Type      string `json:"type"`
	Value     string `json:"value"`
	Module    string `json:"module"`
	Mechanism *struct {
		Type    string `json:"type"`
		Handled *bool  `json:"handled"`
	} `json:"mechanism"`
	Stacktrace *apiStacktrace `json:"stacktrace"`
	// RawStacktrace is the frames as sent, when source maps changed them.
	RawStacktrace *apiStacktrace `json:"rawStacktrace"`
}

type apiStacktrace struct {
	Frames []apiFrame `json:"frames"`
}

type apiFrame struct {
	Filename string                     `json:"filename"`
	AbsPath  string                     `json:"absPath"`
	Module   string                     `json:"module"`
	Function string                     `json:"function"`
	Platform string                     `json:"platform"`
	Context  [][2]json.RawMessage       `json:"context"`
	LineNo   *int64                     `json:"lineNo"`
	ColNo    *int64                     `json:"colNo"`
	InApp    bool                       `json:"inApp"`
	Vars     map[string]json.RawMessage `json:"vars"`
}

type apiBreadcrumb struct {
	Type      string          `json:"type"`
	Category  string          `json:"category"`
	Level     string          `json:"level"`
	Message   string          `json:"message"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

type apiRequest struct {
	URL     string          `json:"url"`
	Method  string          `json:"method"`
	Query   [][2]string     `json:"query"`
	Data    json.RawMessage `json:"data"`
	Headers [][2]string     `json:"headers"`
	Cookies [][2]string     `json:"cookies"`
	Env     json.RawMessage `json:"env"`
}

type apiTagValue struct {
	Value string `json:"value"`
	Count uint64 `json:"count"`
}

type apiTagKey struct {
	Key         string        `json:"key"`
	TotalValues uint64        `json:"totalValues"`
	TopValues   []apiTagValue `json:"topValues"`
}

type apiGroupingVariant struct {
	Key         string          `json:"key"`
	Description string          `json:"description"`
	Hash        string          `json:"hash"`
	Hint        string          `json:"hint"`
	Contributes bool            `json:"contributes"`
	Component   json.RawMessage `json:"component"`
	Values      []string        `json:"values"`
	Config      *struct {
		ID string `json:"id"`
	} `json:"config"`
}

type apiAttachment struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	Type string `json:"type"`
}

// The page.

type issuePage struct {
	Nav                     navData
	Org, CSRF, Action, Path string
	Tabs                    []linkView // Details, Events: Href empty for the current one
	Issue                   *issueJSON
	LevelClass              string
	StatusText              string
	Unresolved              bool
	FirstSeen, LastSeen     timeView
	FirstRelease            string
	LastRelease             string
	// FirstReleaseHref and LastReleaseHref are the releases' pages (their
	// commits and deploys).
	FirstReleaseHref, LastReleaseHref string
	Chart                             chartView
	ChartPeriods                      []linkView // 24h, 30d: Href empty for the current one
	HasEvent                          bool
	Event                             eventView
	Activity                          []activityView
	// The workflow: who is assigned, the picker's choices (empty when
	// the visitor may not list the members), the visitor's flags.
	Assignee   string
	Assignable []memberOption
	Bookmarked bool
	Subscribed bool
	// Moves are the unfinished merges and unmerges of events into or out
	// of the issue (background jobs), with their status.
	Moves []moveView
}

// moveView is a merge or an unmerge job still moving events.
type moveView struct {
	Kind, Status, Error string
	// Other is the other issue's page (an unmerge's new issue, or the
	// issue it leaves), Outgoing whether the events leave this issue.
	Other    string
	Outgoing bool
}

func (p *issuePage) navData() *navData { return &p.Nav }

// issueOptions are the page's query parameters.
type issueOptions struct {
	View                      string // app, full, raw or minified
	Chart                     string // 24h or 30d
	CrumbCategory, CrumbLevel string // "" for all
}

type timeView struct{ Exact, Ago string }

type chartView struct {
	Width, Height int
	Bars          []chartBar
	Total         int64
	Title, Unit   string // "last 24 hours", "hour"
}

type chartBar struct {
	X, Y, W, H int
	Label      string
	Current    bool
}

type linkView struct{ Text, Href string }

type eventView struct {
	ID, Title, Message, Platform string
	Date                         timeView
	View                         string // app, full or raw
	Views                        []linkView
	NewestFirst                  bool
	Exceptions                   []exceptionView
	Raw                          string
	Breadcrumbs                  []crumbView
	CrumbTotal                   int // before the filters
	CrumbCategories, CrumbLevels []optionView
	CrumbFiltered                bool
	Threads                      []threadView
	Request                      *requestView
	User                         []kv
	Contexts                     []section
	SDK, Release, Environment    string
	Extra                        []kv
	Attachments                  []linkView
	Feedback                     *struct{ Name, Email, Comments string }
	Tags                         []tagView
	Distributions                []tagView
	Grouping                     []groupingView
	Nav                          []linkView // first, older, newer, latest: Href empty when there is none
	JSON                         string
}

type kv struct{ Key, Value string }

type section struct {
	Name string
	Rows []kv
}

type exceptionView struct {
	Type, Value, Module, Mechanism string
	Handled                        string // "yes", "no" or ""
	Frames                         []frameView
	HiddenFrames                   int
}

type frameView struct {
	Function, File, Location, Module string
	InApp, Open                      bool
	Lines                            []lineView
	Vars                             []kv
}

type lineView struct {
	No    int64
	Text  string
	HTML  template.HTML
	Crash bool
}

type optionView struct {
	Value    string
	Selected bool
}

// threadView is a thread of the event, the crashed one first.
type threadView struct {
	Name, ID         string
	Crashed, Current bool
	Stack            exceptionView
}

type crumbView struct {
	Time, Relative, Type, Category, Level, Message, Data string
	Last                                                 bool
}

type requestView struct {
	Method, URL, Href, Body string
	Query, Headers, Cookies []kv
}

type tagView struct {
	Key, Value, Href string
	Values           []tagValueView
}

type tagValueView struct {
	Value, Href string
	Count       uint64
	Pct         int
}

type groupingView struct {
	Key, Description, Hash, Hint string
	Config                       string
	Contributes                  bool
	Tree                         *componentView
	Values                       []string
}

type componentView struct {
	Name, Hint  string
	Contributes bool
	Values      []string
	Children    []*componentView
}

type activityView struct {
	Type, Who, Data string
	When            timeView
	// Note is a comment's text, in pieces: text, and http(s) links.
	Note []notePart
	// A comment's id, author and text as written; Own when the visitor
	// wrote it (then the page offers to edit and delete it).
	CommentID, UserID, Text string
	Own                     bool
}

// notePart is a piece of a comment: text, or a link when Href is set.
// Comments are markdown, shown as escaped text with safe links only.
type notePart struct{ Text, Href string }

var noteLinkRe = regexp.MustCompile(`https?://[^\s<>"'()\[\]]+`)

// noteParts splits a comment into text and links (http and https only).
func noteParts(text string) []notePart {
	var out []notePart
	last := 0
	for _, m := range noteLinkRe.FindAllStringIndex(text, 50) {
		if m[0] > last {
			out = append(out, notePart{Text: text[last:m[0]]})
		}
		raw := text[m[0]:m[1]]
		if u, err := url.Parse(raw); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			out = append(out, notePart{Text: raw, Href: u.String()})
		} else {
			out = append(out, notePart{Text: raw})
		}
		last = m[1]
	}
	if last < len(text) {
		out = append(out, notePart{Text: text[last:]})
	}
	return out
}

// memberOption is one choice of the assignee picker.
type memberOption struct {
	Value, Label string
	Selected     bool
}

// maxVarLen and maxDataLen bound what a value shows.
const (
	maxVarLen  = 2000
	maxDataLen = 4000
)

func buildIssuePage(org string, is *issueJSON, ev *apiEvent, tags []apiTagKey,
	grouping map[string]apiGroupingVariant, attachments []apiAttachment, opts issueOptions, csrf string) *issuePage {
	now := time.Now()
	issuePath := "/organizations/" + url.PathEscape(org) + "/issues/" + url.PathEscape(is.ID) + "/"
	p := &issuePage{Org: org, CSRF: csrf, Issue: is, Action: issuePath, Path: issuePath,
		LevelClass: "level-" + cssWord(is.Level), Unresolved: is.Status == "unresolved",
		FirstSeen: timeAt(is.FirstSeen, now), LastSeen: timeAt(is.LastSeen, now), HasEvent: ev.EventID != ""}
	p.StatusText = statusText(is)
	p.Bookmarked, p.Subscribed = is.IsBookmarked, is.IsSubscribed
	if a := is.AssignedTo; a != nil {
		p.Assignee = orStr(a.Name, a.Email)
		if a.Type == "team" {
			p.Assignee = "#" + a.Name
		}
	}
	if is.FirstRelease != nil {
		p.FirstRelease, p.FirstReleaseHref = is.FirstRelease.Version, releaseHref(org, is.FirstRelease.Version)
	}
	if is.LastRelease != nil {
		p.LastRelease, p.LastReleaseHref = is.LastRelease.Version, releaseHref(org, is.LastRelease.Version)
	}
	p.Tabs = []linkView{{Text: "Details"}, {Text: "Events", Href: issuePath + "events/"}}
	evTime, _ := time.Parse(time.RFC3339Nano, ev.DateCreated)
	period := opts.Chart
	if period != "30d" || is.Stats["30d"] == nil {
		period = "24h"
	}
	p.Chart = buildChart(is.Stats[period], evTime)
	p.Chart.Title, p.Chart.Unit = "last 24 hours", "hour"
	if period == "30d" {
		p.Chart.Title, p.Chart.Unit = "last 30 days", "day"
	}
	here := issuePath
	if ev.EventID != "" {
		here += "events/" + url.PathEscape(ev.EventID) + "/"
	}
	for _, c := range []struct{ period, text string }{{"24h", "24 hours"}, {"30d", "30 days"}} {
		l := linkView{Text: c.text}
		if c.period != period {
			l.Href = here + "?chart=" + c.period + "#chart"
		}
		p.ChartPeriods = append(p.ChartPeriods, l)
	}
	for _, a := range is.Activity {
		av := activityView{Type: strings.ReplaceAll(a.Type, "_", " "), When: timeAt(a.DateCreated, now), Who: "Faultline"}
		if a.User != nil {
			av.Who = orStr(a.User.Name, a.User.Email)
		}
		if a.Type == "note" {
			var d struct {
				Text string `json:"text"`
			}
			json.Unmarshal(a.Data, &d) //nolint:errcheck // shown empty if not
			av.Type, av.Note = "commented", noteParts(d.Text)
			av.CommentID, av.Text = a.ID, d.Text
			if a.User != nil {
				av.UserID = a.User.ID
			}
		} else if d := compactJSON(a.Data, maxDataLen); d != "{}" && d != "null" {
			av.Data = d
		}
		p.Activity = append(p.Activity, av)
	}
	if p.HasEvent {
		p.Event = buildEvent(org, issuePath, is, ev, tags, grouping, attachments, opts, now, evTime)
	}
	return p
}

func buildEvent(org, issuePath string, is *issueJSON, ev *apiEvent, tags []apiTagKey,
	grouping map[string]apiGroupingVariant, attachments []apiAttachment, opts issueOptions, now, evTime time.Time) eventView {
	view := opts.View
	if view != "full" && view != "raw" && view != "minified" {
		view = "app"
	}
	platform := orStr(ev.Platform, is.Platform)
	e := eventView{ID: ev.EventID, Title: ev.Title, Message: ev.Message, Platform: platform, Date: timeAt(ev.DateCreated, now),
		View: view, NewestFirst: platform != "python", Environment: ev.Environment}
	eventPath := issuePath + "events/" + url.PathEscape(ev.EventID) + "/"
	views := []struct{ name, text string }{{"app", "App frames"}, {"full", "Full"}, {"raw", "Raw"}}
	if hasRawStacktrace(ev) {
		// Source maps changed the frames: the minified ones, as sent.
		views = append(views, struct{ name, text string }{"minified", "Minified"})
	} else if view == "minified" {
		view = "full"
		e.View = view
	}
	for _, v := range views {
		l := linkView{Text: v.text}
		if v.name != view {
			l.Href = eventPath + "?view=" + v.name + "#exception"
		}
		e.Views = append(e.Views, l)
	}
	nav := func(text, id string) linkView {
		l := linkView{Text: text}
		if id != "" {
			l.Href = issuePath + "events/" + url.PathEscape(id) + "/"
		}
		return l
	}
	e.Nav = []linkView{nav("Oldest", "oldest"), nav("Older", ev.PreviousEventID), nav("Newer", ev.NextEventID), {Text: "Latest", Href: issuePath}}
	if ev.NextEventID == "" {
		e.Nav[3].Href = ""
	}
	if ev.PreviousEventID == "" {
		e.Nav[0].Href = ""
	}
	e.JSON = "/api/0/projects/" + url.PathEscape(org) + "/" + url.PathEscape(is.Project.Slug) + "/events/" + url.PathEscape(ev.EventID) + "/"
	if ev.Release != nil {
		e.Release = ev.Release.Version
	}
	if ev.SDK != nil {
		e.SDK = strings.TrimSpace(ev.SDK.Name + " " + ev.SDK.Version)
	}
	e.Feedback = ev.UserReport
	var raw strings.Builder
	budget := maxHighlightFrames
	for _, en := range ev.Entries {
		switch en.Type {
		case "exception":
			var d struct{ Values []apiException }
			if json.Unmarshal(en.Data, &d) != nil {
				continue
			}
			values := d.Values
			if e.NewestFirst {
				values = slices.Clone(values)
				slices.Reverse(values)
			}
			for _, x := range values {
				shown, sent := x, x
				if x.RawStacktrace != nil {
					sent.Stacktrace = x.RawStacktrace
					if view == "minified" {
						shown = sent
					}
				}
				v := view
				if v == "minified" {
					v = "full"
				}
				e.Exceptions = append(e.Exceptions, buildException(shown, platform, v, e.NewestFirst, &budget))
				writeRawException(&raw, sent)
			}
		case "stacktrace":
			var st apiStacktrace
			if json.Unmarshal(en.Data, &st) == nil {
				x := apiException{Stacktrace: &st}
				e.Exceptions = append(e.Exceptions, buildException(x, platform, view, e.NewestFirst, &budget))
				writeRawException(&raw, x)
			}
		case "message":
			var m struct{ Formatted string }
			if json.Unmarshal(en.Data, &m) == nil && m.Formatted != "" {
				e.Message = m.Formatted
			}
		case "breadcrumbs":
			var d struct{ Values []apiBreadcrumb }
			if json.Unmarshal(en.Data, &d) == nil {
				all := buildCrumbs(d.Values, evTime)
				e.CrumbTotal = len(all)
				e.CrumbCategories, e.CrumbLevels = crumbOptions(all, opts)
				e.Breadcrumbs = filterCrumbs(all, opts)
				e.CrumbFiltered = len(e.Breadcrumbs) != len(all)
			}
		case "threads":
			var d struct {
				Values []struct {
					ID               json.RawMessage `json:"id"`
					Name             string          `json:"name"`
					Crashed, Current bool
					Stacktrace       *apiStacktrace `json:"stacktrace"`
				}
			}
			if json.Unmarshal(en.Data, &d) != nil {
				continue
			}
			for _, t := range d.Values {
				tv := threadView{Name: t.Name, ID: valueText(t.ID, 64), Crashed: t.Crashed, Current: t.Current}
				if tv.ID == "null" {
					tv.ID = ""
				}
				if t.Stacktrace != nil && len(t.Stacktrace.Frames) > 0 {
					tv.Stack = buildException(apiException{Stacktrace: t.Stacktrace}, platform, view, e.NewestFirst, &budget)
				}
				e.Threads = append(e.Threads, tv)
			}
			// The crashed thread first (Sentry shows it), then the current
			// one, then the others in the SDK's order.
			slices.SortStableFunc(e.Threads, func(a, b threadView) int {
				rank := func(t threadView) int {
					switch {
					case t.Crashed:
						return 0
					case t.Current:
						return 1
					}
					return 2
				}
				return rank(a) - rank(b)
			})
		case "request":
			var rq apiRequest
			if json.Unmarshal(en.Data, &rq) == nil {
				e.Request = &requestView{Method: rq.Method, URL: rq.URL, Href: safeHref(rq.URL), Query: pairs(rq.Query),
					Headers: pairs(rq.Headers), Cookies: pairs(rq.Cookies), Body: bodyText(rq.Data)}
			}
		}
	}
	e.Raw = raw.String()
	e.User = objectRows(ev.User)
	for _, k := range sortedKeys(ev.Contexts) {
		var m map[string]json.RawMessage
		if json.Unmarshal(ev.Contexts[k], &m) == nil {
			e.Contexts = append(e.Contexts, section{Name: k, Rows: objectRows(m)})
		} else {
			e.Contexts = append(e.Contexts, section{Name: k, Rows: []kv{{"value", compactJSON(ev.Contexts[k], maxDataLen)}}})
		}
	}
	e.Extra = objectRows(ev.Extra)
	for _, a := range attachments {
		e.Attachments = append(e.Attachments, linkView{Text: fmt.Sprintf("%s (%d bytes)", a.Name, a.Size),
			Href: e.JSON + "attachments/" + url.PathEscape(a.ID) + "/?download=1"})
	}
	listPath := "/organizations/" + url.PathEscape(org) + "/issues/?query="
	for _, t := range ev.Tags {
		e.Tags = append(e.Tags, tagView{Key: t.Key, Value: t.Value, Href: listPath + url.QueryEscape(tagQuery(t.Key, t.Value))})
	}
	for i, k := range tags {
		if i == maxTagKeys {
			break
		}
		tv := tagView{Key: k.Key}
		for _, v := range k.TopValues {
			pct := 0
			if k.TotalValues > 0 {
				pct = int(v.Count * 100 / k.TotalValues)
			}
			tv.Values = append(tv.Values, tagValueView{Value: v.Value, Count: v.Count, Pct: min(pct, 100),
				Href: listPath + url.QueryEscape(tagQuery(k.Key, v.Value))})
		}
		e.Distributions = append(e.Distributions, tv)
	}
	for _, k := range sortedKeys(grouping) {
		g := grouping[k]
		gv := groupingView{Key: orStr(g.Key, k), Description: g.Description, Hash: g.Hash, Hint: g.Hint,
			Contributes: g.Contributes, Values: g.Values}
		if g.Config != nil {
			gv.Config = g.Config.ID
		}
		if len(g.Component) > 0 {
			gv.Tree = buildComponent(g.Component, 0)
		}
		e.Grouping = append(e.Grouping, gv)
	}
	return e
}

// buildException renders an exception; budget is how many more frames
// of the page may be highlighted (the open ones are, while it lasts).
func buildException(x apiException, platform, view string, newestFirst bool, budget *int) exceptionView {
	ev := exceptionView{Type: x.Type, Value: x.Value, Module: x.Module}
	if m := x.Mechanism; m != nil {
		ev.Mechanism = m.Type
		if m.Handled != nil {
			ev.Handled = map[bool]string{true: "yes", false: "no"}[*m.Handled]
		}
	}
	if x.Stacktrace == nil {
		return ev
	}
	frames := slices.Clone(x.Stacktrace.Frames)
	anyInApp := slices.ContainsFunc(frames, func(f apiFrame) bool { return f.InApp })
	crash := len(frames) - 1 // the last frame is where it happened
	for i, f := range frames {
		fv := frameView{Function: f.Function, Module: f.Module, InApp: f.InApp,
			File: orStr(f.Filename, f.AbsPath, f.Module)}
		if f.LineNo != nil {
			fv.Location = strconv.FormatInt(*f.LineNo, 10)
			if f.ColNo != nil {
				fv.Location += ":" + strconv.FormatInt(*f.ColNo, 10)
			}
		}
		fv.Open = view == "full" || f.InApp || (!anyInApp && i == crash)
		if view == "app" && !f.InApp && anyInApp {
			ev.HiddenFrames++
		}
		var texts []string
		for _, c := range f.Context {
			var no int64
			var text string
			json.Unmarshal(c[0], &no)   //nolint:errcheck // a bad number shows as 0
			json.Unmarshal(c[1], &text) //nolint:errcheck
			fv.Lines = append(fv.Lines, lineView{No: no, Text: text, Crash: f.LineNo != nil && no == *f.LineNo})
			texts = append(texts, text)
		}
		if fv.Open && len(texts) > 0 && *budget > 0 {
			*budget--
			if hl := highlightLines(frameLexer(orStr(f.Filename, f.AbsPath), orStr(f.Platform, platform)), texts); hl != nil {
				for i := range fv.Lines {
					fv.Lines[i].HTML = hl[i]
				}
			}
		}
		fv.Vars = objectRows(f.Vars)
		frames[i] = f
		ev.Frames = append(ev.Frames, fv)
	}
	if newestFirst {
		slices.Reverse(ev.Frames)
	}
	return ev
}

func writeRawException(b *strings.Builder, x apiException) {
	if x.Type != "" || x.Value != "" {
		fmt.Fprintf(b, "%s: %s\n", x.Type, x.Value)
	}
	if x.Stacktrace == nil {
		return
	}
	for _, f := range x.Stacktrace.Frames {
		fmt.Fprintf(b, "  File %q", orStr(f.Filename, f.AbsPath, f.Module))
		if f.LineNo != nil {
			fmt.Fprintf(b, ", line %d", *f.LineNo)
			if f.ColNo != nil {
				fmt.Fprintf(b, ", column %d", *f.ColNo)
			}
		}
		if f.Function != "" {
			fmt.Fprintf(b, ", in %s", f.Function)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func buildCrumbs(values []apiBreadcrumb, evTime time.Time) []crumbView {
	out := make([]crumbView, 0, len(values))
	for _, c := range values {
		cv := crumbView{Type: c.Type, Category: c.Category, Level: c.Level, Message: c.Message, Time: c.Timestamp}
		if t, err := time.Parse(time.RFC3339Nano, c.Timestamp); err == nil {
			cv.Time = t.UTC().Format("15:04:05.000")
			if !evTime.IsZero() {
				cv.Relative = fmt.Sprintf("%+.3fs", t.Sub(evTime).Seconds())
			}
		}
		if len(c.Data) > 0 && string(c.Data) != "null" {
			cv.Data = compactJSON(c.Data, maxDataLen)
		}
		out = append(out, cv)
	}
	if n := len(out); n > 0 {
		out[n-1].Last = true
	}
	return out
}

// crumbOptions are the distinct categories and levels of the breadcrumbs,
// sorted, the selected ones marked.
func crumbOptions(cs []crumbView, opts issueOptions) (cats, levels []optionView) {
	seenC, seenL := map[string]bool{}, map[string]bool{}
	for _, c := range cs {
		seenC[c.Category], seenL[c.Level] = true, true
	}
	for _, k := range sortedKeys(seenC) {
		if k != "" {
			cats = append(cats, optionView{Value: k, Selected: k == opts.CrumbCategory})
		}
	}
	for _, k := range sortedKeys(seenL) {
		if k != "" {
			levels = append(levels, optionView{Value: k, Selected: k == opts.CrumbLevel})
		}
	}
	return cats, levels
}

// filterCrumbs keeps the breadcrumbs of the selected category and level.
func filterCrumbs(cs []crumbView, opts issueOptions) []crumbView {
	if opts.CrumbCategory == "" && opts.CrumbLevel == "" {
		return cs
	}
	var out []crumbView
	for _, c := range cs {
		if (opts.CrumbCategory == "" || c.Category == opts.CrumbCategory) && (opts.CrumbLevel == "" || c.Level == opts.CrumbLevel) {
			out = append(out, c)
		}
	}
	return out
}

func buildComponent(raw json.RawMessage, depth int) *componentView {
	var c struct {
		ID, Name    string
		Hint        *string
		Contributes bool
		Values      []json.RawMessage
	}
	if depth > 32 || json.Unmarshal(raw, &c) != nil {
		return nil
	}
	cv := &componentView{Name: orStr(c.Name, c.ID), Contributes: c.Contributes}
	if c.Hint != nil {
		cv.Hint = *c.Hint
	}
	for _, v := range c.Values {
		var s string
		if json.Unmarshal(v, &s) == nil {
			cv.Values = append(cv.Values, s)
		} else if ch := buildComponent(v, depth+1); ch != nil {
			cv.Children = append(cv.Children, ch)
		}
	}
	return cv
}

func buildChart(buckets [][2]int64, current time.Time) chartView {
	const width, height = 480, 60
	c := chartView{Width: width, Height: height}
	if len(buckets) == 0 {
		return c
	}
	var peak int64
	for _, b := range buckets {
		peak = max(peak, b[1])
		c.Total += b[1]
	}
	w := width / len(buckets)
	step := int64(3600)
	if len(buckets) > 1 {
		step = buckets[1][0] - buckets[0][0]
	}
	for i, b := range buckets {
		h := 0
		if peak > 0 {
			h = int(b[1] * (height - 2) / peak)
		}
		if b[1] > 0 && h < 2 {
			h = 2
		}
		start := time.Unix(b[0], 0).UTC()
		c.Bars = append(c.Bars, chartBar{X: i * w, Y: height - h, W: max(w-2, 1), H: h,
			Label:   fmt.Sprintf("%s: %d events", start.Format("Jan 2 15:04"), b[1]),
			Current: !current.IsZero() && current.Unix() >= b[0] && current.Unix() < b[0]+step})
	}
	return c
}

func statusText(is *issueJSON) string {
	switch is.Status {
	case "resolved":
		if v, _ := is.StatusDetails["inNextRelease"].(bool); v {
			return "Resolved in the next release"
		}
		return "Resolved"
	case "ignored":
		d := is.StatusDetails
		switch {
		case d["ignoreUntil"] != nil:
			return fmt.Sprintf("Ignored until %v", d["ignoreUntil"])
		case d["ignoreCount"] != nil:
			return fmt.Sprintf("Ignored until %v more events", d["ignoreCount"])
		case d["ignoreUserCount"] != nil:
			return fmt.Sprintf("Ignored until %v more users are affected", d["ignoreUserCount"])
		}
		return "Ignored"
	}
	if is.Substatus != "" && is.Substatus != "ongoing" {
		return "Unresolved (" + strings.ReplaceAll(is.Substatus, "_", " ") + ")"
	}
	return "Unresolved"
}

// safeHref is u when it is an http or https URL, else "" (shown as text).
func safeHref(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return ""
	}
	return p.String()
}

func tagQuery(k, v string) string {
	return store.SearchTagKey(k) + ":" + strconv.Quote(v)
}

func pairs(ps [][2]string) []kv {
	out := make([]kv, 0, len(ps))
	for _, p := range ps {
		out = append(out, kv{p[0], p[1]})
	}
	return out
}

func objectRows(m map[string]json.RawMessage) []kv {
	out := make([]kv, 0, len(m))
	for _, k := range sortedKeys(m) {
		if string(m[k]) == "null" {
			continue
		}
		out = append(out, kv{k, valueText(m[k], maxVarLen)})
	}
	return out
}

// valueText shows a JSON string as its text and anything else as compact
// JSON, cut at n bytes.
func valueText(raw json.RawMessage, n int) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return cut(s, n)
	}
	return compactJSON(raw, n)
}

func bodyText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return cut(s, maxDataLen)
	}
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return cut(string(raw), maxDataLen)
	}
	return cut(b.String(), maxDataLen)
}

func compactJSON(raw json.RawMessage, n int) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return cut(string(raw), n)
	}
	return cut(b.String(), n)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func orStr(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// cssWord keeps a class name built from data to letters.
func cssWord(s string) string {
	s = strings.ToLower(s)
	for _, r := range s {
		if r < 'a' || r > 'z' {
			return "other"
		}
	}
	return s
}

// timeAt is an ISO time from the API as shown: "N ago", exact on hover.
func timeAt(s string, now time.Time) timeView {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return timeView{Exact: s}
	}
	return timeView{Exact: t.UTC().Format("2006-01-02 15:04:05 UTC"), Ago: ago(t, now)}
}

// hasRawStacktrace reports whether source maps changed any exception's
// frames (the API then serves the frames as sent as rawStacktrace).
func hasRawStacktrace(ev *apiEvent) bool {
	for _, en := range ev.Entries {
		if en.Type != "exception" {
			continue
		}
		var d struct {
			Values []struct {
				RawStacktrace json.RawMessage `json:"rawStacktrace"`
			}
		}
		if json.Unmarshal(en.Data, &d) != nil {
			continue
		}
		for _, v := range d.Values {
			if len(v.RawStacktrace) > 0 && string(v.RawStacktrace) != "null" {
				return true
			}
		}
	}
	return false
}
