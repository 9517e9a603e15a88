package envelope

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b) //nolint:errcheck
	w.Close()
	return buf.Bytes()
}

func zlibbed(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b) //nolint:errcheck
	w.Close()
	return buf.Bytes()
}

func zstded(b []byte) []byte {
	e, _ := zstd.NewWriter(nil)
	defer e.Close()
	return e.EncodeAll(b, nil)
}

// zstdWindow compresses b as a stream (no content size) whose frame
// declares window.
func zstdWindow(b []byte, window int) []byte {
	var buf bytes.Buffer
	e, _ := zstd.NewWriter(&buf, zstd.WithWindowSize(window), zstd.WithSingleSegment(false))
	e.ReadFrom(bytes.NewReader(b)) //nolint:errcheck
	e.Close()
	return buf.Bytes()
}

func TestPeekCost(t *testing.T) {
	if c := PeekCost(""); c != MaxPeekDecoded {
		t.Errorf("identity: %d", c)
	}
	// A zstd decoder's history ring is charged, not only the output.
	if c := PeekCost("zstd"); c < MaxPeekDecoded+peekZstdWindow+256<<10 {
		t.Errorf("zstd: %d", c)
	}
	if PeekCost("gzip, zstd") <= PeekCost("zstd") {
		t.Error("stacked encodings cost no more")
	}
}

// TestPeekDecoded: a prefix of a compressed body, however much it claims
// to inflate to, yields at most the bound; what it decodes is the body's
// start.
func TestPeekDecoded(t *testing.T) {
	env := []byte(`{"dsn":"https://abc@o.example/42"}` + "\n" + `{"type":"event"}` + "\n{}\n")
	bomb := bytes.Repeat([]byte{0}, 64<<20)
	gzBomb := gzipped(gzipped(bomb))
	zsBomb := zstded(bomb)
	tests := []struct {
		name     string
		prefix   []byte
		encoding string
		max      int
		want     []byte // prefix of the output; nil to only check the length
		maxLen   int
		err      error
	}{
		{"identity", env, "", 0, env, len(env), nil},
		{"identity, bounded", env, "identity", 5, env[:5], 5, nil},
		{"gzip", gzipped(env), "gzip", 0, env, len(env), nil},
		{"gzip cut short", gzipped(env)[:20], "gzip", 0, nil, len(env), nil},
		{"deflate as zlib", zlibbed(env), "deflate", 0, env, len(env), nil},
		{"zstd", zstded(env), "zstd", 0, env, len(env), nil},
		{"gzip, gzip bomb", gzBomb, "gzip, gzip", 0, nil, MaxPeekDecoded, nil},
		{"zstd bomb is not peeked", zsBomb, "zstd", 1 << 10, nil, 0, ErrPeekEncoding},
		{"brotli is not peeked", []byte{1, 2, 3}, "br", 0, nil, 0, ErrPeekEncoding},
		{"zstd with a 1 MiB window is not peeked", zstdWindow(bomb[:2<<20], 1<<20), "zstd", 0, nil, 0, ErrPeekEncoding},
		{"zstd with a 64 KiB window", zstdWindow(bomb[:2<<20], 64<<10), "zstd", 0, nil, MaxPeekDecoded, nil},
		{"unknown coding", env, "compress", 0, nil, 0, ErrBadEncoding},
		{"too many codings", env, "gzip,gzip,gzip,gzip,gzip", 0, nil, 0, ErrBadEncoding},
		{"not gzip", env, "gzip", 0, nil, 0, ErrBadEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PeekDecoded(tt.prefix, tt.encoding, tt.max)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) > tt.maxLen {
				t.Fatalf("decoded %d bytes, bound %d", len(got), tt.maxLen)
			}
			if tt.want != nil && !bytes.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if tt.want == nil && !bytes.HasPrefix(bomb, got) && !bytes.HasPrefix(env, got) {
				t.Fatalf("got %q, not a prefix of the body", got[:min(len(got), 40)])
			}
		})
	}
}

func TestPeekDSN(t *testing.T) {
	tests := []struct {
		name     string
		head     string
		complete bool
		want     string
		err      error
	}{
		{"dsn", `{"dsn":"https://k@h/1","event_id":null}` + "\n{}", false, "https://k@h/1", nil},
		{"leading blank lines", "\n\n" + `{"dsn":"https://k@h/1"}` + "\n", false, "https://k@h/1", nil},
		{"no dsn", `{"event_id":"` + "0123456789abcdef0123456789abcdef" + `"}` + "\n", false, "", nil},
		{"header only, whole body", `{"dsn":"https://k@h/1"}`, true, "https://k@h/1", nil},
		{"header goes on past the peek", `{"dsn":"https://k@h/1","x":"`, false, "", nil},
		{"not an object", "[1]\n", false, "", ErrMalformed},
		{"dsn not a string", `{"dsn":1}` + "\n", false, "", ErrMalformed},
		{"empty body", "", true, "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PeekDSN([]byte(tt.head), tt.complete)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("PeekDSN = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// FuzzPeek: whatever the prefix and the coding, the peek never decodes
// more than its bound and never panics; a dsn it finds is in the header.
func FuzzPeek(f *testing.F) {
	env := []byte(`{"dsn":"https://abc@o.example/42"}` + "\n{}\n")
	f.Add(env, "")
	f.Add(gzipped(env), "gzip")
	f.Add(gzipped(gzipped(env)), "gzip, gzip")
	f.Add(zlibbed(env), "deflate")
	f.Add(zstded(env), "zstd")
	f.Add(gzipped(bytes.Repeat([]byte("a"), 1<<20))[:100], "gzip")
	f.Fuzz(func(t *testing.T, prefix []byte, encoding string) {
		head, err := PeekDecoded(prefix, encoding, 0)
		if err != nil {
			return
		}
		if len(head) > MaxPeekDecoded {
			t.Fatalf("decoded %d bytes", len(head))
		}
		for _, complete := range []bool{false, true} {
			dsn, err := PeekDSN(head, complete)
			if err == nil && dsn != "" && !bytes.Contains(head, []byte("dsn")) {
				t.Fatalf("dsn %q from a header without one", dsn)
			}
		}
	})
}

// TestDecodeCharged: what a decode takes is charged before it is taken,
// at least the output and the decoder's window, and a refusal stops the
// decode with the charger's own error.
func TestDecodeCharged(t *testing.T) {
	body := bytes.Repeat([]byte(`{"message":"x"}`), 10000)
	refused := errors.New("budget exhausted")
	tests := []struct {
		name     string
		in       []byte
		encoding string
		budget   int
		err      error
	}{
		{"gzip within budget", gzipped(body), "gzip", 1 << 20, nil},
		{"zstd within budget", zstded(body), "zstd", 16 << 20, nil},
		{"gzip over budget", gzipped(body), "gzip", 64 << 10, refused},
		{"gzip, gzip over budget", gzipped(gzipped(body)), "gzip, gzip", 100 << 10, refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			charged := 0
			out, err := DecodeCharged(tt.in, tt.encoding, 0, func(n int) error {
				if charged+n > tt.budget {
					return refused
				}
				charged += n
				return nil
			})
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err == nil && (!bytes.Equal(out, body) || charged < len(out)+32<<10) {
				t.Fatalf("decoded %d bytes, charged %d", len(out), charged)
			}
		})
	}
}
