// Package server assembles Faultline's components into a running process.
// One binary plays every role: "all" (the embedded default: NATS,
// ClickHouse, ingest, workers and API in one process) or any of ingest,
// worker and api against an external NATS cluster and ClickHouse servers.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/internal/alert"
	"github.com/faultline/faultline/internal/api"
	"github.com/faultline/faultline/internal/artifact"
	"github.com/faultline/faultline/internal/attachment"
	"github.com/faultline/faultline/internal/deadletter"
	"github.com/faultline/faultline/internal/deletion"
	"github.com/faultline/faultline/internal/ingest"
	"github.com/faultline/faultline/internal/limits"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/metrics"
	"github.com/faultline/faultline/internal/notify"
	"github.com/faultline/faultline/internal/oidc"
	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/reqlog"
	"github.com/faultline/faultline/internal/retention"
	"github.com/faultline/faultline/internal/route"
	"github.com/faultline/faultline/internal/session"
	"github.com/faultline/faultline/internal/store"
	"github.com/faultline/faultline/internal/web"
)

// Roles a process can play.
const (
	RoleAll    = "all"
	RoleIngest = "ingest"
	RoleWorker = "worker"
	RoleAPI    = "api"
)

// MinAdminTokenLen is the shortest FAULTLINE_ADMIN_TOKEN accepted.
const MinAdminTokenLen = 32

// Config is the whole process's configuration.
type Config struct {
	Addr       string // HTTP listen address
	DataDir    string // embedded NATS and ClickHouse data
	PublicURL  string // how clients reach Faultline; default http://Addr
	Roles      []string
	NoMigrate  bool
	AdminToken string // FAULTLINE_ADMIN_TOKEN; never logged
	// AdminEmail and AdminPassword (FAULTLINE_ADMIN_EMAIL and
	// FAULTLINE_ADMIN_PASSWORD) create or update a superuser with this
	// password at start; the password is never logged.
	AdminEmail, AdminPassword string
	// Sessions configures login sessions and the login lockout.
	Sessions session.Config
	// CleanupInterval is how often a worker process drops the partitions
	// past their retention; 0 never.
	CleanupInterval time.Duration
	// DeletionDelay is how long a deleted project's or organization's data
	// waits before it is deleted, during which the deletion can be
	// cancelled (batches in flight finish first); default 1 hour.
	DeletionDelay time.Duration
	// UnmergeInlineMax is how many events an unmerge moves in its request;
	// above it the move is a background job (api.Config).
	UnmergeInlineMax int
	// Deletion tunes the deletion job runner of worker processes.
	Deletion deletion.Config

	Queue       queue.Config
	Store       store.Config
	Ingest      ingest.Config
	Worker      process.Config
	Attachments attachment.Config
	// Artifacts bounds source-map uploads (files, bundles, per
	// organization).
	Artifacts artifact.Config
	// DeadLetters bounds the dead-letter stream.
	DeadLetters deadletter.Config
	// SpikeWindow is spike protection's counting window (a minute; tests
	// shorten it).
	SpikeWindow time.Duration
	// OIDC configures single sign-on (off without an issuer).
	OIDC oidc.Config
	// Notify configures the notification queue, its sender (worker role)
	// and the mailer.
	Notify notify.Config
	// Metrics configures GET /metrics (its token).
	Metrics metrics.Config
	// MetricsAddr, when set, serves /metrics on its own listener (and no
	// longer on the main one, unless a token protects it there).
	MetricsAddr string
	// ShutdownGrace is how long /readyz answers 503 before the listener
	// closes, so that load balancers stop sending first (0: none).
	ShutdownGrace time.Duration
	// ShutdownTimeout bounds the whole shutdown: the grace, requests in
	// flight, and the batches in flight written and acked (default 30 s).
	ShutdownTimeout time.Duration
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8000"
	}
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.PublicURL == "" {
		host := c.Addr
		if strings.HasPrefix(host, ":") || strings.HasPrefix(host, "0.0.0.0:") {
			_, port, _ := net.SplitHostPort(host)
			host = "127.0.0.1:" + port
		}
		c.PublicURL = "http://" + host
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if len(c.Roles) == 0 {
		c.Roles = []string{RoleAll}
	}
	for _, r := range c.Roles {
		switch r {
		case RoleAll, RoleIngest, RoleWorker, RoleAPI:
		default:
			return fmt.Errorf("unknown role %q (want all, ingest, worker or api)", r)
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < MinAdminTokenLen {
		return fmt.Errorf("FAULTLINE_ADMIN_TOKEN must be at least %d characters long (got %d)", MinAdminTokenLen, len(c.AdminToken))
	}
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		return errors.New("FAULTLINE_ADMIN_EMAIL and FAULTLINE_ADMIN_PASSWORD go together: set both or neither")
	}
	if c.AdminPassword != "" && len([]rune(c.AdminPassword)) < meta.MinPasswordLen {
		return fmt.Errorf("FAULTLINE_ADMIN_PASSWORD must be at least %d characters long (got %d)", meta.MinPasswordLen, len([]rune(c.AdminPassword)))
	}
	if err := c.Sessions.Validate(); err != nil {
		return err
	}
	if c.OIDC.PublicURL == "" {
		c.OIDC.PublicURL = c.PublicURL
	}
	if err := c.OIDC.Validate(); err != nil {
		return err
	}
	if c.Notify.PublicURL == "" {
		c.Notify.PublicURL = c.PublicURL
	}
	if c.Notify.Replicas == 0 {
		c.Notify.Replicas = c.Queue.Replicas
	}
	if err := c.Notify.Validate(); err != nil {
		return err
	}
	if c.Queue.URL == "" {
		c.Queue.DataDir = filepath.Join(c.DataDir, "nats")
	}
	if c.ShutdownGrace < 0 || c.ShutdownTimeout < 0 {
		return errors.New("--shutdown-grace and --shutdown-timeout cannot be negative")
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.ShutdownGrace >= c.ShutdownTimeout {
		return fmt.Errorf("--shutdown-grace (%s) must be shorter than --shutdown-timeout (%s)", c.ShutdownGrace, c.ShutdownTimeout)
	}
	c.Metrics.TenantLabels = c.Metrics.Token != "" || c.MetricsAddr != ""
	if err := c.Metrics.Validate(); err != nil {
		return err
	}
	if c.Store.URL == "" {
		c.Store.Path = filepath.Join(c.DataDir, "clickhouse")
		if c.Store.EmbeddedSettings == nil {
			// Keep an idle laptop install small: chDB's caches default to GiBs.
			c.Store.EmbeddedSettings = map[string]string{
				"mark_cache_size":          "268435456",
				"uncompressed_cache_size":  "0",
				"index_mark_cache_size":    "67108864",
				"primary_index_cache_size": "67108864",
			}
		}
	}
	return nil
}

func (c *Config) has(role string) bool {
	return slices.Contains(c.Roles, RoleAll) || slices.Contains(c.Roles, role)
}

// Server is a running Faultline process.
type Server struct {
	cfg    Config
	log    *slog.Logger
	queue  *queue.Queue
	meta   *meta.Store
	groups *meta.Groups
	store  *store.Store // nil for a pure ingest process
	atts   *attachment.Store
	worker *process.Worker
	expiry *retention.Job   // expires old data; nil without the worker role
	jobs   *deletion.Jobs   // deletion jobs; nil without a store
	eraser *deletion.Runner // runs deletion jobs; nil without the worker role
	// airbrake serves Airbrake's notifier API (nil without the ingest role).
	airbrake *ingest.Airbrake
	ingest   *ingest.Handler // nil without the ingest role
	limSync  *limits.Sync    // shares rate-limit counts; nil without ingest
	routes   *route.Table
	// deadLetters keeps the messages workers could not process.
	deadLetters *deadletter.Stream
	// notifications queues alert notifications; sender delivers them
	// (nil without the worker role).
	notifications *notify.Queue
	sender        *notify.Sender

	// artifacts keeps source-map uploads; the worker role assembles and
	// expires them.
	artifacts *artifact.Store
	// metrics are the process's Prometheus metrics.
	metrics *metrics.Metrics
	// draining is set when the shutdown starts: /readyz answers 503.
	draining atomic.Bool
	handler  http.Handler // routes, with request ids and metrics
}

// New opens every component the roles need: the queue and metadata always,
// the store for the worker and API roles. It migrates the store unless
// NoMigrate is set.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, ok := log.Handler().(*reqlog.Handler); !ok {
		// Records logged with a request's context carry its id.
		log = slog.New(reqlog.NewHandler(log.Handler()))
	}
	s := &Server{cfg: cfg, log: log}
	var err error
	if s.metrics, err = metrics.New(prometheus.NewRegistry(), cfg.Metrics); err != nil {
		return nil, err
	}
	cfg.Queue.Metrics = s.metrics
	cfg.Store.Observer = s.metrics
	var ui *web.UI
	if cfg.has(RoleAPI) {
		// Templates are parsed first: a broken one fails the start.
		var err error
		if ui, err = web.New(web.Config{}, log.With("component", "web")); err != nil {
			return nil, err
		}
		s.routes = route.New(route.Config{NotFound: ui.NotFound()})
	} else {
		s.routes = route.New(route.Config{})
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if cfg.Queue.URL == "" || cfg.Store.URL == "" && (cfg.has(RoleWorker) || cfg.has(RoleAPI)) {
		if err := PrivateDataDir(cfg.DataDir, log); err != nil {
			return nil, err
		}
	}
	if s.queue, err = queue.Open(ctx, cfg.Queue, log.With("component", "queue")); err != nil {
		return nil, err
	}
	if s.meta, err = meta.Open(ctx, s.queue.JetStream(), meta.Config{Replicas: cfg.Queue.Replicas}, log.With("component", "meta")); err != nil {
		return nil, err
	}
	if s.groups, err = meta.OpenGroups(ctx, s.queue.JetStream(), cfg.Queue.Replicas); err != nil {
		return nil, err
	}
	s.groups.OnLookup(s.metrics.IssueCache)
	if err := s.metrics.WatchQueue(s.queue); err != nil {
		return nil, err
	}
	// The bootstrap writes are idempotent; on a fresh NATS cluster the
	// buckets just created may have no leader yet ("no responders"), so
	// they are retried as creating them is.
	if cfg.AdminToken != "" {
		if err := retryUnavailable(ctx, func(ctx context.Context) error {
			_, err := s.meta.EnsureAdminToken(ctx, cfg.AdminToken)
			return err
		}); err != nil {
			return nil, fmt.Errorf("bootstrap admin token: %w", err)
		}
		log.Info("admin token ready (from FAULTLINE_ADMIN_TOKEN)")
	}
	if cfg.AdminEmail != "" {
		var u *meta.User
		err := retryUnavailable(ctx, func(ctx context.Context) error {
			var err error
			u, err = s.meta.EnsureAdminPassword(ctx, cfg.AdminEmail, cfg.AdminPassword)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("bootstrap admin user (FAULTLINE_ADMIN_EMAIL): %w", err)
		}
		log.Info("admin user ready (from FAULTLINE_ADMIN_EMAIL and FAULTLINE_ADMIN_PASSWORD)", "user", u.ID)
	}
	if cfg.has(RoleWorker) || cfg.has(RoleAPI) {
		cfg.Store.NoCreateDatabase = cfg.NoMigrate
		if s.store, err = store.Open(ctx, cfg.Store, log.With("component", "store")); err != nil {
			return nil, err
		}
		if !cfg.NoMigrate {
			if err := s.store.Migrate(ctx); err != nil {
				return nil, err
			}
		}
	}
	if s.store != nil {
		if s.jobs, err = deletion.OpenJobs(ctx, s.queue.JetStream(), cfg.Queue.Replicas, log.With("component", "deletion")); err != nil {
			return nil, err
		}
	}
	if cfg.DeadLetters.Replicas == 0 {
		cfg.DeadLetters.Replicas = cfg.Queue.Replicas
	}
	if s.deadLetters, err = deadletter.Open(ctx, s.queue.JetStream(), cfg.DeadLetters, log.With("component", "deadletter")); err != nil {
		return nil, err
	}
	if s.notifications, err = notify.Open(ctx, s.queue.JetStream(), cfg.Notify, log.With("component", "notify")); err != nil {
		return nil, err
	}
	if cfg.has(RoleIngest) || cfg.has(RoleAPI) {
		if cfg.Attachments.Replicas == 0 {
			cfg.Attachments.Replicas = cfg.Queue.Replicas
		}
		if s.atts, err = attachment.Open(ctx, s.queue.JetStream(), cfg.Attachments); err != nil {
			return nil, err
		}
	}
	if cfg.has(RoleWorker) || cfg.has(RoleAPI) {
		if cfg.Artifacts.Replicas == 0 {
			cfg.Artifacts.Replicas = cfg.Queue.Replicas
		}
		if s.artifacts, err = artifact.Open(ctx, s.queue.JetStream(), cfg.Artifacts, s.meta, log.With("component", "artifact")); err != nil {
			return nil, err
		}
	}
	if cfg.has(RoleIngest) {
		lim := limits.New()
		spikes := limits.NewSpikes(lim, cfg.SpikeWindow)
		if s.limSync, err = limits.StartSync(ctx, s.queue.JetStream(), lim, spikes,
			limits.SyncConfig{Replicas: cfg.Queue.Replicas}, log.With("component", "limits")); err != nil {
			return nil, err
		}
		h, err := ingest.New(cfg.Ingest, ingest.Deps{Keys: s.meta, Queue: s.queue, Attachments: s.atts,
			Limits: &limits.Enforcer{Limiter: lim, Spikes: spikes}, Log: log.With("component", "ingest")})
		if err != nil {
			return nil, err
		}
		s.ingest = h
		if err := s.metrics.WatchIngest(h); err != nil {
			return nil, err
		}
		s.routes.Add(h.Routes()...)
		if s.airbrake, err = ingest.NewAirbrake(ingest.AirbrakeConfig{PublicURL: cfg.PublicURL}, h, s.meta); err != nil {
			return nil, err
		}
		s.routes.Add(s.airbrake.Routes()...)
	}
	if cfg.has(RoleAPI) {
		spikes, err := limits.OpenStatus(ctx, s.queue.JetStream(), limits.SyncConfig{Replicas: cfg.Queue.Replicas})
		if err != nil {
			return nil, err
		}
		usage, err := meta.OpenTokenUsage(ctx, s.queue.JetStream(), meta.TokenUsageConfig{Replicas: cfg.Queue.Replicas}, log.With("component", "meta"))
		if err != nil {
			return nil, err
		}
		sessCfg := cfg.Sessions
		if sessCfg.Replicas == 0 {
			sessCfg.Replicas = cfg.Queue.Replicas
		}
		sessions, err := session.Open(ctx, s.queue.JetStream(), sessCfg)
		if err != nil {
			return nil, err
		}
		apiCfg := api.Config{PublicURL: cfg.PublicURL, Attachments: s.atts, Spikes: spikes, Deletions: s.jobs,
			DeletionDelay: cfg.DeletionDelay, UnmergeInlineMax: cfg.UnmergeInlineMax, DeadLetters: s.deadLetters, Requeue: notify.Replayer{Notifications: s.notifications, Next: s.queue}, TokenUsage: usage,
			Users: s.meta, Sessions: sessions, TrustForwarded: cfg.Ingest.TrustForwarded,
			Routes: s.routes.Routes, Alerts: s.notifications}
		apiCfg.Artifacts = s.artifacts
		if s.notifications.MailEnabled() {
			apiCfg.Invitations = s.notifications
			apiCfg.Subscriptions = s.notifications
		}
		if apiCfg.TestFire, err = notify.NewDeliverer(notify.Deps{Queue: s.notifications, Directory: s.meta,
			Webhooks: webhookPlugins(s.meta), Assignees: s.store, Log: log.With("component", "notify")}); err != nil {
			return nil, err
		}
		a, err := api.New(apiCfg, s.meta, s.store, s.groups, log.With("component", "api"))
		if err != nil {
			return nil, err
		}
		s.routes.Add(a.Routes()...)
		a.ReserveSlugs(s.routes.IsFirstSegment)
		acc := &web.Accounts{Sessions: sessions, Users: s.meta, PublicURL: cfg.PublicURL, TrustForwarded: cfg.Ingest.TrustForwarded}
		acc.Invites = s.meta
		if cfg.OIDC.Enabled() {
			oc := cfg.OIDC
			if oc.Replicas == 0 {
				oc.Replicas = cfg.Queue.Replicas
			}
			if acc.SSO, err = oidc.New(ctx, s.queue.JetStream(), oc, log.With("component", "oidc")); err != nil {
				return nil, err
			}
			acc.SSOUsers = s.meta
		}
		acc.Orgs = s.meta
		if !s.meta.HasPasswordUser() {
			// The first-admin setup page asks for this code, so that only
			// who reads the log can take a new server over.
			acc.SetupCode = session.NewToken()[:20]
			log.Warn("no user can log in yet: create the first admin at "+cfg.PublicURL+"/setup/ with this code", "setup_code", acc.SetupCode)
		}
		if err := ui.SetAccounts(acc); err != nil {
			return nil, err
		}
		ui.SetIssueLinks(a)
		ui.SetAPI(s.routes)
		s.routes.Add(ui.Routes()...)
	}
	if cfg.has(RoleWorker) {
		cons, err := s.queue.Consumer(ctx, workerAckWait(cfg.Worker))
		if err != nil {
			return nil, err
		}
		attempts, err := deadletter.OpenAttempts(ctx, s.queue.JetStream(), cfg.Queue.Replicas, 0)
		if err != nil {
			return nil, err
		}
		intervals, err := alert.OpenIntervals(ctx, s.queue.JetStream(), cfg.Queue.Replicas)
		if err != nil {
			return nil, err
		}
		cfg.Worker.PublicURL = cfg.PublicURL
		if cfg.Worker.Artifacts == nil && s.artifacts != nil {
			// Symbolication reads the uploaded source maps.
			cfg.Worker.Artifacts = s.artifacts
		}
		// The workers evaluate the alert rules and queue what fires on the
		// notification queue before they ack; the sender delivers it.
		s.worker, err = process.New(cfg.Worker, process.Deps{Consumer: cons, Store: s.store, Groups: s.groups,
			Projects: s.meta, Log: log.With("component", "worker"), DeadLetters: s.deadLetters, Attempts: attempts,
			Alerts: alert.NewEvaluator(s.meta, intervals, s.store), Notifier: s.notifications, Metrics: s.metrics,
			Subscribers: regressionMailer(s.notifications, s.store, s.meta, cfg.PublicURL, log)})
		if err != nil {
			return nil, err
		}
		if s.expiry, err = retention.New(retention.Config{Interval: cfg.CleanupInterval}, s.store,
			log.With("component", "retention")); err != nil {
			return nil, err
		}
		if s.sender, err = notify.NewSender(ctx, notify.Deps{Queue: s.notifications, Directory: s.meta,
			Webhooks: webhookPlugins(s.meta), Assignees: s.store, DeadLetters: s.deadLetters, Log: log.With("component", "notify")}); err != nil {
			return nil, err
		}
		cfg.Deletion.DeadLetters = s.deadLetters
		cfg.Deletion.Groups = s.groups
		if s.eraser, err = deletion.NewRunner(cfg.Deletion, s.jobs, s.store, s.meta,
			blobSet{&deletion.ObjectBlobs{JS: s.queue.JetStream()}, s.artifacts}, log.With("component", "deletion")); err != nil {
			return nil, err
		}
	}
	s.routes.Add(
		route.Route{Method: "GET", Path: "/healthz", Handler: http.HandlerFunc(s.healthz), Auth: route.Public, Name: "liveness"},
		route.Route{Method: "GET", Path: "/readyz", Handler: http.HandlerFunc(s.readyz), Auth: route.Public, Name: "readiness"},
	)
	if cfg.MetricsAddr == "" || cfg.Metrics.Token != "" {
		s.routes.Add(route.Route{Method: "GET", Path: "/metrics", Handler: s.metrics.Handler(), Auth: route.Public, Name: "Prometheus metrics"})
	}
	s.handler = s.instrument(s.routes)
	ok = true
	return s, nil
}

func workerAckWait(c process.Config) time.Duration {
	c.Validate() //nolint:errcheck // only fills defaults
	return c.AckWait
}

// Handler returns the HTTP handler: the routes, with request ids and
// metrics.
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics returns the process's metrics.
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// Routes returns the route table: every route the process serves.
func (s *Server) Routes() *route.Table { return s.routes }

// Meta returns the metadata store.
func (s *Server) Meta() *meta.Store { return s.meta }

// Store returns the event store (nil for an ingest-only process).
func (s *Server) Store() *store.Store { return s.store }

// Airbrake returns the Airbrake endpoints (nil without the ingest role).
func (s *Server) Airbrake() *ingest.Airbrake { return s.airbrake }

// Notifications returns the notification queue (alert rules enqueue
// their firings on it).
func (s *Server) Notifications() *notify.Queue { return s.notifications }

// Sender returns the notification sender (nil without the worker role):
// rule test-fires deliver through its Deliver.
func (s *Server) Sender() *notify.Sender { return s.sender }

// webhookPlugins returns the metadata's WebHooks plugin settings when it
// has them (the rules' metadata implements notify.WebhookPlugins).
func webhookPlugins(m any) notify.WebhookPlugins {
	if p, ok := m.(notify.WebhookPlugins); ok {
		return p
	}
	return nil
}

// Artifacts returns the source-map artifact store (nil for an ingest-only
// process).
func (s *Server) Artifacts() *artifact.Store { return s.artifacts }

// blobSet deletes what several stores keep outside ClickHouse (attachment
// files, source-map artifacts) for the deletion runner.
type blobSet []deletion.Blobs

func (b blobSet) DeleteEvents(ctx context.Context, projectID uint64, eventIDs []string) error {
	for _, x := range b {
		if err := x.DeleteEvents(ctx, projectID, eventIDs); err != nil {
			return err
		}
	}
	return nil
}

func (b blobSet) DeleteProject(ctx context.Context, projectID uint64) error {
	for _, x := range b {
		if err := x.DeleteProject(ctx, projectID); err != nil {
			return err
		}
	}
	return nil
}

// Queue returns the queue.
func (s *Server) Queue() *queue.Queue { return s.queue }

// Serve runs the HTTP server on ln and the workers until ctx is done, then
// shuts down gracefully, within ShutdownTimeout: /readyz answers 503 for
// ShutdownGrace (load balancers see the drain), then the listener closes,
// requests in flight finish (their events are queued or refused), ingest
// flushes its outcomes, and workers write and ack the batches they
// fetched, so that nothing is lost or delivered again.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	var msrv *http.Server
	if s.cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metrics.Handler())
		msrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go msrv.Serve(mln) //nolint:errcheck
		s.log.Info("metrics listening", "addr", mln.Addr().String())
	}
	var wg sync.WaitGroup
	// stop ends the background work; work, the deadline, ends what is
	// still running then (batches still being written are handed back).
	stop, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	work, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	if s.ingest != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.ingest.Run(stop) // flushes ingest's outcomes, a last time on stop
		}()
	}
	if s.worker != nil {
		wg.Add(4)
		go func() {
			defer wg.Done()
			s.worker.RunDrain(stop, work) //nolint:errcheck
		}()
		go func() {
			defer wg.Done()
			s.expiry.Run(stop)
		}()
		go func() {
			defer wg.Done()
			s.eraser.Run(stop)
		}()
		go func() {
			defer wg.Done()
			s.sender.Run(stop)
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.artifacts.Run(stop, s.cfg.CleanupInterval) // bundle assembly, artifact expiry
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("faultline listening", "addr", ln.Addr().String(), "public_url", s.cfg.PublicURL, "roles", s.cfg.Roles)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	start := time.Now()
	deadline, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.draining.Store(true)
	if s.cfg.ShutdownGrace > 0 && err == nil {
		s.log.Info("shutting down: /readyz answers 503 while load balancers notice", "grace", s.cfg.ShutdownGrace)
		t := time.NewTimer(s.cfg.ShutdownGrace)
		select {
		case <-t.C:
		case err = <-errc:
			t.Stop()
		}
	}
	if err := srv.Shutdown(deadline); err != nil {
		s.log.Warn("requests still in flight at the shutdown deadline", "err", err)
	}
	stopWork()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-deadline.Done():
		s.log.Warn("shutdown timeout: handing back the batches still being written", "timeout", s.cfg.ShutdownTimeout)
		abandon()
		<-done
	}
	if msrv != nil {
		msrv.Close() //nolint:errcheck
	}
	s.log.Info("shut down", "took", time.Since(start).Round(time.Millisecond))
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close releases every component.
func (s *Server) Close() {
	if s.jobs != nil {
		s.jobs.Close()
	}
	if s.limSync != nil {
		s.limSync.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.meta != nil {
		s.meta.Close()
	}
	if s.groups != nil {
		s.groups.Close()
	}
	if s.queue != nil {
		s.queue.Close()
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"ok"}`)) //nolint:errcheck
}

// readyz reports readiness. Ingest keeps accepting into the queue while
// ClickHouse is down, so readiness depends on NATS alone; the body says
// how ClickHouse and the backlog are doing.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	type component struct {
		OK    bool   `json:"ok"`
		Error string `json:"error,omitempty"`
	}
	body := struct {
		Status     string         `json:"status"`
		NATS       component      `json:"nats"`
		Queue      *queue.Backlog `json:"queue,omitempty"`
		ClickHouse *component     `json:"clickhouse,omitempty"`
		Worker     *component     `json:"worker,omitempty"`
		// DeadLetters are the messages workers could not process.
		DeadLetters *deadletter.Stats `json:"dead_letters,omitempty"`
		// Problems says what is wrong, in a few words each.
		Problems []string `json:"problems,omitempty"`
	}{Status: "ready"}
	status := http.StatusOK
	if s.draining.Load() {
		status, body.Status = http.StatusServiceUnavailable, "draining"
		body.Problems = append(body.Problems, "shutting down: send no new requests to this process")
	}
	body.NATS.OK = s.queue.Connected()
	if b, err := s.queue.Backlog(ctx); err != nil {
		body.NATS.OK, body.NATS.Error = false, err.Error()
	} else {
		body.Queue = &b
	}
	if !body.NATS.OK {
		status, body.Status = http.StatusServiceUnavailable, "unavailable"
		if body.NATS.Error == "" {
			body.NATS.Error = "not connected"
		}
		body.Problems = append(body.Problems, "NATS: "+body.NATS.Error)
	}
	if st, err := s.deadLetters.Stats(ctx); err == nil {
		body.DeadLetters = &st
	}
	if s.store != nil {
		c := &component{OK: true}
		if err := s.store.Ping(ctx); err != nil {
			c.OK, c.Error = false, err.Error()
			body.Problems = append(body.Problems, "ClickHouse: "+c.Error)
		}
		body.ClickHouse = c
	}
	if s.worker != nil {
		c := &component{OK: true}
		if err := s.worker.LastError(); err != nil {
			c.OK, c.Error = false, "storing events is failing; the backlog waits in the queue: "+err.Error()
			body.Problems = append(body.Problems, "worker: "+c.Error)
		}
		body.Worker = c
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body) //nolint:errcheck
}

// retryUnavailable retries f, as creating streams and buckets is retried,
// while NATS cannot answer yet (no responders, a timeout: a bucket just
// created on a cluster may have no leader) or while another process
// creates the same object; any other error, such as a refused password,
// ends it at once.
func retryUnavailable(ctx context.Context, f func(context.Context) error) error {
	var final error
	err := queue.Retry(ctx, queue.EnsureTimeout, func(ctx context.Context) error {
		err := f(ctx)
		// meta.ErrExists: another process started at the same moment is
		// creating the same admin user or token; its records reach this
		// process's cache through the watch, and the next try finds them.
		if err != nil && !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, nats.ErrTimeout) &&
			!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoStreamResponse) &&
			!errors.Is(err, meta.ErrExists) {
			final = err
			return nil
		}
		return err
	})
	if final != nil {
		return final
	}
	return err
}

// regressionMailer is the workers' mailer of regressions to issue
// subscribers, or nil without SMTP (mails are skipped, never queued).
func regressionMailer(q *notify.Queue, st *store.Store, m *meta.Store, public string, log *slog.Logger) process.SubscriberMailer {
	if q == nil || !q.MailEnabled() {
		return nil
	}
	return &notify.SubscriberMailer{Queue: q, Store: st, Directory: m, PublicURL: public, Log: log.With("component", "notify")}
}
