package api

import (
	"net/http"
	"strings"

	"github.com/faultline/faultline/internal/store"
)

// maxSearchTerms bounds the conditions one search adds to a query.
const maxSearchTerms = 20

// parseEventSearch reads the subset of Sentry's search syntax that event
// lists support: key:value tag terms (!key:value negated; user.id,
// user.email, user.username and user.ip name the user's fields), free
// text matched against the title and the message (message:text too), and
// double quotes around a value or a phrase ("a b", key:"a b", with \" and
// \\ inside). Comparison operators and wildcards are refused.
func parseEventSearch(q string) (tags []store.TagFilter, text []string, err error) {
	toks, ok := searchTokens(q)
	if !ok {
		return nil, nil, errorf(http.StatusBadRequest, "Invalid search query: unbalanced quotes.")
	}
	if len(toks) > maxSearchTerms {
		return nil, nil, errorf(http.StatusBadRequest, "Invalid search query: at most %d terms.", maxSearchTerms)
	}
	for _, t := range toks {
		if t.key == "" {
			if t.value != "" {
				text = append(text, t.value)
			}
			continue
		}
		if !t.quoted && (strings.ContainsAny(t.value, "*") || strings.HasPrefix(t.value, ">") || strings.HasPrefix(t.value, "<")) {
			return nil, nil, errorf(http.StatusBadRequest, "Invalid search query: %q: only key:value terms are supported.", t.key)
		}
		if t.key == "message" && !t.negate {
			if t.value != "" {
				text = append(text, t.value)
			}
			continue
		}
		tags = append(tags, store.TagFilter{Key: t.key, Value: t.value, Negate: t.negate})
	}
	return tags, text, nil
}

type searchToken struct {
	key, value     string
	negate, quoted bool
}

// searchTokens splits a search into terms: whitespace separates them
// outside double quotes. It reports false for an unclosed quote.
func searchTokens(q string) ([]searchToken, bool) {
	var out []searchToken
	i := 0
	for {
		for i < len(q) && isSpace(q[i]) {
			i++
		}
		if i >= len(q) {
			return out, true
		}
		var t searchToken
		// The key: up to a colon, if one comes before a space or a quote.
		if q[i] != '"' {
			j := i
			for j < len(q) && !isSpace(q[j]) && q[j] != ':' && q[j] != '"' {
				j++
			}
			if j < len(q) && q[j] == ':' && j > i {
				t.key = q[i:j]
				if strings.HasPrefix(t.key, "!") {
					t.negate, t.key = true, t.key[1:]
				}
				i = j + 1
			}
			if t.key == "" && t.negate {
				t.negate = false
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
				return nil, false
			}
			t.value, t.quoted = b.String(), true
		} else {
			j := i
			for j < len(q) && !isSpace(q[j]) {
				j++
			}
			t.value = q[i:j]
			i = j
		}
		out = append(out, t)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
