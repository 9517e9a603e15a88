package envelope

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

func compress(t testing.TB, enc string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch enc {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "zlib":
		w = zlib.NewWriter(&buf)
	case "flate":
		w, err = flate.NewWriter(&buf, flate.DefaultCompression)
	case "br":
		w = brotli.NewWriterLevel(&buf, 1)
	case "zstd":
		w, err = zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	default:
		t.Fatalf("unknown test encoding %q", enc)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecode(t *testing.T) {
	plain := []byte(`{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","message":"` + strings.Repeat("hello ", 500) + `"}`)
	tests := []struct {
		name     string
		body     []byte
		encoding string
	}{
		{"none", plain, ""},
		{"identity", plain, "identity"},
		{"gzip", compress(t, "gzip", plain), "gzip"},
		{"x-gzip", compress(t, "gzip", plain), "x-gzip"},
		{"GZIP upper", compress(t, "gzip", plain), " GZIP "},
		{"deflate zlib", compress(t, "zlib", plain), "deflate"},
		{"deflate raw", compress(t, "flate", plain), "deflate"},
		{"br", compress(t, "br", plain), "br"},
		{"zstd", compress(t, "zstd", plain), "zstd"},
		{"stacked gzip,br", compress(t, "br", compress(t, "gzip", plain)), "gzip, br"},
		{"stacked with identity", compress(t, "zstd", compress(t, "zlib", plain)), "identity,deflate,,zstd"},
		{"gzip multistream", append(compress(t, "gzip", plain[:100]), compress(t, "gzip", plain[100:])...), "gzip"},
		{"zstd multi frame", append(compress(t, "zstd", plain[:100]), compress(t, "zstd", plain[100:])...), "zstd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.body, tt.encoding, MaxEventSize)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("Decode returned %d bytes, want %d", len(got), len(plain))
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	plain := bytes.Repeat([]byte("abcdefgh"), 1000)
	gz := compress(t, "gzip", plain)
	tests := []struct {
		name     string
		body     []byte
		encoding string
		limit    int
		want     error
	}{
		{"unknown encoding", gz, "compress", 1 << 20, ErrBadEncoding},
		{"unknown in stack", gz, "gzip, lz4", 1 << 20, ErrBadEncoding},
		{"too many stacked", gz, "gzip,gzip,gzip,gzip,gzip", 1 << 20, ErrBadEncoding},
		{"corrupt gzip", []byte("not gzip at all"), "gzip", 1 << 20, ErrBadEncoding},
		{"truncated gzip", gz[:len(gz)/2], "gzip", 1 << 20, ErrBadEncoding},
		{"gzip bad crc", append(append([]byte{}, gz[:len(gz)-8]...), 0, 0, 0, 0, 0, 0, 0, 0), "gzip", 1 << 20, ErrBadEncoding},
		{"gzip trailing garbage", append(append([]byte{}, gz...), "garbage"...), "gzip", 1 << 20, ErrBadEncoding},
		{"corrupt deflate", []byte{0xff, 0xff, 0xff, 0xff}, "deflate", 1 << 20, ErrBadEncoding},
		{"corrupt br", []byte("definitely not brotli data"), "br", 1 << 20, ErrBadEncoding},
		{"corrupt zstd", []byte("\x28\xb5\x2f\xfdgarbage"), "zstd", 1 << 20, ErrBadEncoding},
		{"not zstd", []byte("plain"), "zstd", 1 << 20, ErrBadEncoding},
		{"identity over limit", plain, "", 100, ErrTooLarge},
		{"gzip over limit", gz, "gzip", len(plain) - 1, ErrTooLarge},
		{"zstd over limit", compress(t, "zstd", plain), "zstd", len(plain) - 1, ErrTooLarge},
		{"br over limit", compress(t, "br", plain), "br", len(plain) - 1, ErrTooLarge},
		{"deflate over limit", compress(t, "zlib", plain), "deflate", len(plain) - 1, ErrTooLarge},
		{"raw deflate over limit", compress(t, "flate", plain), "deflate", len(plain) - 1, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.body, tt.encoding, tt.limit)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %d bytes, %v; want %v", len(got), err, tt.want)
			}
		})
	}
	// Exactly at the limit is fine.
	if got, err := Decode(gz, "gzip", len(plain)); err != nil || len(got) != len(plain) {
		t.Fatalf("Decode at exact limit = %d, %v", len(got), err)
	}
	// Empty bodies decode to empty for any known encoding.
	for _, enc := range []string{"", "gzip", "deflate", "br", "zstd"} {
		if got, err := Decode(nil, enc, 10); err != nil || len(got) != 0 {
			t.Fatalf("Decode(empty, %q) = %q, %v", enc, got, err)
		}
	}
}

// bomb returns a body that decompresses to n MiB of zeros, built by
// repeating one compressed 16 MiB member (gzip members and zstd frames may
// be concatenated), so building a 1 GiB bomb is cheap.
func bomb(t testing.TB, enc string, mib int) []byte {
	chunkMiB := min(16, mib)
	member := compress(t, enc, make([]byte, chunkMiB<<20))
	if enc != "gzip" && enc != "zstd" {
		if mib != chunkMiB {
			t.Fatalf("%s members cannot be concatenated", enc)
		}
		return member
	}
	return bytes.Repeat(member, mib/chunkMiB)
}

// TestDecodeZipBomb checks that a small body expanding to 1 GiB is refused
// quickly and that refusing it allocates about limit bytes, not 1 GiB.
func TestDecodeZipBomb(t *testing.T) {
	const limit = 1 << 20
	bombs := []struct {
		enc, ce string
		mib     int
	}{
		{"gzip", "gzip", 1024},
		{"zstd", "zstd", 1024},
		{"zlib", "deflate", 16},
		{"flate", "deflate", 16},
		{"br", "br", 16},
	}
	for _, b := range bombs {
		t.Run(b.enc, func(t *testing.T) {
			body := bomb(t, b.enc, b.mib)
			t.Logf("%s: %d compressed bytes -> %d MiB", b.enc, len(body), b.mib)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			out, err := Decode(body, b.ce, limit)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode = %d bytes, %v; want ErrTooLarge", len(out), err)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("refused in %v, allocated %d KiB", elapsed, alloc>>10)
			// limit plus decoder state (brotli and zstd windows are the
			// largest, at most a few MiB for these inputs).
			if alloc > 3*limit+(16<<20) {
				t.Fatalf("allocated %d bytes to refuse a bomb with limit %d", alloc, limit)
			}
			if elapsed > 5*time.Second {
				t.Fatalf("took %v to refuse a bomb", elapsed)
			}
		})
	}
}

// TestDecodeZstdDeclaredSize checks that a zstd frame header claiming a
// huge content size is refused without allocating it.
func TestDecodeZstdDeclaredSize(t *testing.T) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	frame := enc.EncodeAll(make([]byte, 64<<20), nil)
	enc.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = Decode(frame, "zstd", 1<<20)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Decode = %v, want ErrTooLarge", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Fatalf("allocated %d bytes for a frame declaring 64 MiB", alloc)
	}
}

func TestDecodeLegacyStore(t *testing.T) {
	event := []byte(`{"message":"raven says hi","event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}`)
	z := compress(t, "zlib", event)
	raw := compress(t, "flate", event)
	wrapped := base64.StdEncoding.EncodeToString(z)
	var lines []string
	for s := wrapped; len(s) > 0; {
		n := min(16, len(s))
		lines = append(lines, s[:n])
		s = s[n:]
	}
	tests := []struct {
		name string
		body []byte
	}{
		{"plain json", event},
		{"plain json with whitespace", append([]byte("\n  "), event...)},
		{"raven base64 zlib", []byte(base64.StdEncoding.EncodeToString(z))},
		{"raw std no padding", []byte(base64.RawStdEncoding.EncodeToString(z))},
		{"url alphabet", []byte(base64.URLEncoding.EncodeToString(z))},
		{"url no padding", []byte(base64.RawURLEncoding.EncodeToString(z))},
		{"line wrapped", []byte(strings.Join(lines, "\r\n") + "\n")},
		{"base64 raw deflate", []byte(base64.StdEncoding.EncodeToString(raw))},
		{"base64 plain json", []byte(base64.StdEncoding.EncodeToString(event))},
		{"binary zlib without base64", z},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeLegacyStore(tt.body, MaxEventSize)
			if err != nil {
				t.Fatalf("DecodeLegacyStore: %v", err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), event) {
				t.Fatalf("DecodeLegacyStore = %q", got)
			}
		})
	}
	bad := []struct {
		name string
		body []byte
		want error
	}{
		{"garbage", []byte("hello world!"), ErrBadEncoding},
		{"empty", nil, ErrBadEncoding},
		{"base64 of garbage", []byte(base64.StdEncoding.EncodeToString([]byte("not compressed"))), ErrBadEncoding},
		{"json over limit", event, ErrTooLarge},
		{"bomb", []byte(base64.StdEncoding.EncodeToString(compress(t, "zlib", make([]byte, 64<<20)))), ErrTooLarge},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			limit := 1 << 20
			if tt.name == "json over limit" {
				limit = 10
			}
			got, err := DecodeLegacyStore(tt.body, limit)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeLegacyStore = %q, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestReadLimitedStall(t *testing.T) {
	_, err := readLimited(stallReader{}, 100, 10, nil)
	if !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("readLimited on a stalling reader = %v", err)
	}
}

type stallReader struct{}

func (stallReader) Read([]byte) (int, error) { return 0, nil }

// TestReleaseReuse decodes into recycled buffers: a buffer handed back
// with Release must never leak one body's bytes into the next.
func TestReleaseReuse(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s)) //nolint:errcheck
		w.Close()
		return b.Bytes()
	}
	bodies := []string{strings.Repeat("a", 5000), "short", strings.Repeat("xyz", 3000), "", strings.Repeat("b", 100)}
	for round := 0; round < 3; round++ {
		for _, want := range bodies {
			got, err := Decode(gz(want), "gzip", 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Fatalf("round %d: got %d bytes %.10q, want %d bytes", round, len(got), got, len(want))
			}
			Release(got)
		}
	}
	// Over the limit stays an error with a recycled buffer at hand.
	Release(make([]byte, 0, 64<<10))
	if _, err := Decode(gz(strings.Repeat("c", 2000)), "gzip", 1000); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}
