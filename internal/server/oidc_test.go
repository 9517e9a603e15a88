package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/text/language"

	"github.com/faultline/faultline/internal/oidc"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// providerUsers are the accounts of the test's OpenID provider.
type providerUsers map[string]*storage.User

func (u providerUsers) GetUserByID(id string) *storage.User { return u[id] }
func (u providerUsers) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}
func (u providerUsers) ExampleClientID() string { return storage.ServiceUserID }

const providerPassword = "verysecure"

func providerUser(id, email string, verified bool) *storage.User {
	return &storage.User{ID: id, Username: id, Password: providerPassword, FirstName: strings.ToUpper(id[:1]) + id[1:],
		LastName: "Tester", Email: email, EmailVerified: verified, PreferredLanguage: language.English}
}

// startProvider listens for zitadel's example OpenID provider, a real
// one, and returns its issuer URL and a function that starts serving it
// once Faultline's redirect URI is known. Requests that come before (the
// server's discovery at start) wait for it.
func startProvider(t *testing.T) (issuer string, serve func(redirectURI string)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startProviderOn(t, ln)
}

// startProviderOn is startProvider on a given listener.
func startProviderOn(t *testing.T, ln net.Listener) (issuer string, serve func(redirectURI string)) {
	t.Helper()
	issuer = "http://" + ln.Addr().String()
	ready := make(chan struct{})
	var h atomic.Pointer[http.Handler]
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		(*h.Load()).ServeHTTP(w, r)
	})}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	users := providerUsers{
		"alice":   providerUser("alice", "alice@corp.example", true),
		"ada":     providerUser("ada", "Ada@Corp.example", true),
		"eve":     providerUser("eve", "eve@corp.example", false),
		"zed":     providerUser("zed", "zed@corp.example", false),
		"mallory": providerUser("mallory", "mallory@other.example", true),
	}
	return issuer, func(redirectURI string) {
		clients := map[string]*storage.Client{"faultline": storage.WebClient("faultline", "faultline-secret", redirectURI)}
		var handler http.Handler = exampleop.SetupServer(issuer, storage.NewStorageWithClients(users, clients), nil, false)
		h.Store(&handler)
		close(ready)
	}
}

// ssoBrowser is an HTTP client with a cookie jar that stops at Faultline's
// sign-on callback, so that the test sees (and can replay or tamper with)
// the provider's answer.
type ssoBrowser struct {
	*http.Client
	t    *testing.T
	base string
	// seen collects the secrets that went through the browser (codes,
	// states, cookies), which the server's log must not show.
	seen *[]string
}

func newSSOBrowser(t *testing.T, base string) *ssoBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &ssoBrowser{Client: &http.Client{Jar: jar}, t: t, base: base, seen: new([]string)}
	b.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), base+oidc.CallbackPath) || strings.HasPrefix(req.URL.String(), base) && len(via) > 0 &&
			strings.HasPrefix(via[len(via)-1].URL.String(), base+oidc.CallbackPath) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return b
}

// sharing makes the browser collect its secrets into seen.
func (b *ssoBrowser) sharing(seen *[]string) *ssoBrowser {
	b.seen = seen
	return b
}

func (b *ssoBrowser) get(u string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var providerFormID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signIn clicks the login page's button with next, logs in at the
// provider as username and returns the callback URL the provider sent the
// browser to (not yet requested).
func (b *ssoBrowser) signIn(username, next string) string {
	b.t.Helper()
	resp, body := b.get(b.base + oidc.LoginPath + "?next=" + url.QueryEscape(next))
	m := providerFormID.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		b.t.Fatalf("the provider's login form: %d %s %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	authURL := resp.Request.URL
	form := url.Values{"id": {m[1]}, "username": {username}, "password": {providerPassword}}
	resp, err := b.PostForm(authURL.Scheme+"://"+authURL.Host+"/login/username", form)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, b.base+oidc.CallbackPath) {
		b.t.Fatalf("the provider did not send the browser back: %d %q", resp.StatusCode, loc)
	}
	cb, _ := url.Parse(loc)
	*b.seen = append(*b.seen, cb.Query().Get("code"), cb.Query().Get("state"))
	return loc
}

// me returns the caller's e-mail and id by GET /api/0/users/me/ with the
// browser's session cookie, or the status.
func (b *ssoBrowser) me() (status int, email, id string) {
	b.t.Helper()
	cu, _ := url.Parse(b.base + oidc.CallbackPath)
	for _, c := range b.Jar.Cookies(cu) {
		*b.seen = append(*b.seen, c.Value)
	}
	resp, body := b.get(b.base + "/api/0/users/me/")
	var u struct{ ID, Email string }
	json.Unmarshal([]byte(body), &u) //nolint:errcheck
	return resp.StatusCode, u.Email, u.ID
}

// TestOIDCSignOn drives the whole sign-on through a real OpenID provider
// (zitadel's example OP) over HTTP against a running Faultline: the button,
// the provider's login form, the callback (PKCE, state and nonce checked by
// the real flow), the session on the API; then linking, refusals, a
// tampered state and a replayed callback.
func TestOIDCSignOn(t *testing.T) {
	issuer, serveProvider := startProvider(t)
	var logBuf syncBuffer
	var seen []string
	f := testserver.StartWithLog(t, server.Config{OIDC: oidc.Config{Issuer: issuer, ClientID: "faultline",
		ClientSecret: "faultline-secret", Name: "Zitadel example", AllowedDomains: []string{"corp.example"},
		DefaultOrg: "acme", DefaultRole: "admin"}}, &logBuf)
	serveProvider(f.URL + oidc.CallbackPath)
	f.CreateProject("acme", "web", "go")
	var ada struct{ ID string }
	if st, raw := f.Do("POST", "/api/0/users/", map[string]any{"email": "ada@corp.example", "name": "Ada",
		"password": "ada's long password"}, &ada); st != 201 {
		t.Fatalf("create ada: %d %s", st, raw)
	}
	var eve struct{ ID string }
	if st, raw := f.Do("POST", "/api/0/users/", map[string]any{"email": "eve@corp.example", "name": "Eve",
		"password": "eve's long password"}, &eve); st != 201 {
		t.Fatalf("create eve: %d %s", st, raw)
	}

	t.Run("login page button", func(t *testing.T) {
		_, body := newSSOBrowser(t, f.URL).sharing(&seen).get(f.URL + "/login/?next=/projects/")
		if !strings.Contains(body, `href="/auth/oidc/login/?next=%2fprojects%2f"`) || !strings.Contains(body, "Sign in with Zitadel example") {
			t.Fatalf("no sign-on button: %s", body)
		}
	})

	var aliceID string
	t.Run("new user", func(t *testing.T) {
		b := newSSOBrowser(t, f.URL).sharing(&seen)
		cb := b.signIn("alice", "/organizations/acme/issues/")
		q, _ := url.Parse(cb)
		if q.Query().Get("code") == "" || q.Query().Get("state") == "" {
			t.Fatalf("callback %s", cb)
		}
		resp, body := b.get(cb)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/organizations/acme/issues/" {
			t.Fatalf("callback: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		st, email, id := b.me()
		if st != 200 || email != "alice@corp.example" {
			t.Fatalf("users/me: %d %q", st, email)
		}
		aliceID = id
		var full struct{ HasPasswordAuth *bool }
		if _, body := b.get(f.URL + "/api/0/users/me/"); json.Unmarshal([]byte(body), &full) != nil ||
			full.HasPasswordAuth == nil || *full.HasPasswordAuth {
			t.Fatalf("a sign-on user has a password: %s", body)
		}
		// She joined the default organization with the default role.
		var members []struct {
			Email, OrgRole string
			User           *struct{ ID string }
		}
		if st, raw := f.Do("GET", "/api/0/organizations/acme/members/", nil, &members); st != 200 {
			t.Fatalf("members: %d %s", st, raw)
		}
		found := false
		for _, m := range members {
			if m.Email == "alice@corp.example" {
				found = m.OrgRole == "admin" && m.User != nil && m.User.ID == id
			}
		}
		if !found {
			t.Fatalf("alice is not an admin of acme: %+v", members)
		}
		// Her session sees the organization; she has no password.
		if resp, _ := b.get(f.URL + "/api/0/organizations/acme/projects/"); resp.StatusCode != 200 {
			t.Fatalf("alice's session on acme: %d", resp.StatusCode)
		}
		if st := passwordLogin(t, f.URL, "alice@corp.example", ""); st == 200 {
			t.Fatal("a sign-on user logged in without a password")
		}

		// Replayed callback: the ssoBrowser's cookie is gone, and with it put
		// back by hand the flow is still consumed.
		if resp, _ := newSSOBrowser(t, f.URL).sharing(&seen).get(cb); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("replay from another ssoBrowser: %d", resp.StatusCode)
		}
		if resp, body := b.get(cb); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already used") {
			t.Fatalf("replay: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("replay with the flow cookie", func(t *testing.T) {
		b := newSSOBrowser(t, f.URL).sharing(&seen)
		cb := b.signIn("alice", "/")
		u, _ := url.Parse(f.URL + oidc.CallbackPath)
		var flowCookie *http.Cookie
		for _, c := range b.Jar.Cookies(u) {
			if c.Name == "faultline_sso" {
				flowCookie = c
			}
		}
		if flowCookie == nil {
			t.Fatal("no flow cookie")
		}
		if resp, _ := b.get(cb); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("first use: %d", resp.StatusCode)
		}
		req, _ := http.NewRequest("GET", cb, nil)
		req.AddCookie(flowCookie)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 {
			t.Fatalf("replay with the cookie: %d %v", resp.StatusCode, resp.Cookies())
		}
		if st, _, id := b.me(); st != 200 || id != aliceID {
			t.Fatalf("the returning user: %d %s, want %s", st, id, aliceID)
		}
	})

	t.Run("tampered state", func(t *testing.T) {
		b := newSSOBrowser(t, f.URL).sharing(&seen)
		cb := b.signIn("alice", "/")
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("state", q.Get("state")+"x")
		u.RawQuery = q.Encode()
		if resp, _ := b.get(u.String()); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("tampered state: %d", resp.StatusCode)
		}
		if st, _, _ := b.me(); st != 401 {
			t.Fatalf("a session after a tampered state: %d", st)
		}
		// The forged answer did not cancel the browser's login.
		if resp, _ := b.get(cb); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("the real answer after a forged one: %d", resp.StatusCode)
		}
		if st, _, id := b.me(); st != 200 || id != aliceID {
			t.Fatalf("after the real answer: %d %s", st, id)
		}
	})

	t.Run("verified e-mail links to the password user", func(t *testing.T) {
		b := newSSOBrowser(t, f.URL).sharing(&seen)
		resp, body := b.get(b.signIn("ada", "https://evil.example/"))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("callback: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if st, email, id := b.me(); st != 200 || id != ada.ID || email != "ada@corp.example" {
			t.Fatalf("users/me: %d %s %s, want ada %s", st, email, id, ada.ID)
		}
		if st := passwordLogin(t, f.URL, "ada@corp.example", "ada's long password"); st != 200 {
			t.Fatalf("ada's password after linking: %d", st)
		}
	})

	refusals := []struct {
		name, user string
		status     int
		page       string
	}{
		{"unverified e-mail of a password user", "eve", 403, "has not verified your e-mail address eve@corp.example"},
		{"unverified e-mail of nobody", "zed", 403, "has not verified your e-mail address zed@corp.example"},
		{"domain not allowed", "mallory", 403, "mallory@other.example is not in a domain allowed"},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			b := newSSOBrowser(t, f.URL).sharing(&seen)
			resp, body := b.get(b.signIn(c.user, "/"))
			if resp.StatusCode != c.status || !strings.Contains(body, c.page) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if st, _, _ := b.me(); st != 401 {
				t.Fatalf("a session after a refusal: %d", st)
			}
		})
	}
	// No user was made for the refused, and eve's account was not linked.
	var users []struct{ Email string }
	if st, raw := f.Do("GET", "/api/0/users/", nil, &users); st != 200 {
		t.Fatalf("users: %d %s", st, raw)
	}
	for _, u := range users {
		if u.Email == "zed@corp.example" || u.Email == "mallory@other.example" {
			t.Errorf("a refused sign-on made user %s", u.Email)
		}
	}
	if len(users) != 4 { // the admin, ada, eve, alice
		t.Errorf("users: %+v", users)
	}
	// Nothing secret in the server's log (at debug level).
	log := logBuf.String()
	if len(seen) < 20 || !strings.Contains(log, "single sign-on") {
		t.Fatalf("%d secrets seen; log:\n%s", len(seen), log)
	}
	for _, v := range append(seen, "faultline-secret") {
		if len(v) >= 8 && strings.Contains(log, v) {
			t.Errorf("the log shows %q:\n%s", v, log)
		}
	}
}

// passwordLogin logs in with POST /api/0/auth/login/ and returns the status.
func passwordLogin(t *testing.T, base, email, password string) int {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": email, "password": password})
	resp, err := http.Post(base+"/api/0/auth/login/", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestOIDCProviderUnreachable: a server whose provider cannot be reached
// starts, and the button answers a clear error page; once the provider
// is up, the button works (discovery is retried).
func TestOIDCProviderUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there
	f := testserver.Start(t, server.Config{OIDC: oidc.Config{Issuer: issuer, ClientID: "faultline",
		ClientSecret: "faultline-secret", Name: "Corp SSO", RetryInterval: time.Millisecond}})
	b := newSSOBrowser(t, f.URL)
	resp, body := b.get(f.URL + oidc.LoginPath)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "cannot reach Corp SSO") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// The password login still works, and the page has the button.
	if resp, body := b.get(f.URL + "/login/"); resp.StatusCode != 200 || !strings.Contains(body, "Sign in with Corp SSO") {
		t.Fatalf("login page: %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.get(f.URL + oidc.CallbackPath + "?state=x&code=y"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback without a flow: %d", resp.StatusCode)
	}

	// The provider comes up at its address: the next click discovers it.
	ln, err = net.Listen("tcp", strings.TrimPrefix(issuer, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	_, serveProvider := startProviderOn(t, ln)
	serveProvider(f.URL + oidc.CallbackPath)
	resp, body = b.get(b.signIn("alice", "/"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-on once the provider is up: %d %s", resp.StatusCode, body)
	}
	if st, email, _ := b.me(); st != 200 || email != "alice@corp.example" {
		t.Fatalf("users/me: %d %s", st, email)
	}
}
