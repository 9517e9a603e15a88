package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/alert"
	"github.com/faultline/faultline/internal/deadletter"
	"github.com/faultline/faultline/internal/queue"
)

// Webhook signature headers (Faultline's: Sentry's legacy plugin does
// not sign).
const (
	HdrSignature = "Sentry-Hook-Signature"
	HdrTimestamp = "Sentry-Hook-Timestamp"
)

// DeadLetters takes the notifications that keep failing.
type DeadLetters interface {
	Add(ctx context.Context, msg jetstream.Msg, f deadletter.Failure) (dup bool, err error)
}

// Deps are what the sender uses.
type Deps struct {
	Queue       *Queue
	Directory   Directory
	Webhooks    WebhookPlugins // nil: service actions have no URLs
	Assignees   Assignees      // nil: IssueOwners are the project's teams
	DeadLetters DeadLetters
	Log         *slog.Logger
}

// Sender consumes the notification stream and delivers.
type Sender struct {
	cfg    Config
	q      *Queue
	dir    Directory
	hooks  WebhookPlugins
	as     Assignees
	dl     DeadLetters
	mailer *Mailer // nil without SMTP
	http   *http.Client
	log    *slog.Logger
	cons   jetstream.Consumer
}

// NewDeliverer returns a sender that does not consume the queue: its
// Deliver serves rule test-fires in the API's process, through the same
// guard, mailer and bodies. DeadLetters is not needed.
func NewDeliverer(d Deps) (*Sender, error) {
	if d.Queue == nil || d.Directory == nil {
		return nil, errors.New("notify: a deliverer needs a queue and a directory")
	}
	cfg := d.Queue.cfg
	s := &Sender{cfg: cfg, q: d.Queue, dir: d.Directory, hooks: d.Webhooks, as: d.Assignees, dl: d.DeadLetters, log: d.Log,
		http: Guard{AllowPrivate: cfg.WebhookAllowPrivate}.Client(cfg.AttemptTimeout)}
	if s.log == nil {
		s.log = slog.Default()
	}
	if cfg.SMTP.Enabled() {
		s.mailer = NewMailer(cfg.SMTP)
	}
	return s, nil
}

// NewSender creates the stream's durable consumer.
func NewSender(ctx context.Context, d Deps) (*Sender, error) {
	if d.Queue == nil || d.Directory == nil || d.DeadLetters == nil {
		return nil, errors.New("notify: the sender needs a queue, a directory and a dead letter")
	}
	s, err := NewDeliverer(d)
	if err != nil {
		return nil, err
	}
	cfg := s.cfg
	// Retried until queue.EnsureTimeout, as the streams are: a worker
	// started with a fresh NATS cluster waits for the stream's leader.
	s.cons, err = queue.EnsureConsumer(ctx, d.Queue.js, StreamName, jetstream.ConsumerConfig{
		Durable:   ConsumerName,
		AckPolicy: jetstream.AckExplicitPolicy,
		// An attempt may deliver several actions; the sender marks the
		// message in progress before each.
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 256,
	})
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return s, nil
}

// fetchBatch is how many notifications one sender delivers at once.
const fetchBatch = 8

// Run delivers until ctx is done.
func (s *Sender) Run(ctx context.Context) {
	for ctx.Err() == nil {
		batch, err := s.cons.Fetch(fetchBatch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("notify: fetch", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		// The batch's notifications are delivered side by side, so that
		// one slow receiver does not hold the others past their ack wait.
		var wg sync.WaitGroup
		for msg := range batch.Messages() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.handle(context.WithoutCancel(ctx), msg)
			}()
		}
		wg.Wait()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// permanentError is a failure that a retry cannot fix (a refused address,
// a 4xx answer, no recipients): the action is recorded as failed and not
// retried.
type permanentError struct{ error }

func permanent(err error) error { return permanentError{err} }

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

func (s *Sender) backoff(attempt int) time.Duration {
	d := s.cfg.Backoff
	for i := 1; i < attempt && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

func (s *Sender) handle(ctx context.Context, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		msg.Nak() //nolint:errcheck
		return
	}
	attempt := int(md.NumDelivered)
	var n Notification
	if err := json.Unmarshal(msg.Data(), &n); err != nil || n.Key == "" {
		s.deadLetter(ctx, msg, attempt, fmt.Errorf("unreadable notification: %v", err))
		return
	}
	var failure error
	switch n.Kind {
	case KindAlert:
		if n.Fired == nil {
			s.deadLetter(ctx, msg, attempt, errors.New("alert without a firing"))
			return
		}
		failure = s.deliverAlert(ctx, msg, &n, attempt)
	case KindMail:
		failure = s.deliverMail(ctx, &n)
	case KindDigest:
		until := time.Unix(n.Digest.Hour, 0).Add(time.Hour)
		if wait := time.Until(until); wait > 0 {
			msg.NakWithDelay(wait + time.Second) //nolint:errcheck
			return
		}
		attempt-- // the wait for the hour's end was one delivery
		failure = s.deliverDigest(ctx, &n)
	default:
		s.deadLetter(ctx, msg, attempt, fmt.Errorf("unknown notification kind %q", n.Kind))
		return
	}
	if failure == nil {
		msg.Ack() //nolint:errcheck
		return
	}
	if isPermanent(failure) {
		s.log.Warn("notify: notification not deliverable", "kind", n.Kind, "err", failure)
		msg.Ack() //nolint:errcheck
		return
	}
	if attempt >= s.cfg.MaxAttempts {
		if n.Fired != nil {
			for idx := range n.Fired.Actions {
				if done, _ := s.q.isDelivered(ctx, n.Key, idx); !done {
					s.q.recordStatus(ctx, n.Fired.RuleID, idx, Status{Status: StatusDead, Error: failure.Error(), Attempts: attempt, Key: n.Key})
				}
			}
		}
		s.deadLetter(ctx, msg, attempt, failure)
		return
	}
	s.log.Info("notify: delivery failed, will retry", "kind", n.Kind, "attempt", attempt, "err", failure)
	msg.NakWithDelay(s.backoff(attempt)) //nolint:errcheck
}

func (s *Sender) deadLetter(ctx context.Context, msg jetstream.Msg, attempt int, cause error) {
	_, err := s.dl.Add(ctx, msg, deadletter.Failure{Reason: "notification", Stage: "notify", Error: cause.Error(),
		FailedAt: time.Now(), Deliveries: uint64(attempt)})
	if err != nil {
		s.log.Error("notify: dead-lettering a notification", "err", err)
		msg.NakWithDelay(s.cfg.MaxBackoff) //nolint:errcheck
		return
	}
	s.log.Warn("notify: notification dead-lettered", "attempts", attempt, "err", cause)
	msg.Ack() //nolint:errcheck
}

// deliverAlert delivers each action of the firing not delivered yet, and
// returns the failures to retry.
func (s *Sender) deliverAlert(ctx context.Context, msg jetstream.Msg, n *Notification, attempt int) error {
	f := n.Fired
	var errs []error
	for idx, raw := range f.Actions {
		if done, err := s.q.isDelivered(ctx, n.Key, idx); err != nil {
			errs = append(errs, err)
			continue
		} else if done {
			continue
		}
		msg.InProgress() //nolint:errcheck
		err := s.deliverAction(ctx, f, idx, parseAction(raw))
		st := Status{Status: StatusSent, Attempts: attempt, Key: n.Key}
		switch {
		case errors.Is(err, ErrNoSMTP):
			st.Status, st.Error = StatusSkipped, err.Error()
		case err != nil && isPermanent(err):
			st.Status, st.Error = StatusFailed, err.Error()
		case err != nil:
			st.Status, st.Error = StatusFailed, err.Error()
			errs = append(errs, fmt.Errorf("action %d: %w", idx, err))
			s.q.recordStatus(ctx, f.RuleID, idx, st)
			continue
		}
		if err := s.q.markDelivered(ctx, n.Key, idx); err != nil {
			errs = append(errs, err)
		}
		s.q.recordStatus(ctx, f.RuleID, idx, st)
	}
	return errors.Join(errs...)
}

// Deliver delivers a firing's actions once, now, without the queue:
// rule test-fires. It returns each action's error (nil: delivered).
func (s *Sender) Deliver(ctx context.Context, f alert.Fired) []error {
	out := make([]error, len(f.Actions))
	for idx, raw := range f.Actions {
		out[idx] = s.deliverAction(ctx, &f, idx, parseAction(raw))
	}
	return out
}

func (s *Sender) deliverAction(ctx context.Context, f *alert.Fired, idx int, a Action) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
	defer cancel()
	p, _ := s.dir.ProjectByID(f.ProjectID)
	info := ProjectInfo{}
	if p != nil {
		info = ProjectInfo{Slug: p.Slug, Name: p.Name}
	}
	switch a.ID {
	case ActionEmail:
		return s.deliverEmail(ctx, f, idx, a, info)
	case ActionSlack:
		return s.post(ctx, a.WebhookURL, f.Key, slackBody(f, info), "")
	case ActionDiscord:
		return s.post(ctx, a.WebhookURL, f.Key, discordBody(f, info), "")
	case ActionTeams:
		return s.post(ctx, a.WebhookURL, f.Key, teamsBody(f, info), "")
	case ActionService:
		if a.Service != "webhooks" {
			return permanent(fmt.Errorf("service %q is not supported", a.Service))
		}
		if s.hooks == nil {
			return permanent(errors.New("the WebHooks plugin is not configured"))
		}
		urls, secret, enabled := s.hooks.WebhookPlugin(f.ProjectID)
		if !enabled || len(urls) == 0 {
			return permanent(errors.New("the WebHooks plugin is disabled or has no URLs"))
		}
		body := webhookBody(f, info)
		var errs []error
		for _, u := range urls {
			sub := deliveredKey(f.Key, idx) + "." + hashKey(u)[:12]
			if done, _ := s.q.isDeliveredRaw(ctx, sub); done {
				continue
			}
			if err := s.post(ctx, u, f.Key, body, secret); err != nil {
				errs = append(errs, err)
				continue
			}
			s.q.markDeliveredRaw(ctx, sub) //nolint:errcheck
		}
		return joinKeepPermanent(errs)
	}
	return permanent(fmt.Errorf("unknown action %q", a.ID))
}

// joinKeepPermanent joins errors; the result is permanent only when every
// error is.
func joinKeepPermanent(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	for _, e := range errs {
		if !isPermanent(e) {
			return errors.Join(errs...)
		}
	}
	return permanent(errors.Join(errs...))
}

// maxBody bounds a webhook body.
const maxBody = 1 << 20

// post sends one webhook request through the guard.
func (s *Sender) post(ctx context.Context, url, key string, v any, secret string) error {
	if err := CheckURL(url); err != nil {
		return permanent(err)
	}
	body, err := json.Marshal(v)
	if err != nil {
		return permanent(err)
	}
	if len(body) > maxBody {
		return permanent(fmt.Errorf("body of %d bytes is too large", len(body)))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Faultline")
	req.Header.Set(HdrIdempotencyKey, key)
	if secret != "" {
		req.Header.Set(HdrTimestamp, strconv.FormatInt(time.Now().Unix(), 10))
		req.Header.Set(HdrSignature, Sign(secret, body))
	}
	resp, err := s.http.Do(req)
	if err != nil {
		// Webhook URLs are secrets (Slack's, Discord's carry the token):
		// errors, which go to the log and the action's status, name the
		// host only.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("%s %s: %w", ue.Op, hostOf(ue.URL), ue.Err)
		}
		if errors.Is(err, ErrForbiddenAddress) {
			return permanent(err)
		}
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // lets the connection be reused
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("%s answered %d: %s", hostOf(url), resp.StatusCode, strings.TrimSpace(string(snippet)))
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
		return permanent(err)
	}
	return err
}

// Sign is the webhook signature: HMAC-SHA256 of the body with the
// plugin's secret, as lowercase hex.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func hostOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "/?#"); i >= 0 {
		u = u[:i]
	}
	return u
}

func (s *Sender) deliverEmail(ctx context.Context, f *alert.Fired, idx int, a Action, p ProjectInfo) error {
	if s.mailer == nil {
		return ErrNoSMTP
	}
	to, err := Recipients(ctx, s.dir, s.as, f, a)
	if err != nil {
		return err
	}
	if len(to) == 0 {
		return permanent(fmt.Errorf("no recipients for %s %s", a.TargetType, a.TargetIdentifier))
	}
	project := p.Slug
	var errs []error
	for _, rcpt := range to {
		sub := deliveredKey(f.Key, idx) + "." + hashKey(rcpt)[:12]
		if done, _ := s.q.isDeliveredRaw(ctx, sub); done {
			continue
		}
		m, err := alertMail(f, project, rcpt)
		if err != nil {
			return permanent(err)
		}
		if err := s.sendCapped(ctx, f.Key, m, f.Issue.URL); err != nil {
			errs = append(errs, err)
			continue
		}
		s.q.markDeliveredRaw(ctx, sub) //nolint:errcheck
	}
	return errors.Join(errs...)
}

func (s *Sender) deliverMail(ctx context.Context, n *Notification) error {
	if s.mailer == nil {
		return permanent(ErrNoSMTP)
	}
	if n.Mail == nil {
		return permanent(errors.New("mail notification without a mail"))
	}
	if done, _ := s.q.isDeliveredRaw(ctx, hashKey(n.Key)); done {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
	defer cancel()
	if err := s.mailer.Send(ctx, n.Key, *n.Mail); err != nil {
		return err
	}
	return s.q.markDeliveredRaw(ctx, hashKey(n.Key))
}
