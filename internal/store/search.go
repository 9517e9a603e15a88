package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
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

// SearchTerm is one term of a search: key:value, !key:value, or free
// text (Key empty). Quoted tells a value written in double quotes.
type SearchTerm struct {
	Key, Value     string
	Negate, Quoted bool
}

// SearchTokens splits a search into terms: whitespace separates them
// outside double quotes; a key is what comes before the first colon of a
// term (a leading ! negates it); a value or a free-text phrase may be
// quoted ("a b", key:"a b", with \" and \\ inside). It refuses an
// unclosed quote and more than MaxSearchTerms terms.
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
		// The value: quoted, or up to the next space.
		if i < len(q) && q[i] == '"' {
			var b strings.Builder
			i++
			closed := false
			for i < len(q) {
				c := q[i]
				if c == '\\' && i+1 < len(q) && (q[i+1] == '"' || q[i+1] == '\\') {
					b.WriteByte(q[i+1])
					i += 2
					continue
				}
				i++
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, searchErrorf("Invalid search query: unbalanced quotes.")
			}
			t.Value, t.Quoted = b.String(), true
		} else {
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

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// IssueSearch is an issue search as ParseIssueSearch reads it.
type IssueSearch struct {
	// Status is the is: term's status ("" for any). StatusSet tells
	// whether the query had one.
	Status    string
	StatusSet bool
	// Text keeps the issues with an event whose title, culprit or message
	// contains every term, in any case.
	Text []string
	// Releases keeps the issues seen in one of these releases (exact
	// versions; ReleaseLatest until resolved), NotReleases drops those
	// seen in any of them.
	Releases    []string
	NotReleases []string
	// IsAssigned is is:assigned (true) or is:unassigned (false).
	IsAssigned *bool
	// Assigned and Bookmarks are the assigned: and bookmarks: terms,
	// resolved by ResolveUsers before the search runs.
	Assigned  []UserTerm
	Bookmarks []UserTerm
}

// ReleaseLatest is the value of release:latest until ResolveLatest
// replaces it with the latest release's version.
const ReleaseLatest = "latest"

// issueSearchKeys are the keys ParseIssueSearch knows (the ones it can't
// do yet are refused with a message that says so).
var issueSearchKeys = map[string]bool{"is": true, "release": true, "message": true, "assigned": true, "bookmarks": true}

// ParseIssueSearch reads Sentry's issue search: is:<status>, free text
// and quoted phrases (matched against title, culprit and message),
// message:<text>, release:<version> (release:latest too, resolved by
// ResolveLatest), assigned:<me|#team|none|email|id>, bookmarks:<me|email|id>
// and is:assigned / is:unassigned (the users resolved by ResolveUsers).
// Anything else is refused with a *SearchError.
func ParseIssueSearch(q string) (IssueSearch, error) {
	var s IssueSearch
	toks, err := SearchTokens(q)
	if err != nil {
		return s, err
	}
	for _, t := range toks {
		if t.Key == "" || (t.Key == "message" && !t.Negate) {
			if t.Value != "" {
				s.Text = append(s.Text, t.Value)
			}
			continue
		}
		if !issueSearchKeys[t.Key] {
			return s, searchErrorf("Invalid search query: %q is not supported; supported are is:, release:, message:, assigned:, bookmarks: and free text.", t.Key+":")
		}
		if !t.Quoted && (strings.ContainsAny(t.Value, "*") || strings.HasPrefix(t.Value, ">") || strings.HasPrefix(t.Value, "<")) {
			return s, searchErrorf("Invalid search query: %q: wildcards and comparisons are not supported.", t.Key+":"+t.Value)
		}
		switch t.Key {
		case "is":
			if t.Negate {
				return s, searchErrorf("Invalid search query: !is: is not supported.")
			}
			var status string
			switch t.Value {
			case StatusUnresolved, StatusResolved, StatusIgnored:
				status = t.Value
			case "archived", "muted":
				status = StatusIgnored
			case "assigned", "unassigned":
				v := t.Value == "assigned"
				if s.IsAssigned != nil && *s.IsAssigned != v {
					return s, searchErrorf("Invalid search query: is:assigned and is:unassigned exclude each other.")
				}
				s.IsAssigned = &v
				continue
			case "bookmarked", "subscribed", "linked", "unlinked", "for_review",
				"new", "ongoing", "regressed", "escalating":
				return s, searchErrorf("Invalid search query: is:%s is not supported yet.", t.Value)
			default:
				return s, searchErrorf("Invalid search query: unknown status %q.", t.Value)
			}
			if s.StatusSet && s.Status != status {
				return s, searchErrorf("Invalid search query: only one status (is:%s or is:%s).", s.Status, status)
			}
			s.Status, s.StatusSet = status, true
		case "release":
			if t.Value == "" {
				return s, searchErrorf("Invalid search query: release: needs a version.")
			}
			if t.Negate {
				s.NotReleases = append(s.NotReleases, t.Value)
			} else {
				s.Releases = append(s.Releases, t.Value)
			}
		case "message":
			return s, searchErrorf("Invalid search query: !message: is not supported.")
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
		}
	}
	return s, nil
}

// LatestReleaseFunc returns the latest release of the projects, in the
// release order ("" when they have none).
type LatestReleaseFunc func(ctx context.Context, projectIDs []uint64) (string, error)

// ResolveLatest replaces release:latest (negated or not) by the version
// latest returns. With no release, release:latest matches nothing.
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
	for _, l := range []*[]string{&s.Releases, &s.NotReleases} {
		for i, r := range *l {
			if r == ReleaseLatest {
				(*l)[i] = v
			}
		}
	}
	return nil
}

func (s *IssueSearch) hasLatest() bool {
	for _, l := range [][]string{s.Releases, s.NotReleases} {
		for _, r := range l {
			if r == ReleaseLatest {
				return true
			}
		}
	}
	return false
}

// searchConds renders the search's conditions on group_id for a query over
// the projects (the status is IssueQuery.Status's).
func (s *Store) searchConds(projects []uint64, q *IssueSearch, now time.Time) ([]string, error) {
	if q == nil {
		return nil, nil
	}
	if q.hasLatest() {
		return nil, errors.New("store: release:latest was not resolved")
	}
	var out []string
	if len(q.Text) > 0 {
		var b strings.Builder
		b.WriteString("group_id " + s.in() + " (SELECT group_id FROM " + s.table("events") + " WHERE project_id IN " +
			nums(projects) + " AND deleted = 0 AND " + live("timestamp", now))
		for _, term := range q.Text {
			lit := "lowerUTF8(" + str(term) + ")"
			b.WriteString(" AND (position(lowerUTF8(title), " + lit + ") > 0 OR position(lowerUTF8(culprit), " + lit +
				") > 0 OR position(lowerUTF8(message), " + lit + ") > 0)")
		}
		b.WriteString(")")
		out = append(out, b.String())
	}
	releases := func(vs []string) string {
		return "(SELECT group_id FROM " + s.table("group_releases") + " WHERE project_id IN " + nums(projects) +
			" AND release IN " + strs(vs) + ")"
	}
	if len(q.Releases) > 0 {
		// Each release: term narrows the list (Sentry ANDs the terms).
		for _, v := range q.Releases {
			out = append(out, "group_id "+s.in()+" "+releases([]string{v}))
		}
	}
	if len(q.NotReleases) > 0 {
		out = append(out, "group_id "+s.notIn()+" "+releases(q.NotReleases))
	}
	wf, err := s.workflowConds(projects, q)
	if err != nil {
		return nil, err
	}
	return append(out, wf...), nil
}
