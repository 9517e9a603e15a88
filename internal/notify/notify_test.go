package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/alert"
	"github.com/faultline/faultline/internal/deadletter"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/queue"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// env is a real embedded NATS with the metadata, the dead letter, a
// notification queue and a sender.
type env struct {
	t       testing.TB
	q       *queue.Queue
	meta    *meta.Store
	dl      *deadletter.Stream
	nq      *Queue
	sender  *Sender
	project *meta.Project
	team    *meta.Team
	org     *meta.Organization
	users   []*meta.User
	hooks   *plugins
	cancel  context.CancelFunc
	done    chan struct{}
}

type plugins struct {
	mu     sync.Mutex
	urls   []string
	secret string
}

func (p *plugins) WebhookPlugin(uint64) ([]string, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.urls, p.secret, len(p.urls) > 0
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	ctx := context.Background()
	q, err := queue.Open(ctx, queue.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	e := &env{t: t, q: q, hooks: &plugins{}}
	if e.meta, err = meta.Open(ctx, q.JetStream(), meta.Config{}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.meta.Close)
	if e.dl, err = deadletter.Open(ctx, q.JetStream(), deadletter.Config{}, nil); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"alice@example.org", "bob@example.org", "carol@example.org"} {
		u, err := e.meta.CreateUser(ctx, email, strings.Split(email, "@")[0], "correct horse battery", false)
		if err != nil {
			t.Fatal(err)
		}
		e.users = append(e.users, u)
	}
	if e.org, err = e.meta.CreateOrganization(ctx, "Acme", "acme", e.users[0].ID); err != nil {
		t.Fatal(err)
	}
	if e.team, err = e.meta.CreateTeam(ctx, e.org, "Backend", "backend"); err != nil {
		t.Fatal(err)
	}
	if e.project, _, err = e.meta.CreateProject(ctx, e.team, "API", "api", "go"); err != nil {
		t.Fatal(err)
	}
	// alice (the owner) and bob are on the team; carol is a member of
	// the organization on no team.
	for i, u := range e.users[1:] {
		teams := []uint64{e.team.ID}
		if i == 1 {
			teams = nil
		}
		if _, _, err := e.meta.InviteMember(ctx, e.org.ID, u.Email, "member", teams); err != nil {
			t.Fatal(err)
		}
	}
	owner, _ := e.meta.MemberByUser(e.org.ID, e.users[0].ID)
	if _, err := e.meta.UpdateMember(ctx, e.org.ID, owner.ID, func(m *meta.Member) error {
		m.Teams = append(m.Teams, e.team.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cfg.Backoff, cfg.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	if cfg.AckWait == 0 {
		cfg.AckWait = time.Second
	}
	if e.nq, err = Open(ctx, q.JetStream(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	e.sender = e.newSender()
	return e
}

func (e *env) newSender() *Sender {
	s, err := NewSender(context.Background(), Deps{Queue: e.nq, Directory: e.meta, Webhooks: e.hooks, DeadLetters: e.dl})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go func() {
		defer close(e.done)
		e.sender.Run(ctx)
	}()
	e.t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
		e.cancel = nil
	}
}

func (e *env) firing(key string, actions ...string) alert.Fired {
	f := alert.Fired{
		Key: key, Trigger: "new_issue", At: time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC),
		RuleID: "7", RuleName: "Send a notification for new issues",
		OrgID: e.org.ID, ProjectID: e.project.ID, GroupID: 42,
		Issue: alert.Issue{
			ShortID: "API-1G", Title: "TypeError: <b>x</b> is undefined", Culprit: "handler(app/routes.js)",
			Message: "x is undefined", Level: "error", Platform: "node", Environment: "production",
			Release: "api@1.2.3", Logger: "root", URL: "http://faultline.test/organizations/acme/issues/42/",
			TimesSeen: 3, Users: 2,
			Frames: []alert.Frame{{Filename: "app/routes.js", Function: "handler", LineNo: 12}, {Filename: "app/db.js", Function: "query", LineNo: 40}},
		},
		EventID: "a1b2c3d4e5f60718293a4b5c6d7e8f90",
		Event:   json.RawMessage(`{"event_id":"a1b2c3d4e5f60718293a4b5c6d7e8f90","platform":"node","level":"error","tags":[["release","api@1.2.3"]]}`),
	}
	for _, a := range actions {
		f.Actions = append(f.Actions, json.RawMessage(a))
	}
	return f
}

// receiver is a local HTTP server recording what it receives.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	status int
}

type recorded struct {
	Path   string
	Header http.Header
	Body   []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: 200}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{Path: req.URL.Path, Header: req.Header.Clone(), Body: b})
		st := r.status
		r.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got(path string) []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, q := range r.reqs {
		if q.Path == path {
			out = append(out, q)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// smtpServer is a real SMTP server (go-smtp) that keeps what it receives.
type smtpServer struct {
	mu   sync.Mutex
	msgs []smtpMsg
	addr string
	// user and pass, when set, are required (AUTH PLAIN).
	user, pass string
	authed     []string
}

type smtpMsg struct {
	From string
	To   []string
	Data []byte
}

func (s *smtpServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{srv: s}, nil }

type smtpSession struct {
	srv *smtpServer
	msg smtpMsg
}

func (s *smtpSession) Reset()                   { s.msg = smtpMsg{} }
func (s *smtpSession) Logout() error            { return nil }
func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.user || pass != s.srv.pass {
			return errors.New("bad credentials")
		}
		s.srv.mu.Lock()
		s.srv.authed = append(s.srv.authed, user)
		s.srv.mu.Unlock()
		return nil
	}), nil
}
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && len(s.srv.authed) == 0 {
		return errors.New("authentication required")
	}
	s.msg.From = from
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = b
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.msg)
	s.srv.mu.Unlock()
	return nil
}

func startSMTP(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: ln.Addr().String()}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *smtpServer) messages() []smtpMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMsg(nil), s.msgs...)
}

func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got, _ := json.MarshalIndent(v, "", "  ")
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Errorf("%s body differs from %s:\n%s", name, path, got)
	}
}

// TestDeliversEveryAction: one firing with every kind of action reaches a
// real SMTP server and local receivers, with the documented shapes, the
// idempotency key and a signature that verifies.
func TestDeliversEveryAction(t *testing.T) {
	rcv := newReceiver(t)
	mailSrv := startSMTP(t)
	e := newEnv(t, Config{WebhookAllowPrivate: true, PublicURL: "http://faultline.test",
		SMTP: SMTPConfig{URL: "smtp://" + mailSrv.addr, From: "alerts@faultline.test"}})
	e.hooks.urls, e.hooks.secret = []string{rcv.URL + "/hook"}, "s3cret"
	e.start()
	f := e.firing("rule:7/group:42/new_issue",
		`{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"IssueOwners","targetIdentifier":null}`,
		`{"id":"faultline.actions.slack","webhookUrl":"`+rcv.URL+`/slack"}`,
		`{"id":"faultline.actions.discord","webhookUrl":"`+rcv.URL+`/discord"}`,
		`{"id":"faultline.actions.teams","webhookUrl":"`+rcv.URL+`/teams"}`,
		`{"id":"sentry.rules.actions.notify_event_service.NotifyEventServiceAction","service":"webhooks"}`,
		`{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"Member","targetIdentifier":`+jsonNum(e.users[2].ID)+`}`,
	)
	if err := e.nq.Enqueue(context.Background(), []alert.Fired{f}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every action", func() bool {
		return len(rcv.got("/hook")) == 1 && len(rcv.got("/teams")) == 1 && len(mailSrv.messages()) == 3
	})
	for _, name := range []string{"slack", "discord", "teams", "hook"} {
		r := rcv.got("/" + name)[0]
		if got := r.Header.Get("Idempotency-Key"); got != f.Key {
			t.Errorf("%s: Idempotency-Key %q", name, got)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		golden(t, name, r.Body)
	}
	hook := rcv.got("/hook")[0]
	if sig := hook.Header.Get(HdrSignature); sig != Sign("s3cret", hook.Body) || hook.Header.Get(HdrTimestamp) == "" {
		t.Errorf("signature %q does not verify", sig)
	}
	// Mail: the issue owners (alice, bob: the team) and the member carol.
	var to []string
	for _, m := range mailSrv.messages() {
		to = append(to, m.To...)
		checkMail(t, m, f)
	}
	if strings.Join(sortStrings(to), ",") != "alice@example.org,bob@example.org,carol@example.org" {
		t.Errorf("recipients %v", to)
	}
	// The status follows the delivery: wait for the last one.
	for idx := range f.Actions {
		waitFor(t, "the status of action "+strconvI(int64(idx)), func() bool {
			_, ok, _ := e.nq.LastStatus(context.Background(), f.RuleID, idx)
			return ok
		})
		st, _, err := e.nq.LastStatus(context.Background(), f.RuleID, idx)
		if err != nil || st.Status != StatusSent || st.Key != f.Key {
			t.Errorf("action %d: status %+v %v", idx, st, err)
		}
	}
}

func jsonNum(id uint64) string { b, _ := json.Marshal(id); return string(b) }

func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// checkMail parses a received message: headers, both parts, the link,
// and the HTML part's escaping of the title.
func checkMail(t *testing.T, m smtpMsg, f alert.Fired) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	if subj != "[api] New issue: TypeError: <b>x</b> is undefined" {
		t.Errorf("subject %q", subj)
	}
	if from, _ := mail.ParseAddress(msg.Header.Get("From")); from == nil || from.Address != "alerts@faultline.test" {
		t.Errorf("from %q", msg.Header.Get("From"))
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q %v", mt, err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p) // multipart decodes quoted-printable
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	text, html := parts["text/plain"], parts["text/html"]
	for _, want := range []string{f.Issue.URL, "handler in app/routes.js line 12", "production", "api@1.2.3", "Events:      3"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(html, `href="`+f.Issue.URL+`"`) || !strings.Contains(html, "&lt;b&gt;x&lt;/b&gt;") || strings.Contains(html, "<b>x</b>") {
		t.Errorf("html part:\n%s", html)
	}
}

// TestGuardRefusesLoopback: without --webhook-allow-private, a webhook to
// 127.0.0.1 is never requested, and the action's status says why.
func TestGuardRefusesLoopback(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, Config{})
	e.start()
	f := e.firing("refused", `{"id":"faultline.actions.slack","webhookUrl":"`+rcv.URL+`/slack"}`)
	if err := e.nq.Enqueue(context.Background(), []alert.Fired{f}); err != nil {
		t.Fatal(err)
	}
	var st Status
	waitFor(t, "a status", func() bool {
		var ok bool
		st, ok, _ = e.nq.LastStatus(context.Background(), f.RuleID, 0)
		return ok
	})
	if st.Status != StatusFailed || !strings.Contains(st.Error, "not allowed") || strings.Contains(st.Error, "/slack") {
		t.Errorf("status %+v", st)
	}
	if n := len(rcv.got("/slack")); n != 0 {
		t.Errorf("the receiver got %d requests", n)
	}
}

// TestGuardRedirect: an allowed host cannot redirect into a refused one.
func TestGuardAddresses(t *testing.T) {
	g := Guard{}
	for _, c := range []struct {
		ip string
		ok bool
	}{
		{"127.0.0.1", false}, {"::1", false}, {"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"0.0.0.0", false}, {"::", false}, {"224.0.0.1", false},
		{"fd00::1", false}, {"100.64.0.1", false}, {"::ffff:127.0.0.1", false}, {"255.255.255.255", false},
		{"93.184.216.34", true}, {"2606:4700::1111", true},
	} {
		if got := g.Allowed(netip.MustParseAddr(c.ip)); got != c.ok {
			t.Errorf("%s: allowed %v, want %v", c.ip, got, c.ok)
		}
	}
	if !(Guard{AllowPrivate: true}).Allowed(netip.MustParseAddr("127.0.0.1")) {
		t.Error("the flag does not allow loopback")
	}
	// A redirect followed into loopback is refused at dial time: the
	// first hop is allowed by a client that permits it, the second by
	// none, so point the guarded client at a redirect through a name.
	target := newReceiver(t)
	redir := httptest.NewServer(http.RedirectHandler(target.URL+"/x", http.StatusFound))
	defer redir.Close()
	_, err := Guard{}.Client(5 * time.Second).Get(redir.URL)
	if err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("err %v", err)
	}
	if len(target.got("/x")) != 0 {
		t.Error("the redirect was followed")
	}
}

// TestRetriesThenDeadLetter: a receiver that keeps failing gets
// MaxAttempts requests, all with the same key, then the notification is
// in the dead letter and the action's status is dead.
func TestRetriesThenDeadLetter(t *testing.T) {
	rcv := newReceiver(t)
	rcv.status = 503
	e := newEnv(t, Config{WebhookAllowPrivate: true, MaxAttempts: 3})
	e.start()
	f := e.firing("failing", `{"id":"faultline.actions.discord","webhookUrl":"`+rcv.URL+`/discord"}`)
	if err := e.nq.Enqueue(context.Background(), []alert.Fired{f}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a dead letter", func() bool {
		st, _ := e.dl.Stats(context.Background())
		return st.Count == 1
	})
	reqs := rcv.got("/discord")
	if len(reqs) != 3 {
		t.Errorf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if r.Header.Get(HdrIdempotencyKey) != f.Key {
			t.Errorf("key %q", r.Header.Get(HdrIdempotencyKey))
		}
	}
	letters, _, err := e.dl.List(context.Background(), 0, 10)
	if err != nil || len(letters) != 1 || letters[0].Stage != "notify" || letters[0].ProjectID != e.project.ID || !strings.Contains(letters[0].Error, "503") {
		t.Errorf("letters %+v %v", letters, err)
	}
	st, _, _ := e.nq.LastStatus(context.Background(), f.RuleID, 0)
	if st.Status != StatusDead || st.Attempts != 3 {
		t.Errorf("status %+v", st)
	}
}

// TestRedeliveredFiringOnce: the same firing enqueued again (a batch
// redelivered after the deduplication window) and published again with
// another message id is delivered once.
func TestRedeliveredFiringOnce(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, Config{WebhookAllowPrivate: true})
	e.start()
	f := e.firing("once", `{"id":"faultline.actions.slack","webhookUrl":"`+rcv.URL+`/slack"}`)
	ctx := context.Background()
	if err := e.nq.Enqueue(ctx, []alert.Fired{f}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", func() bool { return len(rcv.got("/slack")) == 1 })
	if err := e.nq.Enqueue(ctx, []alert.Fired{f}); err != nil {
		t.Fatal(err)
	}
	// Past JetStream's window: the message itself comes again.
	body, _ := json.Marshal(Notification{Kind: KindAlert, Key: f.Key, Fired: &f})
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, "after-the-window")
	if _, err := e.q.JetStream().PublishMsg(ctx, &nats.Msg{Subject: subject(f.ProjectID), Header: h, Data: body}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream to drain", func() bool {
		info, err := e.nq.stream.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	if n := len(rcv.got("/slack")); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
}

// TestCrashBeforeAck: a sender that took the notification and died
// before its ack (with or without delivering) leaves it to the next
// sender: delivered once if the first one recorded it, and otherwise
// again with the same idempotency key, never lost.
func TestCrashBeforeAck(t *testing.T) {
	for _, c := range []struct {
		name      string
		delivered bool // the first sender delivered and recorded it
		want      int
	}{
		{"died before delivering", false, 1},
		{"died after delivering", true, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			rcv := newReceiver(t)
			e := newEnv(t, Config{WebhookAllowPrivate: true, AckWait: 500 * time.Millisecond})
			ctx := context.Background()
			f := e.firing("crash", `{"id":"faultline.actions.teams","webhookUrl":"`+rcv.URL+`/teams"}`)
			if err := e.nq.Enqueue(ctx, []alert.Fired{f}); err != nil {
				t.Fatal(err)
			}
			// The first sender takes the message and never acks it.
			batch, err := e.sender.cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			var taken jetstream.Msg
			for m := range batch.Messages() {
				taken = m
			}
			if taken == nil {
				t.Fatal("nothing fetched")
			}
			if c.delivered {
				var n Notification
				json.Unmarshal(taken.Data(), &n) //nolint:errcheck
				if err := e.sender.deliverAlert(ctx, taken, &n, 1); err != nil {
					t.Fatal(err)
				}
			}
			// A new sender (the restarted process).
			e.sender = e.newSender()
			e.start()
			waitFor(t, "the stream to drain", func() bool {
				info, err := e.nq.stream.Info(ctx)
				return err == nil && info.State.Msgs == 0
			})
			reqs := rcv.got("/teams")
			if len(reqs) != c.want {
				t.Fatalf("%d deliveries, want %d", len(reqs), c.want)
			}
			for _, r := range reqs {
				if r.Header.Get(HdrIdempotencyKey) != f.Key {
					t.Errorf("key %q", r.Header.Get(HdrIdempotencyKey))
				}
			}
		})
	}
}

// TestNoSMTPSkipped: without SMTP, an e-mail action is recorded as
// skipped and nothing is queued.
func TestNoSMTPSkipped(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	f := e.firing("nosmtp", `{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"IssueOwners"}`)
	if err := e.nq.Enqueue(ctx, []alert.Fired{f}); err != nil {
		t.Fatal(err)
	}
	st, ok, err := e.nq.LastStatus(ctx, f.RuleID, 0)
	if err != nil || !ok || st.Status != StatusSkipped || st.Error != "SMTP not configured" {
		t.Errorf("status %+v %v %v", st, ok, err)
	}
	info, err := e.nq.stream.Info(ctx)
	if err != nil || info.State.Msgs != 0 {
		t.Errorf("queued %+v %v", info.State, err)
	}
}

// TestHourlyCapDigest: past the cap, a recipient's mails are folded into
// the hour's digest instead of being sent.
func TestHourlyCapDigest(t *testing.T) {
	mailSrv := startSMTP(t)
	e := newEnv(t, Config{SMTP: SMTPConfig{URL: "smtp://" + mailSrv.addr, HourlyCap: 2}})
	e.start()
	ctx := context.Background()
	member := `{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"Member","targetIdentifier":"` + jsonNum(e.users[2].ID) + `"}`
	var fired []alert.Fired
	for _, k := range []string{"a", "b", "c", "d"} {
		fired = append(fired, e.firing("cap-"+k, member))
	}
	if err := e.nq.Enqueue(ctx, fired); err != nil {
		t.Fatal(err)
	}
	hour := time.Now().UTC().Truncate(time.Hour)
	waitFor(t, "the digest record", func() bool {
		ent, err := e.nq.caps.Get(ctx, digestKey("carol@example.org", hour))
		if err != nil {
			return false
		}
		var d digestRecord
		json.Unmarshal(ent.Value(), &d) //nolint:errcheck
		return len(d.Entries) == 2
	})
	waitFor(t, "every firing handled", func() bool {
		for _, f := range fired {
			if done, _ := e.nq.isDelivered(ctx, f.Key, 0); !done {
				return false
			}
		}
		return true
	})
	if n := len(mailSrv.messages()); n != 2 {
		t.Errorf("%d mails sent, want the cap of 2", n)
	}
	// The digest is sent once the hour is over.
	m, err := digestMail("carol@example.org", hour, []digestEntry{{Subject: "s", URL: "http://x/<y>"}}, 0)
	if err != nil || !strings.Contains(m.HTML, "http://x/%3cy%3e") || !strings.Contains(m.Text, "1 more notifications") {
		t.Errorf("digest %+v %v", m, err)
	}
}

// TestInvitationMail: an invitation goes through the queue to the SMTP
// server, with the link in both parts; without SMTP it is refused, so the
// API only shows the link.
func TestInvitationMail(t *testing.T) {
	mailSrv := startSMTP(t)
	e := newEnv(t, Config{SMTP: SMTPConfig{URL: "smtp://" + mailSrv.addr}})
	e.start()
	link := "http://faultline.test/accept/9/abc/"
	if err := e.nq.EnqueueInvitation(context.Background(), 9, "Acme <Inc>", "dave@example.org", link); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the invitation", func() bool { return len(mailSrv.messages()) == 1 })
	m := mailSrv.messages()[0]
	if len(m.To) != 1 || m.To[0] != "dave@example.org" || !bytes.Contains(m.Data, []byte(link)) || !bytes.Contains(m.Data, []byte("Acme &lt;Inc&gt;")) {
		t.Errorf("mail %+v:\n%s", m.To, m.Data)
	}
	off := newEnv(t, Config{})
	if err := off.nq.EnqueueInvitation(context.Background(), 9, "Acme", "dave@example.org", link); err != ErrNoSMTP {
		t.Errorf("without SMTP: %v", err)
	}
}

// TestDigestSent: once its hour is over, a digest goes out as one mail
// listing the folded notifications, once.
func TestDigestSent(t *testing.T) {
	mailSrv := startSMTP(t)
	e := newEnv(t, Config{SMTP: SMTPConfig{URL: "smtp://" + mailSrv.addr, HourlyCap: 1}})
	ctx := context.Background()
	past := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	for _, subj := range []string{"first <one>", "second"} {
		if err := e.sender.addDigest(ctx, "carol@example.org", past, digestEntry{Subject: subj, URL: "http://faultline.test/i/1/"}); err != nil {
			t.Fatal(err)
		}
	}
	e.start()
	waitFor(t, "the digest", func() bool { return len(mailSrv.messages()) == 1 })
	m := mailSrv.messages()[0]
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	if subj := msg.Header.Get("Subject"); subj != "[Faultline] Digest: 2 notifications" || m.To[0] != "carol@example.org" {
		t.Errorf("digest %q to %v", subj, m.To)
	}
	// Published again (another sender, after the window): not sent twice.
	key := "digest:carol@example.org:" + strconvI(past.Unix())
	body, _ := json.Marshal(Notification{Kind: KindDigest, Key: key, Digest: &DigestRef{To: "carol@example.org", Hour: past.Unix()}})
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, "again")
	if _, err := e.q.JetStream().PublishMsg(ctx, &nats.Msg{Subject: subject(0), Header: h, Data: body}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream to drain", func() bool {
		info, err := e.nq.stream.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	if n := len(mailSrv.messages()); n != 1 {
		t.Errorf("%d digests", n)
	}
}

func strconvI(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestReplayDeadLetter: a dead-lettered notification replayed (the
// dead-letter routes' replay) is delivered once its receiver recovers.
func TestReplayDeadLetter(t *testing.T) {
	rcv := newReceiver(t)
	rcv.status = 500
	e := newEnv(t, Config{WebhookAllowPrivate: true, MaxAttempts: 2})
	e.start()
	ctx := context.Background()
	f := e.firing("replayed", `{"id":"faultline.actions.slack","webhookUrl":"`+rcv.URL+`/slack"}`)
	if err := e.nq.Enqueue(ctx, []alert.Fired{f}); err != nil {
		t.Fatal(err)
	}
	var letters []*deadletter.Letter
	waitFor(t, "a dead letter", func() bool {
		letters, _, _ = e.dl.List(ctx, 0, 10)
		return len(letters) == 1
	})
	rcv.mu.Lock()
	rcv.status = 200
	rcv.mu.Unlock()
	if err := e.dl.Replay(ctx, letters[0].ID, Replayer{Notifications: e.nq, Next: e.q}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replayed delivery", func() bool {
		st, _, _ := e.nq.LastStatus(ctx, f.RuleID, 0)
		return st.Status == StatusSent
	})
	if n := len(rcv.got("/slack")); n != 3 {
		t.Errorf("%d requests, want 2 failed and 1 delivered", n)
	}
}

// TestSMTPAuth: the user and password of --smtp-url authenticate (AUTH
// PLAIN); a wrong password fails the attempt, which is retried.
func TestSMTPAuth(t *testing.T) {
	mailSrv := startSMTP(t)
	mailSrv.user, mailSrv.pass = "fault", "p@ss word"
	cfg := SMTPConfig{URL: "smtp://fault:p%40ss%20word@" + mailSrv.addr}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := Mail{To: "x@example.org", Subject: "s", Text: "t"}
	if err := NewMailer(cfg).Send(context.Background(), "k", m); err != nil {
		t.Fatal(err)
	}
	bad := SMTPConfig{URL: "smtp://fault:wrong@" + mailSrv.addr}
	if err := bad.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := NewMailer(bad).Send(context.Background(), "k", m); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong password: %v (the error must not carry the password)", err)
	}
	if n := len(mailSrv.messages()); n != 1 || mailSrv.authed[0] != "fault" {
		t.Errorf("%d messages, authed %v", n, mailSrv.authed)
	}
}

// TestSMTPConfig: URL forms and defaults; the password never appears in
// an error.
func TestSMTPConfig(t *testing.T) {
	for _, c := range []struct {
		url, from string
		port      int
		implicit  bool
		wantErr   bool
	}{
		{url: "smtp://mail.example.org", port: 587},
		{url: "smtp://u:secret@mail.example.org:2525", port: 2525},
		{url: "smtps://mail.example.org", port: 465, implicit: true},
		{url: "http://mail.example.org", wantErr: true},
		{url: "smtp://:25", wantErr: true},
		{url: "smtp://u:secret@mail.example.org:99999", wantErr: true},
		{url: "smtp://mail.example.org", from: "not an address", wantErr: true},
	} {
		cfg := SMTPConfig{URL: c.url, From: c.from}
		err := cfg.Validate()
		if (err != nil) != c.wantErr || err == nil && (cfg.port != c.port || cfg.implicit != c.implicit || cfg.From == "") {
			t.Errorf("%s: %+v %v", c.url, cfg, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the password: %v", c.url, err)
		}
	}
}
