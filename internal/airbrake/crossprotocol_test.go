package airbrake_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/airbrake/gobrake/v5"
	"github.com/getsentry/sentry-go"
	pkgerrors "github.com/pkg/errors"

	"github.com/faultline/faultline/internal/airbrake"
	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
)

// reporters sends one error with both real Go clients, sentry-go and
// gobrake, and keeps what each produced: sentry-go's event as it would be
// sent, and the notice gobrake posted (to a local HTTP server).
type reporters struct {
	hub      *sentry.Hub
	notifier *gobrake.Notifier

	mu      sync.Mutex
	events  []*sentry.Event
	notices [][]byte
}

func newReporters(t *testing.T) *reporters {
	r := &reporters{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.notices = append(r.notices, b)
		r.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"1","url":"http://x/1"}`) //nolint:errcheck
	}))
	t.Cleanup(srv.Close)
	client, err := sentry.NewClient(sentry.ClientOptions{
		BeforeSend: func(ev *sentry.Event, _ *sentry.EventHint) *sentry.Event {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.hub = sentry.NewHub(client, sentry.NewScope())
	r.notifier = gobrake.NewNotifierWithOptions(&gobrake.NotifierOptions{
		ProjectId: 1, ProjectKey: "key", Host: srv.URL, DisableRemoteConfig: true, DisableAPM: true, DisableBacklog: true,
	})
	t.Cleanup(func() { r.notifier.Close() })
	return r
}

// report hands err to both clients from the same place.
func (r *reporters) report(err error) {
	r.hub.CaptureException(err)
	r.notifier.Notify(err, nil)
}

// hashes returns the fingerprint of the last event of each client.
func (r *reporters) hashes(t *testing.T) (sentryGo, airbrakeGo grouping.Result) {
	t.Helper()
	r.notifier.Flush()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		ne, nn := len(r.events), len(r.notices)
		r.mu.Unlock()
		if ne > 0 && nn > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("have %d sentry-go events and %d gobrake notices", ne, nn)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := json.Marshal(r.events[len(r.events)-1])
	if err != nil {
		t.Fatal(err)
	}
	se, err := event.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	n, err := airbrake.ParseNotice(r.notices[len(r.notices)-1])
	if err != nil {
		t.Fatal(err)
	}
	return grouping.Compute(se), grouping.Compute(n.Event())
}

func chargeCard() error { return pkgerrors.New("card declined") }

func lookUpUser(r *reporters) { r.report(errors.New("user not found")) }

// TestSameGroupFromSentryGoAndGobrake reports one error with the real
// sentry-go and the real gobrake from the same place, and checks that the
// event Faultline makes of gobrake's notice groups exactly as sentry-go's
// event does: same variant, same hashed values, same hash.
func TestSameGroupFromSentryGoAndGobrake(t *testing.T) {
	cases := []struct {
		name string
		send func(r *reporters)
	}{
		// The stack comes with the error (github.com/pkg/errors).
		{"stack in the error", func(r *reporters) { r.report(chargeCard()) }},
		// The stack is the caller's, taken by each client.
		{"stack at the report", lookUpUser},
		// A closure: sentry-go names it relative to its caller.
		{"closure", func(r *reporters) {
			func() { r.report(errors.New("closure failed")) }()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newReporters(t)
			c.send(r)
			sg, ab := r.hashes(t)
			if sg.Variant != "app" {
				t.Errorf("sentry-go variant %s, want %s: %v", sg.Variant, "app", sg.Values)
			}
			if sg.Hash != ab.Hash || sg.Variant != ab.Variant || !slices.Equal(sg.Values, ab.Values) {
				t.Errorf("hashes differ:\n sentry-go %s %s %q\n gobrake   %s %s %q", sg.Variant, sg.Hash, sg.Values, ab.Variant, ab.Hash, ab.Values)
			}
		})
	}
}
