package store

import (
	"slices"
	"testing"
	"time"
)

func TestParseSemver(t *testing.T) {
	for _, c := range []struct {
		in   string
		ok   bool
		want Semver
	}{
		{"1.2.3", true, Semver{Major: 1, Minor: 2, Patch: 3}},
		{"shop@1.2.3-rc1+42", true, Semver{Package: "shop", Major: 1, Minor: 2, Patch: 3, Prerelease: "rc1", Build: "42"}},
		{"com.example.app@2.0.1.7", true, Semver{Package: "com.example.app", Major: 2, Patch: 1, Revision: 7}},
		{"1", true, Semver{Major: 1}},
		{"1.0+build", true, Semver{Major: 1, Build: "build"}},
		{"da39a3ee5e6b4b0d3255bfef95601890afd80709", false, Semver{}},
		{"1.2.3.4.5", false, Semver{}},
		{"v1.2", false, Semver{}},
		{"@1.2", false, Semver{}},
		{"1..2", false, Semver{}},
		{"1.2-", false, Semver{}},
		{"", false, Semver{}},
		{"99999999999999999999", false, Semver{}},
	} {
		got, ok := ParseSemver(c.in)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("ParseSemver(%q) = %+v, %v; want %+v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestReleaseOrderRules(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	vs := func(names ...string) []ReleaseProjectVersion {
		out := make([]ReleaseProjectVersion, len(names))
		for i, n := range names {
			out[i] = ReleaseProjectVersion{Version: n, DateAdded: base.Add(time.Duration(i) * time.Minute)}
		}
		return out
	}
	for _, c := range []struct {
		name  string
		added []string // in the order added
		want  []string
	}{
		{"semver", []string{"2.0.0", "1.0.0", "1.5.0"}, []string{"1.0.0", "1.5.0", "2.0.0"}},
		{"prerelease before release", []string{"1.0.0", "1.0.0-rc1"}, []string{"1.0.0-rc1", "1.0.0"}},
		{"not semver: by date", []string{"b", "a", "c"}, []string{"b", "a", "c"}},
		{"latest of two is not semver", []string{"2.0.0", "abc"}, []string{"2.0.0", "abc"}},
		{"one of the latest three is semver", []string{"x", "y", "3.0.0", "z", "2.0.0"}, []string{"x", "y", "z", "2.0.0", "3.0.0"}},
		{"ten: fewer than 3 of 10 semver", []string{"1.0.0", "a", "b", "c", "d", "e", "f", "g", "h", "2.0.0"},
			[]string{"1.0.0", "a", "b", "c", "d", "e", "f", "g", "h", "2.0.0"}},
		{"ten: 3 of 10 semver", []string{"3.0.0", "a", "b", "c", "d", "e", "f", "g", "1.0.0", "2.0.0"},
			[]string{"a", "b", "c", "d", "e", "f", "g", "1.0.0", "2.0.0", "3.0.0"}},
	} {
		if got := ReleaseOrder(vs(c.added...)); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// FuzzParseSemver: versions come from events and clients; parsing never
// panics, and what parses compares equal to itself.
func FuzzParseSemver(f *testing.F) {
	for _, s := range []string{"1.2.3", "a@1.2.3-rc.1+7", "@", "1.-", "+", "1.2.3.4.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := ParseSemver(s)
		if ok && v.Compare(v) != 0 {
			t.Fatalf("%q does not compare equal to itself", s)
		}
	})
}
