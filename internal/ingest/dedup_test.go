package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/store"
	"github.com/faultline/faultline/internal/testserver"
)

// dedupWindow is JetStream's deduplication window in these tests: short,
// so that a replay arrives after it, as one after 2 minutes would.
const dedupWindow = time.Second

// outcomesOf waits until the project has at least n outcomes of kind,
// reason and category, and returns how many it has.
func outcomesOf(t *testing.T, f *testserver.Faultline, p testserver.Project, kind outcome.Kind, reason string, cat outcome.Category, n uint64) uint64 {
	t.Helper()
	var pid uint64
	fmt.Sscan(p.ID, &pid)
	deadline := time.Now().Add(30 * time.Second)
	for {
		totals, err := f.Server.Store().OutcomeTotals(context.Background(), store.OutcomeQuery{ProjectIDs: []uint64{pid}})
		if err != nil {
			t.Fatal(err)
		}
		var got uint64
		for _, o := range totals {
			if o.Kind == kind && o.Reason == reason && o.Category == cat {
				got += o.Quantity
			}
		}
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func attachmentsOf(t *testing.T, f *testserver.Faultline, p testserver.Project, eid string) []attachmentJSON {
	t.Helper()
	var atts []attachmentJSON
	deadline := time.Now().Add(30 * time.Second)
	for len(atts) == 0 && time.Now().Before(deadline) {
		f.Do("GET", "/api/0/projects/"+p.Org+"/"+p.Slug+"/events/"+eid+"/attachments/", nil, &atts)
		time.Sleep(50 * time.Millisecond)
	}
	return atts
}

// checkOriginal checks that the event and its one attachment are the
// original ones: through the API, its message, the attachment's metadata
// and the downloaded bytes.
func checkOriginal(t *testing.T, f *testserver.Faultline, p testserver.Project, eid, title, name string, data []byte) {
	t.Helper()
	if ev := waitEvent(t, f, p, eid); ev.Title != title {
		t.Errorf("event title %q, want %q", ev.Title, title)
	}
	atts := attachmentsOf(t, f, p, eid)
	if len(atts) != 1 || atts[0].Name != name || atts[0].Size != len(data) || atts[0].SHA1 != sha1hex(data) {
		t.Fatalf("attachments %+v, want the original %s only", atts, name)
	}
	if got, _ := download(t, f, p, eid, atts[0].ID); !bytes.Equal(got, data) {
		t.Errorf("downloaded %q, want the original %q", got, data)
	}
}

// TestReplayedEnvelopeChangesNothing: an envelope sent again with a known
// event id, another event and an attachment of the same file name, after
// JetStream's deduplication window, leaves the stored event and attachment
// as they were, and is counted as a filtered duplicate.
func TestReplayedEnvelopeChangesNothing(t *testing.T) {
	f := testserver.Start(t, server.Config{Queue: queue.Config{DedupWindow: dedupWindow}})
	p := f.CreateProject("acme", "web", "javascript")
	eid := "5b0a5cbd1e2a4d34a1f5b3c2d1e0f9a8"
	envelope := func(msg string, file []byte) []byte {
		return []byte(`{"event_id":"` + eid + `"}` + "\n" +
			item(`{"type":"event"}`, []byte(`{"event_id":"`+eid+`","message":"`+msg+`"}`)) + "\n" +
			item(`{"type":"attachment","filename":"state.txt","content_type":"text/plain"}`, file) + "\n")
	}
	original := []byte("the original state")
	if st, raw := post(t, f, p, "envelope", "", envelope("original message", original)); st != 200 {
		t.Fatalf("envelope: %d %s", st, raw)
	}
	checkOriginal(t, f, p, eid, "original message", "state.txt", original)
	time.Sleep(dedupWindow + 500*time.Millisecond) // JetStream forgets the message id
	if st, raw := post(t, f, p, "envelope", "", envelope("replayed message", []byte("evil"))); st != 200 {
		t.Fatalf("replayed envelope: %d %s", st, raw)
	}
	if n := outcomesOf(t, f, p, outcome.Filtered, outcome.ReasonDuplicate, outcome.CategoryError, 1); n != 1 {
		t.Fatalf("%d events counted as duplicates, want 1", n)
	}
	checkOriginal(t, f, p, eid, "original message", "state.txt", original)
	if n := outcomesOf(t, f, p, outcome.Filtered, outcome.ReasonDuplicate, outcome.CategoryAttachmentItem, 1); n != 1 {
		t.Errorf("%d attachments counted as duplicates, want 1", n)
	}
	if n := outcomesOf(t, f, p, outcome.Accepted, "", outcome.CategoryError, 1); n != 1 {
		t.Errorf("%d events accepted, want 1", n)
	}
}

// TestReplayedMinidumpChangesNothing: the same for a minidump upload that
// names a known event id.
func TestReplayedMinidumpChangesNothing(t *testing.T) {
	f := testserver.Start(t, server.Config{Queue: queue.Config{DedupWindow: dedupWindow}})
	p := f.CreateProject("acme", "native", "native")
	eid := "6c1b6dce2f3b5e45b2a6c4d3e2f1a0b9"
	upload := func(dump []byte) {
		t.Helper()
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		w.WriteField("sentry", `{"event_id":"`+eid+`"}`)
		fw, _ := w.CreateFormFile("upload_file_minidump", "crash.dmp")
		fw.Write(dump)
		w.Close()
		if st, raw := post(t, f, p, "minidump", w.FormDataContentType(), buf.Bytes()); st != 200 {
			t.Fatalf("minidump: %d %s", st, raw)
		}
	}
	original := append([]byte("MDMP\x93\xa7\x00\x00"), bytes.Repeat([]byte{7}, 3000)...)
	upload(original)
	title := "Minidump: crash report received (not symbolicated)"
	checkOriginal(t, f, p, eid, title, "crash.dmp", original)
	time.Sleep(dedupWindow + 500*time.Millisecond)
	upload(append([]byte("MDMP\x93\xa7\x00\x00"), bytes.Repeat([]byte{9}, 100)...))
	if n := outcomesOf(t, f, p, outcome.Filtered, outcome.ReasonDuplicate, outcome.CategoryError, 1); n != 1 {
		t.Fatalf("%d events counted as duplicates, want 1", n)
	}
	checkOriginal(t, f, p, eid, title, "crash.dmp", original)
}

// TestSentryGoReplay: sentry-go sends an event with an attachment; an
// event with the same id sent again later (after the window) is dropped.
func TestSentryGoReplay(t *testing.T) {
	f := testserver.Start(t, server.Config{Queue: queue.Config{DedupWindow: dedupWindow}})
	p := f.CreateProject("acme", "api", "go")
	send := func(msg string, file []byte) {
		t.Helper()
		client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport()})
		if err != nil {
			t.Fatal(err)
		}
		hub := sentry.NewHub(client, sentry.NewScope())
		hub.Scope().AddAttachment(&sentry.Attachment{Filename: "state.txt", ContentType: "text/plain", Payload: file})
		ev := sentry.NewEvent()
		ev.EventID = "7d2c7edf3a4c6f56c3b7d5e4f3a2b1c0"
		ev.Message = msg
		ev.Level = sentry.LevelError
		if id := hub.CaptureEvent(ev); id == nil {
			t.Fatal("sentry-go dropped the event")
		}
		client.Flush(5 * time.Second)
	}
	original := []byte("sentry-go state")
	send("first", original)
	checkOriginal(t, f, p, "7d2c7edf3a4c6f56c3b7d5e4f3a2b1c0", "first", "state.txt", original)
	time.Sleep(dedupWindow + 500*time.Millisecond)
	send("second", []byte("other state"))
	if n := outcomesOf(t, f, p, outcome.Filtered, outcome.ReasonDuplicate, outcome.CategoryError, 1); n != 1 {
		t.Fatalf("%d events counted as duplicates, want 1", n)
	}
	checkOriginal(t, f, p, "7d2c7edf3a4c6f56c3b7d5e4f3a2b1c0", "first", "state.txt", original)
}
