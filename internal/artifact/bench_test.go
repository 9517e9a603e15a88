package artifact

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// benchBundle is a bundle of n minified files and their maps, each file
// about size bytes of JavaScript-like text.
func benchBundle(b *testing.B, n, size int) []byte {
	b.Helper()
	line := "function t(e,n){return e.map(function(r){return r*n+" + "1})}var a=t([1,2,3],4);"
	js := strings.Repeat(line, size/len(line)+1)[:size]
	files := [][2]string{}
	var m strings.Builder
	m.WriteString(`{"files":{`)
	for i := range n {
		if i > 0 {
			m.WriteString(",")
		}
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		fmt.Fprintf(&m, `"_/_/c%d.min.js":{"type":"minified_source","url":"~/c%d.min.js","headers":{"debug-id":%q,"sourcemap":"c%d.min.js.map"}},`, i, i, id, i)
		fmt.Fprintf(&m, `"_/_/c%d.min.js.map":{"type":"source_map","url":"~/c%d.min.js.map","headers":{"debug-id":%q}}`, i, i, id)
		files = append(files, [2]string{fmt.Sprintf("files/_/_/c%d.min.js", i), fmt.Sprintf("/*%d*/", i) + js},
			[2]string{fmt.Sprintf("files/_/_/c%d.min.js.map", i), fmt.Sprintf(`{"version":3,"file":"c%d","mappings":%q}`, i, js)})
	}
	m.WriteString(`},"attributes":{"release":"1.0"}}`)
	return zipOf(b, true, append([][2]string{{"manifest.json", m.String()}}, files...)...)
}

// BenchmarkReadBundle reads a bundle of 50 files and 50 maps of 100 KB.
func BenchmarkReadBundle(b *testing.B) {
	data := benchBundle(b, 50, 100<<10)
	b.SetBytes(100 * 100 << 10) // inflated
	b.ReportMetric(float64(len(data)), "bundle-bytes")
	b.ResetTimer()
	for range b.N {
		if _, err := ReadBundle(data, BundleLimits{MaxFiles: 1000, MaxFileSize: 40 << 20, MaxTotalSize: 256 << 20}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAssemble assembles that bundle (chunks read, checked, unzipped,
// files stored and indexed) on an embedded NATS server, and looks one file
// up by debug id.
func BenchmarkAssemble(b *testing.B) {
	data := benchBundle(b, 50, 100<<10)
	s := openStoreB(b)
	ctx := context.Background()
	if err := s.PutChunk(ctx, 7, hexSHA1(data), data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(100 * 100 << 10) // inflated
	b.ResetTimer()
	for i := range b.N {
		req := AssembleRequest{Kind: AssembleBundle, OrgID: 7, Checksum: hexSHA1(data), Chunks: []string{hexSHA1(data)},
			Projects: []uint64{uint64(i%2 + 1)}}
		if err := s.build(ctx, &req); err != nil {
			b.Fatal(err)
		}
		if err := s.PutChunk(ctx, 7, hexSHA1(data), data); err != nil { // build deletes its chunks
			b.Fatal(err)
		}
	}
}

// BenchmarkLookup finds a 100 KB map by debug id (index, record, object,
// checksum).
func BenchmarkLookup(b *testing.B) {
	data := benchBundle(b, 50, 100<<10)
	s := openStoreB(b)
	ctx := context.Background()
	if err := s.PutChunk(ctx, 7, hexSHA1(data), data); err != nil {
		b.Fatal(err)
	}
	if err := s.build(ctx, &AssembleRequest{Kind: AssembleBundle, OrgID: 7, Checksum: hexSHA1(data), Chunks: []string{hexSHA1(data)},
		Projects: []uint64{1}}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		a, err := s.ByDebugID(ctx, 1, "00000007-0000-4000-8000-000000000007", KindSourceMap)
		if err != nil || a == nil {
			b.Fatal(a, err)
		}
	}
}
