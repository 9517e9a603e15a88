package server_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// formClient posts HTML forms as a browser does: cookies kept, redirects
// not followed, the Origin of the page.
type formClient struct {
	t       *testing.T
	base    string
	cookies map[string]string
}

func (c *formClient) send(method, path string, form url.Values, origin string) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	return resp, string(raw)
}

var tokenField = regexp.MustCompile(`name="csrfmiddlewaretoken" value="([^"]+)"`)

// TestWebLoginAndSetup drives the first-admin setup, logout and login
// pages as a browser's forms do.
func TestWebLoginAndSetup(t *testing.T) {
	var logBuf syncBuffer
	f := testserver.StartWithLog(t, server.Config{}, &logBuf)
	m := regexp.MustCompile(`setup_code=(\S+)`).FindStringSubmatch(logBuf.String())
	if m == nil {
		t.Fatalf("no setup code in the log:\n%s", logBuf.String())
	}
	code := m[1]
	c := &formClient{t: t, base: f.URL, cookies: map[string]string{}}

	resp, page := c.send("GET", "/setup/", nil, "")
	tok := tokenField.FindStringSubmatch(page)
	if resp.StatusCode != 200 || tok == nil || tok[1] != c.cookies["csrftoken"] || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("setup page: %d %v\n%s", resp.StatusCode, resp.Header, page)
	}
	admin := url.Values{"csrfmiddlewaretoken": {tok[1]}, "email": {"first@example.com"}, "name": {"First"},
		"password": {"first admin password"}, "password2": {"first admin password"}, "code": {code}}
	with := func(k, v string) url.Values {
		cp := url.Values{}
		for kk, vv := range admin {
			cp[kk] = vv
		}
		cp.Set(k, v)
		return cp
	}
	for _, bad := range []struct {
		label  string
		form   url.Values
		origin string
		status int
		text   string
	}{
		{"wrong code", with("code", "nope"), f.URL, 403, "setup code is not"},
		{"no token", with("csrfmiddlewaretoken", ""), f.URL, 403, "CSRF"},
		{"other origin", admin, "https://evil.example", 403, "CSRF"},
		{"short password", with("password", "short"), f.URL, 400, "at least 12"},
		{"mismatch", with("password2", "other admin password"), f.URL, 400, "do not match"},
	} {
		resp, page := c.send("POST", "/setup/", bad.form, bad.origin)
		if resp.StatusCode != bad.status || !strings.Contains(page, bad.text) {
			t.Errorf("setup, %s: %d, want %d %q\n%s", bad.label, resp.StatusCode, bad.status, bad.text, page)
		}
	}
	resp, _ = c.send("POST", "/setup/", admin, f.URL)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" || c.cookies["session"] == "" {
		t.Fatalf("setup: %d %v", resp.StatusCode, resp.Header)
	}
	b := &browser{t: t, url: f.URL, session: c.cookies["session"], csrf: c.cookies["csrftoken"]}
	if st, email := meEmail(t, b); st != 200 || email != "first@example.com" {
		t.Fatalf("users/me after setup: %d %q", st, email)
	}
	// Once someone can log in, the setup page is gone.
	if resp, _ := c.send("GET", "/setup/", nil, ""); resp.StatusCode != 404 {
		t.Errorf("setup page after setup: %d", resp.StatusCode)
	}
	if resp, _ := c.send("POST", "/setup/", with("email", "second@example.com"), f.URL); resp.StatusCode != 404 {
		t.Errorf("second setup: %d", resp.StatusCode)
	}

	// Logout needs the session's token.
	if resp, _ := c.send("POST", "/logout/", url.Values{"csrfmiddlewaretoken": {"nope"}}, f.URL); resp.StatusCode != 403 {
		t.Errorf("logout with a wrong token: %d", resp.StatusCode)
	}
	resp, _ = c.send("POST", "/logout/", url.Values{"csrfmiddlewaretoken": {b.csrf}}, f.URL)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login/" || c.cookies["session"] != "" {
		t.Fatalf("logout: %d %v", resp.StatusCode, resp.Header)
	}
	if st, _ := meEmail(t, b); st != 401 {
		t.Errorf("session after logout: %d", st)
	}

	// The login page.
	resp, page = c.send("GET", "/login/?next=/issues/?q=1", nil, "")
	tok = tokenField.FindStringSubmatch(page)
	if resp.StatusCode != 200 || tok == nil || !strings.Contains(page, `name="next" value="/issues/?q=1"`) {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, page)
	}
	if strings.Contains(page, "/auth/oidc/") {
		t.Errorf("a sign-on button without --oidc-issuer:\n%s", page)
	}
	form := url.Values{"csrfmiddlewaretoken": {tok[1]}, "username": {"first@example.com"}, "password": {"wrong password!!"}, "next": {"/issues/"}}
	if resp, page := c.send("POST", "/login/", form, f.URL); resp.StatusCode != 400 || !strings.Contains(page, "Invalid e-mail or password.") {
		t.Errorf("wrong password: %d\n%s", resp.StatusCode, page)
	}
	form.Set("password", "first admin password")
	if resp, _ := c.send("POST", "/login/", form, "https://evil.example"); resp.StatusCode != 403 || c.cookies["session"] != "" {
		t.Errorf("login from another origin: %d", resp.StatusCode)
	}
	form.Set("next", "//evil.example/")
	resp, _ = c.send("POST", "/login/", form, f.URL)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" || c.cookies["session"] == "" {
		t.Fatalf("login: %d %v", resp.StatusCode, resp.Header)
	}
	b.session, b.csrf = c.cookies["session"], c.cookies["csrftoken"]
	if st, email := meEmail(t, b); st != 200 || email != "first@example.com" {
		t.Errorf("users/me after the login form: %d %q", st, email)
	}
	for _, secret := range []string{"first admin password", b.session, b.csrf} {
		if strings.Contains(logBuf.String(), secret) {
			t.Errorf("the log shows %q", secret)
		}
	}
}
