package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Kinds of payload a message carries.
const (
	KindStore    = "store"    // a /store/ body: one event JSON
	KindEnvelope = "envelope" // an envelope, whole or one split item

	KindAirbrake       = "airbrake"        // an Airbrake v3 notice (JSON)
	KindAirbrakeXML    = "airbrake-xml"    // an Airbrake v2 notice (XML)
	KindAirbrakeDeploy = "airbrake-deploy" // an Airbrake v4 deploy (JSON); EventID is the deploy's id
	KindOutcomes       = "outcomes"        // ingest's outcome sums (JSON list of outcome.Sum)
)

// Message is one accepted request as ingest publishes it: the body exactly
// as it arrived (still compressed where the client compressed it, which
// keeps the queue small and ingest fast) plus what ingest learned about it.
type Message struct {
	ProjectID uint64
	EventID   string // 32 hex, or "" when the payload has no event
	// DedupID makes the Nats-Msg-Id "project:DedupID" (default EventID):
	// JetStream stores one message per id inside the dedup window, so an
	// SDK's retry of the same request is stored once.
	DedupID  string
	Kind     string
	Encoding string // Content-Encoding of Body: "", "gzip", "deflate", "br", "zstd"
	Received time.Time
	ClientIP string
	Client   string // the SDK's sentry_client, e.g. "sentry.go/0.46.2"
	KeyID    string // the DSN key that authenticated the request, for outcomes
	// Attachments were stored in the attachment object store by ingest
	// before the message was published; they are not in Body.
	Attachments []AttachmentRef
	Body        []byte
}

// AttachmentRef points at an attachment that ingest stored: its id, object
// key and what the client said about it. It travels in a message header as
// JSON.
type AttachmentRef struct {
	ID          uint64 `json:"id"`
	Key         string `json:"key"`
	Name        string `json:"name"`
	ContentType string `json:"content_type,omitempty"`
	Type        string `json:"attachment_type,omitempty"` // e.g. "event.attachment", "event.minidump"
	Size        uint64 `json:"size"`
	SHA1        string `json:"sha1"`
}

// Message headers. Only ingest publishes to the stream, so workers trust them.
const (
	hdrKind     = "Fl-Kind"
	hdrEncoding = "Fl-Encoding"
	hdrReceived = "Fl-Received"
	hdrClientIP = "Fl-Client-Ip"
	hdrEventID  = "Fl-Event-Id"
	hdrProject  = "Fl-Project"
	hdrClient   = "Fl-Client"
	hdrKey      = "Fl-Key"
	hdrAttach   = "Fl-Attachments"
	// HdrOriginSeq, on a message replayed from the dead letter, is the
	// stream sequence of the message as ingest first queued it: the
	// replay is that message again, not a duplicate of its event.
	HdrOriginSeq = "Fl-Origin-Seq"
)

// Subject returns the subject for a project's messages.
func Subject(projectID uint64) string {
	return SubjectRoot + "." + strconv.FormatUint(projectID, 10)
}

// ErrQueueFull means the stream is at its limits and refused the message.
var ErrQueueFull = errors.New("queue: full")

// ErrUnavailable means the message could not be stored in time.
var ErrUnavailable = errors.New("queue: unavailable")

// Publish stores m durably and returns once JetStream has acknowledged it.
// A duplicate (same project and event id inside the dedup window) is
// acknowledged without being stored twice.
func (q *Queue) Publish(ctx context.Context, m *Message) error {
	msg := &nats.Msg{Subject: Subject(m.ProjectID), Data: m.Body, Header: nats.Header{}}
	dedup := m.DedupID
	if dedup == "" {
		dedup = m.EventID
	}
	if dedup == "" {
		// Every message would be a duplicate of every other.
		return errors.New("queue: message has neither an event id nor a dedup id")
	}
	msg.Header.Set(jetstream.MsgIDHeader, strconv.FormatUint(m.ProjectID, 10)+":"+dedup)
	msg.Header.Set(hdrProject, strconv.FormatUint(m.ProjectID, 10))
	msg.Header.Set(hdrKind, m.Kind)
	if m.Encoding != "" {
		msg.Header.Set(hdrEncoding, m.Encoding)
	}
	msg.Header.Set(hdrReceived, strconv.FormatInt(m.Received.UnixMilli(), 10))
	if m.ClientIP != "" {
		msg.Header.Set(hdrClientIP, m.ClientIP)
	}
	msg.Header.Set(hdrEventID, m.EventID)
	if m.Client != "" {
		msg.Header.Set(hdrClient, m.Client)
	}
	if m.KeyID != "" {
		msg.Header.Set(hdrKey, m.KeyID)
	}
	if len(m.Attachments) > 0 {
		// Compact JSON has no newline, so it fits in a header value.
		b, err := json.Marshal(m.Attachments)
		if err != nil {
			return fmt.Errorf("queue: attachments: %w", err)
		}
		msg.Header.Set(hdrAttach, string(b))
	}
	return q.publish(ctx, msg)
}

// publish sends msg and waits for JetStream's ack, trying again while the
// stream cannot answer (no leader during an election, a server lost, the
// connection reconnecting) until PublishTimeout: every attempt carries the
// same Nats-Msg-Id, so one that was stored after all is not stored twice.
func (q *Queue) publish(ctx context.Context, msg *nats.Msg) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, q.cfg.PublishTimeout)
	defer cancel()
	wait := 25 * time.Millisecond
	attempts := 0
	var err error
	for {
		attempts++
		actx, acancel := context.WithTimeout(ctx, q.cfg.AttemptTimeout)
		_, err = q.pjs.PublishMsg(actx, msg, jetstream.WithRetryAttempts(0))
		acancel()
		if err == nil || isFull(err) || !retryable(err) || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
	if q.cfg.Metrics != nil {
		q.cfg.Metrics.ObservePublish(time.Since(start), attempts, err)
	}
	if attempts > 1 && err == nil {
		q.log.Info("publish waited for the stream", "attempts", attempts, "waited", time.Since(start).Round(time.Millisecond))
	}
	if err != nil {
		if isFull(err) {
			return fmt.Errorf("%w: %v", ErrQueueFull, err)
		}
		return fmt.Errorf("%w: after %d attempts in %s: %v", ErrUnavailable, attempts, time.Since(start).Round(time.Millisecond), err)
	}
	return nil
}

// retryable reports whether a failed publish may succeed if sent again:
// anything but an answer of the stream that refuses the message.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10008, // JetStream temporarily unavailable
			10023: // insufficient resources (peers away)
			return true
		}
		return apiErr.ErrorCode == 0
	}
	return !errors.Is(err, nats.ErrMaxPayload) && !errors.Is(err, nats.ErrBadSubject) &&
		!errors.Is(err, nats.ErrConnectionClosed)
}

// Decode reads a message published by Publish.
func Decode(msg jetstream.Msg) (Message, error) {
	h := msg.Headers()
	pid, err := strconv.ParseUint(h.Get(hdrProject), 10, 64)
	if err != nil {
		return Message{}, fmt.Errorf("queue: bad %s header: %w", hdrProject, err)
	}
	ms, _ := strconv.ParseInt(h.Get(hdrReceived), 10, 64)
	var atts []AttachmentRef
	if v := h.Get(hdrAttach); v != "" {
		if err := json.Unmarshal([]byte(v), &atts); err != nil {
			return Message{}, fmt.Errorf("queue: bad %s header: %w", hdrAttach, err)
		}
	}
	return Message{
		ProjectID:   pid,
		EventID:     h.Get(hdrEventID),
		Kind:        h.Get(hdrKind),
		Encoding:    h.Get(hdrEncoding),
		Received:    time.UnixMilli(ms).UTC(),
		ClientIP:    h.Get(hdrClientIP),
		Client:      h.Get(hdrClient),
		KeyID:       h.Get(hdrKey),
		Attachments: atts,
		Body:        msg.Data(),
	}, nil
}

// JetStream error codes for a stream that refuses a message at its limits.
const (
	errCodeStoreFailed      = 10077 // with "maximum bytes/messages exceeded"
	errCodeStorageExhausted = 10047
)

func isFull(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case errCodeStorageExhausted:
		return true
	case errCodeStoreFailed:
		return strings.Contains(apiErr.Description, "maximum")
	}
	return false
}

// Republish puts a message that was taken off the stream back on it,
// headers and body as they were (a replayed dead letter). Its subject must
// be one of the stream's.
func (q *Queue) Republish(ctx context.Context, msg *nats.Msg) error {
	if !strings.HasPrefix(msg.Subject, SubjectRoot+".") {
		return fmt.Errorf("queue: subject %q is not the ingest stream's", msg.Subject)
	}
	return q.publish(ctx, msg)
}
