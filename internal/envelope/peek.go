package envelope

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// MaxPeekDecoded bounds what PeekDecoded inflates: enough for an envelope
// header (which carries the dsn) or the start of an XML notice.
const MaxPeekDecoded = 64 << 10

// peekZstdWindow bounds a zstd window while peeking: the peek runs before
// the request is authenticated, so it must stay cheap. A frame with a
// larger window cannot be peeked into (ErrPeekEncoding).
const peekZstdWindow = 64 << 10

// PeekCost bounds the memory PeekDecoded may hold for a body sent with
// contentEncoding: the bytes it returns plus each decoder's state (a zstd
// decoder allocates its history ring, about the window plus two blocks of
// 128 KiB, up front). Ingest charges it to its byte budget before peeking.
func PeekCost(contentEncoding string) int {
	cost := MaxPeekDecoded
	for rest := contentEncoding; rest != ""; {
		var tok string
		tok, rest, _ = strings.Cut(rest, ",")
		switch strings.ToLower(strings.TrimSpace(tok)) {
		case "", "identity":
		case "zstd":
			cost += peekZstdWindow + 2*(128<<10) + 64<<10
		default:
			cost += 64 << 10 // a flate window and its buffers
		}
	}
	return cost
}

// ErrPeekEncoding means the body's Content-Encoding cannot be peeked into
// (brotli, or a zstd frame with a large window): only the full, budgeted
// decode can read it, which needs credentials first.
var ErrPeekEncoding = errors.New("content encoding cannot be peeked")

// PeekDecoded returns up to max bytes (at most MaxPeekDecoded) of what
// prefix, the start of a body sent with contentEncoding, decodes to. The
// prefix may end in the middle of a compressed stream: what could be
// decoded is returned. It never inflates more than max bytes, whatever the
// prefix claims. Brotli is not peeked (its window is up to 16 MiB):
// ErrPeekEncoding.
func PeekDecoded(prefix []byte, contentEncoding string, max int) ([]byte, error) {
	if max <= 0 || max > MaxPeekDecoded {
		max = MaxPeekDecoded
	}
	var r io.Reader = bytes.NewReader(prefix)
	var stack [maxStackedEncodings]string
	codings := stack[:0]
	for rest := contentEncoding; rest != ""; {
		var tok string
		tok, rest, _ = strings.Cut(rest, ",")
		tok = strings.ToLower(strings.TrimSpace(tok))
		if tok == "" || tok == "identity" {
			continue
		}
		if len(codings) == maxStackedEncodings {
			return nil, fmt.Errorf("%w: more than %d stacked content encodings", ErrBadEncoding, maxStackedEncodings)
		}
		codings = append(codings, tok)
	}
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for i := len(codings) - 1; i >= 0; i-- {
		switch codings[i] {
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(r)
			if err != nil {
				return nil, fmt.Errorf("%w: gzip: %v", ErrBadEncoding, err)
			}
			r = zr
		case "deflate":
			br := &peekBuf{r: r}
			hdr := br.peek(2)
			if looksZlib(hdr) {
				zr, err := zlib.NewReader(br)
				if err != nil {
					return nil, fmt.Errorf("%w: deflate: %v", ErrBadEncoding, err)
				}
				r = zr
			} else {
				r = flate.NewReader(br)
			}
		case "zstd":
			zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(peekZstdWindow), zstd.WithDecoderMaxMemory(uint64(peekZstdWindow)))
			if err != nil {
				return nil, fmt.Errorf("%w: zstd: %v", ErrBadEncoding, err)
			}
			closers = append(closers, zr.Close)
			r = zr
		case "br":
			return nil, ErrPeekEncoding
		default:
			return nil, fmt.Errorf("%w: unsupported content encoding %q", ErrBadEncoding, printable(codings[i], 32))
		}
	}
	out := make([]byte, 0, min(max, 4<<10))
	buf := make([]byte, 4<<10)
	for len(out) < max {
		n, err := r.Read(buf[:min(len(buf), max-len(out))])
		out = append(out, buf[:n]...)
		if err != nil {
			if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
				return nil, ErrPeekEncoding
			}
			// EOF, or a stream cut where the prefix ends: keep what was
			// decoded. Corrupt data only yields less.
			break
		}
		if n == 0 {
			break
		}
	}
	return out, nil
}

// peekBuf lets the zlib sniffing look at two bytes without losing them.
type peekBuf struct {
	r   io.Reader
	buf []byte
}

func (p *peekBuf) peek(n int) []byte {
	for len(p.buf) < n {
		b := make([]byte, n-len(p.buf))
		m, err := p.r.Read(b)
		p.buf = append(p.buf, b[:m]...)
		if err != nil || m == 0 {
			break
		}
	}
	return p.buf
}

func (p *peekBuf) Read(b []byte) (int, error) {
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// ReadByte keeps flate from wrapping the reader in a bufio.Reader.
func (p *peekBuf) ReadByte() (byte, error) {
	var b [1]byte
	n, err := p.Read(b[:])
	if n == 1 {
		return b[0], nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return 0, err
}

// PeekDSN reads the dsn of an envelope header from the decoded start of
// an envelope (from PeekDecoded). complete says whether head is the whole
// body. It returns "" when the header has no dsn or does not end within
// head; a header that is not a JSON object is ErrMalformed, as Parse says.
func PeekDSN(head []byte, complete bool) (string, error) {
	start := skipWS(head, 0)
	if start >= len(head) {
		if complete {
			return "", fmt.Errorf("%w: missing envelope header", ErrMalformed)
		}
		return "", nil
	}
	line := head
	if nl := bytes.IndexByte(head[start:], '\n'); nl >= 0 {
		line = head[:start+nl]
	} else if !complete {
		// The header goes on past what was peeked.
		return "", nil
	}
	var h Header
	if _, err := parseEnvelopeHeader(line, start, &h); err != nil {
		return "", err
	}
	return h.DSN, nil
}
