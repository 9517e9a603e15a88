package server_test

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// Three places in "application code" that fail, each its own way, and
// report the failure where it happens (as an error handler would).

type paymentError struct{ amount int }

func (e *paymentError) Error() string { return fmt.Sprintf("card declined for %d cents", e.amount) }

func parseConfig(hub *sentry.Hub, s string) string {
	if _, err := strconv.Atoi(s); err != nil {
		return string(*hub.CaptureException(fmt.Errorf("parse config: %w", err)))
	}
	return ""
}

func chargeCard(hub *sentry.Hub, amount int) string {
	return string(*hub.CaptureException(&paymentError{amount: amount}))
}

func computeIndex(hub *sentry.Hub, i, n int) string {
	if i >= n {
		return string(*hub.CaptureException(errors.New("index out of range")))
	}
	return ""
}

// TestSentryGoEndToEnd sends errors from three places with the real sentry-go
// SDK, several times each, and checks through the API that they became
// three issues with the exact counts, titles and in-app frames. As in
// Sentry, an issue shows the title of its latest event.
func TestSentryGoEndToEnd(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "backend", "go")

	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:         p.DSN,
		Transport:   sentry.NewHTTPSyncTransport(),
		Environment: "test",
		Release:     "backend@1.2.3",
	})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	hub.Scope().SetUser(sentry.User{ID: "user-42", Email: "alice@example.com"})
	hub.Scope().SetTag("feature", "checkout")

	sends := map[string]int{"parse": 3, "charge": 4, "index": 5}
	var ids []string
	for round := 0; round < 5; round++ {
		if round < sends["parse"] {
			ids = append(ids, parseConfig(hub, "port-"+strconv.Itoa(round)))
		}
		if round < sends["charge"] {
			ids = append(ids, chargeCard(hub, 100+round))
		}
		if round < sends["index"] {
			ids = append(ids, computeIndex(hub, round+10, 3))
		}
	}
	if !hub.Flush(5 * time.Second) {
		t.Fatal("sentry-go did not flush")
	}
	if len(ids) != 12 {
		t.Fatalf("sent %d events", len(ids))
	}

	issues := f.WaitIssues(p, 20*time.Second, func(is []testserver.Issue) bool {
		return testserver.TotalCount(is) == 12
	})
	if len(issues) != 3 {
		t.Fatalf("got %d issues, want 3: %+v", len(issues), issues)
	}
	byFunc := map[string]testserver.Issue{}
	for _, is := range issues {
		byFunc[fmt.Sprint(is.Metadata["function"])] = is
	}
	want := []struct {
		function, count, title string
	}{
		{"parseConfig", "3", `*fmt.wrapError: parse config: strconv.Atoi: parsing "port-2": invalid syntax`},
		{"chargeCard", "4", "*server_test.paymentError: card declined for 103 cents"},
		{"computeIndex", "5", "*errors.errorString: index out of range"},
	}
	for _, w := range want {
		is, ok := byFunc[w.function]
		if !ok {
			t.Errorf("no issue whose crashing function is %s; have %v", w.function, byFunc)
			continue
		}
		if is.Count != w.count {
			t.Errorf("%s: count %s, want %s", w.function, is.Count, w.count)
		}
		if is.Title != w.title {
			t.Errorf("%s: title %q, want %q", w.function, is.Title, w.title)
		}
		if is.UserCount != 1 || is.Level != "error" || is.Status != "unresolved" || is.Type != "error" {
			t.Errorf("%s: %+v", w.function, is)
		}
		// The latest event carries the stack trace with in-app frames.
		var ev struct {
			GroupID string `json:"groupID"`
			Entries []struct {
				Type string `json:"type"`
				Data struct {
					Values []struct {
						Type       string `json:"type"`
						Stacktrace *struct {
							Frames []struct {
								Function string `json:"function"`
								Module   string `json:"module"`
								InApp    bool   `json:"inApp"`
								LineNo   int    `json:"lineNo"`
							} `json:"frames"`
						} `json:"stacktrace"`
					} `json:"values"`
				} `json:"data"`
			} `json:"entries"`
			Tags []struct{ Key, Value string } `json:"tags"`
		}
		if st, raw := f.Do("GET", "/api/0/issues/"+is.ID+"/events/latest/", nil, &ev); st != 200 {
			t.Fatalf("latest event: %d %s", st, raw)
		}
		var inApp []string
		for _, e := range ev.Entries {
			if e.Type != "exception" {
				continue
			}
			for _, v := range e.Data.Values {
				if v.Stacktrace == nil {
					continue
				}
				for _, fr := range v.Stacktrace.Frames {
					if fr.InApp {
						inApp = append(inApp, fr.Function)
						if fr.LineNo == 0 {
							t.Errorf("%s: frame %s has no line number", w.function, fr.Function)
						}
					}
				}
			}
		}
		if len(inApp) < 2 || inApp[len(inApp)-1] != w.function || inApp[len(inApp)-2] != "TestSentryGoEndToEnd" {
			t.Errorf("%s: in-app frames %v, want [... TestSentryGoEndToEnd %s]", w.function, inApp, w.function)
		}
		tags := map[string]string{}
		for _, tg := range ev.Tags {
			tags[tg.Key] = tg.Value
		}
		if tags["feature"] != "checkout" || tags["environment"] != "test" || tags["release"] != "backend@1.2.3" || tags["user"] != "id:user-42" {
			t.Errorf("%s: tags %v", w.function, tags)
		}
		if ev.GroupID != is.ID {
			t.Errorf("%s: latest event's group %s, want %s", w.function, ev.GroupID, is.ID)
		}
	}
}
