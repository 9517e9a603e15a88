package security

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var testRequest = Request{Release: "web@2.0", Environment: "prod",
	Origin: "https://shop.example.com", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"}

// TestGolden runs every report in testdata through Parse and compares the
// events with the golden files (go test -update rewrites them).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := Parse(in, testRequest)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(evs, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s:\n%s", golden, got)
			}
		})
	}
}

// TestTitles checks the titles, culprits and grouping of Relay's own test
// cases and of the cases its message rules distinguish.
func TestTitles(t *testing.T) {
	tests := []struct {
		name, in, title, culprit string
		fingerprint              []string
	}{
		{"relay basic", `{"csp-report":{"document-uri":"http://example.com","violated-directive":"style-src cdn.example.com","blocked-uri":"http://example.com/lol.css","effective-directive":"style-src","status-code":"200"}}`,
			"Blocked 'style' from 'example.com'", "style-src cdn.example.com", []string{"csp", "style-src", "example.com"}},
		{"relay missing blocked uri", `{"csp-report":{"document-uri":"http://example.com","effective-directive":"script-src"}}`,
			"Blocked unsafe (eval() or inline) 'script'", "", []string{"csp", "script-src", "'self'"}},
		{"relay msdn", `{"csp-report":{"document-uri":"https://example.com/foo/bar","referrer":"https://www.google.com/","violated-directive":"default-src self","blocked-uri":"http://evilhackerscripts.com"}}`,
			"Blocked 'default-src' from 'evilhackerscripts.com'", "default-src self", []string{"csp", "default-src", "evilhackerscripts.com"}},
		{"relay real", `{"csp-report":{"document-uri":"https://sentry.io/sentry/csp/issues/88513416/","violated-directive":"script-src","effective-directive":"script-src","blocked-uri":"http://baddomain.com/test.js?_=1515535030116","line-number":24,"status-code":0}}`,
			"Blocked 'script' from 'baddomain.com'", "script-src", []string{"csp", "script-src", "baddomain.com"}},
		{"firefox: directive from violated-directive", `{"csp-report":{"blocked-uri":"https://cdn.other.com:8443/x.js","violated-directive":"script-src 'self'","document-uri":"https://a.com/"}}`,
			"Blocked 'script' from 'cdn.other.com:8443'", "script-src 'self'", []string{"csp", "script-src", "cdn.other.com:8443"}},
		{"inline script grouped by the violation", `{"csp-report":{"violated-directive":"script-src 'self' 'unsafe-inline'","effective-directive":"script-src","blocked-uri":"self"}}`,
			"Blocked unsafe (eval() or inline) 'script'", "script-src 'self' 'unsafe-inline'", []string{"csp", "script-src", "'unsafe-inline'"}},
		{"level 3 eval", `{"csp-report":{"violated-directive":"script-src","effective-directive":"script-src","blocked-uri":"eval"}}`,
			"Blocked unsafe eval() 'script'", "script-src", []string{"csp", "script-src", "eval:"}},
		{"inline image", `{"csp-report":{"violated-directive":"img-src 'none'","blocked-uri":""}}`,
			"Blocked inline 'image'", "img-src 'none'", []string{"csp", "img-src", "'self'"}},
		{"data uri", `{"csp-report":{"violated-directive":"font-src 'self'","blocked-uri":"data"}}`,
			"Blocked 'font' from 'data:'", "font-src 'self'", []string{"csp", "font-src", "data:"}},
		{"form action", `{"csp-report":{"effective-directive":"form-action","blocked-uri":"https://phish.example/login"}}`,
			"Blocked 'form' action to 'phish.example'", "", []string{"csp", "form-action", "phish.example"}},
		{"culprit normalizes the document's own origin", `{"csp-report":{"document-uri":"https://a.com/x","violated-directive":"img-src https://a.com data: https://b.com","blocked-uri":"https://c.com/i.png"}}`,
			"Blocked 'image' from 'c.com'", "img-src 'self' data: https://b.com", []string{"csp", "img-src", "c.com"}},
		{"reporting api body", `{"type":"csp-violation","body":{"effectiveDirective":"connect-src","blockedURL":"wss://live.example/ws","documentURL":"https://a.com/"}}`,
			"Blocked 'connect' from 'wss://live.example'", "", []string{"csp", "connect-src", "wss://live.example"}},
		{"hpkp", `{"hostname":"www.example.com","port":443,"known-pins":[]}`,
			"Public key pinning validation failed for 'www.example.com'", "", []string{"hpkp", "www.example.com"}},
		{"expect-ct", `{"expect-ct-report":{"hostname":"www.example.com","port":443}}`,
			"Expect-CT failed for 'www.example.com'", "www.example.com", []string{"expect-ct", "www.example.com"}},
		{"expect-staple", `{"expect-staple-report":{"hostname":"www.example.com"}}`,
			"Expect-Staple failed for 'www.example.com'", "www.example.com", []string{"expect-staple", "www.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := Parse([]byte(tt.in), Request{})
			if err != nil {
				t.Fatal(err)
			}
			ev := evs[0]
			if ev.LogEntry.Formatted != tt.title || ev.Culprit != tt.culprit || strings.Join(ev.Fingerprint, "|") != strings.Join(tt.fingerprint, "|") {
				t.Errorf("got %q, culprit %q, fingerprint %q\nwant %q, culprit %q, fingerprint %q",
					ev.LogEntry.Formatted, ev.Culprit, ev.Fingerprint, tt.title, tt.culprit, tt.fingerprint)
			}
		})
	}
}

func TestNormalizeURI(t *testing.T) {
	// Relay's test_normalize_uri.
	for in, want := range map[string]string{
		"": "'self'", "self": "'self'", "data": "data:", "http": "http://",
		"http://notlocalhost/": "notlocalhost", "https://notlocalhost/": "notlocalhost",
		"data://notlocalhost/": "data://notlocalhost", "http://notlocalhost/lol.css": "notlocalhost",
		"http://notlocalhost:8000/": "notlocalhost:8000", "http://notlocalhost:8000/lol.css": "notlocalhost:8000",
		"xyz://notlocalhost/": "xyz://notlocalhost",
	} {
		if got := normalizeURI(in); got != want {
			t.Errorf("normalizeURI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInvalid(t *testing.T) {
	for _, in := range []string{
		``, `null`, `[]`, `"x"`, `{}`, `[{"type":"deprecation","body":{}}]`,
		`{"csp-report":{"effective-directive":"nonsense-src"}}`,
		`{"csp-report":"x"}`, `{"csp-report":{"blocked-uri":1,"effective-directive":"img-src"}}`,
		`{"csp-report":{"effective-directive":"img-src","line-number":"twelve"}}`,
		`{"type":"intervention","body":{}}`,
		`{"known-pins":[]}`, `{"expect-ct-report":{"port":443}}`, `{"expect-ct-report":[]}`,
		`{"hostname":"x","known-pins":"not a list"}`,
	} {
		if evs, err := Parse([]byte(in), Request{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%s) = %+v, %v; want ErrInvalid", in, evs, err)
		}
	}
}

func TestContentTypes(t *testing.T) {
	for ct, ok := range map[string]bool{
		"application/csp-report": true, "application/json; charset=utf-8": true, "application/reports+json": true,
		"application/expect-ct-report+json": true, "application/expect-staple-report": true, "APPLICATION/JSON": true,
		"text/plain": false, "": false, "application/x-www-form-urlencoded": false,
	} {
		if ContentTypeAllowed(ct) != ok {
			t.Errorf("ContentTypeAllowed(%q) = %v", ct, !ok)
		}
	}
}

func TestLongFieldsAreClipped(t *testing.T) {
	long := strings.Repeat("é", 2000)
	in := `{"csp-report":{"effective-directive":"img-src","blocked-uri":"https://` + long + `.com/","violated-directive":"img-src ` + long + `"}}`
	evs, err := Parse([]byte(in), Request{Release: long})
	if err != nil {
		t.Fatal(err)
	}
	ev := evs[0]
	for _, s := range []string{ev.LogEntry.Formatted, ev.Culprit, ev.Release, ev.Tags[1][1]} {
		if len(s) > maxField || !json.Valid([]byte(`"`+s+`"`)) {
			t.Errorf("field of %d bytes, valid UTF-8: %v", len(s), json.Valid([]byte(`"`+s+`"`)))
		}
	}
}

// FuzzParse checks that any body gives events or ErrInvalid, never a
// panic, and that the events encode as JSON with bounded titles.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := Parse(data, testRequest)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if len(evs) == 0 || len(evs) > maxReports {
			t.Fatalf("%d events", len(evs))
		}
		for _, ev := range evs {
			if len(ev.LogEntry.Formatted) > maxField || len(ev.Culprit) > maxField || len(ev.Fingerprint) == 0 {
				t.Fatalf("event %+v", ev)
			}
			if _, err := json.Marshal(ev); err != nil {
				t.Fatal(err)
			}
		}
	})
}
