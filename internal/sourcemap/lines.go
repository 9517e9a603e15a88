package sourcemap

import (
	"strings"
	"unicode/utf8"
)

// lines is a source text with the offsets of its lines, built once.
type lines struct {
	text   string
	starts []int32
}

func newLines(text string) *lines {
	l := &lines{text: text, starts: make([]int32, 0, strings.Count(text, "\n")+1)}
	l.starts = append(l.starts, 0)
	for i := 0; i < len(text); {
		j := strings.IndexByte(text[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
		l.starts = append(l.starts, int32(i))
	}
	return l
}

func (l *lines) size() int64 { return int64(len(l.text)) + 4*int64(len(l.starts)) + 64 }

func (l *lines) len() int { return len(l.starts) }

// line returns line i (0-based) without its line break.
func (l *lines) line(i int) string {
	start := int(l.starts[i])
	end := len(l.text)
	if i+1 < len(l.starts) {
		end = int(l.starts[i+1]) - 1
	}
	s := l.text[start:end]
	return strings.TrimSuffix(s, "\r")
}

// lines returns the lines of source i's embedded content, split once and
// kept with the map.
func (m *Map) lines(i int) (*lines, bool) {
	if i < 0 || i >= len(m.Contents) || m.Contents[i] == nil {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.split == nil {
		m.split = make([]*lines, len(m.Contents))
	}
	if m.split[i] == nil {
		m.split[i] = newLines(*m.Contents[i])
	}
	return m.split[i], true
}

// maxLineLen is the longest context line kept whole; longer ones are cut
// to a window of lineWindow characters around the column, as Sentry does.
const (
	maxLineLen = 150
	lineWindow = 140
)

// contextAround returns n lines before line, the line itself (cut around
// col when long) and n lines after.
func contextAround(l *lines, line, col, n int) (pre []string, ctx string, post []string) {
	if l == nil || line < 0 || line >= l.len() {
		return nil, "", nil
	}
	for i := max(0, line-n); i < line; i++ {
		pre = append(pre, trimLine(l.line(i), 0))
	}
	ctx = trimLine(l.line(line), col)
	for i := line + 1; i <= line+n && i < l.len(); i++ {
		post = append(post, trimLine(l.line(i), 0))
	}
	return pre, ctx, post
}

func trimLine(s string, col int) string {
	if len(s) <= maxLineLen {
		return s
	}
	start := min(max(0, col-lineWindow/2), len(s)-lineWindow)
	end := start + lineWindow
	for start > 0 && !utf8.RuneStart(s[start]) {
		start--
	}
	for end < len(s) && !utf8.RuneStart(s[end]) {
		end++
	}
	out := s[start:end]
	if start > 0 {
		out = "{snip} " + out
	}
	if end < len(s) {
		out += " {snip}"
	}
	return out
}
