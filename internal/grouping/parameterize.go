package grouping

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxMessage bounds the text parameterized: a message is trimmed to two
// lines first, and this keeps a two-line megabyte from costing much.
const maxMessage = 8192

// NormalizeMessage is Sentry's normalize_message_for_grouping: the first
// two non-empty lines ("..." marks a cut), with event-specific values
// (numbers, hex strings, UUIDs, hashes, e-mail and IP addresses, URLs,
// host names, dates, times, durations and key='quoted' values) replaced
// by placeholders such as <int>, so that "user 42 not found" and "user 43
// not found" group together.
func NormalizeMessage(msg string) string {
	var lines []string
	rest := msg
	for rest != "" && len(lines) < 2 {
		var line string
		i := strings.IndexAny(rest, "\r\n")
		if i < 0 {
			line, rest = rest, ""
		} else {
			line = rest[:i]
			if rest[i] == '\r' && i+1 < len(rest) && rest[i+1] == '\n' {
				i++
			}
			rest = rest[i+1:]
		}
		if strings.TrimSpace(line) != "" {
			lines = append(lines, line)
		}
	}
	trimmed := strings.Join(lines, "\n")
	if trimmed != msg {
		trimmed += "..."
	}
	if len(trimmed) > maxMessage {
		trimmed = trimmed[:maxMessage]
	}
	return Parameterize(trimmed)
}

// A pattern is tried at a position of the text; RE2 has no look-around, so
// the conditions Sentry's patterns put before and after a match are
// checked here instead.
type pattern struct {
	name string
	re   *regexp.Regexp // anchored at the position
	// wordStart: the match must begin at a word boundary (\b).
	wordStart bool
	// notAfter: the character before the match must not be one of these
	// classes ("alnum_", "alnum", "digit", "word", "=").
	notAfter string
	// notBefore: the character after the match must not be of this class.
	notBefore string
	// check validates the matched text.
	check func(string) bool
}

const tlds = `COM|NET|ORG|JP|DE|UK|FR|BR|IT|RU|ES|ME|GOV|PL|CA|AU|CN|CO|IN|NL|EDU|INFO|EU|CH|ID|AT|KR|CZ|MX|BE|TV|SE|TR|TW|AL|UA|IR|VN|CL|SK|LY|CC|TO|NO|FI|US|PT|DK|AR|HU|TK|GR|IL|NEWS|RO|MY|BIZ|IE|ZA|NZ|SG|EE|TH|IO|XYZ|PE|BG|HK|RS|LT|LINK|PH|CLUB|SI|SITE|MOBI|BY|CAT|WIKI|LA|GA|XXX|CF|HR|NG|JOBS|ONLINE|KZ|UG|GQ|AE|IS|LV|PRO|FM|TIPS|MS|SA|APP`

const (
	v4seg = `(?:25[0-5]|(?:2[0-4]|1?[0-9])?[0-9])`
	v4    = `(?:` + v4seg + `\.){3}` + v4seg
	h16   = `[0-9a-fA-F]{1,4}`
)

func anchored(s string) *regexp.Regexp { return regexp.MustCompile(`^(?:` + s + `)`) }

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }

// patterns are Sentry's DEFAULT_PARAMETERIZATION_REGEXES, in their order:
// at each position the first that matches wins.
var patterns = []pattern{
	{name: "email", re: anchored(`[a-zA-Z0-9.!#$%&'*+/=?^_` + "`" + `{|}~-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*`)},
	{name: "url", wordStart: true, re: anchored(`(?:wss?|https?|ftp)://[^\s/$.?#].[^\s]*`)},
	{name: "hostname", wordStart: true, re: anchored(`(?:[a-zA-Z0-9\-]{1,63}\.)+?(?:` + tlds + `|` + strings.ToLower(tlds) + `)\b`)},
	{name: "ip", notAfter: "alnum_", notBefore: "alnum", re: anchored(
		`(?:` + h16 + `:){7}` + h16 + `|(?:` + h16 + `:){1,7}:|(?:` + h16 + `:){1,6}:` + h16 +
			`|(?:` + h16 + `:){1,5}(?::` + h16 + `){1,2}|(?:` + h16 + `:){1,4}(?::` + h16 + `){1,3}` +
			`|(?:` + h16 + `:){1,3}(?::` + h16 + `){1,4}|(?:` + h16 + `:){1,2}(?::` + h16 + `){1,5}` +
			`|` + h16 + `:(?:(?::` + h16 + `){1,6})|:(?:(?::` + h16 + `){1,7}|:)` +
			`|fe80:(?::[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]+|::(?:ffff(?::0{1,4})?:)?` + v4 +
			`|(?:` + h16 + `:){1,4}:` + v4 + `\b`)},
	{name: "ip", wordStart: true, re: anchored(v4 + `\b`)},
	{name: "traceparent", wordStart: true, re: anchored(`00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]\b|1-[0-9a-f]{8}-[0-9a-f]{24}\b`)},
	{name: "uuid", wordStart: true, re: anchored(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b`)},
	{name: "sha1", wordStart: true, re: anchored(`[0-9a-fA-F]{40}\b`)},
	{name: "md5", wordStart: true, re: anchored(`[0-9a-fA-F]{32}\b`)},
	{name: "date", re: anchored(`(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat),\s\d{1,2}\s(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s\d{2,4}\s\d{1,2}:\d{1,2}(?::\d{1,2})?\s(?:[-\+][\d]{2}[0-5][\d]|(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z]))` +
		`|(?:(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat)\s)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s[0-3]\d,\s\d{2,4}` +
		`|(?:Sun|Sunday|Mon|Monday|Tue|Tuesday|Wed|Wednesday|Thu|Thursday|Fri|Friday|Sat|Saturday),\s\d{2}-(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{2}\s\d{2}:\d{2}:\d{2}\s(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z])` +
		`|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?(?:[+-]?\d{2}:\d{2})?` +
		`|(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat)\s(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s\d{2}\s\d{4}\s\d{2}:\d{2}:\d{2}\sGMT[+-]\d{4}(?:\s\([^)]+\))?` +
		`|\d{4}-?[01]\d-?[0-3]\d[\sT][0-2]\d:?[0-5]\d:?[0-5]\d\.\d+(?:[+-][0-2]\d:?[0-5]\d|Z)` +
		`|\d{4}-?[01]\d-?[0-3]\d[\sT][0-2]\d:?[0-5]\d:?[0-5]\d(?:[+-][0-2]\d:?[0-5]\d|Z)` +
		`|\d{4}-?[01]\d-?[0-3]\d[\sT][0-2]\d:?[0-5]\d(?:[+-][0-2]\d:?[0-5]\d|Z)` +
		`|\d{4}-?[01]\d-?[0-3]\d[\sT][0-2]\d:?[0-5]\d:?[0-5]\d\.\d+` +
		`|\d{4}-?[01]\d-?[0-3]\d[\sT][0-2]\d:?[0-5]\d:?[0-5]\d` +
		`|\d{4}-?[01]\d-?[0-3]\d[\sT][0-2]\d:?[0-5]\d`)},
	// Kitchen clocks, 12- and 24-hour: not after a digit, not followed by a
	// digit or a colon.
	{name: "date", notAfter: "digit", notBefore: "digit:", re: anchored(`(?:[1-9]|1[0-2]):[0-5]\d:[0-5]\d`)},
	{name: "date", notAfter: "digit", notBefore: "digit:", re: anchored(`(?:[1-9]|1[0-2]):[0-5]\d`)},
	{name: "date", notAfter: "digit", notBefore: "digit:", re: anchored(`(?:0?\d|1\d|2[0-3]):[0-5]\d:[0-5]\d`)},
	{name: "date", notAfter: "digit", notBefore: "digit:", re: anchored(`(?:0?\d|1\d|2[0-3]):[0-5]\d`)},
	{name: "date", re: anchored(`\d{4}-[01]\d-[0-3]\d|[0-2]\d:[0-5]\d:[0-5]\d` +
		`|\b(?:(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat)\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+[\d]{1,2}\s+[\d]{2}:[\d]{2}:[\d]{2}\s+[\d]{4}` +
		`|\b(?:(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat),\s+)?(?:0[1-9]|[1-2]?[\d]|3[01])\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+(?:19[\d]{2}|[2-9][\d]{3})\s+(?:2[0-3]|[0-1][\d]):[0-5][\d](?::(?:60|[0-5][\d]))?\s+(?:[-\+][\d]{2}[0-5][\d]|(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z]))` +
		`|datetime\.datetime\(.*?\)`)},
	{name: "duration", wordStart: true, re: anchored(`\d+ms`)},
	{name: "duration", re: anchored(`\d+(?:\.\d+)?s\b`)},
	{name: "swift_txn_id", wordStart: true, re: anchored(`tx[0-9a-f]{21}-[0-9a-f]{10}\S*`)},
	{name: "hex", wordStart: true, re: anchored(`0[xX][0-9a-fA-F]+\b`)},
	{name: "hex", wordStart: true, re: anchored(`[0-9a-f]{8,128}\b`), check: hasDigit},
	{name: "hex", wordStart: true, re: anchored(`[0-9A-F]{8,128}\b`), check: hasDigit},
	{name: "git_sha", wordStart: true, re: anchored(`[0-9a-f]{7}\b`), check: func(s string) bool {
		return hasDigit(s) && strings.ContainsAny(s, "abcdef")
	}},
	{name: "float", re: anchored(`-\d+\.\d+\b`)},
	{name: "float", wordStart: true, re: anchored(`\d+\.\d+\b`)},
	{name: "int", wordStart: true, re: anchored(`\d{1,7}\b`)},
	{name: "int", notAfter: "word", re: anchored(`-\d{1,7}\b`)},
	{name: "quoted_str", notAfter: "!=", re: anchored(`'[^']+'|"[^"]+"`)},
	{name: "bool", notAfter: "!=", re: anchored(`True|true|False|false`)},
}

// Which pattern can start at a character, to skip hopeless positions.
func canStart(c byte) bool {
	return c < utf8.RuneSelf && (c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
		strings.IndexByte(".!#$%&'*+/=?^_`{|}~-:\"", c) >= 0)
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func classOK(class string, r rune, has bool) bool {
	if !has {
		return true
	}
	switch class {
	case "":
		return true
	case "alnum_":
		return !(r < utf8.RuneSelf && (r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)))
	case "alnum":
		return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)))
	case "digit":
		return !unicode.IsDigit(r)
	case "digit:":
		return !unicode.IsDigit(r) && r != ':'
	case "word":
		return !isWordRune(r)
	case "!=": // must follow '='
		return r == '='
	}
	return true
}

// Parameterize replaces event-specific values with placeholders, scanning
// left to right as Sentry's combined regular expression does.
func Parameterize(s string) string {
	var b strings.Builder
	last := 0
	prev, hasPrev := rune(0), false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if canStart(s[i]) {
			atWord := isWordRune(r) && (!hasPrev || !isWordRune(prev))
			for pi := range patterns {
				p := &patterns[pi]
				if p.wordStart && !atWord {
					continue
				}
				if p.notAfter == "!=" {
					if !hasPrev || prev != '=' {
						continue
					}
				} else if !classOK(p.notAfter, prev, hasPrev) {
					continue
				}
				m := p.re.FindString(s[i:])
				if m == "" {
					continue
				}
				if p.notBefore != "" && i+len(m) < len(s) {
					next, _ := utf8.DecodeRuneInString(s[i+len(m):])
					if !classOK(p.notBefore, next, true) {
						continue
					}
				}
				if p.check != nil && !p.check(m) {
					continue
				}
				b.WriteString(s[last:i])
				b.WriteString("<" + p.name + ">")
				i += len(m)
				last = i
				prev, _ = utf8.DecodeLastRuneInString(m)
				hasPrev = true
				goto next
			}
		}
		prev, hasPrev = r, true
		i += size
	next:
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}
