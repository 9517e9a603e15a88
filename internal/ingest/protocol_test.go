package ingest_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

func br(b []byte) []byte {
	var buf bytes.Buffer
	w := brotli.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zs(b []byte) []byte {
	w, _ := zstd.NewWriter(nil)
	return w.EncodeAll(b, nil)
}

func urlEscape(s string) string { return url.QueryEscape(s) }

func rawDeflate(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// chunked hides a body's length, so the client sends it with chunked
// transfer encoding, as @sentry/node does.
type chunked struct{ io.Reader }

// protoCase is one request and the answer Sentry's ingest gives it.
type protoCase struct {
	name    string
	project string // default the test project
	method  string // default POST
	path    string // after /api/{id}
	query   string
	headers map[string]string
	body    []byte
	stream  bool // send with chunked transfer encoding
	status  int
	detail  string // substring of the error detail
	stored  string // event id that must end up stored
}

// TestProtocol sends, through a real server, every form of request Relay
// accepts or refuses, and checks the answers (status, X-Sentry-Error,
// {"detail"}) and that exactly the accepted events are stored.
func TestProtocol(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "web", "javascript")
	other := f.CreateProject("acme", "other", "python")
	disabledKey := f.CreateProject("acme", "keyless", "python")
	disabledProject := f.CreateProject("acme", "closed", "python")
	allowList := f.CreateProject("acme", "strict", "javascript")
	ctx := context.Background()
	m := f.Server.Meta()
	{
		k, _, _ := m.KeyByPublic(disabledKey.PublicKey)
		cp := *k
		cp.Active = false
		if err := m.UpdateKey(ctx, &cp); err != nil {
			t.Fatal(err)
		}
		_, pr, _ := m.KeyByPublic(disabledProject.PublicKey)
		cpr := *pr
		cpr.Status = "disabled"
		if err := m.UpdateProject(ctx, &cpr); err != nil {
			t.Fatal(err)
		}
		if st, raw := f.Do("PUT", "/api/0/projects/acme/strict/", map[string]any{"allowedDomains": []string{"*.example.com", "https://app.other.org:8443"}}, nil); st != 200 {
			t.Fatalf("set allowed domains: %d %s", st, raw)
		}
	}
	key := p.PublicKey
	k, _, _ := m.KeyByPublic(key)
	secret := k.Secret
	auth := "Sentry sentry_version=7, sentry_client=test/1.0, sentry_key=" + key
	xsa := map[string]string{"X-Sentry-Auth": auth}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	n := 0
	id := func() string { n++; return fmt.Sprintf("%032x", 0xa000+n) }
	evt := func(id string) []byte {
		return []byte(fmt.Sprintf(`{"event_id":"%s","message":"protocol %s","level":"error"}`, id, id))
	}
	env := func(header string, items ...string) []byte {
		return []byte(header + "\n" + strings.Join(items, "\n") + "\n")
	}
	evEnv := func(id string) []byte {
		return env(`{"event_id":"`+id+`"}`, `{"type":"event"}`, string(evt(id)))
	}
	zlibB64 := func(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(zl(b))) }
	deep := `{"event_id":"` + strings.Repeat("0", 32) + `","extra":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`
	var sessions []string
	for i := 0; i < 101; i++ {
		sessions = append(sessions, `{"type":"session"}`, `{"sid":"x","attrs":{"release":"r"}}`)
	}

	var cases []protoCase
	add := func(c protoCase) { cases = append(cases, c) }

	// Authentication, every form Relay accepts.
	i := id()
	add(protoCase{name: "X-Sentry-Auth", path: "/store/", headers: xsa, body: evt(i), status: 200, stored: i})
	i = id()
	add(protoCase{name: "X-Sentry-Auth with sentry_secret", path: "/store/", headers: map[string]string{"X-Sentry-Auth": auth + ", sentry_secret=" + secret}, body: evt(i), status: 200, stored: i})
	add(protoCase{name: "X-Sentry-Auth with a wrong sentry_secret", path: "/store/", headers: map[string]string{"X-Sentry-Auth": auth + ", sentry_secret=0000"}, body: evt(id()), status: 403, detail: "secret"})
	i = id()
	add(protoCase{name: "Authorization: Sentry", path: "/store/", headers: map[string]string{"Authorization": auth}, body: evt(i), status: 200, stored: i})
	i = id()
	add(protoCase{name: "Authorization: Basic", path: "/store/", headers: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))}, body: evt(i), status: 200, stored: i})
	i = id()
	add(protoCase{name: "query sentry_key and sentry_version", path: "/store/", query: "sentry_key=" + key + "&sentry_version=7", body: evt(i), status: 200, stored: i})
	i = id()
	add(protoCase{name: "envelope header dsn", path: "/envelope/", body: env(`{"event_id":"`+i+`","dsn":"`+p.DSN+`"}`, `{"type":"event"}`, string(evt(i))), status: 200, stored: i})
	i = id()
	add(protoCase{name: "dsn ignored when the query has a key", path: "/envelope/", query: "sentry_key=" + key,
		body: env(`{"event_id":"`+i+`","dsn":"http://ffffffffffffffffffffffffffffffff@example.com/`+p.ID+`"}`, `{"type":"event"}`, string(evt(i))), status: 200, stored: i})
	add(protoCase{name: "dsn of another project", path: "/envelope/", body: env(`{"dsn":"http://`+key+`@example.com/999"}`, `{"type":"event"}`, string(evt(id()))), status: 400, detail: "dsn"})
	add(protoCase{name: "header and query", path: "/store/", query: "sentry_key=" + key, headers: xsa, body: evt(id()), status: 401, detail: "MultipleAuth"})
	add(protoCase{name: "header and a query sentry_version", path: "/store/", query: "sentry_version=7", headers: xsa, body: evt(id()), status: 401, detail: "MultipleAuth"})
	add(protoCase{name: "X-Sentry-Auth and Authorization", path: "/store/", headers: with(xsa, "Authorization", auth), body: evt(id()), status: 401, detail: "MultipleAuth"})
	add(protoCase{name: "no key", path: "/store/", body: evt(id()), status: 401, detail: "missing authorization"})
	add(protoCase{name: "envelope without any key", path: "/envelope/", body: evEnv(id()), status: 401, detail: "missing authorization"})
	add(protoCase{name: "dsn past the bounded peek", path: "/envelope/", body: env(`{"pad":"`+strings.Repeat(" ", 80<<10)+`","dsn":"`+p.DSN+`"}`, `{"type":"event"}`, string(evt(id()))), status: 401, detail: "missing authorization"})
	add(protoCase{name: "dsn in a brotli envelope is not peeked", path: "/envelope/", headers: map[string]string{"Content-Encoding": "br"}, body: br(env(`{"dsn":"`+p.DSN+`"}`, `{"type":"event"}`, string(evt(id())))), status: 401, detail: "missing authorization"})
	i = id()
	add(protoCase{name: "dsn in a gzip, gzip envelope", path: "/envelope/", headers: map[string]string{"Content-Encoding": "gzip, gzip"}, body: gz(gz(env(`{"event_id":"`+i+`","dsn":"`+p.DSN+`"}`, `{"type":"event"}`, string(evt(i))))), status: 200, stored: i})
	add(protoCase{name: "query without sentry_key", path: "/store/", query: "sentry_version=7", body: evt(id()), status: 401, detail: "sentry_key"})
	add(protoCase{name: "unknown key", path: "/store/", query: "sentry_key=0123456789abcdef0123456789abcdef", body: evt(id()), status: 403, detail: "invalid api key"})
	add(protoCase{name: "key of another project", path: "/store/", query: "sentry_key=" + other.PublicKey, body: evt(id()), status: 403, detail: "does not belong"})
	add(protoCase{name: "disabled key", project: disabledKey.ID, path: "/store/", query: "sentry_key=" + disabledKey.PublicKey, body: evt(id()), status: 403, detail: "DisabledKey"})
	add(protoCase{name: "disabled project", project: disabledProject.ID, path: "/store/", query: "sentry_key=" + disabledProject.PublicKey, body: evt(id()), status: 403, detail: "ProjectId"})
	add(protoCase{name: "protocol version 8", path: "/store/", headers: map[string]string{"X-Sentry-Auth": "Sentry sentry_version=8, sentry_key=" + key}, body: evt(id()), status: 400, detail: "protocol version"})

	// Encodings.
	for _, e := range []struct {
		name, ce string
		enc      func([]byte) []byte
	}{
		{"gzip", "gzip", gz}, {"x-gzip", "x-gzip", gz}, {"deflate (zlib)", "deflate", zl}, {"deflate (raw)", "deflate", rawDeflate},
		{"br", "br", br}, {"zstd", "zstd", zs}, {"stacked gzip, br", "gzip, br", func(b []byte) []byte { return br(gz(b)) }},
	} {
		i = id()
		add(protoCase{name: "store " + e.name, path: "/store/", headers: with(xsa, "Content-Encoding", e.ce), body: e.enc(evt(i)), status: 200, stored: i})
		i = id()
		add(protoCase{name: "envelope " + e.name, path: "/envelope/", query: "sentry_key=" + key, headers: map[string]string{"Content-Encoding": e.ce}, body: e.enc(evEnv(i)), status: 200, stored: i})
	}
	i = id()
	add(protoCase{name: "chunked transfer", path: "/envelope/", query: "sentry_key=" + key, body: evEnv(i), stream: true, status: 200, stored: i})
	i = id()
	add(protoCase{name: "chunked and gzip", path: "/store/", headers: with(xsa, "Content-Encoding", "gzip"), body: gz(evt(i)), stream: true, status: 200, stored: i})
	i = id()
	add(protoCase{name: "legacy base64 of zlib (raven-node)", path: "/store/", headers: map[string]string{"X-Sentry-Auth": "Sentry sentry_version=5, sentry_timestamp=1700000000, sentry_client=raven-node/2.6.4, sentry_key=" + key, "Content-Type": "application/octet-stream"}, body: zlibB64(evt(i)), status: 200, stored: i})
	i = id()
	add(protoCase{name: "legacy plain base64", path: "/store/", headers: xsa, body: []byte(base64.StdEncoding.EncodeToString(evt(i))), status: 200, stored: i})
	add(protoCase{name: "unknown encoding", path: "/store/", headers: with(xsa, "Content-Encoding", "compress"), body: evt(id()), status: 400, detail: "encoding"})
	add(protoCase{name: "corrupt zstd", path: "/store/", headers: with(xsa, "Content-Encoding", "zstd"), body: []byte("\x28\xb5\x2f\xfdjunk"), status: 400})
	i = id()
	add(protoCase{name: "legacy Python NaN", path: "/store/", headers: map[string]string{"X-Sentry-Auth": "Sentry sentry_version=6, sentry_client=raven-python/6.10.0, sentry_key=" + key},
		body: []byte(fmt.Sprintf(`{"event_id":"%s","message":"nan","extra":{"ratio":NaN,"max":Infinity,"min":-Infinity}}`, i)), status: 200, stored: i})
	add(protoCase{name: "NaN from another client", path: "/store/", headers: xsa, body: []byte(`{"message":"nan","extra":{"ratio":NaN}}`), status: 400})

	// Content types browsers use to avoid a preflight, and envelopes at
	// /store/.
	for _, ct := range []string{"text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data", "application/x-sentry-envelope", ""} {
		i = id()
		add(protoCase{name: "envelope as " + ct, path: "/envelope/", query: "sentry_key=" + key, headers: map[string]string{"Content-Type": ct}, body: evEnv(i), status: 200, stored: i})
	}
	i = id()
	add(protoCase{name: "store as text/plain", path: "/store/", query: "sentry_key=" + key, headers: map[string]string{"Content-Type": "text/plain"}, body: evt(i), status: 200, stored: i})
	i = id()
	add(protoCase{name: "envelope sent to /store/", path: "/store/", headers: with(xsa, "Content-Type", "application/x-sentry-envelope"), body: evEnv(i), status: 200, stored: i})
	i = id()
	add(protoCase{name: "GET /store/ with sentry_data", method: "GET", path: "/store/", query: "sentry_version=7&sentry_key=" + key + "&sentry_data=" + urlEscape(string(evt(i))), status: 200, stored: i})

	// Paths without the trailing slash.
	i = id()
	add(protoCase{name: "no trailing slash", path: "/envelope", query: "sentry_key=" + key, body: evEnv(i), status: 200, stored: i})

	// Envelope framing.
	i = id()
	add(protoCase{name: "items with lengths, no final newline", path: "/envelope/", query: "sentry_key=" + key,
		body: []byte(`{"event_id":"` + i + `"}` + "\n" + `{"type":"event","length":` + fmt.Sprint(len(evt(i))) + "}\n" + string(evt(i))), status: 200, stored: i})
	i = id()
	add(protoCase{name: "unknown item types are skipped", path: "/envelope/", query: "sentry_key=" + key,
		body: env(`{"event_id":"`+i+`"}`, `{"type":"something_new","length":3}`, "abc", `{"type":"profile"}`, `{}`, `{"type":"event"}`, string(evt(i))), status: 200, stored: i})
	add(protoCase{name: "empty envelope", path: "/envelope/", query: "sentry_key=" + key, body: []byte("{}\n"), status: 200})
	add(protoCase{name: "empty body", path: "/envelope/", query: "sentry_key=" + key, body: nil, status: 400, detail: "empty"})
	add(protoCase{name: "empty store body", path: "/store/", headers: xsa, body: nil, status: 400, detail: "empty"})
	add(protoCase{name: "declared length past the end", path: "/envelope/", query: "sentry_key=" + key, body: []byte("{}\n{\"type\":\"event\",\"length\":500}\n{}"), status: 400})

	// Limits.
	add(protoCase{name: "event over 1 MiB in an envelope", path: "/envelope/", query: "sentry_key=" + key,
		body: env(`{}`, `{"type":"event"}`, `{"message":"`+strings.Repeat("x", 1<<20)+`"}`), status: 413, detail: "size limits for type 'event'"})
	add(protoCase{name: "two events in an envelope", path: "/envelope/", query: "sentry_key=" + key,
		body: env(`{}`, `{"type":"event"}`, string(evt(id())), `{"type":"event"}`, string(evt(id()))), status: 413})
	add(protoCase{name: "101 sessions", path: "/envelope/", query: "sentry_key=" + key, body: env(`{}`, sessions...), status: 413})
	add(protoCase{name: "deep JSON", path: "/store/", headers: xsa, body: []byte(deep), status: 400})
	add(protoCase{name: "bad event id", path: "/store/", headers: xsa, body: []byte(`{"event_id":"xyz"}`), status: 400, detail: "event_id"})
	i = id()
	add(protoCase{name: "uuid event id", path: "/store/", headers: xsa, body: evt(i[:8] + "-" + i[8:12] + "-" + i[12:16] + "-" + i[16:20] + "-" + i[20:]), status: 200, stored: i})

	// HTTP Basic: the password is the secret, checked like sentry_secret.
	basic := func(user, pass string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
	}
	i = id()
	add(protoCase{name: "Basic with the public key and no secret", path: "/store/", headers: basic(key, ""), body: evt(i), status: 200, stored: i})
	i = id()
	add(protoCase{name: "Basic with the right secret", path: "/store/", headers: basic(key, secret), body: evt(i), status: 200, stored: i})
	add(protoCase{name: "Basic with a wrong secret", path: "/store/", headers: basic(key, "0000"), body: evt(id()), status: 403, detail: "secret"})
	add(protoCase{name: "sentry_secret=wrong", path: "/store/", query: "sentry_key=" + key + "&sentry_secret=wrong", body: evt(id()), status: 403, detail: "secret"})

	// Values that travel in a queue message header are bounded: 400, not
	// a 503 that SDKs would retry forever.
	huge := strings.Repeat("x", 70<<10)
	add(protoCase{name: "sentry_client over the header limit", path: "/store/", headers: map[string]string{"X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=" + key + ", sentry_client=" + huge}, body: evt(id()), status: 400, detail: "sentry_client"})
	add(protoCase{name: "sentry_client over the header limit, in the query", path: "/envelope/", query: "sentry_key=" + key + "&sentry_client=" + huge, body: evEnv(id()), status: 400, detail: "sentry_client"})
	add(protoCase{name: "Content-Encoding over the header limit", path: "/store/", headers: with(xsa, "Content-Encoding", strings.Repeat("identity, ", 7<<10)), body: evt(id()), status: 400, detail: "Content-Encoding"})
	add(protoCase{name: "Content-Encoding over the header limit, dsn in the envelope", path: "/envelope/", headers: map[string]string{"Content-Encoding": strings.Repeat("identity, ", 7<<10)}, body: env(`{"dsn":"`+p.DSN+`"}`, `{"type":"event"}`, string(evt(id()))), status: 400, detail: "Content-Encoding"})

	// Origins.
	i = id()
	add(protoCase{name: "origin allowed by *", path: "/envelope/", query: "sentry_key=" + key, headers: map[string]string{"Origin": "http://anything.test"}, body: evEnv(i), status: 200, stored: i})
	i = id()
	add(protoCase{name: "origin allowed by pattern", project: allowList.ID, path: "/envelope/", query: "sentry_key=" + allowList.PublicKey, headers: map[string]string{"Origin": "https://shop.example.com"}, body: evEnv(i), status: 200, stored: i})
	i = id()
	add(protoCase{name: "origin allowed by full origin", project: allowList.ID, path: "/envelope/", query: "sentry_key=" + allowList.PublicKey, headers: map[string]string{"Origin": "https://app.other.org:8443"}, body: evEnv(i), status: 200, stored: i})
	add(protoCase{name: "origin refused", project: allowList.ID, path: "/envelope/", query: "sentry_key=" + allowList.PublicKey, headers: map[string]string{"Origin": "https://evil.test"}, body: evEnv(id()), status: 403, detail: "Cors"})
	add(protoCase{name: "referer refused", project: allowList.ID, path: "/envelope/", query: "sentry_key=" + allowList.PublicKey, headers: map[string]string{"Referer": "https://evil.test/page"}, body: evEnv(id()), status: 403, detail: "Cors"})
	for _, o := range []string{"null", "chrome-extension://abcdefghijklmnopabcdefghijklmnop", "moz-extension://4b1e-11", "file:///home/x.html"} {
		add(protoCase{name: "origin " + o + " refused where domains are restricted", project: allowList.ID, path: "/envelope/", query: "sentry_key=" + allowList.PublicKey, headers: map[string]string{"Origin": o}, body: evEnv(id()), status: 403, detail: "Cors"})
	}
	add(protoCase{name: "null origin with an allowed referer refused", project: allowList.ID, path: "/envelope/", query: "sentry_key=" + allowList.PublicKey, headers: map[string]string{"Origin": "null", "Referer": "https://shop.example.com/"}, body: evEnv(id()), status: 403, detail: "Cors"})
	add(protoCase{name: "extension referer refused where domains are restricted", project: allowList.ID, path: "/envelope/", query: "sentry_key=" + allowList.PublicKey, headers: map[string]string{"Referer": "chrome-extension://abc/popup.html"}, body: evEnv(id()), status: 403, detail: "Cors"})
	i = id()
	add(protoCase{name: "null origin allowed by *", path: "/envelope/", query: "sentry_key=" + key, headers: map[string]string{"Origin": "null"}, body: evEnv(i), status: 200, stored: i})
	i = id()
	add(protoCase{name: "server-side request without origin", project: allowList.ID, path: "/envelope/", query: "sentry_key=" + allowList.PublicKey, body: evEnv(i), status: 200, stored: i})

	// Security endpoint content types.
	add(protoCase{name: "security report as text/plain", path: "/security/", query: "sentry_key=" + key, headers: map[string]string{"Content-Type": "text/plain"}, body: []byte(`{"csp-report":{"effective-directive":"img-src"}}`), status: 415})
	add(protoCase{name: "not a security report", path: "/security/", query: "sentry_key=" + key, headers: map[string]string{"Content-Type": "application/json"}, body: []byte(`{"hello":1}`), status: 400})

	var stored []string
	for _, c := range cases {
		c := c
		t.Run(c.name, func(t *testing.T) {
			pid := p.ID
			if c.project != "" {
				pid = c.project
			}
			target := f.URL + "/api/" + pid + c.path
			if c.query != "" {
				target += "?" + c.query
			}
			var body io.Reader = bytes.NewReader(c.body)
			if c.stream {
				body = chunked{bytes.NewReader(c.body)}
			}
			method := c.method
			if method == "" {
				method = "POST"
			}
			req, _ := http.NewRequest(method, target, body)
			if c.body == nil {
				req.Body = http.NoBody
			}
			if c.stream {
				req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
			}
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, raw)
			}
			if c.status == 200 {
				if c.stored != "" {
					stored = append(stored, c.stored)
					if ct := resp.Header.Get("Content-Type"); ct == "image/gif" {
						return
					}
					if want := `{"id":"` + c.stored + `"}`; string(raw) != want {
						t.Errorf("body %s, want %s", raw, want)
					}
				}
				return
			}
			if !strings.HasPrefix(string(raw), `{"detail":`) || resp.Header.Get("X-Sentry-Error") == "" {
				t.Errorf("refusal %q (X-Sentry-Error %q) is not Sentry's shape", raw, resp.Header.Get("X-Sentry-Error"))
			}
			if !strings.Contains(string(raw), c.detail) {
				t.Errorf("detail %s does not mention %q", raw, c.detail)
			}
		})
	}
	// Every accepted event is stored, in its own project.
	projOf := map[string]testserver.Project{}
	for _, c := range cases {
		if c.stored == "" {
			continue
		}
		switch c.project {
		case "":
			projOf[c.stored] = p
		case allowList.ID:
			projOf[c.stored] = allowList
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for eid, pr := range projOf {
		for {
			st, _ := f.Do("GET", "/api/0/projects/"+pr.Org+"/"+pr.Slug+"/events/"+eid+"/", nil, nil)
			if st == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("accepted event %s was not stored", eid)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Nothing else was: the issue counts add up to the accepted events.
	time.Sleep(300 * time.Millisecond)
	want := 0
	for _, pr := range projOf {
		if pr.Slug == p.Slug {
			want++
		}
	}
	if got := testserver.TotalCount(f.Issues(p)); got != want {
		t.Errorf("project has %d events, want %d", got, want)
	}
	for _, pr := range []testserver.Project{other, disabledKey, disabledProject} {
		if got := testserver.TotalCount(f.Issues(pr)); got != 0 {
			t.Errorf("project %s has %d events, want none", pr.Slug, got)
		}
	}
}
