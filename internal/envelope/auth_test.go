package envelope

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestParseAuthHeader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Auth
		wantErr error
	}{
		{
			name: "sentry-go v7",
			in:   "Sentry sentry_version=7, sentry_client=sentry.go/0.46.2, sentry_key=abc",
			want: Auth{PublicKey: "abc", Version: "7", Client: "sentry.go/0.46.2", Source: "header"},
		},
		{
			name: "v5 with timestamp and secret",
			in:   "Sentry sentry_version=5, sentry_timestamp=1329096377, sentry_key=b70a31b3510c4cf793964a185cfe1fd0, sentry_secret=b7d80b520139450f903720eb7991bf3d, sentry_client=raven-python/1.0",
			want: Auth{PublicKey: "b70a31b3510c4cf793964a185cfe1fd0", SecretKey: "b7d80b520139450f903720eb7991bf3d", Version: "5", Client: "raven-python/1.0", Timestamp: "1329096377", Source: "header"},
		},
		{
			name: "no prefix",
			in:   "sentry_key=abc,sentry_version=7",
			want: Auth{PublicKey: "abc", Version: "7", Source: "header"},
		},
		{
			name: "prefix any case",
			in:   "SENTRY sentry_key=abc",
			want: Auth{PublicKey: "abc", Source: "header"},
		},
		{
			name: "prefix lower, extra spaces",
			in:   "  sentry   sentry_key = abc ,  sentry_version = 7.0  ,",
			want: Auth{PublicKey: "abc", Version: "7.0", Source: "header"},
		},
		{
			name: "quoted values",
			in:   `Sentry sentry_key="abc", sentry_client="my client/1.0, with \"comma\""`,
			want: Auth{PublicKey: "abc", Client: `my client/1.0, with "comma"`, Source: "header"},
		},
		{
			name: "missing commas",
			in:   "Sentry sentry_key=abc sentry_version=7 sentry_client=raven-js/3.27.0",
			want: Auth{PublicKey: "abc", Version: "7", Client: "raven-js/3.27.0", Source: "header"},
		},
		{
			name: "client with spaces kept",
			in:   "Sentry sentry_client=raven-python/1.0 (linux; x86), sentry_key=abc",
			want: Auth{PublicKey: "abc", Client: "raven-python/1.0 (linux; x86)", Source: "header"},
		},
		{
			name: "unknown keys and junk ignored",
			in:   "Sentry foo, bar=baz, =x, sentry_key=abc, sentry_relay=1",
			want: Auth{PublicKey: "abc", Source: "header"},
		},
		{
			name: "last key wins",
			in:   "Sentry sentry_key=one, sentry_key=two",
			want: Auth{PublicKey: "two", Source: "header"},
		},
		{
			name: "tab separated",
			in:   "Sentry\tsentry_key=abc,\tsentry_version=7",
			want: Auth{PublicKey: "abc", Version: "7", Source: "header"},
		},
		{name: "no key", in: "Sentry sentry_version=7", wantErr: ErrBadAuth},
		{name: "empty key", in: "Sentry sentry_key=, sentry_version=7", wantErr: ErrBadAuth},
		{name: "empty", in: "", wantErr: ErrBadAuth},
		{name: "only prefix", in: "Sentry", wantErr: ErrBadAuth},
		{name: "bad version", in: "Sentry sentry_key=abc, sentry_version=seven", wantErr: ErrBadAuth},
		{name: "empty version", in: "Sentry sentry_key=abc, sentry_version=", wantErr: ErrBadAuth},
		{name: "version overflow", in: "Sentry sentry_key=abc, sentry_version=70000", wantErr: ErrBadAuth},
		{name: "unterminated quote", in: `Sentry sentry_key="abc`, wantErr: ErrBadAuth},
		{name: "key with control char", in: "Sentry sentry_key=a\x01b", wantErr: ErrBadAuth},
		{name: "key too long", in: "Sentry sentry_key=" + strings.Repeat("a", 300), wantErr: ErrBadAuth},
		{name: "bearer", in: "Bearer abc", wantErr: ErrBadAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAuthHeader(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseAuthHeader(%q) = %+v, %v; want %v", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAuthHeader(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseAuthHeader(%q) =\n %+v\nwant\n %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestAuthFromRequest(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	query := func(s string) url.Values {
		q, err := url.ParseQuery(s)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	tests := []struct {
		name    string
		h       http.Header
		q       url.Values
		want    Auth
		wantErr error
	}{
		{
			name: "X-Sentry-Auth sentry-go",
			h:    hdr("X-Sentry-Auth", "Sentry sentry_version=7, sentry_client=sentry.go/0.46.2, sentry_key=abc"),
			want: Auth{PublicKey: "abc", Version: "7", Client: "sentry.go/0.46.2", Source: "header"},
		},
		{
			name: "header name case-insensitive",
			h:    http.Header{"X-Sentry-Auth": {"Sentry sentry_key=abc"}},
			want: Auth{PublicKey: "abc", Source: "header"},
		},
		{
			name: "Authorization Sentry",
			h:    hdr("Authorization", "Sentry sentry_key=abc, sentry_version=7"),
			want: Auth{PublicKey: "abc", Version: "7", Source: "authorization"},
		},
		{
			name: "Authorization sentry lower case",
			h:    hdr("Authorization", "sentry sentry_key=abc"),
			want: Auth{PublicKey: "abc", Source: "authorization"},
		},
		{
			name:    "Authorization Bearer ignored",
			h:       hdr("Authorization", "Bearer sntrys_abc"),
			wantErr: ErrMissingAuth,
		},
		{
			name: "Bearer ignored next to X-Sentry-Auth",
			h:    hdr("Authorization", "Bearer xyz", "X-Sentry-Auth", "Sentry sentry_key=abc"),
			want: Auth{PublicKey: "abc", Source: "header"},
		},
		{
			name: "query @sentry/node style",
			q:    query("sentry_key=abc&sentry_version=7&sentry_client=sentry.javascript.node%2F8.55.0"),
			want: Auth{PublicKey: "abc", Version: "7", Client: "sentry.javascript.node/8.55.0", Source: "query"},
		},
		{
			name: "query with secret",
			q:    query("sentry_key=abc&sentry_secret=def&sentry_version=5"),
			want: Auth{PublicKey: "abc", SecretKey: "def", Version: "5", Source: "query"},
		},
		{
			name: "query last value wins",
			q:    query("sentry_key=one&sentry_key=two"),
			want: Auth{PublicKey: "two", Source: "query"},
		},
		{
			name:    "header and query",
			h:       hdr("X-Sentry-Auth", "Sentry sentry_key=abc"),
			q:       query("sentry_key=abc"),
			wantErr: ErrMultipleAuth,
		},
		{
			name:    "Authorization and query",
			h:       hdr("Authorization", "Sentry sentry_key=abc"),
			q:       query("sentry_key=def&sentry_version=7"),
			wantErr: ErrMultipleAuth,
		},
		{
			name:    "two headers",
			h:       hdr("X-Sentry-Auth", "Sentry sentry_key=abc", "Authorization", "Sentry sentry_key=abc"),
			wantErr: ErrMultipleAuth,
		},
		{
			// Relay counts the query as soon as it has a sentry_ parameter.
			name:    "header plus keyless query params",
			h:       hdr("X-Sentry-Auth", "Sentry sentry_key=abc, sentry_version=7"),
			q:       query("sentry_version=7&foo=bar"),
			wantErr: ErrMultipleAuth,
		},
		{
			name: "header plus unrelated query params",
			h:    hdr("X-Sentry-Auth", "Sentry sentry_key=abc, sentry_version=7"),
			q:    query("foo=sentry_key&bar=1"),
			want: Auth{PublicKey: "abc", Version: "7", Source: "header"},
		},
		{
			name:    "sentry_client over the limit",
			h:       hdr("X-Sentry-Auth", "Sentry sentry_key=abc, sentry_client="+strings.Repeat("x", MaxClientLen+1)),
			wantErr: ErrBadClient,
		},
		{
			name:    "sentry_client with a newline, from the query",
			q:       query("sentry_key=abc&sentry_client=a%0Ab"),
			wantErr: ErrBadClient,
		},
		{
			name: "Authorization Basic",
			h:    hdr("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("abc:"))),
			want: Auth{PublicKey: "abc", Source: "authorization"},
		},
		{
			name: "Authorization Basic with secret",
			h:    hdr("Authorization", "basic "+base64.StdEncoding.EncodeToString([]byte("abc:def"))),
			want: Auth{PublicKey: "abc", SecretKey: "def", Source: "authorization"},
		},
		{
			name:    "Authorization Basic without colon is not ours",
			h:       hdr("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("abc"))),
			wantErr: ErrMissingAuth,
		},
		{
			name:    "Authorization Basic not base64",
			h:       hdr("Authorization", "Basic !!!"),
			wantErr: ErrMissingAuth,
		},
		{
			name:    "Basic and X-Sentry-Auth",
			h:       hdr("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("abc:")), "X-Sentry-Auth", "Sentry sentry_key=abc"),
			wantErr: ErrMultipleAuth,
		},
		{
			name:    "Basic and query",
			h:       hdr("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("abc:"))),
			q:       query("sentry_key=abc"),
			wantErr: ErrMultipleAuth,
		},
		{
			name:    "Basic with empty user",
			h:       hdr("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(":secret"))),
			wantErr: ErrBadAuth,
		},
		{name: "protocol version 8", h: hdr("X-Sentry-Auth", "Sentry sentry_key=abc, sentry_version=8"), wantErr: ErrUnsupportedVersion},
		{name: "query protocol version 99", q: query("sentry_key=abc&sentry_version=99"), wantErr: ErrUnsupportedVersion},
		{name: "nothing", wantErr: ErrMissingAuth},
		{name: "nil maps", h: nil, q: nil, wantErr: ErrMissingAuth},
		{name: "keyless query only", q: query("sentry_version=7"), wantErr: ErrBadAuth},
		{name: "empty query key", q: query("sentry_key=&sentry_version=7"), wantErr: ErrBadAuth},
		{name: "bad query version", q: query("sentry_key=abc&sentry_version=x"), wantErr: ErrBadAuth},
		{name: "header without key", h: hdr("X-Sentry-Auth", "Sentry sentry_version=7"), wantErr: ErrBadAuth},
		{name: "empty header", h: hdr("X-Sentry-Auth", "  "), wantErr: ErrMissingAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AuthFromRequest(tt.h, tt.q)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("AuthFromRequest = %+v, %v; want %v", got, err, tt.wantErr)
				}
				if got != (Auth{}) {
					t.Fatalf("AuthFromRequest returned %+v with error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("AuthFromRequest: %v", err)
			}
			if got != tt.want {
				t.Fatalf("AuthFromRequest =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestAuthFromDSN(t *testing.T) {
	tests := []struct {
		dsn     string
		want    Auth
		project string
		ok      bool
	}{
		{"https://public@host/42", Auth{PublicKey: "public", Source: "envelope"}, "42", true},
		{"http://public:secret@host:8000/path/42", Auth{PublicKey: "public", SecretKey: "secret", Source: "envelope"}, "42", true},
		{"https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42", Auth{PublicKey: "e12d836b15bb49d7bbf99e64295d995b", Source: "envelope"}, "42", true},
		{"https://public@host/a/b/1234567/", Auth{PublicKey: "public", Source: "envelope"}, "1234567", true},
		{"HTTPS://public@HOST/7", Auth{PublicKey: "public", Source: "envelope"}, "7", true},
		{"https://host/42", Auth{}, "", false},
		{"https://@host/42", Auth{}, "", false},
		{"ftp://public@host/42", Auth{}, "", false},
		{"https://public@host/", Auth{}, "", false},
		{"https://public@host", Auth{}, "", false},
		{"https://public@host/abc", Auth{}, "", false},
		{"https://public@host/-1", Auth{}, "", false},
		{"https://public@/42", Auth{}, "", false},
		{"not a dsn", Auth{}, "", false},
		{"", Auth{}, "", false},
		{"https://pub%20lic@host/42", Auth{}, "", false},
		{"https://public@host/99999999999999999999999", Auth{}, "", false},
	}
	for _, tt := range tests {
		got, project, err := AuthFromDSN(tt.dsn)
		if !tt.ok {
			if !errors.Is(err, ErrBadAuth) {
				t.Errorf("AuthFromDSN(%q) = %+v, %q, %v; want ErrBadAuth", tt.dsn, got, project, err)
			}
			continue
		}
		if err != nil || got != tt.want || project != tt.project {
			t.Errorf("AuthFromDSN(%q) = %+v, %q, %v; want %+v, %q", tt.dsn, got, project, err, tt.want, tt.project)
		}
	}
}
