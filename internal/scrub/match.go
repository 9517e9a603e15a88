package scrub

import (
	"strings"
	"unicode/utf8"
)

// wordSet finds any of a set of lowercase ASCII words in a text, in any
// ASCII case, in one pass over the text and without allocating: the
// prescan that lets most values through untouched (Scrubber.mayMatch).
// Texts with other than ASCII take the Unicode-aware path instead, since
// lowercasing them can yield ASCII letters (the Kelvin sign is a k).
type wordSet struct {
	byFirst [256][]string // the words by their first byte, in both cases
}

// newWordSet returns the set, or nil when a word is empty or not ASCII.
func newWordSet(words ...string) *wordSet {
	ws := &wordSet{}
	for _, w := range words {
		if w == "" || !isASCII(w) {
			return nil
		}
		w = strings.ToLower(w)
		ws.byFirst[w[0]] = append(ws.byFirst[w[0]], w)
		if u := upper(w[0]); u != w[0] {
			ws.byFirst[u] = append(ws.byFirst[u], w)
		}
	}
	return ws
}

// hasWord reports whether b, ASCII, contains one of the words of ws in
// any case.
func hasWord[T string | []byte](ws *wordSet, b T) bool {
	for i := 0; i < len(b); i++ {
		for _, w := range ws.byFirst[b[i]] {
			if len(b)-i >= len(w) && hasPrefixFold(b[i+1:], w[1:]) {
				return true
			}
		}
	}
	return false
}

// hasPrefixFold reports whether b starts with the lowercase ASCII word w
// in any ASCII case.
func hasPrefixFold[T string | []byte](b T, w string) bool {
	if len(b) < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

func isASCII[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// containsFold reports whether s contains sub (lowercase) in any case.
func containsFold(s, sub string) bool {
	if len(s) < len(sub) {
		return false
	}
	if !isASCII(s) {
		return strings.Contains(strings.ToLower(s), sub)
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if c := s[i]; (c == sub[0] || c == upper(sub[0])) && hasPrefixFold(s[i+1:], sub[1:]) {
			return true
		}
	}
	return false
}

func digitsBytes(b []byte) int {
	n := 0
	for _, c := range b {
		if c >= '0' && c <= '9' {
			n++
		}
	}
	return n
}
