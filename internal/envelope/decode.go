package envelope

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// coding is one Content-Encoding token we can undo.
type coding uint8

const (
	codingGzip coding = iota + 1
	codingDeflate
	codingBrotli
	codingZstd
)

func (c coding) String() string {
	switch c {
	case codingGzip:
		return "gzip"
	case codingDeflate:
		return "deflate"
	case codingBrotli:
		return "br"
	case codingZstd:
		return "zstd"
	}
	return "unknown"
}

// maxStackedEncodings bounds "gzip, gzip, gzip, ...": each layer costs up
// to a full limit of CPU and memory, and no real client stacks more than two.
const maxStackedEncodings = 4

// zstdMaxWindow caps the zstd window (and so the decoder's history buffer)
// at the 8 MiB that RFC 8878 recommends every decoder support; klauspost's
// default of 512 MiB would let a 20-byte frame header claim half a gigabyte.
const zstdMaxWindow = 8 << 20

// Decode undoes the request's Content-Encoding and returns the body that the
// SDK meant to send. Supported: "" and "identity" (no-op), "gzip" and
// "x-gzip", "deflate" (zlib-wrapped per RFC 9110, or raw deflate as some
// clients send it: the zlib header is sniffed), "br" and "zstd". A
// comma-separated list means the encodings were applied in that order, so
// they are undone in reverse; at most four may be stacked.
//
// The decompressed size is bounded by limit (a non-positive limit means
// MaxEnvelopeSize): output is produced incrementally and decompression stops
// as soon as it would exceed limit, returning ErrTooLarge, so a zip bomb costs
// at most about limit bytes of memory and the CPU to produce them. Unknown
// encodings and corrupt data return ErrBadEncoding. With no encoding, body is
// returned as is (not copied).
func Decode(body []byte, contentEncoding string, limit int) ([]byte, error) {
	return DecodeCharged(body, contentEncoding, limit, nil)
}

// DecodeCharged is Decode that calls charge(n) before its output buffers
// take n more bytes, so that a caller can hold decompression to a byte
// budget shared across requests. An error from charge stops the decode and
// is returned as is.
func DecodeCharged(body []byte, contentEncoding string, limit int, charge func(int) error) ([]byte, error) {
	limit = normLimit(limit)
	var stackBuf [maxStackedEncodings]coding
	codings := stackBuf[:0]
	for rest := contentEncoding; rest != ""; {
		var tok string
		tok, rest, _ = strings.Cut(rest, ",")
		tok = strings.TrimSpace(tok)
		var c coding
		switch {
		case tok == "" || strings.EqualFold(tok, "identity"):
			continue
		case strings.EqualFold(tok, "gzip"), strings.EqualFold(tok, "x-gzip"):
			c = codingGzip
		case strings.EqualFold(tok, "deflate"):
			c = codingDeflate
		case strings.EqualFold(tok, "br"):
			c = codingBrotli
		case strings.EqualFold(tok, "zstd"):
			c = codingZstd
		default:
			if len(tok) > 32 {
				tok = tok[:32] + "..."
			}
			return nil, fmt.Errorf("%w: unsupported content encoding %q", ErrBadEncoding, tok)
		}
		if len(codings) == maxStackedEncodings {
			return nil, fmt.Errorf("%w: more than %d stacked content encodings", ErrBadEncoding, maxStackedEncodings)
		}
		codings = append(codings, c)
	}
	if len(codings) == 0 || len(body) == 0 {
		if len(body) > limit {
			return nil, fmt.Errorf("%w: body is %d bytes, limit %d", ErrTooLarge, len(body), limit)
		}
		return body, nil
	}
	out := body
	for i := len(codings) - 1; i >= 0; i-- {
		var err error
		if out, err = decodeOne(out, codings[i], limit, charge); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// normLimit maps a non-positive limit to MaxEnvelopeSize and keeps limit+1
// from overflowing.
func normLimit(limit int) int {
	if limit <= 0 {
		return MaxEnvelopeSize
	}
	return min(limit, math.MaxInt-1)
}

// decodeOne undoes a single coding, bounded by limit.
func decodeOne(in []byte, c coding, limit int, charge func(int) error) ([]byte, error) {
	var (
		out []byte
		err error
	)
	if charge != nil {
		if err := charge(decoderState(in, c)); err != nil {
			return nil, err
		}
	}
	switch c {
	case codingGzip:
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		if err = zr.Reset(bytes.NewReader(in)); err == nil {
			out, err = readLimited(zr, limit, len(in), charge)
		}
		gzipReaders.Put(zr)
	case codingDeflate:
		out, err = inflate(in, limit, charge)
	case codingBrotli:
		// NewReader does not enable RFC 9841 large windows, which keeps
		// the ring buffer at most 16 MiB.
		out, err = readLimited(brotli.NewReader(bytes.NewReader(in)), limit, len(in), charge)
	case codingZstd:
		out, err = unzstd(in, limit, charge)
	}
	if err != nil {
		return nil, wrapDecodeErr(c.String(), err)
	}
	return out, nil
}

// decoderState estimates the memory a decompressor holds besides its
// output: the window and tables, from what the stream's header declares.
func decoderState(in []byte, c coding) int {
	switch c {
	case codingZstd:
		var h zstd.Header
		if h.Decode(in) != nil {
			return 64 << 10
		}
		w := uint64(zstdMaxWindow)
		if h.WindowSize > 0 {
			w = min(h.WindowSize, w)
		}
		if h.HasFCS {
			w = min(w, h.FrameContentSize)
		}
		return int(w) + 64<<10
	case codingBrotli:
		return brotliWindow(in) + 64<<10
	}
	return 64 << 10 // a 32 KiB window and Huffman tables
}

// brotliWindow reads the window size from a brotli stream's first bits
// (RFC 7932, section 9.1): the decoder's ring buffer is at most that.
func brotliWindow(in []byte) int {
	if len(in) < 1 {
		return 0
	}
	b := uint(in[0])
	if len(in) > 1 {
		b |= uint(in[1]) << 8
	}
	if b&1 == 0 {
		return 1 << 16
	}
	if n := (b >> 1) & 7; n != 0 {
		return 1 << (17 + n)
	}
	if m := (b >> 4) & 7; m != 0 {
		return 1 << (8 + m)
	}
	return 1 << 17
}

// wrapDecodeErr keeps ErrTooLarge and classifies everything else a
// decompressor can say as corrupt input.
func wrapDecodeErr(what string, err error) error {
	var ce chargeError
	if errors.As(err, &ce) {
		return ce.err
	}
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return fmt.Errorf("%w: %s: %v", ErrTooLarge, what, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrBadEncoding, what, err)
}

// inflate decodes zlib (RFC 1950) or, failing the header check, raw deflate
// (RFC 1951). HTTP's "deflate" means zlib, but several old clients sent raw
// deflate under that name, so both must work. A stream that passes the
// 16-bit zlib header check but does not decode as zlib is retried as raw
// deflate, since the check can pass by chance.
func inflate(in []byte, limit int, charge func(int) error) ([]byte, error) {
	if looksZlib(in) {
		zr, err := zlib.NewReader(bytes.NewReader(in))
		if err == nil {
			out, err := readLimited(zr, limit, len(in), charge)
			var ce chargeError
			if err == nil || errors.Is(err, ErrTooLarge) || errors.As(err, &ce) {
				return out, err
			}
		}
	}
	fr, _ := flateReaders.Get().(io.ReadCloser)
	if fr == nil {
		fr = flate.NewReader(bytes.NewReader(in))
	} else if err := fr.(flate.Resetter).Reset(bytes.NewReader(in), nil); err != nil {
		return nil, err
	}
	defer flateReaders.Put(fr)
	return readLimited(fr, limit, len(in), charge)
}

// Decompressors hold tens of kilobytes of tables and window; making one per
// request was a third of ingest's CPU. These pools only recycle that memory:
// a reader is Reset before each use and carries nothing between requests.
var (
	gzipReaders  sync.Pool // *gzip.Reader
	flateReaders sync.Pool // flate reader (io.ReadCloser + flate.Resetter)
)

// looksZlib checks the RFC 1950 header: method 8 (deflate), window at most
// 32 KiB, no preset dictionary, and the FCHECK checksum.
func looksZlib(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && b[1]&0x20 == 0 &&
		(uint(b[0])<<8|uint(b[1]))%31 == 0
}

// unzstd decodes zstd with a bounded window and a synchronous decoder (no
// goroutines to leak). Frames that declare a content size above limit are
// refused before any allocation.
func unzstd(in []byte, limit int, charge func(int) error) ([]byte, error) {
	maxMem := uint64(max(limit, zstdMaxWindow))
	zr, err := zstd.NewReader(bytes.NewReader(in),
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(zstdMaxWindow),
		zstd.WithDecoderMaxMemory(maxMem),
	)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return readLimited(zr, limit, len(in), charge)
}

// decodeBufs recycles the buffers Decode decompresses into, through
// Release: ingest decompresses every request only to check it, and
// recycling the buffers halves its garbage.
var decodeBufs sync.Pool

// maxPooledBuf is the largest buffer Release keeps: a rare huge body
// should not stay in memory.
const maxPooledBuf = 1 << 20

// Release hands back a buffer returned by Decode for reuse. Call it only
// when nothing refers to the buffer (or to a slice of it) any more; a
// buffer that is not from Decode, or is large, is left to the garbage
// collector.
func Release(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuf {
		return
	}
	b = b[:0]
	decodeBufs.Put(&b)
}

// readLimited reads r to EOF into a buffer that never grows past limit+1
// bytes, failing with ErrTooLarge as soon as the data exceeds limit. The
// first allocation is sized from the compressed length (hint), capped at
// 16 MiB, and never from anything the stream claims, so a small body cannot
// make us allocate much and a large one only pays for what it produces.
//
// charge, if not nil, is called with the size of the first buffer and
// then with what each growth adds, before the memory is taken; its error
// ends the read, wrapped in chargeError.
func readLimited(r io.Reader, limit, hint int, charge func(int) error) ([]byte, error) {
	// JSON compresses about 8:1 (an 11 KB event is 1.3 KB gzip'd), so start
	// there and usually never grow.
	const maxInitial = 16 << 20
	size := 512
	if hint > 0 && hint < maxInitial/8 {
		size = max(size, 8*hint)
	} else if hint > 0 {
		size = maxInitial
	}
	size = min(size, limit+1)
	var buf []byte
	if p, _ := decodeBufs.Get().(*[]byte); p != nil && cap(*p) >= size/2 && cap(*p) <= limit+1 {
		buf = (*p)[:0]
	} else {
		buf = make([]byte, 0, size)
	}
	if charge != nil {
		if err := charge(cap(buf)); err != nil {
			Release(buf)
			return nil, chargeError{err}
		}
	}
	stalls := 0
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return nil, fmt.Errorf("%w: decompressed size exceeds %d bytes", ErrTooLarge, limit)
			}
			newCap := 2 * cap(buf)
			if newCap > limit+1 || newCap < 0 {
				newCap = limit + 1
			}
			if charge != nil {
				// The old buffer is garbage once copied.
				if err := charge(newCap - cap(buf)); err != nil {
					return nil, chargeError{err}
				}
			}
			nb := make([]byte, len(buf), newCap)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, fmt.Errorf("%w: decompressed size exceeds %d bytes", ErrTooLarge, limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			// A reader that neither progresses nor fails would spin forever.
			if stalls++; stalls > 100 {
				return nil, io.ErrNoProgress
			}
		} else {
			stalls = 0
		}
	}
}

// DecodeLegacyStore turns a legacy /store/ body into event JSON. Old SDKs
// (raven-node, raven-python) sent base64 of zlib-deflated JSON without any
// Content-Encoding; Relay's store endpoint accepts that, so we must too. The
// caller first applies Decode for the Content-Encoding, then this:
//
//   - a body that starts with '{' (after whitespace) is returned unchanged;
//   - otherwise it is base64-decoded, accepting the standard and URL-safe
//     alphabets, with or without padding, ignoring embedded whitespace;
//   - decoded data that starts with '{' is returned (plain base64 JSON, as
//     Sentry's Python store endpoint allows), else it is inflated as zlib or
//     raw deflate.
//
// As a last resort a body that is not base64 but carries a zlib header is
// inflated directly. Output is bounded by limit (non-positive means
// MaxEnvelopeSize) with ErrTooLarge; undecodable input yields ErrBadEncoding.
func DecodeLegacyStore(body []byte, limit int) ([]byte, error) {
	limit = normLimit(limit)
	if startsWithBrace(body) {
		if len(body) > limit {
			return nil, fmt.Errorf("%w: body is %d bytes, limit %d", ErrTooLarge, len(body), limit)
		}
		return body, nil
	}
	raw, b64err := decodeBase64(body)
	if b64err != nil {
		if looksZlib(body) {
			out, err := inflate(body, limit, nil)
			if err != nil {
				return nil, wrapDecodeErr("deflate", err)
			}
			return out, nil
		}
		return nil, fmt.Errorf("%w: store body is neither JSON nor base64: %v", ErrBadEncoding, b64err)
	}
	if startsWithBrace(raw) {
		if len(raw) > limit {
			return nil, fmt.Errorf("%w: body is %d bytes, limit %d", ErrTooLarge, len(raw), limit)
		}
		return raw, nil
	}
	out, err := inflate(raw, limit, nil)
	if err != nil {
		return nil, wrapDecodeErr("deflate", err)
	}
	return out, nil
}

func startsWithBrace(b []byte) bool {
	i := skipWS(b, 0)
	return i < len(b) && b[i] == '{'
}

// decodeBase64 decodes standard or URL-safe base64, padded or not, skipping
// ASCII whitespace (line-wrapped encoders exist). The alphabet is chosen by
// looking for '-' or '_', which only the URL alphabet has.
func decodeBase64(in []byte) ([]byte, error) {
	clean := in
	if bytes.ContainsAny(in, " \t\r\n") {
		clean = make([]byte, 0, len(in))
		for _, c := range in {
			if !isSpace[c] {
				clean = append(clean, c)
			}
		}
	}
	clean = bytes.TrimRight(clean, "=")
	if len(clean) == 0 {
		return nil, errors.New("empty body")
	}
	enc := base64.RawStdEncoding
	if bytes.ContainsAny(clean, "-_") {
		enc = base64.RawURLEncoding
	}
	out := make([]byte, enc.DecodedLen(len(clean)))
	n, err := enc.Decode(out, clean)
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

// chargeError carries a budget refusal through the decompressors, so that
// it is not mistaken for corrupt input.
type chargeError struct{ err error }

func (e chargeError) Error() string { return e.err.Error() }
func (e chargeError) Unwrap() error { return e.err }
