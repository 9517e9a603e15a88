package store

import (
	"strconv"
	"strings"
	"time"
)

// ClickHouse 18.16 has no server-side query parameters, so every value that
// reaches SQL text goes through one of these functions. Nothing else may
// splice a value into a statement.

// str renders s as a ClickHouse string literal.
func str(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case 0:
			b.WriteString(`\0`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// num renders an unsigned integer.
func num(v uint64) string { return strconv.FormatUint(v, 10) }

// ts renders t as a DateTime('UTC') literal.
func ts(t time.Time) string {
	return "toDateTime(" + str(t.UTC().Format(dateTimeLayout)) + ", 'UTC')"
}

// nums renders a tuple of unsigned integers for IN; an empty list renders a
// tuple that matches nothing.
func nums(vs []uint64) string {
	if len(vs) == 0 {
		return "(0)"
	}
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(num(v))
	}
	b.WriteByte(')')
	return b.String()
}

// strs renders a tuple of string literals for IN.
func strs(vs []string) string {
	if len(vs) == 0 {
		return "('')"
	}
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(str(v))
	}
	b.WriteByte(')')
	return b.String()
}

// ident renders a database or table name. Names come from configuration,
// never from requests; anything outside [A-Za-z0-9_] is rejected by
// Config.Validate, and backquotes keep reserved words safe.
func ident(s string) string { return "`" + s + "`" }

const dateTimeLayout = "2006-01-02 15:04:05"
