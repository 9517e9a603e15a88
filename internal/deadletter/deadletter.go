// Package deadletter keeps the queue messages that workers could not
// process (a panic in a stage, a permanent failure, or a message that took
// the worker down too many times) in a JetStream stream of their own,
// bounded by size and age, so that one bad message never stops the
// workers and an operator can look at it, replay it or delete it.
//
// Each dead letter is the original message, headers and body exactly as
// queued, plus headers saying why it failed: the reason, the stage, the
// stack, the time and the delivery count.
package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/queue"
)

// Names of the JetStream assets.
const (
	StreamName  = "FAULTLINE_DEAD_LETTERS"
	SubjectRoot = "faultline.deadletter"
)

// Headers a dead letter carries besides the original message's.
const (
	HdrReason     = "Fl-Dl-Reason"
	HdrStage      = "Fl-Dl-Stage"
	HdrStack      = "Fl-Dl-Stack" // a JSON string: headers hold no newlines
	HdrError      = "Fl-Dl-Error" // a JSON string
	HdrFailedAt   = "Fl-Dl-Failed-At"
	HdrDeliveries = "Fl-Dl-Deliveries"
	HdrSubject    = "Fl-Dl-Subject" // the subject the message was queued on
	HdrSequence   = "Fl-Dl-Sequence"
	HdrMsgID      = "Fl-Dl-Msg-Id" // the original Nats-Msg-Id
	hdrProject    = "Fl-Project"
	hdrEventID    = "Fl-Event-Id"
	hdrKind       = "Fl-Kind"
)

// MaxStack is the longest stack kept with a dead letter.
const MaxStack = 16 << 10

// Config configures the dead-letter stream.
type Config struct {
	// Replicas of the stream on a cluster (never lowered for an existing
	// stream).
	Replicas int
	// MaxBytes and MaxAge bound the stream; the oldest dead letters go
	// first (default 1 GiB and 7 days).
	MaxBytes int64
	MaxAge   time.Duration
	// OpenTimeout bounds the retries of creating the stream at start
	// (default 30s).
	OpenTimeout time.Duration
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 1 << 30
	}
	if c.MaxAge == 0 {
		c.MaxAge = 7 * 24 * time.Hour
	}
	if c.MaxBytes < 0 || c.MaxAge < 0 {
		return errors.New("deadletter: limits must be positive")
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = 30 * time.Second
	}
	return nil
}

// Failure says why a message was dead-lettered.
type Failure struct {
	Reason     string // Relay's outcome reason, e.g. "internal"
	Stage      string // e.g. "grouping", "insert", "crash"
	Error      string // the panic value or error text
	Stack      string
	FailedAt   time.Time
	Deliveries uint64
}

// Letter is one dead letter as listed.
type Letter struct {
	ID        uint64 // the dead-letter stream's sequence
	ProjectID uint64
	EventID   string
	Kind      string
	Failure
	Size int // bytes of the original body
}

// Stream is the dead-letter stream.
type Stream struct {
	cfg    Config
	js     jetstream.JetStream
	stream jetstream.Stream
	log    *slog.Logger
}

// Open creates or updates the stream, retrying while JetStream is not
// ready (e.g. a cluster electing its leader).
func Open(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) (*Stream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	var st jetstream.Stream
	err := queue.Retry(ctx, cfg.OpenTimeout, func(ctx context.Context) error {
		var err error
		st, err = ensureStream(ctx, js, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("deadletter: stream %s: %w", StreamName, err)
	}
	return &Stream{cfg: cfg, js: js, stream: st, log: log}, nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Stream, error) {
	// Never lowers the replicas of an existing stream.
	replicas := cfg.Replicas
	return queue.EnsureStream(ctx, js, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Faultline: queue messages the workers could not process",
		Subjects:    []string{SubjectRoot + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxBytes:    cfg.MaxBytes,
		MaxAge:      cfg.MaxAge,
		MaxMsgSize:  -1,
		// A redelivered message that fails again is kept once: dead
		// letters carry the ingest sequence as their Nats-Msg-Id.
		Duplicates: time.Hour,
		Replicas:   replicas,
	})
}

func subject(projectID uint64) string { return SubjectRoot + "." + strconv.FormatUint(projectID, 10) }

// Add copies msg, a message of the ingest stream, into the dead letter
// with the failure. It reports dup when the same delivery of the message
// was dead-lettered before (a redelivery after a lost ack), so that its
// outcome is not recorded twice.
func (s *Stream) Add(ctx context.Context, msg jetstream.Msg, f Failure) (dup bool, err error) {
	md, err := msg.Metadata()
	if err != nil {
		return false, fmt.Errorf("deadletter: metadata: %w", err)
	}
	h := nats.Header{}
	for k, vs := range msg.Headers() {
		if k == jetstream.MsgIDHeader {
			h.Set(HdrMsgID, vs[0])
			continue
		}
		h[k] = append([]string(nil), vs...)
	}
	if f.FailedAt.IsZero() {
		f.FailedAt = time.Now()
	}
	if len(f.Stack) > MaxStack {
		f.Stack = f.Stack[:MaxStack] + "\n…"
	}
	h.Set(HdrReason, f.Reason)
	h.Set(HdrStage, f.Stage)
	h.Set(HdrStack, jsonString(f.Stack))
	h.Set(HdrError, jsonString(truncate(f.Error, 4096)))
	h.Set(HdrFailedAt, strconv.FormatInt(f.FailedAt.UnixMilli(), 10))
	h.Set(HdrDeliveries, strconv.FormatUint(md.NumDelivered, 10))
	h.Set(HdrSubject, msg.Subject())
	h.Set(HdrSequence, strconv.FormatUint(md.Sequence.Stream, 10))
	h.Set(jetstream.MsgIDHeader, "dl:"+strconv.FormatUint(md.Sequence.Stream, 10))
	pid, _ := strconv.ParseUint(msg.Headers().Get(hdrProject), 10, 64)
	ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: subject(pid), Header: h, Data: msg.Data()})
	if errors.Is(err, nats.ErrMaxPayload) {
		// A message near the largest payload: keep it without the stack.
		h.Del(HdrStack)
		h.Set(HdrError, jsonString(truncate(f.Error, 200)))
		ack, err = s.js.PublishMsg(ctx, &nats.Msg{Subject: subject(pid), Header: h, Data: msg.Data()})
	}
	if err != nil {
		return false, fmt.Errorf("deadletter: publish: %w", err)
	}
	return ack.Duplicate, nil
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ErrNotFound is returned for an unknown dead letter.
var ErrNotFound = errors.New("deadletter: not found")

// get reads one dead letter.
func (s *Stream) get(ctx context.Context, id uint64) (*jetstream.RawStreamMsg, error) {
	m, err := s.stream.GetMsg(ctx, id)
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return m, nil
}

// Get returns one dead letter.
func (s *Stream) Get(ctx context.Context, id uint64) (*Letter, error) {
	m, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return parse(m), nil
}

func parse(m *jetstream.RawStreamMsg) *Letter {
	h := m.Header
	l := &Letter{ID: m.Sequence, EventID: h.Get(hdrEventID), Kind: h.Get(hdrKind), Size: len(m.Data)}
	l.ProjectID, _ = strconv.ParseUint(h.Get(hdrProject), 10, 64)
	l.Reason, l.Stage = h.Get(HdrReason), h.Get(HdrStage)
	json.Unmarshal([]byte(h.Get(HdrStack)), &l.Stack) //nolint:errcheck // empty when missing
	json.Unmarshal([]byte(h.Get(HdrError)), &l.Error) //nolint:errcheck
	if ms, err := strconv.ParseInt(h.Get(HdrFailedAt), 10, 64); err == nil {
		l.FailedAt = time.UnixMilli(ms).UTC()
	} else {
		l.FailedAt = m.Time.UTC()
	}
	l.Deliveries, _ = strconv.ParseUint(h.Get(HdrDeliveries), 10, 64)
	return l
}

// maxScan bounds the sequence numbers one List looks at, so that a stream
// with many deleted entries cannot make a request unbounded.
const maxScan = 10_000

// List returns up to limit dead letters, newest first, with ids below
// before (0: from the newest), and the cursor of the next page (0: none).
func (s *Stream) List(ctx context.Context, before uint64, limit int) ([]*Letter, uint64, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return nil, 0, err
	}
	last, first := info.State.LastSeq, info.State.FirstSeq
	if before != 0 && before-1 < last {
		last = before - 1
	}
	out := []*Letter{}
	scanned := 0
	for seq := last; seq >= first && seq > 0; seq-- {
		if len(out) == limit || scanned == maxScan {
			return out, seq + 1, nil
		}
		scanned++
		m, err := s.get(ctx, seq)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		out = append(out, parse(m))
	}
	return out, 0, nil
}

// Stats are the dead letters held.
type Stats struct {
	Count uint64 `json:"count"`
	Bytes uint64 `json:"bytes"`
}

// Stats reads the stream's state.
func (s *Stream) Stats(ctx context.Context) (Stats, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return Stats{}, err
	}
	return Stats{Count: info.State.Msgs, Bytes: info.State.Bytes}, nil
}

// Delete removes a dead letter.
func (s *Stream) Delete(ctx context.Context, id uint64) error {
	if _, err := s.get(ctx, id); err != nil {
		return err
	}
	if err := s.stream.DeleteMsg(ctx, id); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) || strings.Contains(err.Error(), "no message found") {
			return ErrNotFound
		}
		return err
	}
	return nil
}

// Publisher puts a message back on the ingest stream.
type Publisher interface {
	Republish(ctx context.Context, msg *nats.Msg) error
}

// Replay puts the original message back on the ingest stream, as ingest
// queued it, so that a worker processes it again, then removes it from
// the dead letter.
func (s *Stream) Replay(ctx context.Context, id uint64, to Publisher) error {
	m, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	h := nats.Header{}
	for k, vs := range m.Header {
		if strings.HasPrefix(k, "Fl-Dl-") || k == jetstream.MsgIDHeader {
			continue
		}
		h[k] = append([]string(nil), vs...)
	}
	// The original id would be refused as a duplicate inside the ingest
	// stream's window; a replay is deduplicated on its own id.
	h.Set(jetstream.MsgIDHeader, "replay:"+strconv.FormatUint(id, 10))
	// The replay keeps the original message's identity, so that the
	// event id its first attempt claimed is still its own.
	if h.Get(queue.HdrOriginSeq) == "" {
		h.Set(queue.HdrOriginSeq, m.Header.Get(HdrSequence))
	}
	subj := m.Header.Get(HdrSubject)
	if subj == "" {
		return fmt.Errorf("deadletter: %d has no subject", id)
	}
	if err := to.Republish(ctx, &nats.Msg{Subject: subj, Header: h, Data: m.Data}); err != nil {
		return err
	}
	if err := s.stream.DeleteMsg(ctx, id); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("deadletter: replayed %d but could not remove it: %w", id, err)
	}
	return nil
}
