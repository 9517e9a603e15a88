package alert

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/store"
)

// Sentry's ids of the conditions, filters and actions Faultline knows.
const (
	CondFirstSeen   = "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"
	CondRegression  = "sentry.rules.conditions.regression_event.RegressionEventCondition"
	CondReappeared  = "sentry.rules.conditions.reappeared_event.ReappearedEventCondition"
	CondFrequency   = "sentry.rules.conditions.event_frequency.EventFrequencyCondition"
	CondUniqueUsers = "sentry.rules.conditions.event_frequency.EventUniqueUserFrequencyCondition"

	FilterLevel       = "sentry.rules.filters.level.LevelFilter"
	FilterTagged      = "sentry.rules.filters.tagged_event.TaggedEventFilter"
	FilterAttribute   = "sentry.rules.filters.event_attribute.EventAttributeFilter"
	FilterAge         = "sentry.rules.filters.age_comparison.AgeComparisonFilter"
	FilterOccurrences = "sentry.rules.filters.issue_occurrences.IssueOccurrencesFilter"
	FilterRelease     = "sentry.rules.filters.latest_release.LatestReleaseFilter"

	ActionEmail   = "sentry.mail.actions.NotifyEmailAction"
	ActionService = "sentry.rules.actions.notify_event_service.NotifyEventServiceAction"
	ActionSlack   = "faultline.actions.slack"
	ActionDiscord = "faultline.actions.discord"
	ActionTeams   = "faultline.actions.teams"
)

// Triggers of a Fired.
const (
	TriggerNewIssue   = "new_issue"
	TriggerRegression = "regression"
	TriggerReappeared = "reappeared"
	TriggerFrequency  = "frequency"
	TriggerTest       = "test"
)

// names are the labels Sentry's API gives each node in rule answers.
var names = map[string]string{
	CondFirstSeen:     "A new issue is created",
	CondRegression:    "The issue changes state from resolved to unresolved",
	CondReappeared:    "The issue changes state from ignored to unresolved",
	CondFrequency:     "The issue is seen more than {value} times in {interval}",
	CondUniqueUsers:   "The issue is seen by more than {value} users in {interval}",
	FilterLevel:       "The event's level is {match} {level}",
	FilterTagged:      "The event's tags match {key} {match} {value}",
	FilterAttribute:   "The event's {attribute} value {match} {value}",
	FilterAge:         "The issue is {comparison_type} than {value} {time}",
	FilterOccurrences: "The issue has happened at least {value} times",
	FilterRelease:     "The event is from the latest release",
	ActionEmail:       "Send a notification to {targetType}",
	ActionService:     "Send a notification via {service}",
	ActionSlack:       "Send a Slack (or Mattermost) notification",
	ActionDiscord:     "Send a Discord notification",
	ActionTeams:       "Send a Microsoft Teams notification",
}

// NodeName is the label of a condition, filter or action id ("" if
// unknown).
func NodeName(id string) string { return names[id] }

// evaluated are the conditions and filters the workers evaluate; the
// other known ids are refused by Validate, so that no rule silently never
// fires.
var (
	conditions = map[string]string{CondFirstSeen: TriggerNewIssue, CondRegression: TriggerRegression, CondReappeared: TriggerReappeared}
	filters    = map[string]bool{FilterLevel: true, FilterTagged: true, FilterAttribute: true,
		FilterAge: true, FilterOccurrences: true, FilterRelease: true}
	actions   = map[string]bool{ActionEmail: true, ActionService: true, ActionSlack: true, ActionDiscord: true, ActionTeams: true}
	frequency = map[string]bool{CondFrequency: true, CondUniqueUsers: true}
	// Windows are the frequency conditions' intervals, as Sentry names them.
	Windows = map[string]time.Duration{"1m": time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute,
		"1h": time.Hour, "1d": 24 * time.Hour, "1w": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}
)

// MaxFrequency is Sentry's longest action interval: 30 days, in minutes.
const MaxFrequency = 30 * 24 * 60

// Problems are validation errors by field, as Sentry's serializers answer
// a 400: {"field": ["message", ...]}.
type Problems map[string][]string

func (p Problems) add(field, msg string) { p[field] = append(p[field], msg) }

// node is one condition, filter or action: its id and its other fields.
type node map[string]any

func (n node) str(k string) string {
	switch v := n[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// Validate checks a rule as Sentry's rule serializer does and fills
// Sentry's defaults (actionMatch and filterMatch "all", frequency 30).
func Validate(r *meta.Rule) Problems {
	p := Problems{}
	r.Name = strings.TrimSpace(r.Name)
	switch {
	case r.Name == "":
		p.add("name", "This field is required.")
	case len(r.Name) > 256:
		p.add("name", "Ensure this field has no more than 256 characters.")
	}
	if r.ActionMatch == "" {
		r.ActionMatch = "all"
	}
	if r.FilterMatch == "" {
		r.FilterMatch = "all"
	}
	for field, v := range map[string]string{"actionMatch": r.ActionMatch, "filterMatch": r.FilterMatch} {
		if v != "all" && v != "any" && v != "none" {
			p.add(field, fmt.Sprintf("%q is not a valid choice.", v))
		}
	}
	if r.Frequency == 0 {
		r.Frequency = 30
	}
	if r.Frequency < 5 {
		p.add("frequency", "Ensure this value is greater than or equal to 5.")
	} else if r.Frequency > MaxFrequency {
		p.add("frequency", fmt.Sprintf("Ensure this value is less than or equal to %d.", MaxFrequency))
	}
	if len(r.Environment) > 64 {
		p.add("environment", "Ensure this field has no more than 64 characters.")
	}
	check := func(field string, list []json.RawMessage, known func(string) bool, what string) {
		if len(list) > 50 {
			p.add(field, "Ensure this field has no more than 50 elements.")
			return
		}
		for _, raw := range list {
			var n node
			if err := json.Unmarshal(raw, &n); err != nil || n == nil {
				p.add(field, "Each "+what+" must be an object with an id.")
				continue
			}
			id := n.str("id")
			switch {
			case id == "":
				p.add(field, "Each "+what+" must be an object with an id.")
			case !known(id):
				p.add(field, fmt.Sprintf("Invalid %s: %s", what, id))
			default:
				if msg := checkNode(id, n); msg != "" {
					p.add(field, msg)
				}
			}
		}
	}
	// Sentry accepts filters among the conditions (its older API): they
	// are kept where they were sent and evaluated as filters.
	check("conditions", r.Conditions, func(id string) bool { return conditions[id] != "" || filters[id] || frequency[id] }, "condition")
	check("filters", r.Filters, func(id string) bool { return filters[id] }, "filter")
	check("actions", r.Actions, func(id string) bool { return actions[id] }, "action")
	if len(r.Actions) == 0 {
		p.add("actions", "You must add an action for this alert to fire.")
	}
	if r.Conditions == nil {
		r.Conditions = []json.RawMessage{}
	}
	if r.Filters == nil {
		r.Filters = []json.RawMessage{}
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

var levels = map[string]int{"debug": 10, "info": 20, "warning": 30, "error": 40, "fatal": 50}

var matchOps = map[string]bool{"eq": true, "ne": true, "co": true, "nc": true, "sw": true, "ew": true,
	"nsw": true, "new": true, "is": true, "ns": true}

// checkNode validates the fields of a known node.
func checkNode(id string, n node) string {
	switch id {
	case CondFrequency, CondUniqueUsers:
		if _, ok := Windows[n.str("interval")]; !ok {
			return "The frequency condition's interval must be 1m, 5m, 15m, 1h, 1d, 1w or 30d."
		}
		if v, err := strconv.ParseUint(n.str("value"), 10, 64); err != nil || v > 1<<40 {
			return "The frequency condition's value must be a whole number."
		}
		if ct := n.str("comparisonType"); ct != "" && ct != "count" {
			return "Faultline compares counts only (comparisonType count)."
		}
	case FilterLevel:
		if m := n.str("match"); m != "eq" && m != "gte" && m != "lte" {
			return "The level filter's match must be eq, gte or lte."
		}
		if _, err := strconv.Atoi(n.str("level")); err != nil {
			return "The level filter's level must be 10, 20, 30, 40 or 50."
		}
	case FilterTagged:
		if n.str("key") == "" || !matchOps[n.str("match")] {
			return "The tag filter needs a key and a match (eq, ne, co, nc, sw, ew, nsw, new, is, ns)."
		}
	case FilterAttribute:
		if _, ok := attributes[n.str("attribute")]; !ok || !matchOps[n.str("match")] {
			return "The attribute filter needs a known attribute and a match (eq, ne, co, nc, sw, ew, nsw, new, is, ns)."
		}
	case FilterAge:
		if ct := n.str("comparison_type"); ct != "older" && ct != "newer" {
			return "The age filter's comparison_type must be older or newer."
		}
		if v, err := strconv.ParseUint(n.str("value"), 10, 32); err != nil || v == 0 {
			return "The age filter's value must be a positive whole number."
		}
		if _, ok := ageUnits[n.str("time")]; !ok {
			return "The age filter's time must be minute, hour, day or week."
		}
	case FilterOccurrences:
		if _, err := strconv.ParseUint(n.str("value"), 10, 64); err != nil {
			return "The occurrences filter's value must be a whole number."
		}
	case ActionEmail:
		switch n.str("targetType") {
		case "IssueOwners", "Team", "Member":
		default:
			return "The e-mail action's targetType must be IssueOwners, Team or Member."
		}
	case ActionService:
		if n.str("service") == "" {
			return "The service action needs a service."
		}
	case ActionSlack, ActionDiscord, ActionTeams:
		if u := n.str("webhookUrl"); !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return "The action needs a webhookUrl (http or https)."
		}
	}
	return ""
}

// Candidate is something that happened to an issue, which rules may fire
// on: its trigger and what the worker knows of the issue and the event.
type Candidate struct {
	Trigger string
	// Window tells firings of the same trigger apart, for the
	// idempotency key: "" for a new issue (it happens once), the time of
	// the status a regression or a reappearance ended.
	Window    string
	At        time.Time
	OrgID     uint64
	ProjectID uint64
	GroupID   uint64
	Issue     Issue
	EventID   string
	Event     json.RawMessage
	// What the filters read.
	Level, Environment, Release, Platform, Message, Logger string
	ExceptionType, ExceptionValue                          string
	Tags                                                   [][2]string
	// Again marks a candidate of events processed before (a redelivery,
	// or a retried batch): a firing whose key already holds the action
	// interval is queued again, with that key, instead of suppressed.
	Again bool

	counts map[countKey]store.WindowCount // filled by Evaluate
	// What the age, occurrences and latest-release filters read, filled
	// by Evaluate for the projects whose rules have them.
	totals        store.IssueTotal
	hasTotals     bool
	latestRelease string
}

// countKey names one counter read: a window and an environment.
type countKey struct{ interval, env string }

// crossed reports whether a frequency condition holds, as Sentry's: the
// issue had more than value events (or distinct users) in the interval
// ending now. The action interval keeps it from firing on every event.
func (c *Candidate) crossed(id string, n node, env string) bool {
	if c.Trigger != TriggerFrequency {
		return false
	}
	wc, ok := c.counts[countKey{n.str("interval"), env}]
	if !ok {
		return false
	}
	value, _ := strconv.ParseUint(n.str("value"), 10, 64)
	n2 := wc.Events
	if id == CondUniqueUsers {
		n2 = wc.Users
	}
	return n2 > value
}

// HasFrequency reports whether any of rules has a frequency condition.
func HasFrequency(rules []*meta.Rule) bool {
	for _, r := range rules {
		for _, raw := range r.Conditions {
			var n node
			if json.Unmarshal(raw, &n) == nil && frequency[n.str("id")] {
				return true
			}
		}
	}
	return false
}

// ageUnits are the age filter's units, as Sentry names them.
var ageUnits = map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour, "week": 7 * 24 * time.Hour}

// needs reports which issue facts a project's rules read: totals (the
// age and occurrences filters) and the latest release.
func needs(rules []*meta.Rule) (totals, latest bool) {
	for _, r := range rules {
		for _, list := range [][]json.RawMessage{r.Conditions, r.Filters} {
			for _, raw := range list {
				var n node
				if json.Unmarshal(raw, &n) != nil {
					continue
				}
				switch n.str("id") {
				case FilterAge, FilterOccurrences:
					totals = true
				case FilterRelease:
					latest = true
				}
			}
		}
	}
	return totals, latest
}

// attributes are the event attributes the attribute filter reads.
var attributes = map[string]func(c *Candidate) string{
	"message":     func(c *Candidate) string { return c.Message },
	"platform":    func(c *Candidate) string { return c.Platform },
	"environment": func(c *Candidate) string { return c.Environment },
	"level":       func(c *Candidate) string { return c.Level },
	"release":     func(c *Candidate) string { return c.Release },
	"logger":      func(c *Candidate) string { return c.Logger },
	"type":        func(c *Candidate) string { return c.ExceptionType },
	"error.type":  func(c *Candidate) string { return c.ExceptionType },
	"error.value": func(c *Candidate) string { return c.ExceptionValue },
	"culprit":     func(c *Candidate) string { return c.Issue.Culprit },
	"title":       func(c *Candidate) string { return c.Issue.Title },
}

// Matches reports whether rule r fires for c: its environment, its
// conditions (by actionMatch) and its filters (by filterMatch).
func Matches(r *meta.Rule, c *Candidate) bool {
	if r.Environment != "" && r.Environment != c.Environment {
		return false
	}
	var conds, filts []bool
	for _, raw := range r.Conditions {
		var n node
		if json.Unmarshal(raw, &n) != nil {
			return false
		}
		id := n.str("id")
		if t, ok := conditions[id]; ok {
			conds = append(conds, t == c.Trigger)
		} else if frequency[id] {
			conds = append(conds, c.crossed(id, n, r.Environment))
		} else if filters[id] {
			filts = append(filts, filterMatches(id, n, c))
		} else {
			return false // a node this version cannot evaluate
		}
	}
	for _, raw := range r.Filters {
		var n node
		if json.Unmarshal(raw, &n) != nil || !filters[n.str("id")] {
			return false
		}
		filts = append(filts, filterMatches(n.str("id"), n, c))
	}
	if len(conds) == 0 {
		return false // a rule without a trigger condition fires on nothing
	}
	return combine(r.ActionMatch, conds) && (len(filts) == 0 || combine(r.FilterMatch, filts))
}

func combine(match string, results []bool) bool {
	n := 0
	for _, ok := range results {
		if ok {
			n++
		}
	}
	switch match {
	case "any":
		return n > 0
	case "none":
		return n == 0
	}
	return n == len(results)
}

func filterMatches(id string, n node, c *Candidate) bool {
	switch id {
	case FilterLevel:
		want, _ := strconv.Atoi(n.str("level"))
		got, ok := levels[c.Level]
		if !ok {
			got = levels["error"]
		}
		switch n.str("match") {
		case "gte":
			return got >= want
		case "lte":
			return got <= want
		}
		return got == want
	case FilterTagged:
		key := n.str("key")
		var values []string
		for _, t := range c.Tags {
			if t[0] == key {
				values = append(values, t[1])
			}
		}
		if len(values) == 0 {
			// Sentry's release, environment and level are tags too.
			switch key {
			case "release":
				values = nonEmpty(c.Release)
			case "environment":
				values = nonEmpty(c.Environment)
			case "level":
				values = nonEmpty(c.Level)
			}
		}
		return matchValues(n.str("match"), values, n.str("value"))
	case FilterAge:
		// The issue's first event: a new issue's is now.
		first := c.At
		if c.hasTotals && !c.totals.FirstSeen.IsZero() && c.Trigger != TriggerNewIssue {
			first = c.totals.FirstSeen
		}
		v, _ := strconv.ParseUint(n.str("value"), 10, 32)
		cut := first.Add(time.Duration(v) * ageUnits[n.str("time")])
		if n.str("comparison_type") == "older" {
			return cut.Before(c.At)
		}
		return cut.After(c.At)
	case FilterOccurrences:
		// Times seen includes the event at hand: the workers evaluate
		// new issues, regressions and reappearances before the batch's
		// events are stored, frequency conditions after.
		seen := uint64(1)
		if c.hasTotals {
			seen = c.totals.TimesSeen
			if c.Trigger != TriggerFrequency {
				seen++
			}
		}
		v, _ := strconv.ParseUint(n.str("value"), 10, 64)
		return seen >= v
	case FilterRelease:
		return c.Release != "" && c.Release == c.latestRelease
	case FilterAttribute:
		get := attributes[n.str("attribute")]
		var values []string
		if v := get(c); v != "" {
			values = []string{v}
		}
		return matchValues(n.str("match"), values, n.str("value"))
	}
	return false
}

func nonEmpty(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

// matchValues applies one of Sentry's match operators to the values an
// event has for a tag or an attribute (none when unset).
func matchValues(op string, values []string, want string) bool {
	switch op {
	case "is":
		return len(values) > 0
	case "ns":
		return len(values) == 0
	}
	lw := strings.ToLower(want)
	has := func(f func(v string) bool) bool {
		for _, v := range values {
			if f(strings.ToLower(v)) {
				return true
			}
		}
		return false
	}
	switch op {
	case "eq":
		return has(func(v string) bool { return v == lw })
	case "ne":
		return !has(func(v string) bool { return v == lw })
	case "co":
		return has(func(v string) bool { return strings.Contains(v, lw) })
	case "nc":
		return !has(func(v string) bool { return strings.Contains(v, lw) })
	case "sw":
		return has(func(v string) bool { return strings.HasPrefix(v, lw) })
	case "nsw":
		return !has(func(v string) bool { return strings.HasPrefix(v, lw) })
	case "ew":
		return has(func(v string) bool { return strings.HasSuffix(v, lw) })
	case "new":
		return !has(func(v string) bool { return strings.HasSuffix(v, lw) })
	}
	return false
}

// Key is the idempotency key of rule firing for c: the same for the same
// rule, issue, trigger and window, whichever worker evaluates it and how
// often.
func Key(ruleID uint64, c *Candidate) string {
	return "rule:" + strconv.FormatUint(ruleID, 10) + ":group:" + strconv.FormatUint(c.GroupID, 10) + ":" + c.Trigger + ":" + c.Window
}

// Fire builds the Fired of rule r for c.
func Fire(r *meta.Rule, c *Candidate) Fired {
	return Fired{Key: Key(r.ID, c), Trigger: c.Trigger, At: c.At, RuleID: strconv.FormatUint(r.ID, 10),
		RuleName: r.Name, OrgID: c.OrgID, ProjectID: c.ProjectID, GroupID: c.GroupID, Actions: r.Actions,
		Issue: c.Issue, EventID: c.EventID, Event: c.Event}
}
