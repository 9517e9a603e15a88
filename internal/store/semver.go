package store

import (
	"strconv"
	"strings"
)

// Semver is a release version parsed as Sentry parses versions for its
// semantic-version order: an optional "package@" prefix, then
// MAJOR[.MINOR[.PATCH[.REVISION]]], an optional -PRERELEASE and an
// optional +BUILD.
type Semver struct {
	Package    string
	Major      uint64
	Minor      uint64
	Patch      uint64
	Revision   uint64
	Prerelease string
	Build      string
}

// maxVersionLen bounds what is parsed: versions are at most 200
// characters in Sentry.
const maxVersionLen = 200

// ParseSemver parses a release version; ok is false for a version that
// does not follow semantic versioning (a commit hash, a date...).
func ParseSemver(v string) (Semver, bool) {
	var s Semver
	if v == "" || len(v) > maxVersionLen {
		return s, false
	}
	if i := strings.LastIndexByte(v, '@'); i >= 0 {
		s.Package, v = v[:i], v[i+1:]
		if s.Package == "" {
			return s, false
		}
	}
	if i := strings.IndexByte(v, '+'); i >= 0 {
		s.Build, v = v[i+1:], v[:i]
		if s.Build == "" {
			return s, false
		}
	}
	if i := strings.IndexByte(v, '-'); i >= 0 {
		s.Prerelease, v = v[i+1:], v[:i]
		if s.Prerelease == "" {
			return s, false
		}
	}
	parts := strings.Split(v, ".")
	if len(parts) > 4 {
		return s, false
	}
	dst := []*uint64{&s.Major, &s.Minor, &s.Patch, &s.Revision}
	for i, p := range parts {
		if p == "" || len(p) > 18 || strings.TrimLeft(p, "0123456789") != "" {
			return s, false
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return s, false
		}
		*dst[i] = n
	}
	return s, true
}

// Compare orders two versions as Sentry's semver sort does: by major,
// minor, patch and revision; then a release without a prerelease after
// one with; then prerelease and build, as text. It returns -1, 0 or 1.
func (a Semver) Compare(b Semver) int {
	for _, d := range [][2]uint64{{a.Major, b.Major}, {a.Minor, b.Minor}, {a.Patch, b.Patch}, {a.Revision, b.Revision}} {
		switch {
		case d[0] < d[1]:
			return -1
		case d[0] > d[1]:
			return 1
		}
	}
	switch {
	case a.Prerelease == "" && b.Prerelease != "":
		return 1
	case a.Prerelease != "" && b.Prerelease == "":
		return -1
	}
	if c := strings.Compare(a.Prerelease, b.Prerelease); c != 0 {
		return c
	}
	return strings.Compare(a.Build, b.Build)
}
