package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/api"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/route"
	"github.com/faultline/faultline/internal/session"
)

// TestSecureCookiesOnHTTPS: behind an https public URL the session and
// csrftoken cookies are Secure, and only the public URL's origin may post.
func TestSecureCookiesOnHTTPS(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	q, err := queue.Open(ctx, queue.Config{DataDir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	m, err := meta.Open(ctx, q.JetStream(), meta.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	sess, err := session.Open(ctx, q.JetStream(), session.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateUser(ctx, "ann@example.com", "Ann", "ann's password", false); err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Config{PublicURL: "https://faultline.example", Users: m, Sessions: sess}, m, nil, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	tab := route.New(route.Config{})
	tab.Add(a.Routes()...)
	for _, c := range []struct {
		origin string
		status int
	}{
		{"http://faultline.example", 403}, // the scheme differs
		{"https://evil.example", 403},
		{"https://faultline.example", 200},
		{"", 200},
	} {
		req := httptest.NewRequest("POST", "https://faultline.example/api/0/auth/login/",
			strings.NewReader(`{"username":"ann@example.com","password":"ann's password"}`))
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		w := httptest.NewRecorder()
		tab.ServeHTTP(w, req)
		if w.Code != c.status {
			t.Errorf("origin %q: %d %s, want %d", c.origin, w.Code, w.Body, c.status)
			continue
		}
		if w.Code != 200 {
			continue
		}
		cookies := (&http.Response{Header: w.Header()}).Cookies()
		if len(cookies) != 2 {
			t.Fatalf("cookies %v", cookies)
		}
		for _, ck := range cookies {
			if !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.HttpOnly != (ck.Name == "session") {
				t.Errorf("cookie %+v", ck)
			}
		}
	}
}
