package grouping_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
)

// captureTransport is a sentry-go transport that keeps the events the SDK
// would send, exactly as it serializes them.
type captureTransport struct {
	mu     sync.Mutex
	events []json.RawMessage
}

func (t *captureTransport) Configure(sentry.ClientOptions)        {}
func (t *captureTransport) Flush(time.Duration) bool              { return true }
func (t *captureTransport) FlushWithContext(context.Context) bool { return true }
func (t *captureTransport) Close()                                {}
func (t *captureTransport) SendEvent(e *sentry.Event) {
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	t.mu.Lock()
	t.events = append(t.events, b)
	t.mu.Unlock()
}

func (t *captureTransport) last() json.RawMessage {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.events[len(t.events)-1]
}

// Application code that fails in different ways; each site is one issue.
// Every site is called through fire, so that events of one site have the
// same stack whatever their arguments, as in a real program.

type paymentError struct{ cents string }

func (e *paymentError) Error() string { return "card declined for " + e.cents + " cents" }

func parseConfig(hub *sentry.Hub, s string) {
	if _, err := strconv.Atoi(s); err != nil {
		hub.CaptureException(fmt.Errorf("parse config: %w", err))
	}
}

func chargeCard(hub *sentry.Hub, cents string) { hub.CaptureException(&paymentError{cents: cents}) }

func computeIndex(hub *sentry.Hub, i string) {
	hub.CaptureException(fmt.Errorf("index %s out of range [0:10]", i))
}

func processBatch(hub *sentry.Hub, id string) {
	for _, part := range strings.Split(id, ",") {
		func() { // a closure: Go names it processBatch.func1
			if strings.HasPrefix(part, "-") {
				hub.CaptureException(errors.New("negative id " + part))
			}
		}()
	}
}

func loadUser(hub *sentry.Hub, id string) {
	defer func() {
		if r := recover(); r != nil {
			hub.Recover(r)
		}
	}()
	var users map[string]*struct{ name string }
	_ = users[id].name // nil pointer dereference: a runtime panic
}

func notFound(hub *sentry.Hub, msg string) { hub.CaptureMessage(msg) }

func notifyWebhook(hub *sentry.Hub, host string) {
	scope := hub.PushScope()
	defer hub.PopScope()
	scope.SetFingerprint([]string{"webhook-delivery"})
	hub.CaptureException(errors.New("webhook to " + host + " timed out"))
}

func renderInvoice(hub *sentry.Hub, tenant string) {
	scope := hub.PushScope()
	defer hub.PopScope()
	scope.SetFingerprint([]string{"{{ default }}", tenant})
	hub.CaptureException(errors.New("template missing"))
}

//go:noinline
func fire(hub *sentry.Hub, site func(*sentry.Hub, string), arg string) { site(hub, arg) }

// generateGoCorpus drives sentry-go through every site and writes the
// events it produced as a corpus.
func generateGoCorpus(t *testing.T, path string) {
	tr := &captureTransport{}
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn: "http://public@127.0.0.1:9/1", Transport: tr, Environment: "production", Release: "backend@2.4.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	hub.Scope().SetUser(sentry.User{ID: "user-42", Email: "alice@example.com"})
	var lines []corpusLine
	runs := []struct {
		label, group string
		site         func(*sentry.Hub, string)
		arg          string
	}{
		{"parse-config#0", "parse-config", parseConfig, "port-80"},
		{"parse-config#1", "parse-config", parseConfig, "port-8080"},
		// Sentry groups Go's wrapped errors by every error of the chain,
		// and those without a stack trace by their (parameterized)
		// value: a different kind of input is a different issue.
		{"parse-config#2", "parse-config-word", parseConfig, "eighty"},
		{"charge-card#0", "charge-card", chargeCard, "1999"},
		{"charge-card#1", "charge-card", chargeCard, "250"},
		{"charge-card#2", "charge-card", chargeCard, "7"},
		{"compute-index#0", "compute-index", computeIndex, "12"},
		{"compute-index#1", "compute-index", computeIndex, "4096"},
		{"closure#0", "closure", processBatch, "1,-5"},
		{"closure#1", "closure", processBatch, "-77"},
		{"panic#0", "panic", loadUser, "1"},
		{"panic#1", "panic", loadUser, "2"},
		{"message#0", "user-not-found", notFound, "user 42 not found in shard 7"},
		{"message#1", "user-not-found", notFound, "user 1337 not found in shard 12"},
		{"message#2", "cache-miss", notFound, "cache miss for key=\"session:9f8e7d6c5b4a\" after 250ms"},
		{"message#3", "cache-miss", notFound, "cache miss for key=\"session:0a1b2c3d4e5f\" after 12ms"},
		{"fingerprint#0", "webhook", notifyWebhook, "hooks.example.com"},
		{"fingerprint#1", "webhook", notifyWebhook, "10.0.0.7"},
		{"salted#0", "invoice-tenant-a", renderInvoice, "tenant-a"},
		{"salted#1", "invoice-tenant-a", renderInvoice, "tenant-a"},
		{"salted#2", "invoice-tenant-b", renderInvoice, "tenant-b"},
	}
	for _, r := range runs {
		fire(hub, r.site, r.arg)
		lines = append(lines, corpusLine{Label: r.label, Group: "go/" + r.group, Event: tr.last()})
	}
	writeCorpus(t, path, lines)
}

func writeCorpus(t *testing.T, path string, lines []corpusLine) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(append(b, '\n')) //nolint:errcheck
	}
}
