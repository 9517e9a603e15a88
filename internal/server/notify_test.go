package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/faultline/faultline/internal/alert"
	"github.com/faultline/faultline/internal/notify"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testserver"
)

// mailbox is a real SMTP server (go-smtp) keeping what it receives.
type mailbox struct {
	mu   sync.Mutex
	data [][]byte
	to   []string
}

func (b *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{b: b}, nil }

type mailSession struct {
	b  *mailbox
	to []string
}

func (s *mailSession) Reset()                                    { s.to = nil }
func (s *mailSession) Logout() error                             { return nil }
func (s *mailSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }
func (s *mailSession) Data(r io.Reader) error {
	d, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.data, s.b.to = append(s.b.data, d), append(s.b.to, s.to...)
	s.b.mu.Unlock()
	return err
}

func (b *mailbox) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.data)
}

func startMailbox(t *testing.T) (*mailbox, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &mailbox{}
	srv := smtp.NewServer(b)
	srv.Domain = "localhost"
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	return b, ln.Addr().String()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNotificationsWired: with --smtp-url, an invitation made through the
// API is mailed (and its link still shown to the inviter), and the worker
// role's sender delivers a queued firing to a webhook receiver.
func TestNotificationsWired(t *testing.T) {
	box, addr := startMailbox(t)
	f := testserver.Start(t, server.Config{Notify: notify.Config{
		SMTP: notify.SMTPConfig{URL: "smtp://" + addr, From: "faultline@example.org"}, WebhookAllowPrivate: true}})
	p := f.CreateProject("acme", "api", "go")

	var m struct {
		InviteLink string `json:"inviteLink"`
	}
	if st, raw := f.Do("POST", "/api/0/organizations/acme/members/", map[string]any{"email": "new@example.org", "orgRole": "member"}, &m); st != 201 || m.InviteLink == "" {
		t.Fatalf("invite: %d %s", st, raw)
	}
	waitUntil(t, "the invitation mail", func() bool { return box.count() == 1 })
	box.mu.Lock()
	decoded, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(box.data[0])))
	if !bytes.Contains(decoded, []byte(m.InviteLink)) || box.to[0] != "new@example.org" {
		t.Errorf("mail to %v:\n%s", box.to, box.data[0])
	}
	box.mu.Unlock()

	var got sync.WaitGroup
	got.Add(1)
	var once sync.Once
	var body []byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		once.Do(func() { body = b; got.Done() })
	}))
	defer rcv.Close()
	pid, _ := strconv.ParseUint(p.ID, 10, 64)
	o, _ := f.Server.Meta().Organization("acme")
	fired := alert.Fired{Key: "wired", Trigger: "test", At: time.Now(), RuleID: "1", OrgID: o.ID, ProjectID: pid, GroupID: 1,
		Issue:   alert.Issue{Title: "wired", URL: f.URL + "/"},
		Actions: []json.RawMessage{json.RawMessage(`{"id":"faultline.actions.discord","webhookUrl":"` + rcv.URL + `"}`)}}
	if err := f.Server.Notifications().Enqueue(context.Background(), []alert.Fired{fired}); err != nil {
		t.Fatal(err)
	}
	got.Wait()
	if !bytes.Contains(body, []byte(`"embeds"`)) {
		t.Errorf("body %s", body)
	}
}
