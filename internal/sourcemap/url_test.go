package sourcemap

import (
	"slices"
	"testing"
)

func TestCandidates(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"http://example.com/static/app.js", []string{"http://example.com/static/app.js", "~/static/app.js"}},
		{"http://example.com/static/app.js?v=3#x", []string{"http://example.com/static/app.js?v=3", "http://example.com/static/app.js",
			"~/static/app.js?v=3", "~/static/app.js"}},
		{"app:///dist/main.js", []string{"app:///dist/main.js", "~/dist/main.js"}},
		{"~/static/app.js", []string{"~/static/app.js"}},
		{"/abs/file.js", []string{"/abs/file.js"}},
	} {
		if got := candidates(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("candidates(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestJoinAndFilenames(t *testing.T) {
	for _, tc := range []struct{ base, ref, want string }{
		{"http://example.com/static/app.js.map", "../src/a.js", "http://example.com/src/a.js"},
		{"http://example.com/static/app.js", "app.js.map", "http://example.com/static/app.js.map"},
		{"~/static/app.js.map", "../src/a.js", "~/src/a.js"},
		{"~/static/app.js.map", "webpack:///./src/x.tsx", "webpack:///./src/x.tsx"},
		{"http://example.com/a.js.map", "/root/b.js", "http://example.com/root/b.js"},
	} {
		if got := joinURL(tc.base, tc.ref); got != tc.want {
			t.Errorf("joinURL(%q, %q) = %q, want %q", tc.base, tc.ref, got, tc.want)
		}
	}
	for _, tc := range []struct {
		abs, filename, module string
		inApp                 bool
	}{
		{"webpack:///./src/x.tsx", "./src/x.tsx", "src/x", true},
		{"webpack://my-app/./src/x.tsx", "./src/x.tsx", "src/x", true},
		{"webpack:///./node_modules/react/index.js", "./node_modules/react/index.js", "react/index", false},
		{"webpack:///webpack/bootstrap", "webpack/bootstrap", "webpack/bootstrap", false},
		{"http://example.com/src/a.js", "/src/a.js", "src/a", true},
		{"http://example.com/node_modules/lib/x.js", "/node_modules/lib/x.js", "lib/x", false},
	} {
		f, m := originalFilename(tc.abs)
		if f != tc.filename || m != tc.module || isInApp(tc.abs) != tc.inApp {
			t.Errorf("%q: %q %q %v, want %+v", tc.abs, f, m, isInApp(tc.abs), tc)
		}
	}
	if got := sourceMappingURL([]byte("x\n//# sourceMappingURL=data:application/json;base64,e30=\n")); got != "data:application/json;base64,e30=" {
		t.Errorf("sourceMappingURL = %q", got)
	}
	if b, err := decodeDataURL("data:application/json;charset=utf-8;base64,e30="); err != nil || string(b) != "{}" {
		t.Errorf("decodeDataURL = %q, %v", b, err)
	}
}

func TestTrimLine(t *testing.T) {
	long := ""
	for i := 0; i < 40; i++ {
		long += "abcdefghij"
	}
	got := trimLine(long, 200)
	if len(got) != 140+len("{snip} ")+len(" {snip}") || got[:7] != "{snip} " {
		t.Errorf("trimLine = %q", got)
	}
	if trimLine("short", 3) != "short" {
		t.Error("a short line was cut")
	}
}
