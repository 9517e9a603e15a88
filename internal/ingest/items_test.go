package ingest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/store"
	"github.com/faultline/faultline/internal/testserver"
)

// post sends body to an ingest endpoint of p and returns the status and
// the answer.
func post(t *testing.T, f *testserver.Faultline, p testserver.Project, endpoint, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.URL+"/api/"+p.ID+"/"+endpoint+"/?sentry_key="+p.PublicKey, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// item renders an envelope item with an explicit length.
func item(header string, payload []byte) string {
	return strings.TrimSuffix(header, "}") + fmt.Sprintf(`,"length":%d}`, len(payload)) + "\n" + string(payload)
}

// eventJSON is the part of Sentry's event JSON these tests read.
type eventJSON struct {
	EventID     string `json:"eventID"`
	GroupID     string `json:"groupID"`
	Title       string `json:"title"`
	Type        string `json:"type"`
	Culprit     string `json:"culprit"`
	Platform    string `json:"platform"`
	DateCreated string `json:"dateCreated"`
	Tags        []struct{ Key, Value string }
	Errors      []struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	} `json:"errors"`
	Entries []struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	} `json:"entries"`
	UserReport *struct {
		Comments string `json:"comments"`
	} `json:"userReport"`
}

// waitEvent polls the API until the event is stored.
func waitEvent(t *testing.T, f *testserver.Faultline, p testserver.Project, id string) eventJSON {
	t.Helper()
	var ev eventJSON
	f.WaitEvent(t, p, id, &ev)
	return ev
}

type attachmentJSON struct {
	ID       string            `json:"id"`
	EventID  string            `json:"event_id"`
	Type     string            `json:"type"`
	Name     string            `json:"name"`
	Mimetype string            `json:"mimetype"`
	Size     int               `json:"size"`
	SHA1     string            `json:"sha1"`
	Headers  map[string]string `json:"headers"`
}

func download(t *testing.T, f *testserver.Faultline, p testserver.Project, eventID, id string) ([]byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.URL+"/api/0/projects/"+p.Org+"/"+p.Slug+"/events/"+eventID+"/attachments/"+id+"/?download=1", nil)
	req.Header.Set("Authorization", "Bearer "+testserver.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("download: %d %s", resp.StatusCode, b)
	}
	return b, resp.Header
}

func sha1hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// TestEnvelopeItems sends every item type an SDK sends, through the real
// server, and checks where each one ends up: the event with its
// attachments (one larger than a queue message) and user feedback, and
// everything else counted in the outcomes table.
func TestEnvelopeItems(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "items", "native")
	eid := "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1"
	big := make([]byte, 9<<20) // over the 8 MiB queue message limit
	rand.Read(big)
	small := []byte("line 1\r\nline 2\n")
	now := time.Now().UTC()
	envBody := strings.Join([]string{
		`{"event_id":"` + eid + `","sent_at":"` + now.Format(time.RFC3339Nano) + `"}`,
		item(`{"type":"event"}`, []byte(`{"message":"with attachments","level":"error","platform":"native"}`)),
		item(`{"type":"attachment","filename":"big.bin","content_type":"application/octet-stream"}`, big),
		item(`{"type":"attachment","filename":"log.txt","content_type":"text/plain","attachment_type":"event.attachment"}`, small),
		item(`{"type":"session"}`, []byte(`{"sid":"s1","status":"ok","attrs":{"release":"app@1"}}`)),
		item(`{"type":"sessions"}`, []byte(`{"aggregates":[{"started":"2026-01-01T00:00:00Z","exited":3,"errored":1}],"attrs":{"release":"app@1"}}`)),
		item(`{"type":"client_report"}`, []byte(`{"discarded_events":[{"reason":"queue_overflow","category":"error","quantity":4},{"reason":"sample_rate","category":"transaction","quantity":2}]}`)),
		item(`{"type":"check_in"}`, []byte(`{"check_in_id":"c1","monitor_slug":"nightly","status":"ok"}`)),
		item(`{"type":"log","item_count":3,"content_type":"application/vnd.sentry.items.log+json"}`, []byte(`{"items":[{"body":"a"},{"body":"b"},{"body":"c"}]}`)),
		item(`{"type":"span"}`, []byte(`{"span_id":"a1b2c3d4e5f60718"}`)),
		item(`{"type":"profile"}`, []byte(`{}`)),
		item(`{"type":"brand_new_type"}`, []byte(`whatever`)),
	}, "\n")
	if st, raw := post(t, f, p, "envelope", "", []byte(envBody)); st != 200 || string(raw) != `{"id":"`+eid+`"}` {
		t.Fatalf("envelope: %d %s", st, raw)
	}
	// A transaction, and feedback about the event: legacy and new style.
	txBody := `{"event_id":"c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2"}` + "\n" +
		item(`{"type":"transaction"}`, []byte(`{"type":"transaction","transaction":"/checkout","spans":[{},{},{}]}`))
	if st, raw := post(t, f, p, "envelope", "", []byte(txBody)); st != 200 {
		t.Fatalf("transaction: %d %s", st, raw)
	}
	reportBody := `{"event_id":"` + eid + `"}` + "\n" +
		item(`{"type":"user_report"}`, []byte(`{"event_id":"`+eid+`","name":"Jane","email":"jane@example.com","comments":"It broke when I paid."}`))
	if st, raw := post(t, f, p, "envelope", "", []byte(reportBody)); st != 200 {
		t.Fatalf("user report: %d %s", st, raw)
	}
	feedbackBody := `{"event_id":"d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3"}` + "\n" +
		item(`{"type":"feedback"}`, []byte(`{"event_id":"d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3","contexts":{"feedback":{"message":"New widget feedback","contact_email":"bob@example.com","name":"Bob","associated_event_id":"`+eid+`"}}}`))
	if st, raw := post(t, f, p, "envelope", "", []byte(feedbackBody)); st != 200 {
		t.Fatalf("feedback: %d %s", st, raw)
	}

	ev := waitEvent(t, f, p, eid)
	if ev.Title != "with attachments" {
		t.Errorf("title %q", ev.Title)
	}
	// Attachments: listed with Sentry's fields, downloadable byte for byte.
	var atts []attachmentJSON
	deadline := time.Now().Add(20 * time.Second)
	for len(atts) < 2 && time.Now().Before(deadline) {
		f.Do("GET", "/api/0/projects/acme/items/events/"+eid+"/attachments/", nil, &atts)
		time.Sleep(100 * time.Millisecond)
	}
	if len(atts) != 2 {
		t.Fatalf("attachments: %+v", atts)
	}
	byName := map[string]attachmentJSON{}
	for _, a := range atts {
		byName[a.Name] = a
	}
	for name, data := range map[string][]byte{"big.bin": big, "log.txt": small} {
		a, ok := byName[name]
		if !ok {
			t.Fatalf("no attachment %s in %+v", name, atts)
		}
		if a.Size != len(data) || a.SHA1 != sha1hex(data) || a.EventID != eid || a.Type != "event.attachment" {
			t.Errorf("%s: %+v", name, a)
		}
		got, h := download(t, f, p, eid, a.ID)
		if !bytes.Equal(got, data) {
			t.Errorf("%s: downloaded %d bytes that differ from the %d sent", name, len(got), len(data))
		}
		if h.Get("Content-Type") != a.Mimetype || !strings.Contains(h.Get("Content-Disposition"), name) {
			t.Errorf("%s: headers %v", name, h)
		}
	}
	var one attachmentJSON
	if st, raw := f.Do("GET", "/api/0/projects/acme/items/events/"+eid+"/attachments/"+byName["log.txt"].ID+"/", nil, &one); st != 200 || one.Headers["Content-Type"] != "text/plain" {
		t.Errorf("attachment details: %d %s", st, raw)
	}
	if st, _ := f.Do("GET", "/api/0/projects/acme/items/events/"+eid+"/attachments/12345/", nil, nil); st != 404 {
		t.Errorf("unknown attachment: %d", st)
	}
	// Another organization's project cannot see them.
	f.CreateProject("other-org", "items", "native")
	if st, _ := f.Do("GET", "/api/0/projects/other-org/items/events/"+eid+"/attachments/", nil, &atts); st != 200 || len(atts) != 0 {
		t.Errorf("attachments leak to another project: %d %+v", st, atts)
	}

	// User feedback, linked to the event and its issue.
	var reports []struct {
		EventID  string `json:"eventID"`
		Name     string `json:"name"`
		Email    string `json:"email"`
		Comments string `json:"comments"`
		Issue    *struct {
			ID string `json:"id"`
		} `json:"issue"`
	}
	deadline = time.Now().Add(20 * time.Second)
	for len(reports) < 2 && time.Now().Before(deadline) {
		f.Do("GET", "/api/0/projects/acme/items/user-feedback/", nil, &reports)
		time.Sleep(100 * time.Millisecond)
	}
	if len(reports) != 2 {
		t.Fatalf("user feedback: %+v", reports)
	}
	comments := map[string]bool{}
	for _, r := range reports {
		comments[r.Comments] = true
		if r.EventID != eid || r.Issue == nil || r.Issue.ID != ev.GroupID {
			t.Errorf("report %+v is not linked to event %s of issue %s", r, eid, ev.GroupID)
		}
	}
	if !comments["It broke when I paid."] || !comments["New widget feedback"] {
		t.Errorf("feedback comments %v", comments)
	}
	if ev := waitEvent(t, f, p, eid); ev.UserReport == nil {
		t.Error("event details have no userReport")
	}

	// Outcomes: every other item is counted in its category.
	want := map[string]uint64{
		"accepted/error":             1,
		"accepted/attachment":        uint64(len(big) + len(small)),
		"accepted/attachment_item":   2,
		"accepted/session":           1 + 4,
		"accepted/transaction":       1,
		"accepted/span":              4 + 1, // the transaction's spans and root, the standalone span
		"accepted/monitor":           1,
		"accepted/log_item":          3,
		"accepted/feedback":          1,
		"client_discard/error":       4,
		"client_discard/transaction": 2,
		"filtered/profile":           1,
	}
	got := waitOutcomes(t, f, p, want)
	if got["accepted/log_byte"] == 0 {
		t.Errorf("log bytes not counted: %v", got)
	}
}

var categoryNames = map[outcome.Category]string{
	outcome.CategoryError: "error", outcome.CategoryTransaction: "transaction", outcome.CategorySecurity: "security",
	outcome.CategoryAttachment: "attachment", outcome.CategorySession: "session", outcome.CategoryProfile: "profile",
	outcome.CategoryMonitor: "monitor", outcome.CategorySpan: "span", outcome.CategoryUserReportV2: "feedback",
	outcome.CategoryAttachmentItem: "attachment_item", outcome.CategoryLogItem: "log_item", outcome.CategoryLogByte: "log_byte",
}

// waitOutcomes polls the outcomes table until every entry of want is
// reached, and fails if one is exceeded; it returns the totals as
// "outcome/category".
func waitOutcomes(t *testing.T, f *testserver.Faultline, p testserver.Project, want map[string]uint64) map[string]uint64 {
	t.Helper()
	var pid uint64
	fmt.Sscan(p.ID, &pid)
	deadline := time.Now().Add(30 * time.Second)
	for {
		totals, err := f.Server.Store().OutcomeTotals(context.Background(), store.OutcomeQuery{ProjectIDs: []uint64{pid}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]uint64{}
		for _, o := range totals {
			got[o.Kind.String()+"/"+categoryNames[o.Category]] += o.Quantity
		}
		done := true
		for k, v := range want {
			if got[k] > v {
				t.Fatalf("outcome %s = %d, want %d (all: %v)", k, got[k], v, got)
			}
			if got[k] < v {
				done = false
			}
		}
		if done {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("outcomes %v, want %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSecurityEndpoint sends the reports browsers send and checks the
// issues: one per kind of violation, titled as Sentry titles them.
func TestSecurityEndpoint(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "csp", "javascript")
	csp := func(blocked string) []byte {
		return []byte(`{"csp-report":{"document-uri":"https://shop.example.com/checkout","violated-directive":"script-src-elem","effective-directive":"script-src-elem","blocked-uri":"` + blocked + `","original-policy":"script-src 'self'"}}`)
	}
	for _, c := range []struct {
		ct   string
		body []byte
	}{
		{"application/csp-report", csp("https://evil.example.net/a.js")},
		{"application/csp-report", csp("https://evil.example.net/b.js?v=2")}, // same host: same issue
		{"application/csp-report", csp("https://other.example.org/c.js")},
		{"application/reports+json", []byte(`[{"type":"csp-violation","body":{"effectiveDirective":"img-src","blockedURL":"https://pixel.example.com/p.gif","documentURL":"https://shop.example.com/"}},{"type":"deprecation","body":{}}]`)},
		{"application/json", []byte(`{"date-time":"2026-01-01T00:00:00Z","hostname":"www.example.com","port":443,"known-pins":["pin-sha256=\"x\""]}`)},
		{"application/expect-ct-report+json", []byte(`{"expect-ct-report":{"hostname":"www.example.com","port":443}}`)},
	} {
		if st, raw := post(t, f, p, "security", c.ct, c.body); st != 200 {
			t.Fatalf("%s: %d %s", c.ct, st, raw)
		}
	}
	if st, raw := post(t, f, p, "csp-report", "application/csp-report", csp("https://evil.example.net/d.js")); st != 200 {
		t.Fatalf("csp-report: %d %s", st, raw)
	}
	issues := f.WaitIssues(p, 30*time.Second, func(is []testserver.Issue) bool { return testserver.TotalCount(is) == 7 })
	got := map[string]string{}
	for _, is := range issues {
		got[is.Title] = is.Count + " " + is.Type + " " + is.Culprit
	}
	want := map[string]string{
		"Blocked 'script' from 'evil.example.net'":                   "3 csp script-src-elem",
		"Blocked 'script' from 'other.example.org'":                  "1 csp script-src-elem",
		"Blocked 'image' from 'pixel.example.com'":                   "1 csp https://shop.example.com/", // no violated directive: Sentry's culprit falls back to the URL
		"Public key pinning validation failed for 'www.example.com'": "1 hpkp www.example.com",
		"Expect-CT failed for 'www.example.com'":                     "1 expectct www.example.com",
	}
	for title, w := range want {
		if got[title] != w {
			t.Errorf("issue %q: %q, want %q (all: %v)", title, got[title], w, got)
		}
	}
	if len(issues) != len(want) {
		t.Errorf("%d issues, want %d: %v", len(issues), len(want), got)
	}
}

// TestMinidumpEndpoint uploads a minidump as Crashpad does and checks the
// event, the attachment and the plain-text answer.
func TestMinidumpEndpoint(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "native", "native")
	dump := append([]byte("MDMP\x93\xa7\x00\x00"), bytes.Repeat([]byte{7}, 5000)...)
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("sentry", `{"release":"app@3.1","environment":"prod","user":{"id":"u1"}}`)
	w.WriteField("sentry[tags][channel]", "beta")
	w.WriteField("ver", "3.1.0")
	fw, _ := w.CreateFormFile("upload_file_minidump", "crash.dmp")
	fw.Write(dump)
	w.Close()
	st, raw := post(t, f, p, "minidump", w.FormDataContentType(), buf.Bytes())
	if st != 200 || len(raw) != 36 || strings.Count(string(raw), "-") != 4 {
		t.Fatalf("minidump: %d %q, want a UUID", st, raw)
	}
	eid := strings.ReplaceAll(string(raw), "-", "")
	ev := waitEvent(t, f, p, eid)
	if ev.Title != "Minidump: crash report received (not symbolicated)" || ev.Platform != "native" {
		t.Errorf("event %+v", ev)
	}
	tags := map[string]string{}
	for _, tg := range ev.Tags {
		tags[tg.Key] = tg.Value
	}
	if tags["level"] != "fatal" || tags["channel"] != "beta" || tags["release"] != "app@3.1" {
		t.Errorf("tags %v", tags)
	}
	var atts []attachmentJSON
	deadline := time.Now().Add(20 * time.Second)
	for len(atts) == 0 && time.Now().Before(deadline) {
		f.Do("GET", "/api/0/projects/acme/native/events/"+eid+"/attachments/", nil, &atts)
		time.Sleep(100 * time.Millisecond)
	}
	if len(atts) != 1 || atts[0].Type != "event.minidump" || atts[0].Name != "crash.dmp" {
		t.Fatalf("attachments %+v", atts)
	}
	if got, _ := download(t, f, p, eid, atts[0].ID); !bytes.Equal(got, dump) {
		t.Error("downloaded minidump differs")
	}
	// A raw upload works too; something else is refused.
	if st, raw := post(t, f, p, "minidump", "application/octet-stream", dump); st != 200 {
		t.Errorf("raw minidump: %d %s", st, raw)
	}
	if st, raw := post(t, f, p, "minidump", "application/octet-stream", []byte("not a dump")); st != 400 {
		t.Errorf("not a minidump: %d %s", st, raw)
	}
}

// TestTimestamps checks Relay's clock corrections: a sender whose clock is
// hours off is corrected from sent_at, an event from the future is moved
// to its receive time, and both say so in the event's errors.
func TestTimestamps(t *testing.T) {
	f := testserver.Start(t, server.Config{})
	p := f.CreateProject("acme", "clock", "python")
	now := time.Now().UTC()
	skewed := now.Add(-3 * time.Hour)
	drift := `{"event_id":"e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1","sent_at":"` + skewed.Format(time.RFC3339Nano) + `"}` + "\n" +
		item(`{"type":"event"}`, []byte(fmt.Sprintf(`{"message":"skewed clock","timestamp":%d.25}`, skewed.Add(-time.Second).Unix())))
	future := `{"event_id":"e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2"}` + "\n" +
		item(`{"type":"event"}`, []byte(`{"message":"from the future","timestamp":"`+now.Add(48*time.Hour).Format(time.RFC3339)+`"}`))
	rfc := `{"event_id":"e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3"}` + "\n" +
		item(`{"type":"event"}`, []byte(`{"message":"rfc 3339 time","timestamp":"`+now.Add(-time.Minute).Format("2006-01-02T15:04:05.000000")+`"}`))
	for _, body := range []string{drift, future, rfc} {
		if st, raw := post(t, f, p, "envelope", "", []byte(body)); st != 200 {
			t.Fatalf("%d %s", st, raw)
		}
	}
	check := func(id string, want time.Time, errType string) {
		t.Helper()
		ev := waitEvent(t, f, p, id)
		at, err := time.Parse(time.RFC3339, ev.DateCreated)
		if err != nil {
			t.Fatal(err)
		}
		if d := at.Sub(want); d < -5*time.Second || d > 5*time.Second {
			t.Errorf("%s: dated %v, want about %v", id, at, want)
		}
		var types []string
		for _, e := range ev.Errors {
			types = append(types, e.Type)
		}
		if errType != "" && !strings.Contains(strings.Join(types, ","), errType) || errType == "" && len(types) > 0 {
			t.Errorf("%s: errors %v, want %q", id, types, errType)
		}
	}
	check("e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1", now.Add(-time.Second), "clock_drift")
	check("e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2", now, "future_timestamp")
	check("e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3", now.Add(-time.Minute), "")
}
