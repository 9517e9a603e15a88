package ingest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
)

var recapture = flag.Bool("recapture-go", false, "rewrite testdata/captures/sentry-go/ from the real sentry-go SDK")

// TestRecaptureSentryGo regenerates the sentry-go captures: the real SDK
// (the Go module, so not one of e2e/clients' scripts) sends an error with
// an attachment, a check-in, a transaction and logs to a recording server,
// which writes each request in capture-server.mjs's format. It only runs
// with -recapture-go; TestCaptures replays the files.
func TestRecaptureSentryGo(t *testing.T) {
	if !*recapture {
		t.Skip("run with -recapture-go to rewrite the sentry-go captures")
	}
	dir := "testdata/captures/sentry-go"
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var (
		mu sync.Mutex
		n  int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := map[string]string{}
		for k, vs := range r.Header {
			h[strings.ToLower(k)] = vs[0]
		}
		h["host"] = "127.0.0.1:8000"
		u := r.URL.RequestURI()
		rec, _ := json.MarshalIndent(map[string]any{"method": r.Method, "url": u, "headers": h,
			"body_base64": base64.StdEncoding.EncodeToString(body), "body_text": string(body)}, "", "  ")
		mu.Lock()
		n++
		name := filepath.Join(dir, fmt.Sprintf("%03d.json", n))
		mu.Unlock()
		if err := os.WriteFile(name, append(rec, '\n'), 0o644); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	dsn := strings.Replace(srv.URL, "http://", "http://"+captureKey+"@", 1) + "/42"
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: dsn, Release: "shop@1.2.3", Environment: "test",
		EnableTracing: true, TracesSampleRate: 1, EnableLogs: true, ServerName: "capture",
		Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	hub.Scope().SetUser(sentry.User{ID: "user-42", Email: "alice@example.com"})
	hub.Scope().SetTag("feature", "checkout")
	hub.Scope().AddBreadcrumb(&sentry.Breadcrumb{Category: "checkout", Message: "cart loaded", Level: sentry.LevelInfo}, 10)
	hub.Scope().AddAttachment(&sentry.Attachment{Filename: "config.json", ContentType: "application/json", Payload: []byte(`{"port":"80"}`)})
	hub.CaptureException(fmt.Errorf("load config: %w", errors.New("port must be a number")))
	hub.Scope().ClearAttachments()
	hub.CaptureMessage("faultline e2e message")
	hub.CaptureCheckIn(&sentry.CheckIn{MonitorSlug: "nightly-import", Status: sentry.CheckInStatusOK, Duration: time.Second}, nil)
	ctx := sentry.SetHubOnContext(context.Background(), hub)
	tx := sentry.StartTransaction(ctx, "GET /checkout")
	tx.StartChild("db.query").Finish()
	tx.Finish()
	sentry.NewLogger(ctx).Info().String("cart", "c-1").Emit("checkout started")
	hub.Flush(5 * time.Second)
	client.Close()
	if n == 0 {
		t.Fatal("nothing captured")
	}
}
