package grouping

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxMessage bounds the text parameterized (bytes): a message is trimmed
// to two lines first, and this keeps a hostile two-line megabyte from
// costing much. Sentry has no such bound; see GROUPING.md.
const maxMessage = 4096

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
	// suffix is an optional continuation after the look-ahead.
	suffix *regexp.Regexp
	// run is the class of the pattern's leading repetition ([x]+). If
	// the pattern failed one character earlier and that character is of
	// the class, it fails here too: skipping it keeps the scan linear on
	// long runs ("a.a.a.a..." is otherwise quadratic).
	run func(byte) bool
	// first lists the bytes a match can start with ("" for any); most
	// positions are ruled out without running an expression.
	first    string
	firstSet [256]bool
	// pre is a cheap necessary condition on the text from the position:
	// most attempts end here, without running the expression.
	pre func(rest string) bool
}

// Necessary conditions for the patterns, on the text from a position.

func runLen(s string, class func(byte) bool) int {
	n := 0
	for n < len(s) && class(s[n]) {
		n++
	}
	return n
}

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isAlnumDash(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '-'
}

// preEmail: a run of e-mail characters followed by "@".
func preEmail(s string) bool {
	n := runLen(s, isEmailChar)
	return n > 0 && n < len(s) && s[n] == '@'
}

// preHost: a label then a dot.
func preHost(s string) bool {
	n := runLen(s, isAlnumDash)
	return n > 0 && n < len(s) && s[n] == '.'
}

// preIPv6: at most four hex digits, then a colon.
func preIPv6(s string) bool {
	n := runLen(s, isHex)
	return n <= 4 && n < len(s) && s[n] == ':'
}

// preDigitsThen: digits, then one of the bytes in next.
func preDigitsThen(next string) func(string) bool {
	return func(s string) bool {
		n := runLen(s, isDigit)
		return n > 0 && n < len(s) && strings.IndexByte(next, s[n]) >= 0
	}
}

// preHexRun: a run of hex digits of a length within [lo, hi].
func preHexRun(lo, hi int) func(string) bool {
	return func(s string) bool {
		n := runLen(s, isHex)
		return n >= lo && n <= hi
	}
}

// preDate: four digits, a clock (digits then ':'), a day number then
// space, or a day or month name, or "datetime.".
func preDate(s string) bool {
	if len(s) == 0 {
		return false
	}
	if isDigit(s[0]) {
		n := runLen(s, isDigit)
		return n >= 4 || n < len(s) && (s[n] == ':' || s[n] == ' ' || s[n] == '\t')
	}
	if strings.HasPrefix(s, "datetime.") {
		return true
	}
	if len(s) < 3 {
		return false
	}
	return strings.Contains("Sun Mon Tue Wed Thu Fri Sat Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", s[:3])
}

func prePrefix(prefixes ...string) func(string) bool {
	return func(s string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(s, p) {
				return true
			}
		}
		return false
	}
}

const (
	digits    = "0123456789"
	hexLower  = digits + "abcdef"
	hexUpper  = digits + "ABCDEF"
	alnum     = digits + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	dayMonth  = "SMTWFJAOND"
	emailHead = alnum + ".!#$%&'*+/=?^_`{|}~-"
)

func isEmailChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", c) >= 0
}

func isHostChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

const tlds = `COM|NET|ORG|JP|DE|UK|FR|BR|IT|RU|ES|ME|GOV|PL|CA|AU|CN|CO|IN|NL|EDU|INFO|EU|CH|ID|AT|KR|CZ|MX|BE|TV|SE|TR|TW|AL|UA|IR|VN|CL|SK|LY|CC|TO|NO|FI|US|PT|DK|AR|HU|TK|GR|IL|NEWS|RO|MY|BIZ|IE|ZA|NZ|SG|EE|TH|IO|XYZ|PE|BG|HK|RS|LT|LINK|PH|CLUB|SI|SITE|MOBI|BY|CAT|WIKI|LA|GA|XXX|CF|HR|NG|JOBS|ONLINE|KZ|UG|GQ|AE|IS|LV|PRO|FM|TIPS|MS|SA|APP`

const (
	v4seg = `(?:25[0-5]|(?:2[0-4]|1?[0-9])?[0-9])`
	v4    = `(?:` + v4seg + `\.){3}` + v4seg
	h16   = `[0-9a-fA-F]{1,4}`
)

func anchored(s string) *regexp.Regexp { return regexp.MustCompile(`^(?:` + s + `)`) }

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }

// ipv6Alternatives are the alternatives of Sentry's IPv6 pattern, tried one
// by one: Python backtracks into the next alternative when the look-ahead
// after a match fails, which one RE2 expression cannot do.
var ipv6Alternatives = []string{
	`(?:` + h16 + `:){7}` + h16,
	`(?:` + h16 + `:){1,7}:`,
	`(?:` + h16 + `:){1,6}:` + h16,
	`(?:` + h16 + `:){1,5}(?::` + h16 + `){1,2}`,
	`(?:` + h16 + `:){1,4}(?::` + h16 + `){1,3}`,
	`(?:` + h16 + `:){1,3}(?::` + h16 + `){1,4}`,
	`(?:` + h16 + `:){1,2}(?::` + h16 + `){1,5}`,
	h16 + `:(?:(?::` + h16 + `){1,6})`,
	`:(?:(?::` + h16 + `){1,7}|:)`,
	`fe80:(?::[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]+`,
	`::(?:ffff(?::0{1,4})?:)?` + v4,
	`(?:` + h16 + `:){1,4}:` + v4 + `\b`,
}

// patterns are Sentry's DEFAULT_PARAMETERIZATION_REGEXES, in their order:
// at each position the first that matches wins.
var patterns = func() []pattern {
	var ps []pattern
	ps = append(ps, basePatterns[:3]...)
	for _, alt := range ipv6Alternatives {
		ps = append(ps, pattern{name: "ip", notAfter: "alnum_", notBefore: "alnum", first: hexLower + "ABCDEF:", pre: preIPv6, re: anchored(alt)})
	}
	ps = append(ps, basePatterns[3:]...)
	for i := range ps {
		for j := 0; j < 256; j++ {
			ps[i].firstSet[j] = ps[i].first == "" || strings.IndexByte(ps[i].first, byte(j)) >= 0
		}
	}
	return ps
}()

// runPatterns are the patterns with a leading run.
var runPatterns = func() (out []int) {
	for i := range patterns {
		if patterns[i].run != nil {
			out = append(out, i)
		}
	}
	return out
}()

// byFirst lists, for each byte, the patterns that can start with it, in
// order.
var byFirst = func() (out [256][]uint8) {
	for j := 0; j < 256; j++ {
		for i := range patterns {
			if patterns[i].firstSet[j] {
				out[j] = append(out[j], uint8(i))
			}
		}
	}
	return out
}()

// ampm is the optional suffix of a 12-hour clock.
var ampm = regexp.MustCompile(`^\s?[aApP][Mm]`)

var basePatterns = []pattern{
	{name: "email", run: isEmailChar, pre: preEmail, first: emailHead, re: anchored(`[a-zA-Z0-9.!#$%&'*+/=?^_` + "`" + `{|}~-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*`)},
	{name: "url", wordStart: true, pre: prePrefix("ws://", "wss://", "http://", "https://", "ftp://"), first: "whf", re: anchored(`(?:wss?|https?|ftp)://[^\s/$.?#].[^\s]*`)},
	{name: "hostname", wordStart: true, run: isHostChar, pre: preHost, first: alnum + "-", re: anchored(`(?:[a-zA-Z0-9\-]{1,63}\.)+?(?:` + tlds + `|` + strings.ToLower(tlds) + `)\b`)},
	{name: "ip", wordStart: true, first: digits, pre: preDigitsThen("."), re: anchored(v4 + `\b`)},
	{name: "traceparent", wordStart: true, pre: prePrefix("00-", "1-"), first: "01", re: anchored(`00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]\b|1-[0-9a-f]{8}-[0-9a-f]{24}\b`)},
	{name: "uuid", wordStart: true, pre: preHexRun(8, 8), first: hexLower + "ABCDEF", re: anchored(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b`)},
	{name: "sha1", wordStart: true, pre: preHexRun(40, 40), first: hexLower + "ABCDEF", re: anchored(`[0-9a-fA-F]{40}\b`)},
	{name: "md5", wordStart: true, pre: preHexRun(32, 32), first: hexLower + "ABCDEF", re: anchored(`[0-9a-fA-F]{32}\b`)},
	{name: "date", first: digits + dayMonth, pre: preDate, re: anchored(`(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat),\s\d{1,2}\s(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s\d{2,4}\s\d{1,2}:\d{1,2}(?::\d{1,2})?\s(?:[-\+][\d]{2}[0-5][\d]|(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z]))` +
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
	{name: "date", notAfter: "digit", notBefore: "digit:", pre: preDigitsThen(":"), re: anchored(`(?:[1-9]|1[0-2]):[0-5]\d:[0-5]\d`), suffix: ampm},
	{name: "date", notAfter: "digit", notBefore: "digit:", pre: preDigitsThen(":"), re: anchored(`(?:[1-9]|1[0-2]):[0-5]\d`), suffix: ampm},
	{name: "date", notAfter: "digit", notBefore: "digit:", pre: preDigitsThen(":"), re: anchored(`(?:0?\d|1\d|2[0-3]):[0-5]\d:[0-5]\d`)},
	{name: "date", notAfter: "digit", notBefore: "digit:", pre: preDigitsThen(":"), re: anchored(`(?:0?\d|1\d|2[0-3]):[0-5]\d`)},
	{name: "date", first: digits + dayMonth + "d", pre: preDate, re: anchored(`\d{4}-[01]\d-[0-3]\d|[0-2]\d:[0-5]\d:[0-5]\d` +
		`|\b(?:(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat)\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+[\d]{1,2}\s+[\d]{2}:[\d]{2}:[\d]{2}\s+[\d]{4}` +
		`|\b(?:(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat),\s+)?(?:0[1-9]|[1-2]?[\d]|3[01])\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+(?:19[\d]{2}|[2-9][\d]{3})\s+(?:2[0-3]|[0-1][\d]):[0-5][\d](?::(?:60|[0-5][\d]))?\s+(?:[-\+][\d]{2}[0-5][\d]|(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z]))` +
		`|datetime\.datetime\(.*?\)`)},
	{name: "duration", wordStart: true, first: digits, pre: preDigitsThen("m"), re: anchored(`\d+ms`)},
	{name: "duration", run: isDigit, first: digits, pre: preDigitsThen(".s"), re: anchored(`\d+(?:\.\d+)?s\b`)},
	{name: "swift_txn_id", wordStart: true, pre: prePrefix("tx"), first: "t", re: anchored(`tx[0-9a-f]{21}-[0-9a-f]{10}\S*`)},
	{name: "hex", wordStart: true, first: "0", pre: prePrefix("0x", "0X"), re: anchored(`0[xX][0-9a-fA-F]+\b`)},
	{name: "hex", wordStart: true, first: hexLower, pre: preHexRun(8, 128), re: anchored(`[0-9a-f]{8,128}\b`), check: hasDigit},
	{name: "hex", wordStart: true, first: hexUpper, pre: preHexRun(8, 128), re: anchored(`[0-9A-F]{8,128}\b`), check: hasDigit},
	{name: "git_sha", wordStart: true, first: hexLower, pre: preHexRun(7, 7), re: anchored(`[0-9a-f]{7}\b`), check: func(s string) bool {
		return hasDigit(s) && strings.ContainsAny(s, "abcdef")
	}},
	{name: "float", first: "-", re: anchored(`-\d+\.\d+\b`)},
	{name: "float", wordStart: true, first: digits, pre: preDigitsThen("."), re: anchored(`\d+\.\d+\b`)},
	{name: "int", wordStart: true, first: digits, re: anchored(`\d{1,7}\b`)},
	{name: "int", notAfter: "word", first: "-", re: anchored(`-\d{1,7}\b`)},
	{name: "quoted_str", notAfter: "!=", first: "'\"", re: anchored(`'[^']+'|"[^"]+"`)},
	{name: "bool", notAfter: "!=", first: "TtFf", re: anchored(`True|true|False|false`)},
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

// window bounds the text one pattern is tried on: Go's backtracking
// matcher clears state in proportion to its input, so trying every
// position with the whole rest would be quadratic. No realistic value is
// longer; a match that reaches the window's end is retried on the rest.
const window = 512

func find(re *regexp.Regexp, rest string) string {
	if len(rest) <= window {
		return re.FindString(rest)
	}
	m := re.FindString(rest[:window])
	if len(m) >= window-1 {
		m = re.FindString(rest)
	}
	return m
}

// Parameterize replaces event-specific values with placeholders, scanning
// left to right as Sentry's combined regular expression does.
func Parameterize(s string) string {
	var b strings.Builder
	last := 0
	prev, hasPrev := rune(0), false
	// failed[pi]: pattern pi (one with a leading run) failed at an earlier
	// position, and every byte since is of its run class, so it fails here.
	var failed [64]bool
	advance := func(span string) {
		for _, pi := range runPatterns {
			if p := &patterns[pi]; failed[pi] {
				for k := 0; k < len(span); k++ {
					if !p.run(span[k]) {
						failed[pi] = false
						break
					}
				}
			}
		}
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if cands := byFirst[s[i]]; len(cands) > 0 {
			atWord := isWordRune(r) && (!hasPrev || !isWordRune(prev))
			for _, pi := range cands {
				p := &patterns[pi]
				if p.wordStart && !atWord || p.run != nil && failed[pi] {
					continue
				}
				if p.notAfter == "!=" {
					if !hasPrev || prev != '=' {
						continue
					}
				} else if !classOK(p.notAfter, prev, hasPrev) {
					continue
				}
				var m string
				if p.pre == nil || p.pre(s[i:]) {
					m = find(p.re, s[i:])
				}
				ok := m != ""
				if ok && p.notBefore != "" && i+len(m) < len(s) {
					next, _ := utf8.DecodeRuneInString(s[i+len(m):])
					ok = classOK(p.notBefore, next, true)
				}
				if ok && p.check != nil {
					ok = p.check(m)
				}
				if !ok {
					if p.run != nil {
						failed[pi] = true
					}
					continue
				}
				if p.suffix != nil {
					m += p.suffix.FindString(s[i+len(m):])
				}
				b.WriteString(s[last:i])
				b.WriteString("<" + p.name + ">")
				advance(m)
				i += len(m)
				last = i
				prev, _ = utf8.DecodeLastRuneInString(m)
				hasPrev = true
				goto next
			}
		}
		advance(s[i : i+size])
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
