package envelope

import "strings"

// IsLegacyPythonClient reports whether sentry_client names one of the old
// Python SDKs whose JSON may contain the bare tokens NaN, Infinity and
// -Infinity (Python's json module writes them by default). Relay repairs
// the JSON of exactly these clients before parsing it, and so do we.
func IsLegacyPythonClient(client string) bool {
	return strings.HasPrefix(client, "raven-python/") || strings.HasPrefix(client, "sentry-python/")
}

// RepairPythonJSON rewrites, in place, the tokens NaN, Infinity and
// -Infinity that appear outside strings into 0 padded with spaces, so the
// document keeps its length and becomes valid JSON (Relay does the same with
// json_forensics). Everything else, including malformed input, is left as
// it is for the validator to judge. It runs in one pass with no allocation.
func RepairPythonJSON(b []byte) {
	inStr, esc := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case 'N':
			i = blankToken(b, i, "NaN")
		case 'I':
			i = blankToken(b, i, "Infinity")
		case '-':
			if i+1 < len(b) && b[i+1] == 'I' {
				i = blankToken(b, i, "-Infinity")
			}
		}
	}
}

// blankToken replaces tok at b[i:] with "0" and spaces if it is there, and
// returns the index of the last byte it looked at.
func blankToken(b []byte, i int, tok string) int {
	if len(b)-i < len(tok) || string(b[i:i+len(tok)]) != tok {
		return i
	}
	b[i] = '0'
	for j := i + 1; j < i+len(tok); j++ {
		b[j] = ' '
	}
	return i + len(tok) - 1
}
