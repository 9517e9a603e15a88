package grouping

import (
	"strings"
	"testing"
)

func TestCollapseSpaces(t *testing.T) {
	for _, s := range []string{"", " ", "a", "a b", " a b", "a b ", "a  b", "a\tb", "\ta", "a\n", "  const x = 1;",
		"const x = 1;", "é b", "a\u00a0b", "a\u2003 b", "x\v", "a \r\nb"} {
		if got, want := collapseSpaces(s), strings.Join(strings.Fields(s), " "); got != want {
			t.Errorf("collapseSpaces(%q) = %q, want %q", s, got, want)
		}
	}
}

func FuzzCollapseSpaces(f *testing.F) {
	for _, s := range []string{"a  b", " a", "a\tb", "é b", "throw new Error(`x`);"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := collapseSpaces(s), strings.Join(strings.Fields(s), " "); got != want {
			t.Errorf("collapseSpaces(%q) = %q, want %q", s, got, want)
		}
	})
}
