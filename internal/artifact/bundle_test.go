package artifact

import (
	"archive/zip"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// zipOf writes a ZIP archive of the files, in order, with the SYSB header
// when sysb is set.
func zipOf(t testing.TB, sysb bool, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if sysb {
		buf.WriteString("SYSB\x02\x00\x00\x00")
	}
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f[1])) //nolint:errcheck
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const testManifest = `{"files":{
 "_/_/app.min.js":{"type":"minified_source","url":"~/app.min.js","headers":{"Debug-Id":"0bf4d1a2-e9cc-5aa3-bdcb-535510848e95","Sourcemap":"app.min.js.map"}},
 "_/_/app.min.js.map":{"type":"source_map","url":"~/app.min.js.map","headers":{"debug-id":"0bf4d1a2-e9cc-5aa3-bdcb-535510848e95"}}},
 "attributes":{"org":"acme","release":"1.0","debug_id":"f2552277-1f7e-5117-83c2-99581ffce4ea"}}`

func goodFiles() [][2]string {
	return [][2]string{{"manifest.json", testManifest}, {"files/_/_/app.min.js", "function a(){}"}, {"files/_/_/app.min.js.map", `{"version":3}`}}
}

func TestReadBundle(t *testing.T) {
	lim := BundleLimits{MaxFiles: 10, MaxFileSize: 1 << 20, MaxTotalSize: 2 << 20}
	bomb := strings.Repeat("\x00", 4<<20)
	cases := []struct {
		name  string
		data  []byte
		lim   BundleLimits
		error string // "" for a bundle that reads
	}{
		{"sentry-cli's bundle", zipOf(t, true, goodFiles()...), lim, ""},
		{"without the SYSB header", zipOf(t, false, goodFiles()...), lim, ""},
		{"a zip entry climbing out", zipOf(t, true, append(goodFiles(), [2]string{"files/../../etc/x", "x"})...), lim, "unsafe path"},
		{"an absolute entry", zipOf(t, true, append(goodFiles(), [2]string{"/etc/passwd", "x"})...), lim, "unsafe path"},
		{"a backslash entry", zipOf(t, true, append(goodFiles(), [2]string{"files\\..\\x", "x"})...), lim, "unsafe path"},
		{"a climbing manifest path", zipOf(t, true, [2]string{"manifest.json", `{"files":{"../x":{"type":"source","url":"~/x"}}}`}), lim, "unsafe path"},
		{"a file over its limit (zip bomb)", zipOf(t, true, [2]string{"manifest.json", testManifest},
			[2]string{"files/_/_/app.min.js", bomb}, [2]string{"files/_/_/app.min.js.map", "{}"}), lim, "larger than the limit"},
		{"files over the total", zipOf(t, true, [2]string{"manifest.json", testManifest},
			[2]string{"files/_/_/app.min.js", bomb[:900<<10]}, [2]string{"files/_/_/app.min.js.map", bomb[:900<<10]}),
			BundleLimits{MaxFiles: 10, MaxFileSize: 1 << 20, MaxTotalSize: 1 << 20}, "larger than the limit"},
		{"too many files", zipOf(t, true, goodFiles()...), BundleLimits{MaxFiles: 2}, "more than the limit"},
		{"no manifest", zipOf(t, true, goodFiles()[1:]...), lim, "no manifest.json"},
		{"a manifest that is not JSON", zipOf(t, true, [2]string{"manifest.json", `{"files":`}), lim, "not valid JSON"},
		{"a manifest of the wrong shape", zipOf(t, true, [2]string{"manifest.json", `{"files":[1]}`}), lim, "not valid JSON"},
		{"an unknown type", zipOf(t, true, [2]string{"manifest.json", `{"files":{"a.js":{"type":"binary","url":"~/a.js"}}}`}, [2]string{"files/a.js", "x"}), lim, "unknown type"},
		{"a file without a URL", zipOf(t, true, [2]string{"manifest.json", `{"files":{"a.js":{"type":"source"}}}`}, [2]string{"files/a.js", "x"}), lim, "needs a URL"},
		{"a file missing from the archive", zipOf(t, true, [2]string{"manifest.json", testManifest}), lim, "not in the archive"},
		{"duplicate entries", zipOf(t, true, append(goodFiles(), [2]string{"manifest.json", "{}"})...), lim, "duplicate path"},
		{"not a ZIP", []byte("SYSB\x02\x00\x00\x00PK garbage"), lim, "not a ZIP"},
		{"a truncated header", []byte("SYSB"), lim, "truncated header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := ReadBundle(c.data, c.lim)
			if c.error != "" {
				if err == nil || !errors.Is(err, ErrBadBundle) || !strings.Contains(err.Error(), c.error) {
					t.Fatalf("got %v, want an invalid bundle error with %q", err, c.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Files) != 2 || b.Attributes["release"] != "1.0" || b.Attributes["debug_id"] == "" {
				t.Fatalf("read %+v", b)
			}
			min := b.Files[0]
			if min.URL != "~/app.min.js" || min.Type != KindMinifiedSource || string(min.Body) != "function a(){}" ||
				min.Headers["debug-id"] != "0bf4d1a2-e9cc-5aa3-bdcb-535510848e95" || min.Headers["sourcemap"] != "app.min.js.map" {
				t.Errorf("minified file: %+v", min)
			}
			if b.Files[1].Type != KindSourceMap || string(b.Files[1].Body) != `{"version":3}` {
				t.Errorf("map: %+v", b.Files[1])
			}
		})
	}
}

func TestNormalizeDebugID(t *testing.T) {
	for in, want := range map[string]string{
		"0BF4D1A2-E9CC-5AA3-BDCB-535510848E95":   "0bf4d1a2e9cc5aa3bdcb535510848e95",
		"0bf4d1a2e9cc5aa3bdcb535510848e95":       "0bf4d1a2e9cc5aa3bdcb535510848e95",
		"0bf4d1a2-e9cc-5aa3-bdcb-535510848e95-0": "0bf4d1a2e9cc5aa3bdcb535510848e95",
		"not-a-debug-id":                         "",
		"0bf4d1a2-e9cc-5aa3-bdcb-535510848e9z":   "",
		"":                                       "",
	} {
		if got := NormalizeDebugID(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// FuzzBundle feeds the bundle reader arbitrary bytes: it never panics,
// never returns more than the limits allow, and never a file whose path
// could leave the archive.
func FuzzBundle(f *testing.F) {
	f.Add(zipOf(f, true, goodFiles()...))
	f.Add(zipOf(f, false, goodFiles()...))
	f.Add(zipOf(f, true, [2]string{"manifest.json", `{"files":{"../x":{"type":"source","url":"~/x"}}}`}))
	f.Add([]byte("SYSB\x02\x00\x00\x00"))
	lim := BundleLimits{MaxFiles: 20, MaxFileSize: 64 << 10, MaxTotalSize: 256 << 10}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadBundle(data, lim)
		if err != nil {
			if !errors.Is(err, ErrBadBundle) {
				t.Fatalf("an error that is not ErrBadBundle: %v", err)
			}
			return
		}
		var total int64
		for _, f := range b.Files {
			if !safePath(f.Path) || strings.Contains(f.Path, "..") && strings.Contains("/"+f.Path+"/", "/../") {
				t.Fatalf("unsafe path %q", f.Path)
			}
			if int64(len(f.Body)) > lim.MaxFileSize {
				t.Fatalf("%s: %d bytes", f.Path, len(f.Body))
			}
			total += int64(len(f.Body))
		}
		if total > lim.MaxTotalSize {
			t.Fatalf("%d bytes in all", total)
		}
	})
}
