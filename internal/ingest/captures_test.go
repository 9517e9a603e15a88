package ingest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/store"
	"github.com/faultline/faultline/internal/testserver"
)

var update = flag.Bool("update", false, "rewrite testdata/captures/*/*.golden from the current output")

// capture is a request as e2e/clients/capture-server.mjs recorded it from a
// real SDK.
type capture struct {
	Method     string            `json:"method"`
	URL        string            `json:"url"`
	Headers    map[string]string `json:"headers"`
	BodyBase64 string            `json:"body_base64"`
}

// The captures were taken with the DSN http://e2epublickey@127.0.0.1:8000/42.
const (
	captureKey     = "e2epublickey"
	captureProject = "/api/42/"
)

// replayHeaders are the captured headers that are sent again; the others
// (host, length, connection) belong to the original connection.
var replayHeaders = []string{"content-type", "content-encoding", "x-sentry-auth", "user-agent", "origin", "referer"}

// captureSummary is what a golden file records about one captured request:
// the answer, the event it produced as the API serves it (without what
// depends on when the test runs), and the outcomes it was counted in.
type captureSummary struct {
	Status   int            `json:"status"`
	Answer   string         `json:"answer"`
	Event    map[string]any `json:"event,omitempty"`
	Outcomes []string       `json:"outcomes"`
}

// TestCaptures replays every request the real SDKs sent (captured in
// testdata/captures) to a real server, each into a project of its own, and
// compares what they became with the golden files: go test -update
// rewrites them.
func TestCaptures(t *testing.T) {
	files, err := filepath.Glob("testdata/captures/*/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	f := testserver.Start(t, server.Config{})
	type sent struct {
		file     string
		project  testserver.Project
		status   int
		answer   string
		hasEvent bool
	}
	var all []sent
	for i, file := range files {
		var c capture
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		p := f.CreateProject("acme", fmt.Sprintf("capture-%d", i), "other")
		status, answer := replay(t, f, p, c)
		all = append(all, sent{file, p, status, answer, carriesEvent(t, c)})
	}
	for _, s := range all {
		t.Run(strings.TrimPrefix(s.file, "testdata/captures/"), func(t *testing.T) {
			sum := captureSummary{Status: s.status, Answer: s.answer}
			var id struct{ ID string }
			json.Unmarshal([]byte(s.answer), &id) //nolint:errcheck
			if s.status == 200 && s.hasEvent {
				waitEvent(t, f, s.project, id.ID)
				sum.Event = eventSummary(t, f, s.project, id.ID)
			}
			sum.Outcomes = captureOutcomes(t, f, s.project)
			got, err := json.MarshalIndent(sum, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(s.file, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s:\n%s", s.file, golden, got)
			}
		})
	}
}

// carriesEvent reports whether a captured request has an event to store:
// a /store/ body, or an envelope with an event item.
func carriesEvent(t *testing.T, c capture) bool {
	if strings.Contains(c.URL, "/store/") {
		return true
	}
	raw, _ := base64.StdEncoding.DecodeString(c.BodyBase64)
	body, err := envelope.Decode(raw, c.Headers["content-encoding"], 0)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range env.Items {
		if it.Type == "event" {
			return true
		}
	}
	return false
}

// replay sends a captured request to project p, with p's key in place of
// the captured one.
func replay(t *testing.T, f *testserver.Faultline, p testserver.Project, c capture) (int, string) {
	t.Helper()
	body, err := base64.StdEncoding.DecodeString(c.BodyBase64)
	if err != nil {
		t.Fatal(err)
	}
	target := strings.Replace(c.URL, captureProject, "/api/"+p.ID+"/", 1)
	target = strings.Replace(target, "sentry_key="+captureKey, "sentry_key="+p.PublicKey, 1)
	req, err := http.NewRequest(c.Method, f.URL+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range replayHeaders {
		if v, ok := c.Headers[h]; ok {
			req.Header.Set(h, strings.Replace(v, "sentry_key="+captureKey, "sentry_key="+p.PublicKey, 1))
		}
	}
	if c.Headers["transfer-encoding"] == "chunked" {
		req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

// volatile matches what changes from run to run in an event's JSON: the
// project's numbers and the times.
var volatile = regexp.MustCompile(`^(id|groupID|projectID|dateCreated|dateReceived|size)$`)

// eventSummary reads the event through the API and keeps what the golden
// file compares: everything but ids, times and processing notes (which
// depend on how old the capture is).
func eventSummary(t *testing.T, f *testserver.Faultline, p testserver.Project, id string) map[string]any {
	t.Helper()
	var ev map[string]any
	if st, raw := f.Do("GET", "/api/0/projects/"+p.Org+"/"+p.Slug+"/events/"+id+"/", nil, &ev); st != 200 {
		t.Fatalf("event %s: %d %s", id, st, raw)
	}
	for k := range ev {
		if volatile.MatchString(k) {
			delete(ev, k)
		}
	}
	delete(ev, "errors")
	delete(ev, "fingerprints") // the hash; issue #4's grouping tests own it
	// Breadcrumb times follow the event's clock corrections.
	for _, e := range ev["entries"].([]any) {
		entry := e.(map[string]any)
		if entry["type"] != "breadcrumbs" {
			continue
		}
		for _, b := range entry["data"].(map[string]any)["values"].([]any) {
			delete(b.(map[string]any), "timestamp")
		}
	}
	return ev
}

// captureOutcomes lists the project's outcomes as "outcome category
// quantity" lines, sorted.
func captureOutcomes(t *testing.T, f *testserver.Faultline, p testserver.Project) []string {
	t.Helper()
	var pid uint64
	fmt.Sscan(p.ID, &pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		totals, err := f.Server.Store().OutcomeTotals(context.Background(), store.OutcomeQuery{ProjectIDs: []uint64{pid}})
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, o := range totals {
			out = append(out, fmt.Sprintf("%s %s %d %s", o.Kind, categoryNames[o.Category], o.Quantity, o.Reason))
		}
		sort.Strings(out)
		// Every capture is counted somewhere; the outcomes of a message
		// are written together, once its batch is stored.
		if len(out) > 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
}
