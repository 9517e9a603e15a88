package artifact

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"unicode/utf8"
)

// BundleLimits bound what reading one bundle may cost. Sizes are counted
// as the bytes are inflated, never taken from the archive's headers, so a
// zip bomb stops at the limit.
type BundleLimits struct {
	MaxFiles     int   // files in the archive, manifest included
	MaxFileSize  int64 // one file, uncompressed
	MaxTotalSize int64 // every file together, uncompressed
}

// ErrBadBundle wraps every reason a bundle is refused; its message is
// shown to the uploader as the assemble's detail.
var ErrBadBundle = errors.New("invalid bundle")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadBundle, fmt.Sprintf(format, args...))
}

// Kinds of files a bundle holds.
const (
	KindSource         = "source"
	KindMinifiedSource = "minified_source"
	KindSourceMap      = "source_map"
)

// BundleFile is one file of a bundle.
type BundleFile struct {
	Path    string            // in the archive, under files/
	Type    string            // KindSource, KindMinifiedSource or KindSourceMap
	URL     string            // "~/app.min.js" or a full URL
	Headers map[string]string // lower-cased names
	Body    []byte
}

// Bundle is a read bundle: its attributes (debug_id, org, project,
// release, dist) and its files, ordered by path.
type Bundle struct {
	Attributes map[string]string
	Files      []BundleFile
}

// manifest is sentry-cli's manifest.json.
type manifest struct {
	Files map[string]struct {
		Type    string            `json:"type"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	} `json:"files"`
	Attributes map[string]string `json:"attributes"`
}

// maxManifest bounds manifest.json.
const maxManifest = 16 << 20

// ReadBundle reads a bundle as sentry-cli writes it: an optional SYSB
// header (magic and a 32-bit version), then a ZIP archive with a
// manifest.json naming each file's type, URL and headers. It refuses
// archives over the limits, paths that are absolute or climb out (..),
// and manifests that do not match the archive.
func ReadBundle(data []byte, lim BundleLimits) (*Bundle, error) {
	if bytes.HasPrefix(data, []byte("SYSB")) {
		if len(data) < 8 {
			return nil, bad("truncated header")
		}
		data = data[8:]
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, bad("not a ZIP archive")
	}
	if lim.MaxFiles > 0 && len(zr.File) > lim.MaxFiles {
		return nil, bad("%d files, more than the limit of %d", len(zr.File), lim.MaxFiles)
	}
	byName := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		if !safePath(f.Name) {
			return nil, bad("unsafe path %q", printable(f.Name))
		}
		if _, dup := byName[f.Name]; dup {
			return nil, bad("duplicate path %q", printable(f.Name))
		}
		byName[f.Name] = f
	}
	var total int64
	read := func(f *zip.File, max int64) ([]byte, error) {
		if lim.MaxTotalSize > 0 && lim.MaxTotalSize-total < max {
			max = lim.MaxTotalSize - total
		}
		rc, err := f.Open()
		if err != nil {
			return nil, bad("%s: %v", printable(f.Name), err)
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, max+1))
		if err != nil {
			return nil, bad("%s: %v", printable(f.Name), err)
		}
		if int64(len(b)) > max {
			return nil, bad("%s is larger than the limit (a file may inflate to %d bytes, a bundle to %d)",
				printable(f.Name), lim.MaxFileSize, lim.MaxTotalSize)
		}
		total += int64(len(b))
		return b, nil
	}
	mf, ok := byName["manifest.json"]
	if !ok {
		return nil, bad("no manifest.json")
	}
	raw, err := read(mf, maxManifest)
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, bad("manifest.json is not valid JSON")
	}
	b := &Bundle{Attributes: map[string]string{}}
	for k, v := range m.Attributes {
		b.Attributes[k] = v
	}
	paths := make([]string, 0, len(m.Files))
	for p := range m.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	fileMax := lim.MaxFileSize
	if fileMax <= 0 {
		fileMax = 1 << 62
	}
	for _, p := range paths {
		e := m.Files[p]
		if !safePath(p) {
			return nil, bad("unsafe path %q in the manifest", printable(p))
		}
		switch e.Type {
		case KindSource, KindMinifiedSource, KindSourceMap:
		case "indexed_ram_bundle":
			continue // React Native's: not served
		default:
			return nil, bad("%s: unknown type %q", printable(p), printable(e.Type))
		}
		if e.URL == "" || len(e.URL) > 2048 || !utf8.ValidString(e.URL) {
			return nil, bad("%s: a file needs a URL of at most 2048 bytes", printable(p))
		}
		f, ok := byName["files/"+p]
		if !ok {
			f, ok = byName[p]
		}
		if !ok || f.FileInfo().IsDir() {
			return nil, bad("%s is in the manifest but not in the archive", printable(p))
		}
		body, err := read(f, fileMax)
		if err != nil {
			return nil, err
		}
		h := make(map[string]string, len(e.Headers))
		for k, v := range e.Headers {
			h[strings.ToLower(k)] = v
		}
		b.Files = append(b.Files, BundleFile{Path: p, Type: e.Type, URL: e.URL, Headers: h, Body: body})
	}
	return b, nil
}

// safePath reports whether p is a relative path that stays inside the
// archive: not absolute, no backslashes, drive letters or NULs, and no
// "." or ".." segment.
func safePath(p string) bool {
	if p == "" || len(p) > 4096 || !utf8.ValidString(p) || strings.ContainsAny(p, "\\\x00") ||
		strings.HasPrefix(p, "/") || (len(p) >= 2 && p[1] == ':') {
		return false
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return path.Clean(p) == strings.TrimSuffix(p, "/")
}

// printable shortens s for an error message.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
