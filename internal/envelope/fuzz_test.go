package envelope

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// within reports whether sub lies inside data's backing array.
func within(sub, data []byte) bool {
	if len(sub) == 0 {
		return true
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return p >= start && p+uintptr(len(sub)) <= start+uintptr(len(data))
}

func addEnvelopeSeeds(f *testing.F) {
	// Small golden envelopes only, for the same reason as in
	// FuzzInspectEvent.
	files, _ := filepath.Glob("testdata/*.envelope")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil && len(data) <= 4096 {
			f.Add(data)
		}
	}
	for _, s := range []string{
		testHeader,
		testHeader + "\n" + `{"type":"event","length":2}` + "\n{}\n",
		testHeader + "\n" + `{"type":"attachment"}` + "\nhello",
		"{}\n{\"type\":\"attachment\",\"length\":0}\n\n{\"type\":\"attachment\",\"length\":0}",
		"{}\n\n\n{\"type\":\"session\"}\n{}\n\n",
		"{\"sdk\":{\"name\":\"x\"},\"event_id\":null}\n{\"type\":\"e\\u0076ent\",\"length\":null}\n{}",
	} {
		f.Add([]byte(s))
	}
}

// FuzzParse checks that Parse never panics, that every payload and raw
// header it returns lies inside the input, that declared lengths are
// honoured, and that Encode's output parses back to the same items.
func FuzzParse(f *testing.F) {
	addEnvelopeSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := Parse(data)
		if err != nil {
			for _, s := range []error{ErrMalformed, ErrTooLarge, ErrInvalidEventID} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("Parse error %v wraps no expected sentinel", err)
		}
		if !within(env.RawHeader, data) {
			t.Fatal("RawHeader outside input")
		}
		for i, it := range env.Items {
			if !within(it.Payload, data) || !within(it.RawHeader, data) {
				t.Fatalf("item %d slices outside input", i)
			}
			if it.Length >= 0 && it.Length != len(it.Payload) {
				t.Fatalf("item %d: length %d, payload %d", i, it.Length, len(it.Payload))
			}
			if it.Length < 0 && bytes.IndexByte(it.Payload, '\n') >= 0 {
				t.Fatalf("item %d: implicit-length payload contains a newline", i)
			}
		}
		if err := CheckLimits(env); err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("CheckLimits error %v is not ErrTooLarge", err)
		}
		roundTrip(t, env)
	})
}

// FuzzParseAuth checks ParseAuthHeader, AuthFromRequest and AuthFromDSN on
// arbitrary strings: no panics, only the documented errors, and a returned
// key is always non-empty printable ASCII.
func FuzzParseAuth(f *testing.F) {
	for _, s := range []string{
		"Sentry sentry_version=7, sentry_client=sentry.go/0.46.2, sentry_key=abc",
		"Sentry sentry_version=5, sentry_timestamp=1329096377, sentry_key=abc, sentry_secret=def, sentry_client=raven-python/1.0",
		"sentry_key=abc sentry_version=7",
		`Sentry sentry_key="a\"b", sentry_client="x, y"`,
		"Sentry =,=,,  sentry_key",
		"https://public@host/42",
		"http://public:secret@host:8000/path/42",
		"sentry_key=abc&sentry_version=7&sentry_client=sentry.javascript.node%2F8.0.0",
		"YWJjOmRlZg==",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		check := func(a Auth, err error, allowed ...error) {
			t.Helper()
			if err != nil {
				for _, e := range allowed {
					if errors.Is(err, e) {
						return
					}
				}
				t.Fatalf("unexpected error %v for %q", err, s)
			}
			if !validKey(a.PublicKey) || a.PublicKey == "" {
				t.Fatalf("accepted invalid key %q from %q", a.PublicKey, s)
			}
		}
		a, err := ParseAuthHeader(s)
		check(a, err, ErrBadAuth, ErrUnsupportedVersion)
		if err == nil && a.Source != "header" {
			t.Fatalf("source %q", a.Source)
		}

		h := http.Header{"X-Sentry-Auth": {s}, "Authorization": {"Sentry " + s}}
		a, err = AuthFromRequest(h, nil)
		check(a, err, ErrBadAuth, ErrMultipleAuth, ErrMissingAuth, ErrUnsupportedVersion)

		h = http.Header{"Authorization": {"Basic " + s}}
		a, err = AuthFromRequest(h, nil)
		check(a, err, ErrBadAuth, ErrMissingAuth)

		if q, qerr := url.ParseQuery(s); qerr == nil {
			a, err = AuthFromRequest(nil, q)
			check(a, err, ErrBadAuth, ErrMissingAuth, ErrUnsupportedVersion)
		}

		a, project, err := AuthFromDSN(s)
		check(a, err, ErrBadAuth)
		if err == nil && project == "" {
			t.Fatalf("DSN %q accepted without project id", s)
		}
	})
}

// FuzzDecode checks Decode and DecodeLegacyStore with a small limit: no
// panics, output never over the limit, only the documented errors, and
// identity decoding returns the input.
func FuzzDecode(f *testing.F) {
	plain := []byte(`{"message":"hello hello hello hello"}`)
	for enc, ce := range map[string]string{"gzip": "gzip", "zlib": "deflate", "flate": "deflate", "br": "br", "zstd": "zstd"} {
		f.Add(compress(f, enc, plain), ce)
	}
	f.Add(compress(f, "zstd", compress(f, "gzip", plain)), "gzip, zstd")
	f.Add(compress(f, "gzip", make([]byte, 1<<20)), "gzip")
	f.Add([]byte(base64.StdEncoding.EncodeToString(compress(f, "zlib", plain))), "")
	f.Add(plain, "identity")
	f.Fuzz(func(t *testing.T, body []byte, enc string) {
		const limit = 64 << 10
		out, err := Decode(body, enc, limit)
		if err != nil {
			if !errors.Is(err, ErrBadEncoding) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode error %v wraps no expected sentinel", err)
			}
		} else if len(out) > limit {
			t.Fatalf("Decode returned %d bytes over limit %d", len(out), limit)
		}
		out, err = DecodeLegacyStore(body, limit)
		if err != nil {
			if !errors.Is(err, ErrBadEncoding) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("DecodeLegacyStore error %v wraps no expected sentinel", err)
			}
		} else if len(out) > limit {
			t.Fatalf("DecodeLegacyStore returned %d bytes over limit %d", len(out), limit)
		}
	})
}

// FuzzInspectEvent cross-checks InspectEvent and ValidateJSON against
// encoding/json: same verdict on validity (modulo our UTF-8 and depth
// rules), same event_id and type.
func FuzzInspectEvent(f *testing.F) {
	// Seeds are kept small: the fuzzer minimizes every new interesting
	// input, and minimizing mutants of an 11 KB event stalls it for
	// minutes. TestInspectEventRealistic covers the large event.
	for _, s := range []string{
		`{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","type":"transaction"}`,
		`{"event_id":"9EC79C33-EC99-42AB-8353-589FCB2E04DC"}`,
		`{"event\u005fid":"{9ec79c33-ec99-42ab-8353-589fcb2e04dc}","type":"\ud83d\ude00"}`,
		`{"a":[1,-2.5e+3,true,false,null,{"b":"c"}],"type":null}`,
		`[[[[[]]]]]`,
		`"\u0000\n\t"`,
		`{"event_id":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstStdlib(t, data)
	})
}
