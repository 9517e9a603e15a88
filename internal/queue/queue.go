// Package queue is Faultline's durable buffer between ingest and the
// workers: a NATS JetStream stream, on an embedded server by default or on an
// external NATS cluster. Ingest answers 200 only after JetStream has
// acknowledged the message, so an accepted event survives a crash of the
// process (and, with SyncAlways, a power loss).
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxPayload is the largest queue message: the server's max_payload. Larger
// envelopes are split into one message per item by ingest.
const MaxPayload = 8 << 20

// Names of the JetStream assets.
const (
	StreamName   = "FAULTLINE_INGEST"
	SubjectRoot  = "faultline.ingest"
	ConsumerName = "workers"
)

// Config configures the queue.
type Config struct {
	// URL of an external NATS cluster, several comma-separated for the
	// servers of a cluster (the client learns the others from any of them);
	// empty runs an embedded server.
	URL string
	// CredsFile is a NATS credentials file (a user JWT and its NKey seed).
	CredsFile string
	// NKeyFile is a file holding an NKey seed (SU...) to authenticate with.
	NKeyFile string
	// TLS to the NATS servers: CAFile is the authorities to trust instead
	// of the system's; CertFile and KeyFile a client certificate.
	TLSCAFile, TLSCertFile, TLSKeyFile string
	// AllowLowerReplicas lets Open lower the replicas of existing streams
	// and buckets to Replicas; without it, Open refuses to start below them.
	AllowLowerReplicas bool
	// DataDir holds the embedded server's JetStream files.
	DataDir string
	// ListenAddr, if set, makes the embedded server accept NATS clients
	// (host:port), so that other Faultline roles can share it.
	ListenAddr string
	// SyncAlways fsyncs every JetStream write before acknowledging it, so
	// that accepted events survive a power loss, not only a crash.
	SyncAlways bool
	// Replicas of the stream and buckets on a cluster (1 when embedded).
	Replicas int
	// Stream limits: the queue never grows without bound. When full, new
	// messages are refused (discard new) and ingest answers 429.
	MaxBytes int64
	MaxMsgs  int64
	MaxAge   time.Duration
	// DedupWindow is how long a Nats-Msg-Id is remembered, so that an SDK's
	// retry of one event inside the window is stored once.
	DedupWindow time.Duration
	// PublishTimeout bounds a publish, retries included: while the stream
	// has no leader (an election on a cluster), the publish is tried again
	// until then (default 10 s).
	PublishTimeout time.Duration
	// AttemptTimeout bounds one publish attempt's wait for its ack (default
	// 2 s): a request sent while the stream leader was lost is never
	// answered, and is sent again.
	AttemptTimeout time.Duration
	// Metrics receives the publish retries (nil: none).
	Metrics PublishObserver
}

// PublishObserver is told how each publish went: how long it took, how
// many attempts it needed, and whether it succeeded.
type PublishObserver interface {
	ObservePublish(d time.Duration, attempts int, err error)
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.URL == "" && c.DataDir == "" {
		return errors.New("queue: need a NATS URL or an embedded data directory")
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 4 << 30
	}
	if c.MaxMsgs == 0 {
		c.MaxMsgs = 20_000_000
	}
	if c.MaxAge == 0 {
		c.MaxAge = 7 * 24 * time.Hour
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = 2 * time.Minute
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = 10 * time.Second
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = 2 * time.Second
	}
	if c.URL == "" && (c.CredsFile != "" || c.NKeyFile != "" || c.TLSCAFile != "" || c.TLSCertFile != "") {
		return errors.New("queue: NATS credentials and TLS options need an external NATS (--nats-url)")
	}
	if c.CredsFile != "" && c.NKeyFile != "" {
		return errors.New("queue: give --nats-creds or --nats-nkey, not both")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("queue: a NATS TLS client certificate needs both --nats-tls-cert and --nats-tls-key")
	}
	return nil
}

// Queue is a connection to JetStream with Faultline's stream in place.
type Queue struct {
	cfg Config
	srv *server.Server // nil when external
	nc  *nats.Conn
	js  jetstream.JetStream
	// pnc and pjs carry the ingest stream's publishes only.
	pnc    *nats.Conn
	pjs    jetstream.JetStream
	stream jetstream.Stream
	log    *slog.Logger
}

// Open starts the embedded server if configured, connects, and creates or
// updates the stream.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	q := &Queue{cfg: cfg, log: log}
	var opts []nats.Option
	opts = append(opts, nats.Name("faultline"), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted()) }),
		// A server in lame-duck mode (a planned restart) is left early.
		nats.LameDuckModeHandler(func(nc *nats.Conn) {
			log.Info("nats server entering lame-duck mode; moving to another", "server", nc.ConnectedUrlRedacted())
		}),
		// Buffer publishes while reconnecting rather than failing them: the
		// publish retry waits for their acks.
		nats.ReconnectBufSize(32<<20))
	auth, err := cfg.authOptions()
	if err != nil {
		return nil, err
	}
	opts = append(opts, auth...)
	if cfg.URL != "" {
		// Servers started at the same moment as Faultline may not listen
		// yet: the connection keeps trying, and creating the streams
		// waits for it (EnsureTimeout).
		opts = append(opts, nats.RetryOnFailedConnect(true))
	}
	target := cfg.URL
	if cfg.URL == "" {
		srv, err := startEmbedded(cfg)
		if err != nil {
			return nil, err
		}
		q.srv = srv
		opts = append(opts, nats.InProcessServer(srv))
		target = ""
	}
	nc, err := nats.Connect(target, opts...)
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("queue: connect: %w", err)
	}
	q.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("queue: jetstream: %w", err)
	}
	q.js = js
	// Ingest publishes on a connection of their own: on the shared one,
	// their acks queue behind the workers' fetches (a batch is up to 1,000
	// messages, megabytes) and the metadata buckets' traffic, in one read
	// loop, which showed in ingest's tail latency with the workers running.
	if q.pnc, err = nats.Connect(target, append(opts, nats.Name("faultline-publish"))...); err != nil {
		q.Close()
		return nil, fmt.Errorf("queue: connect for publishing: %w", err)
	}
	if q.pjs, err = jetstream.New(q.pnc); err != nil {
		q.Close()
		return nil, fmt.Errorf("queue: jetstream: %w", err)
	}
	if err := checkReplicas(ctx, js, cfg, log); err != nil {
		q.Close()
		return nil, err
	}
	scfg := jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Faultline: raw ingested payloads waiting for the workers",
		Subjects:    []string{SubjectRoot + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    cfg.MaxBytes,
		MaxMsgs:     cfg.MaxMsgs,
		MaxAge:      cfg.MaxAge,
		MaxMsgSize:  MaxPayload,
		Duplicates:  cfg.DedupWindow,
		Replicas:    cfg.Replicas,
	}
	st, err := EnsureStream(ctx, js, scfg)
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.stream = st
	return q, nil
}

func startEmbedded(cfg Config) (*server.Server, error) {
	opts := &server.Options{
		ServerName:         "faultline",
		JetStream:          true,
		StoreDir:           filepath.Join(cfg.DataDir),
		MaxPayload:         MaxPayload,
		SyncAlways:         cfg.SyncAlways,
		DontListen:         cfg.ListenAddr == "",
		NoSigs:             true,
		NoLog:              true,
		JetStreamMaxMemory: 64 << 20,
		// Every stream, bucket and object store carries its own byte limit
		// (flags), and JetStream reserves each limit in full against
		// JetStreamMaxStore when it is created. Left at zero, that is 75% of
		// the disk's free space at start, so the reservations (attachments,
		// source maps, the queue...) made a small disk refuse to start with
		// "insufficient storage resources". The per-bucket limits are the
		// bounds; a disk that fills up fails writes (ingest answers 503).
		JetStreamMaxStore: 1 << 50,
	}
	if cfg.ListenAddr != "" {
		host, port, err := net.SplitHostPort(cfg.ListenAddr)
		if err != nil {
			return nil, fmt.Errorf("queue: listen address: %w", err)
		}
		opts.Host = host
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("queue: listen port: %w", err)
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("queue: embedded nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("queue: embedded nats did not start")
	}
	return srv, nil
}

// JetStream returns the JetStream context, for the metadata buckets.
func (q *Queue) JetStream() jetstream.JetStream { return q.js }

// Conn returns the NATS connection.
func (q *Queue) Conn() *nats.Conn { return q.nc }

// ClientURL returns the address other processes can connect to: the
// external URL, or the embedded server's listener ("" if it has none).
func (q *Queue) ClientURL() string {
	if q.cfg.URL != "" {
		var out []string
		for _, s := range strings.Split(q.cfg.URL, ",") {
			u, err := url.Parse(strings.TrimSpace(s))
			if err != nil {
				return ""
			}
			u.User = nil
			out = append(out, u.String())
		}
		return strings.Join(out, ",")
	}
	if q.cfg.ListenAddr == "" {
		return ""
	}
	return q.srv.ClientURL()
}

// Close drains the connection and stops the embedded server.
func (q *Queue) Close() {
	if q.pnc != nil {
		q.pnc.Close()
	}
	if q.nc != nil {
		q.nc.Close()
	}
	if q.srv != nil {
		q.srv.Shutdown()
		q.srv.WaitForShutdown()
	}
}

// Connected reports whether the NATS connection is up.
func (q *Queue) Connected() bool { return q.nc != nil && q.nc.IsConnected() }

// Backlog reports the messages waiting for the workers: not yet delivered,
// and delivered but not acknowledged.
type Backlog struct {
	Messages   uint64 `json:"messages"`
	Bytes      uint64 `json:"bytes"`
	Pending    uint64 `json:"pending"`
	AckPending int    `json:"ackPending"`
}

// Backlog reads the stream and consumer state.
func (q *Queue) Backlog(ctx context.Context) (Backlog, error) {
	info, err := q.stream.Info(ctx)
	if err != nil {
		return Backlog{}, err
	}
	b := Backlog{Messages: info.State.Msgs, Bytes: info.State.Bytes}
	if c, err := q.stream.Consumer(ctx, ConsumerName); err == nil {
		if ci, err := c.Info(ctx); err == nil {
			b.Pending, b.AckPending = ci.NumPending, ci.NumAckPending
		}
	}
	return b, nil
}

// Consumer returns the workers' durable pull consumer, creating it if
// needed. All workers share it; each message goes to one of them.
func (q *Queue) Consumer(ctx context.Context, ackWait time.Duration) (jetstream.Consumer, error) {
	c, err := EnsureConsumer(ctx, q.js, StreamName, jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "Faultline processing workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1, // never give up on an accepted event
		MaxAckPending: 50_000,
		FilterSubject: SubjectRoot + ".>",
	})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return c, nil
}
