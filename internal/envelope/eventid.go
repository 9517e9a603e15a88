package envelope

import "fmt"

// NormalizeEventID returns the canonical form of an event id: 32 lowercase
// hex digits, the form Sentry stores and returns to SDKs. It accepts what
// SDKs actually send: the 32-digit form or a UUID with dashes, optionally in
// braces, in any case. The empty string means "no id" and is returned as is;
// anything else fails with ErrInvalidEventID, because an id we cannot
// normalize would break deduplication and lookups by id.
func NormalizeEventID(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if len(s) == 38 && s[0] == '{' && s[37] == '}' {
		s = s[1:37]
	}
	var out [32]byte
	n := 0
	switch len(s) {
	case 32:
		for i := 0; i < 32; i++ {
			c, ok := lowerHex(s[i])
			if !ok {
				return "", invalidEventID(s)
			}
			out[n] = c
			n++
		}
	case 36:
		for i := 0; i < 36; i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if s[i] != '-' {
					return "", invalidEventID(s)
				}
				continue
			}
			c, ok := lowerHex(s[i])
			if !ok {
				return "", invalidEventID(s)
			}
			out[n] = c
			n++
		}
	default:
		return "", invalidEventID(s)
	}
	return string(out[:]), nil
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		return c, true
	case c >= 'A' && c <= 'F':
		return c + ('a' - 'A'), true
	}
	return 0, false
}

func invalidEventID(s string) error {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Errorf("%w: %q", ErrInvalidEventID, s)
}
