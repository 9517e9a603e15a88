package main

import "testing"

// The issue asks for a typical event of about 4 KB and a large one of
// about 11 KB (25 frames, 20 breadcrumbs); keep the shapes honest.
func TestShapeSizes(t *testing.T) {
	for _, tc := range []struct {
		shape    string
		min, max int
	}{
		{"typical", 3500, 4500},
		{"large", 10500, 12500},
	} {
		g := newGenerator(shapes[tc.shape], 50)
		if g.rawLen < tc.min || g.rawLen > tc.max {
			t.Errorf("%s: %d bytes raw, want %d..%d", tc.shape, g.rawLen, tc.min, tc.max)
		}
		if c := g.compressedLen(); c >= g.rawLen/2 {
			t.Errorf("%s: gzip %d of %d raw, expected real compression", tc.shape, c, g.rawLen)
		}
	}
}
