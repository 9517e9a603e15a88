package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// syncBuffer collects a server's log while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// browser is a logged-in (or not) client: its cookies, and what it sends.
type browser struct {
	t       *testing.T
	url     string
	session string
	csrf    string
}

type reqOpt func(*http.Request)

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// do sends a request with the browser's cookies; body is JSON unless it is
// a string.
func (b *browser) do(method, path string, body any, opts ...reqOpt) (int, []byte, *http.Response) {
	b.t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	default:
		raw, _ := json.Marshal(v)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, ok := body.(string); !ok {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.session != "" {
		req.AddCookie(&http.Cookie{Name: "session", Value: b.session})
	}
	if b.csrf != "" {
		req.AddCookie(&http.Cookie{Name: "csrftoken", Value: b.csrf})
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp
}

// login posts Sentry's login body and keeps the cookies it sets.
func login(t *testing.T, url, email, password string) (*browser, int, []byte) {
	t.Helper()
	b := &browser{t: t, url: url}
	st, raw, resp := b.do("POST", "/api/0/auth/login/", map[string]string{"username": email, "password": password})
	for _, c := range resp.Cookies() {
		switch c.Name {
		case "session":
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" {
				t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure on http", c)
			}
			b.session = c.Value
		case "csrftoken":
			if c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("csrftoken cookie %+v: want readable by scripts, SameSite=Lax", c)
			}
			b.csrf = c.Value
		}
	}
	if st == 200 && (b.session == "" || b.csrf == "") {
		t.Fatalf("login answered 200 without both cookies: %v", resp.Header)
	}
	return b, st, raw
}

func (b *browser) csrfHeader() reqOpt { return withHeader("X-CSRFToken", b.csrf) }

func meEmail(t *testing.T, b *browser) (int, string) {
	t.Helper()
	st, raw, _ := b.do("GET", "/api/0/users/me/", nil)
	var u struct{ Email string }
	json.Unmarshal(raw, &u) //nolint:errcheck
	return st, u.Email
}

const adminPassword = "admin password from env"

// TestAccounts logs in and out over HTTP against a running server: the
// admin from the environment, sessions, CSRF, users, password changes, and
// a log that shows no secret.
func TestAccounts(t *testing.T) {
	var logBuf syncBuffer
	f := testserver.StartWithLog(t, server.Config{AdminEmail: "Root@Example.com", AdminPassword: adminPassword}, &logBuf)
	anon := &browser{t: t, url: f.URL}

	// Anonymous: 401.
	if st, _ := meEmail(t, anon); st != 401 {
		t.Fatalf("anonymous users/me: %d", st)
	}

	// The admin from FAULTLINE_ADMIN_EMAIL/PASSWORD logs in.
	admin, st, raw := login(t, f.URL, "root@example.com", adminPassword)
	if st != 200 {
		t.Fatalf("admin login: %d %s", st, raw)
	}
	var lr struct {
		NextURI string `json:"nextUri"`
		User    struct {
			ID              string `json:"id"`
			Email           string `json:"email"`
			IsSuperuser     bool   `json:"isSuperuser"`
			HasPasswordAuth bool   `json:"hasPasswordAuth"`
		} `json:"user"`
	}
	if err := json.Unmarshal(raw, &lr); err != nil || lr.NextURI != "/" || lr.User.Email != "root@example.com" ||
		!lr.User.IsSuperuser || !lr.User.HasPasswordAuth || strings.Contains(string(raw), "argon2") {
		t.Fatalf("login body: %s", raw)
	}
	if st, email := meEmail(t, admin); st != 200 || email != "root@example.com" {
		t.Fatalf("users/me with the session: %d %q", st, email)
	}

	// Wrong password and unknown e-mail: the same answer.
	_, st1, raw1 := login(t, f.URL, "root@example.com", "wrong password!!")
	_, st2, raw2 := login(t, f.URL, "nobody@example.com", "wrong password!!")
	if st1 != 400 || st1 != st2 || !bytes.Equal(raw1, raw2) || !strings.Contains(string(raw1), "Invalid username or password.") {
		t.Fatalf("wrong password %d %s, unknown e-mail %d %s", st1, raw1, st2, raw2)
	}
	for _, bad := range []string{`{"username": 1}`, `not json`, `{"username":"a"`} {
		b := &browser{t: t, url: f.URL}
		if st, raw, _ := b.do("POST", "/api/0/auth/login/", bad, withHeader("Content-Type", "application/json")); st != 400 {
			t.Errorf("login body %q: %d %s", bad, st, raw)
		}
	}

	// CSRF: a session write needs the token and, when sent, our origin.
	name := func(b *browser) string {
		_, raw, _ := b.do("GET", "/api/0/users/me/", nil)
		var u struct{ Name string }
		json.Unmarshal(raw, &u) //nolint:errcheck
		return u.Name
	}
	csrf := []struct {
		label  string
		body   any
		opts   []reqOpt
		status int
		detail string
	}{
		{"no token", map[string]string{"name": "csrf-1"}, nil, 403, "CSRF Failed: CSRF token missing."},
		{"wrong token", map[string]string{"name": "csrf-2"}, []reqOpt{withHeader("X-CSRFToken", "nope")}, 403, "CSRF Failed: CSRF token incorrect."},
		{"another origin", map[string]string{"name": "csrf-3"}, []reqOpt{admin.csrfHeader(), withHeader("Origin", "https://evil.example")}, 403, "CSRF Failed: Origin checking failed"},
		{"another referer", map[string]string{"name": "csrf-4"}, []reqOpt{admin.csrfHeader(), withHeader("Referer", "https://evil.example/x")}, 403, "CSRF Failed: Referer checking failed"},
		{"form field, wrong", "csrfmiddlewaretoken=nope", []reqOpt{withHeader("Content-Type", "application/x-www-form-urlencoded")}, 403, "CSRF Failed: CSRF token incorrect."},
		// The right form token passes CSRF; the JSON route then finds no JSON.
		{"form field", "csrfmiddlewaretoken=" + admin.csrf, []reqOpt{withHeader("Content-Type", "application/x-www-form-urlencoded")}, 400, ""},
		{"token", map[string]string{"name": "Root One"}, []reqOpt{admin.csrfHeader()}, 200, ""},
		{"token and origin", map[string]string{"name": "Root Two"}, []reqOpt{admin.csrfHeader(), withHeader("Origin", f.URL)}, 200, ""},
	}
	for _, c := range csrf {
		st, raw, _ := admin.do("PUT", "/api/0/users/me/", c.body, c.opts...)
		if st != c.status || !strings.Contains(string(raw), c.detail) {
			t.Errorf("%s: %d %s, want %d %q", c.label, st, raw, c.status, c.detail)
		}
		if c.status != 200 && strings.HasPrefix(name(admin), "csrf-") {
			t.Errorf("%s: the refused write changed the name", c.label)
		}
	}
	if n := name(admin); n != "Root Two" {
		t.Errorf("name %q after the writes", n)
	}
	// A bearer token needs no CSRF token.
	if st, raw := f.Do("PUT", "/api/0/users/me/", map[string]string{"name": "Token Admin"}, nil); st != 200 {
		t.Errorf("token write: %d %s", st, raw)
	}

	// Users: created by a superuser, listed; not by others.
	var created struct {
		ID, Email string
	}
	if st, raw := f.Do("POST", "/api/0/users/", map[string]any{"email": "Ann@Example.com", "name": "Ann", "password": "ann's password", "isSuperuser": false}, &created); st != 201 || created.Email != "ann@example.com" {
		t.Fatalf("create user: %d %s", st, raw)
	}
	for _, c := range []struct {
		body   map[string]any
		status int
	}{
		{map[string]any{"email": "ann@example.com", "password": "ann's password"}, 409},
		{map[string]any{"email": "bob@example.com", "password": "short"}, 400},
		{map[string]any{"email": "bob", "password": "bob's long password"}, 400},
	} {
		if st, raw := f.Do("POST", "/api/0/users/", c.body, nil); st != c.status {
			t.Errorf("create %v: %d %s, want %d", c.body, st, raw, c.status)
		}
	}
	var users []struct{ Email string }
	if st, raw := f.Do("GET", "/api/0/users/", nil, &users); st != 200 || len(users) != 3 { // admin@localhost (token), root, ann
		t.Fatalf("list users: %d %s", st, raw)
	}
	ann1, st, raw := login(t, f.URL, "ann@example.com", "ann's password")
	if st != 200 {
		t.Fatalf("ann login: %d %s", st, raw)
	}
	if st, raw, _ := ann1.do("GET", "/api/0/users/", nil); st != 403 {
		t.Errorf("a non-superuser lists users: %d %s", st, raw)
	}
	if st, raw, _ := ann1.do("POST", "/api/0/users/", map[string]any{"email": "eve@example.com", "password": "eve's long password"}, ann1.csrfHeader()); st != 403 {
		t.Errorf("a non-superuser creates a user: %d %s", st, raw)
	}

	// A password change needs the old password and revokes the other
	// sessions, not the one that made it.
	ann2, _, _ := login(t, f.URL, "ann@example.com", "ann's password")
	change := func(b *browser, old, nw, verify string) (int, []byte) {
		st, raw, _ := b.do("PUT", "/api/0/users/me/password/", map[string]string{"password": old, "passwordNew": nw, "passwordVerify": verify}, b.csrfHeader())
		return st, raw
	}
	if st, raw := change(ann1, "not ann's password", "ann's new password", "ann's new password"); st != 400 {
		t.Errorf("wrong old password: %d %s", st, raw)
	}
	if st, raw := change(ann1, "ann's password", "ann's new password", "something else entirely"); st != 400 {
		t.Errorf("verify mismatch: %d %s", st, raw)
	}
	if st, raw := change(ann1, "ann's password", "short", "short"); st != 400 {
		t.Errorf("short new password: %d %s", st, raw)
	}
	if st, _ := meEmail(t, ann2); st != 200 {
		t.Fatalf("ann's second session before the change: %d", st)
	}
	if st, raw := change(ann1, "ann's password", "ann's new password", "ann's new password"); st != 204 {
		t.Fatalf("change password: %d %s", st, raw)
	}
	if st, _ := meEmail(t, ann1); st != 200 {
		t.Errorf("the session that changed the password: %d", st)
	}
	if st, _ := meEmail(t, ann2); st != 401 {
		t.Errorf("ann's other session after the change: %d", st)
	}
	if _, st, _ := login(t, f.URL, "ann@example.com", "ann's password"); st != 400 {
		t.Errorf("old password after the change: %d", st)
	}
	ann3, st, _ := login(t, f.URL, "ann@example.com", "ann's new password")
	if st != 200 {
		t.Errorf("new password: %d", st)
	}

	// Logout needs CSRF too, then ends the session.
	if st, _, _ := ann1.do("DELETE", "/api/0/auth/", nil); st != 403 {
		t.Errorf("logout without the CSRF token: %d", st)
	}
	st, _, resp := ann1.do("DELETE", "/api/0/auth/", nil, ann1.csrfHeader())
	if st != 204 || len(resp.Cookies()) != 2 || resp.Cookies()[0].MaxAge >= 0 {
		t.Errorf("logout: %d %v", st, resp.Header)
	}
	if st, _ := meEmail(t, ann1); st != 401 {
		t.Errorf("after logout: %d", st)
	}
	if st, _ := meEmail(t, ann3); st != 200 {
		t.Errorf("another session after logout: %d", st)
	}

	// Nothing secret in the log.
	log := logBuf.String()
	if !strings.Contains(log, "user logged in") {
		t.Fatalf("the log was not captured:\n%s", log)
	}
	for _, secret := range []string{adminPassword, "ann's password", "ann's new password", "ann&#39;s", testserver.AdminToken,
		admin.session, admin.csrf, ann1.session, ann2.session, ann3.session, ann3.csrf, "argon2id"} {
		if strings.Contains(log, secret) {
			t.Errorf("the log shows %q", secret)
		}
	}
}

// TestLoginLockout runs on a server of its own (it locks 127.0.0.1 out):
// 5 failures lock an account, known or not, with the same answer; 20 from
// one address lock the address.
func TestLoginLockout(t *testing.T) {
	f := testserver.Start(t, server.Config{AdminEmail: "root@example.com", AdminPassword: adminPassword})
	if st, raw := f.Do("POST", "/api/0/users/", map[string]any{"email": "ann@example.com", "password": "ann's password"}, nil); st != 201 {
		t.Fatalf("create user: %d %s", st, raw)
	}
	attempt := func(email, password string) (int, []byte, http.Header) {
		b := &browser{t: t, url: f.URL}
		st, raw, resp := b.do("POST", "/api/0/auth/login/", map[string]string{"username": email, "password": password})
		return st, raw, resp.Header
	}
	var locked [][]byte
	for _, email := range []string{"ann@example.com", "nobody@example.com"} {
		for i := range 5 {
			if st, raw, _ := attempt(email, "wrong password!!"); st != 400 {
				t.Fatalf("%s failure %d: %d %s", email, i+1, st, raw)
			}
		}
		// Now even the right password is refused, for 15 minutes.
		st, raw, h := attempt(email, "ann's password")
		retry, _ := strconv.Atoi(h.Get("Retry-After"))
		if st != 429 || retry < 1 || retry > 900 {
			t.Fatalf("%s after 5 failures: %d %s Retry-After %q", email, st, raw, h.Get("Retry-After"))
		}
		locked = append(locked, raw)
	}
	if !bytes.Equal(locked[0], locked[1]) {
		t.Errorf("a locked known account and a locked unknown e-mail answer differently: %s / %s", locked[0], locked[1])
	}
	// Another account from the same address still logs in (10 failures).
	if st, raw, _ := attempt("root@example.com", adminPassword); st != 200 {
		t.Fatalf("root: %d %s", st, raw)
	}
	// 10 more failures, 2 per e-mail: the address is locked out, even for
	// an account with no failure.
	for i := range 10 {
		if st, raw, _ := attempt("user"+strconv.Itoa(i/2)+"@example.com", "wrong password!!"); st != 400 {
			t.Fatalf("failure %d: %d %s", 11+i, st, raw)
		}
	}
	if st, raw, h := attempt("root@example.com", adminPassword); st != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("root after 20 failures from the address: %d %s", st, raw)
	}
}

func TestAdminPasswordConfig(t *testing.T) {
	cases := []struct {
		email, password, err string
	}{
		{"root@example.com", "short", "FAULTLINE_ADMIN_PASSWORD must be at least 12 characters long (got 5)"},
		{"root@example.com", "", "set both or neither"},
		{"", "a long enough password", "set both or neither"},
		{"root@example.com", "a long enough password", ""},
	}
	for _, c := range cases {
		cfg := server.Config{AdminEmail: c.email, AdminPassword: c.password}
		err := cfg.Validate()
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%q %q: %v, want %q", c.email, c.password, err, c.err)
		}
	}
}
