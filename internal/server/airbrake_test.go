package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airbrake/gobrake/v5"
	"github.com/getsentry/sentry-go"
	pkgerrors "github.com/pkg/errors"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/internal/testserver"
)

// latestEvent is the part of an issue's latest event these tests read.
type latestEvent struct {
	EventID string `json:"eventID"`
	GroupID string `json:"groupID"`
	Title   string `json:"title"`
	SDK     *struct {
		Name string `json:"name"`
	} `json:"sdk"`
	Entries []struct {
		Type string `json:"type"`
		Data struct {
			Formatted string `json:"formatted"`
			Values    []struct {
				Type       string `json:"type"`
				Stacktrace *struct {
					Frames []frame `json:"frames"`
				} `json:"stacktrace"`
			} `json:"values"`
			Frames []frame `json:"frames"` // a message's stack trace
		} `json:"data"`
	} `json:"entries"`
	Tags []struct{ Key, Value string } `json:"tags"`
}

type frame struct {
	Function string `json:"function"`
	Module   string `json:"module"`
	Filename string `json:"filename"`
	InApp    bool   `json:"inApp"`
	LineNo   int    `json:"lineNo"`
}

func (e *latestEvent) tags() map[string]string {
	m := map[string]string{}
	for _, t := range e.Tags {
		m[t.Key] = t.Value
	}
	return m
}

// inApp returns the functions of the in-app frames, oldest call first.
func (e *latestEvent) inApp(t *testing.T) []string {
	var out []string
	for _, en := range e.Entries {
		frames := en.Data.Frames
		for _, v := range en.Data.Values {
			if v.Stacktrace != nil {
				frames = append(frames, v.Stacktrace.Frames...)
			}
		}
		for _, f := range frames {
			if f.InApp {
				if f.LineNo == 0 {
					t.Errorf("in-app frame %+v has no line number", f)
				}
				out = append(out, f.Function)
			}
		}
	}
	return out
}

func latest(t *testing.T, f *testserver.Faultline, issueID string) *latestEvent {
	t.Helper()
	var ev latestEvent
	if st, raw := f.Do("GET", "/api/0/issues/"+issueID+"/events/latest/", nil, &ev); st != 200 {
		t.Fatalf("latest event of issue %s: %d %s", issueID, st, raw)
	}
	return &ev
}

// runClient runs one of the scripts in e2e/clients that drive a real SDK
// and returns its summary line.
func runClient(t *testing.T, script string, env ...string) []byte {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "node is not installed")
	}
	dir, _ := filepath.Abs("../../e2e/clients")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@airbrake", "node")); err != nil {
		testenv.Missing(t, "the client SDKs are not installed (run e2e/clients/install.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, script))
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", script, err, out, stderr.String())
	}
	return out
}

// TestAirbrakeNodeEndToEnd drives the real @airbrake/node notifier
// (e2e/clients/airbrake-node.mjs): three errors from three places, three
// times each, and a message, plus one post of each kind of performance
// statistics. Through the API they are four issues with the exact counts,
// titles, crashing functions and tags, and each id the notifier was
// answered is its stored event.
func TestAirbrakeNodeEndToEnd(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "shop", "node")
	out := runClient(t, "airbrake-node.mjs", "FAULTLINE_DSN="+p.DSN, "FAULTLINE_REPEAT=3",
		"FAULTLINE_RELEASE=shop@1.2.3", "FAULTLINE_ENVIRONMENT=test", "FAULTLINE_AIRBRAKE_STATS=1")
	var summary struct {
		OK   bool `json:"ok"`
		Sent []struct {
			Label   string `json:"label"`
			EventID string `json:"event_id"`
		} `json:"sent"`
		Requests int `json:"requests"`
	}
	if err := json.Unmarshal(out, &summary); err != nil || !summary.OK || len(summary.Sent) != 10 || summary.Requests != 14 {
		t.Fatalf("client summary %s (%v)", out, err)
	}
	for kind, n := range f.Server.Airbrake().Stats() {
		if n != 1 {
			t.Errorf("%s: %d posts counted, want 1", kind, n)
		}
	}

	issues := f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 10 })
	if len(issues) != 4 {
		t.Fatalf("got %d issues, want 4: %+v", len(issues), issues)
	}
	want := map[string]struct {
		count, function, level, typ string
	}{
		"TypeError: invalid config: port must be a number": {"3", "parseConfig", "error", "error"},
		"PaymentError: card declined: insufficient funds":  {"3", "chargeCard", "error", "error"},
		"RangeError: index out of range":                   {"3", "computeIndex", "error", "error"},
		"faultline e2e message":                            {"1", "", "info", "default"},
	}
	for _, is := range issues {
		w, ok := want[is.Title]
		if !ok {
			t.Errorf("unexpected issue %q", is.Title)
			continue
		}
		if is.Count != w.count || is.Level != w.level || is.Type != w.typ || is.UserCount != 1 {
			t.Errorf("%s: %+v, want count %s level %s type %s and one user", is.Title, is, w.count, w.level, w.typ)
		}
		if w.function != "" && is.Metadata["function"] != w.function {
			t.Errorf("%s: crashing function %v, want %s", is.Title, is.Metadata["function"], w.function)
		}
		ev := latest(t, f, is.ID)
		frames := ev.inApp(t)
		if w.function != "" && (len(frames) < 2 || frames[len(frames)-1] != w.function) {
			t.Errorf("%s: in-app frames %q, want [... %s]", is.Title, frames, w.function)
		}
		if w.function == "" && len(frames) == 0 {
			t.Errorf("%s: the message has no in-app frame", is.Title)
		}
		tags := ev.tags()
		if tags["feature"] != "checkout" || tags["environment"] != "test" || tags["release"] != "shop@1.2.3" ||
			tags["user"] != "id:user-42" || tags["level"] != w.level {
			t.Errorf("%s: tags %v", is.Title, tags)
		}
		if ev.SDK == nil || ev.SDK.Name != "airbrake-js/node" {
			t.Errorf("%s: sdk %+v", is.Title, ev.SDK)
		}
	}
	// The id each notice was answered with is its event's id.
	for _, s := range summary.Sent {
		var ev latestEvent
		if st, raw := f.Do("GET", "/api/0/projects/acme/shop/events/"+s.EventID+"/", nil, &ev); st != 200 || ev.EventID != s.EventID {
			t.Errorf("%s: event %s: %d %s", s.Label, s.EventID, st, raw)
		}
	}
}

// Three places in application code that fail, reported with gobrake.

func gobrakeParseConfig(n *gobrake.Notifier, s string) string {
	if _, err := strconv.Atoi(s); err != nil {
		return send(n, fmt.Errorf("parse config: %w", err))
	}
	return ""
}

func gobrakeChargeCard(n *gobrake.Notifier, amount int) string {
	return send(n, &paymentError{amount: amount})
}

func gobrakeComputeIndex(n *gobrake.Notifier, i, size int) string {
	if i >= size {
		return send(n, errors.New("index out of range"))
	}
	return ""
}

// send reports err as gobrake's Notify does, but synchronously, with the
// context an application adds, and returns the id Faultline answered.
func send(n *gobrake.Notifier, err error) string {
	notice := n.Notice(err, nil, 1)
	notice.Context["version"] = "backend@1.2.3"
	notice.Context["user"] = map[string]string{"id": "user-42", "email": "alice@example.com"}
	notice.Params["tags"] = map[string]string{"feature": "checkout"}
	id, sendErr := n.SendNotice(notice)
	if sendErr != nil {
		return "error: " + sendErr.Error()
	}
	return id
}

func newGobrake(t *testing.T, f *testserver.Faultline, p testserver.Project) *gobrake.Notifier {
	t.Helper()
	pid, err := strconv.ParseInt(p.ID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	n := gobrake.NewNotifierWithOptions(&gobrake.NotifierOptions{
		ProjectId: pid, ProjectKey: p.PublicKey, Host: f.URL, Environment: "test",
		DisableRemoteConfig: true, DisableBacklog: true,
	})
	t.Cleanup(func() { n.Close() })
	return n
}

// TestGobrakeEndToEnd sends errors from three places with the real gobrake
// notifier, several times each, and checks through the API that they are
// three issues with the exact counts, titles, in-app frames (with sentry-go's
// package paths) and tags; and that its route statistics are accepted.
func TestGobrakeEndToEnd(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "backend", "go")
	n := newGobrake(t, f, p)

	sends := map[string]int{"parse": 3, "charge": 4, "index": 5}
	ids := map[string]bool{}
	for round := 0; round < 5; round++ {
		var got []string
		if round < sends["parse"] {
			got = append(got, gobrakeParseConfig(n, "port-"+strconv.Itoa(round)))
		}
		if round < sends["charge"] {
			got = append(got, gobrakeChargeCard(n, 100+round))
		}
		if round < sends["index"] {
			got = append(got, gobrakeComputeIndex(n, round+10, 3))
		}
		for _, id := range got {
			if len(id) != 32 {
				t.Fatalf("gobrake: %s", id)
			}
			ids[id] = true
		}
	}
	if len(ids) != 12 {
		t.Fatalf("sent %d distinct notices, want 12", len(ids))
	}

	ctx, metric := gobrake.NewRouteMetric(context.Background(), "POST", "/checkout")
	_, span := metric.Start(ctx, "db")
	span.Finish()
	metric.StatusCode, metric.ContentType = 200, "application/json"
	if err := n.Routes.Notify(ctx, metric); err != nil {
		t.Fatal(err)
	}
	n.Routes.Flush()
	if st := f.Server.Airbrake().Stats(); st["routes-stats"] != 1 || st["routes-breakdowns"] != 1 {
		t.Errorf("statistics counted %v, want one routes-stats and one routes-breakdowns", st)
	}

	issues := f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 12 })
	if len(issues) != 3 {
		t.Fatalf("got %d issues, want 3: %+v", len(issues), issues)
	}
	want := map[string]struct{ count, title, module string }{
		"gobrakeParseConfig":  {"3", `*fmt.wrapError: parse config: strconv.Atoi: parsing "port-2": invalid syntax`, "github.com/faultline/faultline/internal/server_test"},
		"gobrakeChargeCard":   {"4", "*server_test.paymentError: card declined for 103 cents", "github.com/faultline/faultline/internal/server_test"},
		"gobrakeComputeIndex": {"5", "*errors.errorString: index out of range", "github.com/faultline/faultline/internal/server_test"},
	}
	for _, is := range issues {
		fn := fmt.Sprint(is.Metadata["function"])
		w, ok := want[fn]
		if !ok {
			t.Errorf("unexpected issue %q (function %s)", is.Title, fn)
			continue
		}
		if is.Count != w.count || is.Title != w.title || is.Level != "error" || is.UserCount != 1 {
			t.Errorf("%s: %+v, want count %s title %q", fn, is, w.count, w.title)
		}
		ev := latest(t, f, is.ID)
		frames := ev.inApp(t)
		// Like Notify, send is not in the stack gobrake takes.
		if len(frames) < 2 || frames[len(frames)-1] != fn || frames[len(frames)-2] != "TestGobrakeEndToEnd" {
			t.Errorf("%s: in-app frames %q, want [... TestGobrakeEndToEnd %s]", fn, frames, fn)
		}
		for _, en := range ev.Entries {
			for _, v := range en.Data.Values {
				for _, fr := range v.Stacktrace.Frames {
					if fr.InApp && fr.Module != w.module {
						t.Errorf("%s: frame %s has module %q, want %q", fn, fr.Function, fr.Module, w.module)
					}
					if !fr.InApp && fr.Module != "testing" {
						t.Errorf("%s: system frame %+v", fn, fr)
					}
				}
			}
		}
		tags := ev.tags()
		if tags["feature"] != "checkout" || tags["environment"] != "test" || tags["release"] != "backend@1.2.3" || tags["user"] != "id:user-42" {
			t.Errorf("%s: tags %v", fn, tags)
		}
		if ev.SDK == nil || ev.SDK.Name != "gobrake" {
			t.Errorf("%s: sdk %+v", fn, ev.SDK)
		}
	}
}

// Two places that fail, each reported by both real Go clients.

func lookUpUser() error { return pkgerrors.New("user not found") }

func reportBoth(hub *sentry.Hub, n *gobrake.Notifier, err error) {
	hub.CaptureException(err)
	if _, err := n.SendNotice(n.Notice(err, nil, 0)); err != nil {
		panic(err)
	}
}

func openCart(hub *sentry.Hub, n *gobrake.Notifier) {
	reportBoth(hub, n, errors.New("cart is locked"))
}

// TestSameIssueFromSentryAndAirbrake sends the same errors from the same
// places with the real sentry-go and the real gobrake: each place is one
// issue, whichever protocol carried its events.
func TestSameIssueFromSentryAndAirbrake(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "backend", "go")
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	n := newGobrake(t, f, p)

	for i := 0; i < 2; i++ {
		reportBoth(hub, n, lookUpUser()) // the stack comes with the error
		openCart(hub, n)                 // each client takes the stack where it is called
	}
	if !hub.Flush(5 * time.Second) {
		t.Fatal("sentry-go did not flush")
	}
	issues := f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 8 })
	if len(issues) != 2 {
		for _, is := range issues {
			ev := latest(t, f, is.ID)
			t.Logf("issue %s %q count %s, sdk %+v, in-app %q", is.ID, is.Title, is.Count, ev.SDK, ev.inApp(t))
		}
		t.Fatalf("got %d issues, want 2", len(issues))
	}
	for _, is := range issues {
		if is.Count != "4" {
			t.Errorf("%s: count %s, want 4 (2 from each client)", is.Title, is.Count)
		}
	}
}
