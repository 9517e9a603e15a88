package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The one search parser: Sentry's search syntax as issue and event lists
// read it. SearchTokens splits a query into terms; ParseIssueSearch reads
// the terms an issue list supports into an IssueSearch, which
// ListIssues turns into SQL (every value through sql.go's quoting).
// Extend IssueSearch (and issueSearchKeys) for new keys.

// MaxSearchTerms bounds the terms of one search, and so the conditions it
// adds to a query.
const MaxSearchTerms = 20

// MaxSearchTermBytes bounds one term's value.
const MaxSearchTermBytes = 200

// SearchError is a query the parser refuses; its message is meant for
// the caller (the API answers 400 with it as the detail).
type SearchError struct{ Msg string }

func (e *SearchError) Error() string { return e.Msg }

func searchErrorf(format string, args ...any) error {
	return &SearchError{Msg: fmt.Sprintf(format, args...)}
}

// IsSearchError reports whether err is a query the parser refused.
func IsSearchError(err error) bool {
	var se *SearchError
	return errors.As(err, &se)
}

// SearchTerm is one term of a search: key:value, !key:value, key:[a,b]
// (IsList, with List holding the values), or free text (Key empty).
// Quoted tells a value written in double quotes.
type SearchTerm struct {
	Key, Value     string
	Negate, Quoted bool
	IsList         bool
	List           []string
}

// SearchTokens splits a search into terms: whitespace separates them
// outside double quotes and brackets; a key is what comes before the
// first colon of a term (a leading ! negates it); a value or a free-text
// phrase may be quoted ("a b", key:"a b", with \" and \\ inside); a value
// may be a list, key:[a,b] or key:["a b", c]. It refuses an unclosed quote
// or bracket and more than MaxSearchTerms terms (or list values).
func SearchTokens(q string) ([]SearchTerm, error) {
	var out []SearchTerm
	i := 0
	for {
		for i < len(q) && isSpace(q[i]) {
			i++
		}
		if i >= len(q) {
			return out, nil
		}
		if len(out) == MaxSearchTerms {
			return nil, searchErrorf("Invalid search query: at most %d terms.", MaxSearchTerms)
		}
		var t SearchTerm
		// The key: up to a colon, if one comes before a space or a quote.
		if q[i] != '"' {
			j := i
			for j < len(q) && !isSpace(q[j]) && q[j] != ':' && q[j] != '"' {
				j++
			}
			if j < len(q) && q[j] == ':' && j > i {
				t.Key = q[i:j]
				if strings.HasPrefix(t.Key, "!") {
					t.Negate, t.Key = true, t.Key[1:]
				}
				i = j + 1
			}
			if t.Key == "" && t.Negate {
				t.Negate = false
			}
		}
		switch {
		case i < len(q) && q[i] == '"':
			v, n, err := quoted(q[i:])
			if err != nil {
				return nil, err
			}
			t.Value, t.Quoted = v, true
			i += n
		case t.Key != "" && i < len(q) && q[i] == '[':
			start := i
			i++
			t.IsList = true
			for {
				for i < len(q) && isSpace(q[i]) {
					i++
				}
				if i >= len(q) {
					return nil, searchErrorf("Invalid search query: %q: unbalanced brackets.", t.Key+":"+q[start:])
				}
				var v string
				if q[i] == '"' {
					s, n, err := quoted(q[i:])
					if err != nil {
						return nil, err
					}
					v, i = s, i+n
				} else {
					j := i
					for j < len(q) && q[j] != ',' && q[j] != ']' && !isSpace(q[j]) {
						j++
					}
					v, i = q[i:j], j
				}
				for i < len(q) && isSpace(q[i]) {
					i++
				}
				if v != "" {
					if len(t.List) == MaxSearchTerms {
						return nil, searchErrorf("Invalid search query: at most %d values in a list.", MaxSearchTerms)
					}
					if len(v) > MaxSearchTermBytes {
						return nil, searchErrorf("Invalid search query: a term is longer than %d bytes.", MaxSearchTermBytes)
					}
					t.List = append(t.List, v)
				}
				if i < len(q) && q[i] == ',' {
					i++
					continue
				}
				if i < len(q) && q[i] == ']' {
					i++
					break
				}
				return nil, searchErrorf("Invalid search query: %q: unbalanced brackets.", t.Key+":"+q[start:])
			}
			t.Value = q[start:i]
			if len(t.List) == 0 {
				return nil, searchErrorf("Invalid search query: %q: the list is empty.", t.Key+":"+t.Value)
			}
		default:
			j := i
			for j < len(q) && !isSpace(q[j]) {
				j++
			}
			t.Value = q[i:j]
			i = j
		}
		if len(t.Value) > MaxSearchTermBytes {
			return nil, searchErrorf("Invalid search query: a term is longer than %d bytes.", MaxSearchTermBytes)
		}
		out = append(out, t)
	}
}

// quoted reads the quoted string q starts with; n is the bytes it took.
func quoted(q string) (v string, n int, err error) {
	var b strings.Builder
	i := 1
	for i < len(q) {
		c := q[i]
		if c == '\\' && i+1 < len(q) && (q[i+1] == '"' || q[i+1] == '\\') {
			b.WriteByte(q[i+1])
			i += 2
			continue
		}
		i++
		if c == '"' {
			return b.String(), i, nil
		}
		b.WriteByte(c)
	}
	return "", 0, searchErrorf("Invalid search query: unbalanced quotes.")
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// IssueSearch is an issue search as ParseIssueSearch reads it.
type IssueSearch struct {
	// Status is the is: term's status ("" for any). StatusSet tells
	// whether the query had one. Substatus narrows it (is:regressed is
	// unresolved and regressed).
	Status    string
	StatusSet bool
	Substatus string
	// Text keeps the issues with an event whose title, culprit or message
	// contains every term, in any case.
	Text []string
	// Releases keeps the issues seen in each of these releases (exact
	// versions; ReleaseLatest until resolved), ReleaseAny those seen in
	// one of each list's (release:[a,b]), NotReleases drops those seen in
	// any of them.
	Releases    []string
	ReleaseAny  [][]string
	NotReleases []string
	// Environments narrows the list, its counts and aggregates to one of
	// each list's environments (environment:prod, environment:[a,b]), as
	// IssueQuery.Environments does.
	Environments [][]string
	// Tags are the tag terms (level:, user.email:, has:, any tag key).
	Tags []TagTerm
	// Aggs are the timesSeen:, firstSeen: and lastSeen: comparisons.
	Aggs []AggTerm
	// IsAssigned is is:assigned (true) or is:unassigned (false).
	IsAssigned *bool
	// Assigned and Bookmarks are the assigned: and bookmarks: terms,
	// resolved by ResolveUsers before the search runs.
	Assigned  []UserTerm
	Bookmarks []UserTerm
	// Subscribed is is:subscribed: the issues the user ("me") subscribed
	// to, resolved by ResolveUsers as bookmarks: terms are.
	Subscribed []UserTerm
}

// TagTerm keeps the issues with an event whose tag Key has one of Values
// (or, with Has, any non-empty value); Negate drops them instead. The
// keys user.id, user.email, user.username and user.ip name the event's
// user fields; level, environment, release and the other tags the worker
// promotes are tags like the SDK's.
type TagTerm struct {
	Key    string
	Values []string
	Has    bool
	Negate bool
}

// AggTerm compares an issue's aggregate (AggTimesSeen, AggFirstSeen,
// AggLastSeen) over its whole life in the listed environments: Op is one
// of >, >=, <, <=, = and !=; N is the count, At the time, or Ago a time
// relative to the query's (now - Ago) when Relative is set.
type AggTerm struct {
	Field    string
	Op       string
	N        uint64
	At       time.Time
	Ago      time.Duration
	Relative bool
}

// The aggregates an AggTerm compares.
const (
	AggTimesSeen = "times_seen"
	AggFirstSeen = "first_seen"
	AggLastSeen  = "last_seen"
)

// SubstatusRegressed is the substatus of an issue that a new event
// reopened after its resolution.
const SubstatusRegressed = "regressed"

// ReleaseLatest is the value of release:latest until ResolveLatest
// replaces it with the latest release's version.
const ReleaseLatest = "latest"

// aggKeys maps the search keys of aggregates (Sentry's and its aliases).
var aggKeys = map[string]string{
	"timesSeen": AggTimesSeen, "times_seen": AggTimesSeen,
	"firstSeen": AggFirstSeen, "first_seen": AggFirstSeen, "age": AggFirstSeen,
	"lastSeen": AggLastSeen, "last_seen": AggLastSeen,
}

// negatedOp is the comparison that !key: turns op into.
var negatedOp = map[string]string{">": "<=", ">=": "<", "<": ">=", "<=": ">", "=": "!=", "!=": "="}

// ParseIssueSearch reads Sentry's issue search:
//   - is:unresolved, is:resolved, is:ignored (is:archived, is:muted),
//     is:regressed, is:new (first seen in the last 7 days),
//     is:assigned, is:unassigned, is:bookmarked (bookmarks:me),
//     is:subscribed (the issues the caller subscribed to);
//   - free text and quoted phrases (matched against title, culprit and
//     message), message:<text>;
//   - release:<version> (release:latest too, resolved by ResolveLatest);
//   - environment:<name>, level:<level>, user.email:, user.id:,
//     user.username:, user.ip:, and <tag>:<value> (tags[<key>]:<value>)
//     for any tag key;
//   - has:<key>, !<key>:<value>, <key>:[a,b], !<key>:[a,b];
//   - timesSeen:>100 (>, >=, <, <=, = or a bare number);
//   - firstSeen:, lastSeen: (age: is firstSeen:) with -24h (within the
//     last 24 hours), +7d (longer ago than 7 days; units s, m, h, d, w), or
//     an ISO 8601 date or time after >, >=, <, <= (a bare date is that day);
//   - assigned:<me|#team|none|email|id>, bookmarks:<me|email|id> (the
//     users resolved by ResolveUsers);
//   - wildcards: * in a value (quoted or not) matches any run of
//     characters, as in Sentry: release:1.*, message:*timeout*,
//     browser:*Fire*, environment:prod-*, in lists too (key:[a*,b]); a
//     tag, release or environment pattern matches the whole value, a
//     message or free-text pattern any part of the title, culprit or
//     message, in any case. Not on is:, has:, assigned:, bookmarks:.
//
// Anything else is refused with a *SearchError naming the term.
func ParseIssueSearch(q string) (IssueSearch, error) {
	var s IssueSearch
	toks, err := SearchTokens(q)
	if err != nil {
		return s, err
	}
	for _, t := range toks {
		if t.Key == "" || (t.Key == "message" && !t.Negate && !t.IsList) {
			if IsSearchPattern(t.Value) && !utf8.ValidString(t.Value) {
				return s, searchErrorf("Invalid search query: %q: a value with a wildcard must be valid UTF-8.", t.Value)
			}
			if t.Value != "" {
				s.Text = append(s.Text, t.Value)
			}
			continue
		}
		term := t.Key + ":" + t.Value
		if t.Negate {
			term = "!" + term
		}
		if field, ok := aggKeys[t.Key]; ok {
			aggs, err := parseAggTerm(term, field, t)
			if err != nil {
				return s, err
			}
			s.Aggs = append(s.Aggs, aggs...)
			continue
		}
		values := []string{t.Value}
		if t.IsList {
			values = t.List
		} else if t.Value == "" {
			return s, searchErrorf("Invalid search query: %q needs a value.", term)
		}
		for _, v := range values {
			if !t.Quoted && (strings.HasPrefix(v, ">") || strings.HasPrefix(v, "<")) {
				return s, searchErrorf("Invalid search query: %q: comparisons are supported on timesSeen:, firstSeen: and lastSeen: only.", term)
			}
			if IsSearchPattern(v) {
				switch t.Key {
				case "is", "has", "assigned", "bookmarks":
					return s, searchErrorf("Invalid search query: %q: wildcards are not supported on %s:.", term, t.Key)
				}
				if !utf8.ValidString(v) {
					return s, searchErrorf("Invalid search query: %q: a value with a wildcard must be valid UTF-8.", term)
				}
			}
		}
		if t.IsList {
			switch t.Key {
			case "is", "has", "assigned", "bookmarks", "message":
				return s, searchErrorf("Invalid search query: %q: %s: takes one value.", term, t.Key)
			}
		}
		switch t.Key {
		case "is":
			if t.Negate {
				return s, searchErrorf("Invalid search query: %q: !is: is not supported.", term)
			}
			if err := s.isTerm(t.Value); err != nil {
				return s, err
			}
		case "release":
			switch {
			case t.Negate:
				s.NotReleases = append(s.NotReleases, values...)
			case t.IsList:
				s.ReleaseAny = append(s.ReleaseAny, values)
			default:
				s.Releases = append(s.Releases, t.Value)
			}
		case "environment":
			if t.Negate {
				s.Tags = append(s.Tags, TagTerm{Key: "environment", Values: values, Negate: true})
			} else {
				s.Environments = append(s.Environments, values)
			}
		case "message":
			return s, searchErrorf("Invalid search query: %q: !message: is not supported.", term)
		case "has":
			s.Tags = append(s.Tags, TagTerm{Key: tagKey(t.Value), Has: true, Negate: t.Negate})
		case "assigned", "bookmarks":
			if err := userTermValue(t.Key, t.Value); err != nil {
				return s, err
			}
			ut := UserTerm{Value: t.Value, Negate: t.Negate}
			if t.Key == "assigned" {
				s.Assigned = append(s.Assigned, ut)
			} else {
				s.Bookmarks = append(s.Bookmarks, ut)
			}
		default:
			s.Tags = append(s.Tags, TagTerm{Key: tagKey(t.Key), Values: values, Negate: t.Negate})
		}
	}
	return s, nil
}

// SearchTagKey is how a search names the tag key k: tags[k] where k alone
// would mean something else (is:, has:, message:, timesSeen:...).
func SearchTagKey(k string) string {
	switch k {
	case "is", "has", "message", "assigned", "bookmarks":
		return "tags[" + k + "]"
	}
	if _, ok := aggKeys[k]; ok || strings.HasPrefix(k, "tags[") {
		return "tags[" + k + "]"
	}
	return k
}

// tagKey is the tag key a search key names: tags[key] for a key that
// would otherwise mean something else.
func tagKey(k string) string {
	if strings.HasPrefix(k, "tags[") && strings.HasSuffix(k, "]") && len(k) > len("tags[]") {
		return k[len("tags[") : len(k)-1]
	}
	return k
}

// isTerm reads one is: value.
func (s *IssueSearch) isTerm(v string) error {
	var status string
	switch v {
	case StatusUnresolved, StatusResolved, StatusIgnored:
		status = v
	case "archived", "muted":
		status = StatusIgnored
	case SubstatusRegressed:
		if s.Substatus != "" && s.Substatus != v {
			return searchErrorf("Invalid search query: is:%s and is:%s exclude each other.", s.Substatus, v)
		}
		status, s.Substatus = StatusUnresolved, v
	case "new":
		s.Aggs = append(s.Aggs, AggTerm{Field: AggFirstSeen, Op: ">=", Ago: 7 * 24 * time.Hour, Relative: true})
		return nil
	case "assigned", "unassigned":
		a := v == "assigned"
		if s.IsAssigned != nil && *s.IsAssigned != a {
			return searchErrorf("Invalid search query: is:assigned and is:unassigned exclude each other.")
		}
		s.IsAssigned = &a
		return nil
	case "bookmarked":
		s.Bookmarks = append(s.Bookmarks, UserTerm{Value: "me"})
		return nil
	case "subscribed":
		s.Subscribed = append(s.Subscribed, UserTerm{Value: "me"})
		return nil
	case "linked", "unlinked", "for_review", "ongoing", "escalating":
		return searchErrorf("Invalid search query: is:%s is not supported yet.", v)
	default:
		return searchErrorf("Invalid search query: unknown status %q in %q; use is:unresolved, is:resolved, is:ignored, is:regressed, is:new, is:assigned, is:unassigned, is:bookmarked or is:subscribed.", v, "is:"+v)
	}
	if s.StatusSet && s.Status != status {
		return searchErrorf("Invalid search query: only one status (is:%s or is:%s).", s.Status, v)
	}
	s.Status, s.StatusSet = status, true
	return nil
}

// parseAggTerm reads a timesSeen:, firstSeen: or lastSeen: term.
func parseAggTerm(term, field string, t SearchTerm) ([]AggTerm, error) {
	if t.IsList {
		return nil, searchErrorf("Invalid search query: %q: a comparison takes one value.", term)
	}
	v := t.Value
	op := ""
	for _, o := range []string{">=", "<=", ">", "<", "="} {
		if strings.HasPrefix(v, o) {
			op, v = o, v[len(o):]
			break
		}
	}
	neg := func(a []AggTerm) ([]AggTerm, error) {
		if !t.Negate {
			return a, nil
		}
		if len(a) != 1 {
			return nil, searchErrorf("Invalid search query: %q: a negated date needs a comparison (>, >=, <, <=).", term)
		}
		a[0].Op = negatedOp[a[0].Op]
		return a, nil
	}
	if field == AggTimesSeen {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, searchErrorf("Invalid search query: %q: Invalid number: %q (expected a whole number, with >, >=, <, <= or =).", term, v)
		}
		if op == "" {
			op = "="
		}
		return neg([]AggTerm{{Field: field, Op: op, N: n}})
	}
	if op == "" && len(v) > 1 && (v[0] == '-' || v[0] == '+') {
		d, err := relDuration(v[1:])
		if err != nil {
			return nil, searchErrorf("Invalid search query: %q: %s", term, err.Error())
		}
		op = ">="
		if v[0] == '+' {
			op = "<="
		}
		return neg([]AggTerm{{Field: field, Op: op, Ago: d, Relative: true}})
	}
	at, day, err := parseSearchDate(v)
	if err != nil {
		return nil, searchErrorf("Invalid search query: %q: Invalid date: %q. Expected +/-duration (e.g. +1h) or ISO 8601-like (e.g. %s or >2024-01-01T10:00:00).",
			term, v, time.Now().UTC().Format(time.DateOnly))
	}
	switch {
	case op == "=" || (op == "" && !day):
		return neg([]AggTerm{{Field: field, Op: ">=", At: at}, {Field: field, Op: "<", At: at.Add(time.Second)}})
	case op == "":
		return neg([]AggTerm{{Field: field, Op: ">=", At: at}, {Field: field, Op: "<", At: at.AddDate(0, 0, 1)}})
	}
	return neg([]AggTerm{{Field: field, Op: op, At: at}})
}

// maxRelative bounds a relative date (and keeps it from overflowing).
const maxRelative = 100 * 365 * 24 * time.Hour

// relDuration reads Sentry's relative durations: a number and a unit, s,
// m, h, d or w.
func relDuration(v string) (time.Duration, error) {
	if len(v) < 2 {
		return 0, errors.New("Invalid duration: expected a number and a unit (s, m, h, d, w), e.g. -24h or +7d.")
	}
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	unit, ok := units[v[len(v)-1]]
	n, err := strconv.ParseUint(v[:len(v)-1], 10, 32)
	if !ok || err != nil {
		return 0, errors.New("Invalid duration: expected a number and a unit (s, m, h, d, w), e.g. -24h or +7d.")
	}
	if time.Duration(n) > maxRelative/unit {
		return 0, errors.New("Invalid duration: at most 100 years.")
	}
	return time.Duration(n) * unit, nil
}

// searchDateLayouts are the date forms a search and the start and end
// parameters take (without a zone, UTC).
var searchDateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", time.DateOnly}

// parseSearchDate reads an ISO 8601 date or time; day tells a date
// without a time.
func parseSearchDate(v string) (t time.Time, day bool, err error) {
	for _, l := range searchDateLayouts {
		if t, err = time.ParseInLocation(l, v, time.UTC); err == nil {
			if t.Year() < 1970 || t.Year() > 2105 { // DateTime's range
				return time.Time{}, false, errors.New("date out of range")
			}
			return t.UTC(), l == time.DateOnly, nil
		}
	}
	return time.Time{}, false, err
}

// ParseDate reads a date as the API's start and end parameters take it
// (ISO 8601, UTC without a zone).
func ParseDate(v string) (time.Time, error) {
	t, _, err := parseSearchDate(v)
	return t, err
}

// LatestReleaseFunc returns the latest release of the projects, in the
// release order ("" when they have none).
type LatestReleaseFunc func(ctx context.Context, projectIDs []uint64) (string, error)

// ResolveLatest replaces release:latest (negated or not, in a list or
// not) by the version latest returns. With no release, release:latest
// matches nothing.
func (s *IssueSearch) ResolveLatest(ctx context.Context, projectIDs []uint64, latest LatestReleaseFunc) error {
	if !s.hasLatest() {
		return nil
	}
	v, err := latest(ctx, projectIDs)
	if err != nil {
		return err
	}
	if v == "" {
		v = "\x00no release" // a version no event names
	}
	for _, l := range s.releaseLists() {
		for i, r := range l {
			if r == ReleaseLatest {
				l[i] = v
			}
		}
	}
	return nil
}

func (s *IssueSearch) releaseLists() [][]string {
	return append([][]string{s.Releases, s.NotReleases}, s.ReleaseAny...)
}

func (s *IssueSearch) hasLatest() bool {
	for _, l := range s.releaseLists() {
		for _, r := range l {
			if r == ReleaseLatest {
				return true
			}
		}
	}
	return false
}

// searchConds renders the search's conditions on group_id for q's
// projects, other than the status and environments (which issueWhere
// renders, as they narrow the aggregates too).
func (s *Store) searchConds(q *IssueQuery) ([]string, error) {
	sq := q.Search
	if sq == nil {
		return nil, nil
	}
	if sq.hasLatest() {
		return nil, errors.New("store: release:latest was not resolved")
	}
	projects := q.ProjectIDs
	var out []string
	if len(sq.Text) > 0 {
		var b strings.Builder
		b.WriteString("group_id " + s.in() + " (SELECT group_id FROM " + s.table("events") + " WHERE project_id IN " +
			nums(projects) + " AND deleted = 0 AND " + live("timestamp", q.Now))
		for _, term := range sq.Text {
			if IsSearchPattern(term) {
				re := str(searchRegexp(strings.ToLower(term), false))
				b.WriteString(" AND (match(lowerUTF8(title), " + re + ") OR match(lowerUTF8(culprit), " + re +
					") OR match(lowerUTF8(message), " + re + "))")
				continue
			}
			// Case-insensitive search in place: lowerUTF8 of three
			// columns copied every event's text first.
			lit := str(term)
			b.WriteString(" AND (positionCaseInsensitiveUTF8(title, " + lit + ") > 0 OR positionCaseInsensitiveUTF8(culprit, " + lit +
				") > 0 OR positionCaseInsensitiveUTF8(message, " + lit + ") > 0)")
		}
		b.WriteString(")")
		out = append(out, b.String())
	}
	releases := func(vs []string) string {
		return "(SELECT group_id FROM " + s.table("group_releases") + " WHERE project_id IN " + nums(projects) +
			" AND " + valuesCond("release", vs) + ")"
	}
	// Each release: term narrows the list (Sentry ANDs the terms).
	for _, v := range sq.Releases {
		out = append(out, "group_id "+s.in()+" "+releases([]string{v}))
	}
	for _, vs := range sq.ReleaseAny {
		out = append(out, "group_id "+s.in()+" "+releases(vs))
	}
	if len(sq.NotReleases) > 0 {
		out = append(out, "group_id "+s.notIn()+" "+releases(sq.NotReleases))
	}
	for _, t := range sq.Tags {
		out = append(out, s.tagCond(q, t))
	}
	if c, err := s.aggCond(q); err != nil {
		return nil, err
	} else if c != "" {
		out = append(out, c)
	}
	wf, err := s.workflowConds(projects, sq)
	if err != nil {
		return nil, err
	}
	return append(out, wf...), nil
}

// envConds renders the environments of q (the parameter's and the
// search's environment: terms) as conditions on group_hourly.
func envConds(q *IssueQuery) []string {
	var out []string
	if len(q.Environments) > 0 {
		out = append(out, "environment IN "+strs(q.Environments))
	}
	if q.Search != nil {
		for _, vs := range q.Search.Environments {
			out = append(out, valuesCond("environment", vs))
		}
	}
	return out
}

// IsSearchPattern tells a search value with a wildcard (*).
func IsSearchPattern(v string) bool { return strings.Contains(v, "*") }

// searchRegexp turns a wildcard value into an RE2 expression for
// ClickHouse's match(): every other character literal, * any run of
// characters (newlines too); anchored, it must match the whole value.
// No flags other than (?s): 18.16 ignores (?i), so callers lower both
// sides for a search in any case.
func searchRegexp(v string, anchored bool) string {
	var b strings.Builder
	b.WriteString("(?s)")
	if anchored {
		b.WriteString("^")
	}
	star := false
	for part := range strings.SplitSeq(v, "*") {
		if star {
			b.WriteString(".*")
		}
		star = true
		b.WriteString(regexp.QuoteMeta(part))
	}
	if anchored {
		b.WriteString("$")
	}
	return strings.ReplaceAll(b.String(), ".*.*", ".*")
}

// valuesCond renders col matching one of vs: the exact values through
// IN, each wildcard value through match().
func valuesCond(col string, vs []string) string {
	var exact, conds []string
	for _, v := range vs {
		if IsSearchPattern(v) {
			conds = append(conds, "match("+col+", "+str(searchRegexp(v, true))+")")
		} else {
			exact = append(exact, v)
		}
	}
	if len(exact) > 0 {
		conds = append([]string{col + " IN " + strs(exact)}, conds...)
	}
	if len(conds) == 1 {
		return conds[0]
	}
	return "(" + strings.Join(conds, " OR ") + ")"
}

// aggCond renders the search's aggregate comparisons: one subquery on
// group_hourly over each issue's whole life in q's environments.
func (s *Store) aggCond(q *IssueQuery) (string, error) {
	if len(q.Search.Aggs) == 0 {
		return "", nil
	}
	var having []string
	for _, a := range q.Search.Aggs {
		if _, ok := negatedOp[a.Op]; !ok {
			return "", fmt.Errorf("store: bad comparison %q", a.Op)
		}
		var expr, val string
		switch a.Field {
		case AggTimesSeen:
			expr, val = "countMerge(times_seen)", num(a.N)
		case AggFirstSeen, AggLastSeen:
			expr = "minMerge(first_seen)"
			if a.Field == AggLastSeen {
				expr = "maxMerge(last_seen)"
			}
			at := a.At
			if a.Relative {
				at = q.Now.Add(-a.Ago)
			}
			val = ts(at.Truncate(time.Second))
		default:
			return "", fmt.Errorf("store: unknown aggregate %q", a.Field)
		}
		having = append(having, expr+" "+a.Op+" "+val)
	}
	where := append([]string{"project_id IN " + nums(q.ProjectIDs), liveHour(q.Now)}, envConds(q)...)
	return "group_id " + s.in() + " (SELECT group_id FROM " + s.table("group_hourly") + " WHERE " + strings.Join(where, " AND ") +
		" GROUP BY group_id HAVING " + strings.Join(having, " AND ") + ")", nil
}
