// Package notify delivers what alert rules fire: a durable notification
// queue on JetStream (FAULTLINE_NOTIFICATIONS), and a sender, run by the
// worker role, that delivers each firing's actions (e-mail through SMTP,
// Slack or Mattermost, Discord, Microsoft Teams, and the WebHooks plugin)
// with a timeout per attempt, retries with exponential backoff, and the
// dead-letter stream for what keeps failing.
//
// Delivery is at least once and keyed: each firing carries an idempotency
// key (rule, issue, trigger, window). JetStream drops a republished key
// inside its deduplication window, and a KV record per key and action,
// kept at least as long as the stream keeps messages, makes a firing
// evaluated again after a redelivery deliver nothing a second time.
package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/alert"
	"github.com/faultline/faultline/internal/queue"
)

// Names of the JetStream assets.
const (
	StreamName   = "FAULTLINE_NOTIFICATIONS"
	SubjectRoot  = "faultline.notify"
	ConsumerName = "faultline-notify"
	// DeliveredBucket holds one record per idempotency key and action
	// delivered (or given up on), with a TTL at least the stream's age.
	DeliveredBucket = "faultline-notify-delivered"
	// StatusBucket holds each rule action's last delivery status.
	StatusBucket = "faultline-notify-status"
	// CapBucket counts mails per recipient and hour and holds digests.
	CapBucket = "faultline-notify-mailcap"
)

// Headers of a notification message.
const (
	hdrProject = "Fl-Project" // read by the dead-letter stream's listing
	hdrKind    = "Fl-Kind"
	// HdrIdempotencyKey is sent with every webhook request.
	HdrIdempotencyKey = "Idempotency-Key"
)

// Config configures the notification queue and its sender.
type Config struct {
	// Replicas of the stream and buckets on a cluster (never lowered).
	Replicas int
	// MaxBytes and MaxAge bound the stream (default 256 MiB and 3 days).
	MaxBytes int64
	MaxAge   time.Duration
	// AttemptTimeout bounds one delivery attempt (default 10 s).
	AttemptTimeout time.Duration
	// MaxAttempts is how many attempts a firing gets before it goes to
	// the dead letter (default 8).
	MaxAttempts int
	// Backoff is the first retry's delay, doubled each attempt up to
	// MaxBackoff (default 2 s and 10 min).
	Backoff, MaxBackoff time.Duration
	// SMTP configures the mailer; without a URL, e-mail actions are
	// recorded as skipped.
	SMTP SMTPConfig
	// WebhookAllowPrivate lets webhooks reach loopback, link-local and
	// private addresses (--webhook-allow-private).
	WebhookAllowPrivate bool
	// PublicURL is Faultline's web address, for links in mails.
	PublicURL string
	// OpenTimeout bounds the retries of creating the stream and buckets.
	OpenTimeout time.Duration
	// AckWait is how long a taken notification waits for its sender's
	// ack before another sender gets it (default 3 attempt timeouts, at
	// least 30 s; tests shorten it).
	AckWait time.Duration
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 256 << 20
	}
	if c.MaxAge == 0 {
		c.MaxAge = 3 * 24 * time.Hour
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = 10 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 8
	}
	if c.Backoff == 0 {
		c.Backoff = 2 * time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 10 * time.Minute
	}
	if c.AckWait <= 0 {
		c.AckWait = max(30*time.Second, 3*c.AttemptTimeout)
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = 30 * time.Second
	}
	if c.MaxBytes < 0 || c.MaxAge < 0 || c.AttemptTimeout < 0 || c.MaxAttempts < 0 || c.Backoff < 0 || c.MaxBackoff < c.Backoff {
		return errors.New("notify: limits must be positive (and max backoff at least the backoff)")
	}
	return c.SMTP.Validate()
}

// Message kinds on the stream.
const (
	KindAlert  = "alert"  // a rule firing
	KindMail   = "mail"   // a prepared mail (an invitation)
	KindDigest = "digest" // the mails over a recipient's hourly cap
)

// Notification is one message of the stream.
type Notification struct {
	Kind  string       `json:"kind"`
	Key   string       `json:"key"`
	Fired *alert.Fired `json:"fired,omitempty"`
	Mail  *Mail        `json:"mail,omitempty"`
	// Digest names the recipient and hour of a digest.
	Digest *DigestRef `json:"digest,omitempty"`
}

// DigestRef is the recipient and the hour (Unix seconds of its start) of
// a digest.
type DigestRef struct {
	To   string `json:"to"`
	Hour int64  `json:"hour"`
}

// Queue is the notification queue: the stream and the KV records.
type Queue struct {
	cfg       Config
	js        jetstream.JetStream
	stream    jetstream.Stream
	delivered jetstream.KeyValue
	status    jetstream.KeyValue
	caps      jetstream.KeyValue
	log       *slog.Logger
}

// Open creates or updates the stream and buckets (idempotent, retried,
// never lowering replicas).
func Open(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	q := &Queue{cfg: cfg, js: js, log: log}
	err := queue.Retry(ctx, cfg.OpenTimeout, func(ctx context.Context) error {
		replicas := cfg.Replicas // EnsureStream never lowers an existing stream's
		st, err := queue.EnsureStream(ctx, js, jetstream.StreamConfig{
			Name:        StreamName,
			Description: "Faultline: notifications waiting to be delivered",
			Subjects:    []string{SubjectRoot + ".>"},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Discard:     jetstream.DiscardNew,
			MaxBytes:    cfg.MaxBytes,
			MaxAge:      cfg.MaxAge,
			MaxMsgSize:  8 << 20,
			Duplicates:  2 * time.Minute,
			Replicas:    replicas,
		})
		q.stream = st
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: stream %s: %w", StreamName, err)
	}
	kv := func(name, desc string, ttl time.Duration, maxBytes int64) (jetstream.KeyValue, error) {
		return queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
			Bucket: name, Description: desc, History: 1, TTL: ttl, MaxBytes: maxBytes,
			Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
		})
	}
	// The delivered records outlive the stream's messages by a day, so
	// that a firing queued again just before its message expired is still
	// known.
	if q.delivered, err = kv(DeliveredBucket, "Faultline: notifications delivered, per idempotency key and action", cfg.MaxAge+24*time.Hour, 256<<20); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	if q.status, err = kv(StatusBucket, "Faultline: each rule action's last delivery", 0, 64<<20); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	if q.caps, err = kv(CapBucket, "Faultline: mails per recipient and hour, and digests", 3*time.Hour, 64<<20); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return q, nil
}

// hashKey makes an idempotency key (any text) a KV key and message id.
func hashKey(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:16])
}

func subject(projectID uint64) string { return SubjectRoot + "." + strconv.FormatUint(projectID, 10) }

// Enqueue queues the firings durably. A firing whose key was queued in
// JetStream's deduplication window, or whose actions were all delivered,
// is not queued again. E-mail actions without SMTP are recorded as
// skipped here, and a firing with nothing else to deliver is not queued.
func (q *Queue) Enqueue(ctx context.Context, fired []alert.Fired) error {
	for i := range fired {
		f := &fired[i]
		if f.Key == "" {
			return errors.New("notify: a firing needs an idempotency key")
		}
		pending := 0
		for idx, raw := range f.Actions {
			a := parseAction(raw)
			if a.ID == ActionEmail && !q.cfg.SMTP.Enabled() {
				q.recordStatus(ctx, f.RuleID, idx, Status{Status: StatusSkipped, Error: ErrNoSMTP.Error(), Key: f.Key})
				continue
			}
			if done, _ := q.isDelivered(ctx, f.Key, idx); done {
				continue
			}
			pending++
		}
		q.recordFired(ctx, f)
		if pending == 0 {
			continue
		}
		if err := q.publish(ctx, &Notification{Kind: KindAlert, Key: f.Key, Fired: f}, f.ProjectID); err != nil {
			return err
		}
	}
	return nil
}

// Firing is a rule's last firing: when, with which idempotency key, and
// how many firings the rule had (a firing queued again with the same key,
// after a redelivery, counts once).
type Firing struct {
	At    time.Time `json:"at"`
	Key   string    `json:"key"`
	Count uint64    `json:"count"`
}

func firedKey(ruleID string) string { return hashKey(ruleID) + ".fired" }

// recordFired records a rule's firing (Sentry's lastTriggered): one KV
// read and compare-and-set per firing; a failure is logged, never fails
// the batch.
func (q *Queue) recordFired(ctx context.Context, f *alert.Fired) {
	if f.RuleID == "" {
		return
	}
	k := firedKey(f.RuleID)
	for attempt := 0; attempt < 5; attempt++ {
		var cur Firing
		var rev uint64
		e, err := q.status.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			q.log.Warn("notify: reading a rule's last firing", "rule", f.RuleID, "err", err)
			return
		default:
			rev = e.Revision()
			json.Unmarshal(e.Value(), &cur) //nolint:errcheck // a bad record starts over
		}
		if cur.Key == f.Key {
			return // queued again after a redelivery: the same firing
		}
		at := f.At
		if at.IsZero() {
			at = time.Now()
		}
		b, _ := json.Marshal(Firing{At: at.UTC(), Key: f.Key, Count: cur.Count + 1})
		if rev == 0 {
			_, err = q.status.Create(ctx, k, b)
		} else {
			_, err = q.status.Update(ctx, k, b, rev)
		}
		if err == nil {
			return
		}
	}
	q.log.Warn("notify: recording a rule's last firing: too much contention", "rule", f.RuleID)
}

// LastFired returns a rule's last firing; ok is false when it never
// fired.
func (q *Queue) LastFired(ctx context.Context, ruleID string) (fr Firing, ok bool, err error) {
	e, err := q.status.Get(ctx, firedKey(ruleID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Firing{}, false, nil
	}
	if err != nil {
		return Firing{}, false, err
	}
	return fr, true, json.Unmarshal(e.Value(), &fr)
}

// EnqueueMail queues a prepared mail (an invitation) under its key.
func (q *Queue) EnqueueMail(ctx context.Context, key string, m Mail) error {
	if !q.cfg.SMTP.Enabled() {
		return ErrNoSMTP
	}
	return q.publish(ctx, &Notification{Kind: KindMail, Key: key, Mail: &m}, 0)
}

// MailEnabled reports whether SMTP is configured.
func (q *Queue) MailEnabled() bool { return q.cfg.SMTP.Enabled() }

func (q *Queue) publish(ctx context.Context, n *Notification, projectID uint64) error {
	body, err := json.Marshal(n)
	if err != nil {
		return err
	}
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, n.Kind+":"+hashKey(n.Key))
	h.Set(hdrProject, strconv.FormatUint(projectID, 10))
	h.Set(hdrKind, "notification-"+n.Kind)
	err = queue.Retry(ctx, 10*time.Second, func(ctx context.Context) error {
		_, err := q.js.PublishMsg(ctx, &nats.Msg{Subject: subject(projectID), Header: h, Data: body})
		return err
	})
	if err != nil {
		return fmt.Errorf("notify: publish: %w", err)
	}
	return nil
}

func deliveredKey(key string, action int) string {
	return hashKey(key) + "." + strconv.Itoa(action)
}

func (q *Queue) isDelivered(ctx context.Context, key string, action int) (bool, error) {
	_, err := q.delivered.Get(ctx, deliveredKey(key, action))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (q *Queue) markDelivered(ctx context.Context, key string, action int) error {
	_, err := q.delivered.Put(ctx, deliveredKey(key, action), []byte(time.Now().UTC().Format(time.RFC3339)))
	return err
}

// Delivery statuses.
const (
	StatusSent    = "sent"
	StatusFailed  = "failed" // an attempt failed; it will be retried
	StatusDead    = "dead"   // every attempt failed: in the dead letter
	StatusSkipped = "skipped"
)

// Status is one rule action's last delivery.
type Status struct {
	Status   string    `json:"status"`
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
	Attempts int       `json:"attempts,omitempty"`
	Key      string    `json:"key,omitempty"`
}

func statusKey(ruleID string, action int) string {
	return hashKey(ruleID) + "." + strconv.Itoa(action)
}

func (q *Queue) recordStatus(ctx context.Context, ruleID string, action int, st Status) {
	if ruleID == "" {
		return
	}
	if st.At.IsZero() {
		st.At = time.Now().UTC()
	}
	b, _ := json.Marshal(st)
	if _, err := q.status.Put(ctx, statusKey(ruleID, action), b); err != nil {
		q.log.Warn("notify: recording a delivery status", "rule", ruleID, "action", action, "err", err)
	}
}

// LastStatus returns the last delivery of a rule's action (by its index
// in the rule's actions); ok is false when it was never delivered.
func (q *Queue) LastStatus(ctx context.Context, ruleID string, action int) (st Status, ok bool, err error) {
	e, err := q.status.Get(ctx, statusKey(ruleID, action))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Status{}, false, nil
	}
	if err != nil {
		return Status{}, false, err
	}
	return st, true, json.Unmarshal(e.Value(), &st)
}

// Republish puts a dead-lettered notification back on the stream (a
// replay from the dead-letter routes). Its subject must be the stream's.
func (q *Queue) Republish(ctx context.Context, msg *nats.Msg) error {
	if !strings.HasPrefix(msg.Subject, SubjectRoot+".") {
		return fmt.Errorf("notify: subject %q is not the notification stream's", msg.Subject)
	}
	_, err := q.js.PublishMsg(ctx, msg)
	return err
}

// Replayer routes a dead letter's replay to the stream it came from: the
// notification stream's to it, the others to next.
type Replayer struct {
	Notifications *Queue
	Next          interface {
		Republish(ctx context.Context, msg *nats.Msg) error
	}
}

// Republish implements deadletter.Publisher.
func (r Replayer) Republish(ctx context.Context, msg *nats.Msg) error {
	if strings.HasPrefix(msg.Subject, SubjectRoot+".") {
		return r.Notifications.Republish(ctx, msg)
	}
	return r.Next.Republish(ctx, msg)
}
