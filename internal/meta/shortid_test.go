package meta

import "testing"

func TestShortID(t *testing.T) {
	for _, c := range []struct {
		slug string
		n    uint64
		want string
	}{
		{"web", 0, "WEB-0"},
		{"web", 1, "WEB-1"},
		{"web", 31, "WEB-Z"},
		{"web", 32, "WEB-10"},
		{"web", 115, "WEB-3K"},
		{"my-shop", 1024, "MY-SHOP-100"},
	} {
		if got := ShortID(c.slug, c.n); got != c.want {
			t.Errorf("ShortID(%q, %d) = %q, want %q", c.slug, c.n, got, c.want)
		}
	}
}
