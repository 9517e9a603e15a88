package event

import (
	"bytes"
	"math"
	"strconv"
)

// NullNonFinite returns b with every number too large for a float64 (such
// as 1e400, -1e400 or a 400-digit integer) replaced by null, which is what
// Relay stores for a non-finite number (its serializer writes a float that
// is not finite as null). JSON has no infinity, and decoders (Go's among
// them) refuse such a number, so a stored event holding one could not be
// read back. b is not modified: if anything is replaced, the result is a
// copy of the same length (null padded with spaces). Strings are skipped;
// malformed JSON is left for the decoder to judge.
func NullNonFinite(b []byte) []byte {
	out := b
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '"' {
			// Skip the string: to the next quote not escaped by an odd
			// number of backslashes (IndexByte is fast on long strings).
			for {
				j := bytes.IndexByte(b[i+1:], '"')
				if j < 0 {
					return out
				}
				i += j + 1
				n := 0
				for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
					n++
				}
				if n%2 == 0 {
					break
				}
			}
			continue
		}
		if c != '-' && (c < '0' || c > '9') {
			continue
		}
		j := i + 1
		long := false // an exponent, or more digits than a finite float64 can have
		for ; j < len(b); j++ {
			d := b[j]
			if d == 'e' || d == 'E' {
				long = true
			} else if (d < '0' || d > '9') && d != '.' && d != '+' && d != '-' {
				break
			}
		}
		if long || j-i > 308 {
			if f, err := strconv.ParseFloat(string(b[i:j]), 64); err != nil && math.IsInf(f, 0) && j-i >= 4 {
				if &out[0] == &b[0] {
					out = append([]byte(nil), b...)
				}
				copy(out[i:], "null")
				for k := i + 4; k < j; k++ {
					out[k] = ' '
				}
			}
		}
		i = j - 1
	}
	return out
}
