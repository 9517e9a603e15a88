// Package cli parses faultline's command line: subcommands, flags, and the
// FAULTLINE_* environment variable behind every flag.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/api"
	"github.com/faultline/faultline/internal/ingest"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/reqlog"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/sourcemap"
	"github.com/faultline/faultline/internal/store"
)

// Version is set at build time.
var Version = "dev"

const usage = `Faultline: a Sentry-compatible error tracker.

Usage:
  faultline serve   [flags]   run the server (all roles by default)
  faultline migrate [flags]   apply ClickHouse schema and metadata migrations and exit
  faultline cleanup [flags]   drop the ClickHouse partitions past their retention and exit
  faultline version           print the version

Every flag can also be set by an environment variable: --data-dir is
FAULTLINE_DATA_DIR, --clickhouse-url is FAULTLINE_CLICKHOUSE_URL, and so on.
Run "faultline serve -h" for the flags.
`

// Main runs the command in args.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "migrate":
		return migrate(ctx, args[1:], stdout, stderr)
	case "cleanup":
		return cleanup(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "faultline", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// options are the flags shared by the commands.
type options struct {
	cfg      server.Config
	roles    string
	logLevel string
	logJSON  bool
	dryRun   bool // cleanup only
	pprof    string
	// oidcDomains is --oidc-allowed-domains, a comma list.
	oidcDomains string
}

func (o *options) register(fs *flag.FlagSet) {
	c := &o.cfg
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8000", "HTTP listen address")
	fs.StringVar(&c.DataDir, "data-dir", "data", "directory for the embedded NATS and ClickHouse data")
	fs.StringVar(&c.PublicURL, "public-url", "", "URL clients use to reach Faultline, for DSNs and links (default http://ADDR)")
	fs.StringVar(&o.roles, "role", "all", "comma-separated roles: all, or ingest, worker, api")
	fs.BoolVar(&c.NoMigrate, "no-migrate", false, "do not apply ClickHouse migrations at start")
	fs.BoolVar(&c.Queue.SyncAlways, "sync-always", false, "fsync every queued event before answering (survives power loss; slower)")
	fs.StringVar(&c.Queue.URL, "nats-url", "", "external NATS cluster: comma-separated URLs of its servers, nats://host:4222,nats://host2:4222 (default: embedded NATS in --data-dir)")
	fs.StringVar(&c.Queue.CredsFile, "nats-creds", "", "NATS credentials file (user JWT and NKey seed) for --nats-url")
	fs.StringVar(&c.Queue.NKeyFile, "nats-nkey", "", "file holding an NKey seed to authenticate to --nats-url with")
	fs.StringVar(&c.Queue.TLSCAFile, "nats-tls-ca", "", "PEM file of the authorities to trust for the NATS servers")
	fs.StringVar(&c.Queue.TLSCertFile, "nats-tls-cert", "", "client certificate (PEM) for the NATS servers")
	fs.StringVar(&c.Queue.TLSKeyFile, "nats-tls-key", "", "client certificate key (PEM) for the NATS servers")
	fs.BoolVar(&c.Queue.AllowLowerReplicas, "nats-allow-lower-replicas", false, "lower the replicas of existing streams and buckets to --nats-replicas (without it, a lower --nats-replicas refuses to start)")
	fs.DurationVar(&c.Queue.PublishTimeout, "publish-timeout", 10*time.Second, "longest an ingest request waits for the queue to store its event, retrying while a NATS cluster elects a stream leader; past it, 503 with Retry-After")
	fs.StringVar(&c.Queue.ListenAddr, "nats-listen", "", "let the embedded NATS server accept clients on host:port")
	fs.Int64Var(&c.Queue.MaxBytes, "queue-max-bytes", 4<<30, "largest size of the ingest queue; when full, ingest answers 429")
	fs.Int64Var(&c.Queue.MaxMsgs, "queue-max-msgs", 20_000_000, "most messages in the ingest queue; when full, ingest answers 429")
	fs.IntVar(&c.Queue.Replicas, "nats-replicas", 1, "JetStream replicas on a NATS cluster")
	fs.Int64Var(&c.Attachments.MaxBytes, "attachments-max-bytes", 16<<30, "largest size of the attachment store; when full, attachments get 429")
	fs.DurationVar(&c.Attachments.TTL, "attachments-ttl", 90*24*time.Hour, "how long attachments are kept (at least the longest project retention)")
	fs.Int64Var(&c.Artifacts.MaxFileSize, "artifact-max-file-size", 40<<20, "largest source-map file (a release file, or a file inside a bundle, uncompressed); larger uploads get 413")
	fs.Int64Var(&c.Artifacts.MaxBundleSize, "artifact-max-bundle-size", 256<<20, "largest source-map bundle (its chunks together, and its files inflated); larger ones get 413")
	fs.Int64Var(&c.Artifacts.OrgMaxBytes, "artifact-org-max-bytes", 1<<30, "most bytes of source-map bundles and files one organization keeps; its oldest go first (-1: no limit)")
	fs.Int64Var(&c.Artifacts.MaxBytes, "artifacts-max-bytes", 16<<30, "largest size of the source-map file store")
	fs.StringVar(&c.Store.URL, "clickhouse-url", "", "ClickHouse server DSN, clickhouse://user:pass@host:9000/db (default: embedded chDB in --data-dir)")
	fs.StringVar(&c.Store.Database, "clickhouse-database", "", "ClickHouse database for Faultline's tables (default: the database in --clickhouse-url's path, else faultline; the two must not differ)")
	fs.StringVar(&c.Store.CHDBLib, "chdb-lib", "", "path of libchdb.so (default: search the npm cache and system paths)")
	fs.StringVar(&c.Store.Cluster, "clickhouse-cluster", "", "create tables ON CLUSTER with Replicated engines behind Distributed tables (a cluster of the servers' remote_servers)")
	fs.IntVar(&c.Store.MaxOpenConns, "clickhouse-max-conns", 10, "most connections to the ClickHouse servers")
	fs.DurationVar(&c.Store.DialTimeout, "clickhouse-dial-timeout", 5*time.Second, "timeout to connect to a ClickHouse server")
	fs.DurationVar(&c.Store.QueryTimeout, "clickhouse-query-timeout", time.Minute, "timeout waiting for a ClickHouse server's answer")
	fs.IntVar(&c.Store.Retries, "clickhouse-retries", 3, "retries, with backoff, of a statement that failed on the network (-1 for none)")
	fs.BoolVar(&c.Store.TLS.Enable, "clickhouse-tls", false, "connect to ClickHouse over TLS (its secure native port, 9440)")
	fs.StringVar(&c.Store.TLS.CAFile, "clickhouse-tls-ca", "", "PEM file of the authorities to trust for ClickHouse (implies --clickhouse-tls)")
	fs.StringVar(&c.Store.TLS.CertFile, "clickhouse-tls-cert", "", "client certificate (PEM) for ClickHouse")
	fs.StringVar(&c.Store.TLS.KeyFile, "clickhouse-tls-key", "", "client certificate key (PEM) for ClickHouse")
	fs.StringVar(&c.Store.TLS.ServerName, "clickhouse-tls-server-name", "", "name to verify in ClickHouse's certificate (default: the host)")
	fs.BoolVar(&c.Store.TLS.InsecureSkipVerify, "clickhouse-tls-skip-verify", false, "accept any ClickHouse certificate (testing only)")
	fs.DurationVar(&c.CleanupInterval, "cleanup-interval", time.Hour, "how often a worker drops the partitions past their retention (0: never; run `faultline cleanup` instead)")
	fs.IntVar(&c.UnmergeInlineMax, "unmerge-inline-max", api.DefaultUnmergeInlineMax, "an unmerge moving more events than this runs as a background job (202 with the job; its status at /api/0/deletions/{id}/ and on the issue page); fewer move within the request")
	fs.DurationVar(&c.DeletionDelay, "deletion-delay", time.Hour, "wait between marking a project or an organization deleted and deleting its data; until then PUT {\"cancelDeletion\": true} on it cancels the deletion (deleting an issue is immediate)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "cleanup: list the expired partitions, drop nothing")
	fs.IntVar(&c.Worker.BatchSize, "batch-size", 1000, "events per ClickHouse insert")
	fs.DurationVar(&c.Worker.BatchWait, "batch-wait", time.Second, "longest wait before a partial batch is written")
	fs.IntVar(&c.Worker.MaxBatchSize, "batch-max-size", process.DefaultMaxBatchSize, "most events a batch grows to while the queue is deep, within --worker-max-batch-bytes (--batch-size or less: no growth)")
	fs.Int64Var(&c.Worker.MaxBatchBytes, "worker-max-batch-bytes", process.DefaultMaxBatchBytes, "most bytes of decoded events in one worker batch (two are in memory at once); batches grow past --batch-size while the queue is deep, within this")
	fs.DurationVar(&c.Worker.AckWait, "ack-wait", 30*time.Second, "redeliver a queued event this long after a worker took it without acknowledging it (e.g. it crashed)")
	fs.Int64Var(&c.DeadLetters.MaxBytes, "dead-letter-max-bytes", 1<<30, "largest size of the dead letter (messages workers could not process); the oldest go first")
	fs.DurationVar(&c.DeadLetters.MaxAge, "dead-letter-max-age", 7*24*time.Hour, "how long dead letters are kept")
	fs.IntVar(&c.Worker.MaxAttempts, "dead-letter-attempts", 5, "dead-letter a redelivered message once this many attempts at it took the worker down")
	fs.Int64Var(&c.Worker.SourcemapCacheBytes, "sourcemap-cache-bytes", sourcemap.DefaultCacheBytes, "memory for parsed source maps and the files beside them, per worker process (least recently used go first)")
	fs.BoolVar(&c.Ingest.TrustForwarded, "trust-forwarded-for", false, "take client IPs from X-Forwarded-For (behind a proxy only)")
	fs.Int64Var(&c.Ingest.MaxInFlightBytes, "ingest-max-inflight-bytes", ingest.DefaultMaxInFlightBytes, "most bytes of request bodies being read and inflated, across all ingest requests; beyond, requests wait briefly, then get 503")
	fs.IntVar(&c.Ingest.MaxInFlightPerClient, "ingest-max-inflight-per-client", ingest.DefaultMaxInFlightPerClient, "most ingest requests in flight from one client address (X-Forwarded-For's with --trust-forwarded-for); beyond, 429")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&o.logJSON, "log-json", false, "log JSON lines instead of text")
	fs.StringVar(&c.OIDC.Issuer, "oidc-issuer", "", "single sign-on: the OpenID Connect provider's issuer URL (e.g. https://gitlab.example.com); empty turns sign-on off")
	fs.StringVar(&c.OIDC.ClientID, "oidc-client-id", "", "single sign-on: Faultline's client id at the provider (register the redirect URI PUBLIC_URL/auth/oidc/callback/)")
	fs.StringVar(&c.OIDC.ClientSecret, "oidc-client-secret", "", "single sign-on: the client secret (prefer FAULTLINE_OIDC_CLIENT_SECRET: a flag shows in ps)")
	fs.StringVar(&o.oidcDomains, "oidc-allowed-domains", "", "single sign-on: comma-separated e-mail domains allowed to sign in (empty: any)")
	fs.StringVar(&c.OIDC.DefaultOrg, "oidc-default-org", "", "single sign-on: slug of the organization users created by a sign-on join (empty: none)")
	fs.StringVar(&c.OIDC.DefaultRole, "oidc-default-role", "member", "single sign-on: the role users created by a sign-on get in --oidc-default-org (member, admin, manager or owner)")
	fs.StringVar(&c.OIDC.Name, "oidc-name", "single sign-on", "single sign-on: the provider's name on the login page's button (\"Sign in with NAME\")")
	fs.StringVar(&c.Notify.SMTP.URL, "smtp-url", "", "mail server for alerts and invitations: smtp://user:pass@host:port (STARTTLS when offered) or smtps://... (implicit TLS); empty: e-mail actions are skipped (prefer FAULTLINE_SMTP_URL: a flag shows in ps)")
	fs.StringVar(&c.Notify.SMTP.From, "smtp-from", "", "sender address of Faultline's mail (default faultline@SMTP-HOST)")
	fs.IntVar(&c.Notify.SMTP.HourlyCap, "smtp-hourly-cap", 20, "mails one recipient gets per hour; the rest of the hour's are sent as one digest")
	fs.BoolVar(&c.Notify.WebhookAllowPrivate, "webhook-allow-private", false, "let webhooks, Slack, Discord and Teams URLs reach loopback, link-local and private addresses")
	fs.IntVar(&c.Notify.MaxAttempts, "notify-attempts", 8, "delivery attempts of a notification (with exponential backoff) before it goes to the dead letter")
	fs.DurationVar(&c.Notify.AttemptTimeout, "notify-timeout", 10*time.Second, "timeout of one delivery attempt (a webhook request, a mail)")
	fs.StringVar(&c.Metrics.Token, "metrics-token", "", "require this bearer token for GET /metrics (then labelled by project too; prefer FAULTLINE_METRICS_TOKEN: a flag shows in ps)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve GET /metrics on this address instead of the main listener (then labelled by project too), e.g. 127.0.0.1:9100")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 5*time.Second, "on SIGTERM, how long /readyz answers 503 before the listener closes, so that load balancers stop sending first")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, the longest the shutdown takes: the grace, requests in flight, batches in flight written and acked")
	fs.StringVar(&o.pprof, "pprof-addr", "", "serve Go's /debug/pprof profiles on this address (e.g. 127.0.0.1:6060); off by default")
}

// parse parses args, then fills every flag not given on the command line
// from its FAULTLINE_* variable.
func (o *options) parse(name string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "FAULTLINE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && !set[f.Name] && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
		}
	})
	if err != nil {
		return err
	}
	for _, r := range strings.Split(o.roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			o.cfg.Roles = append(o.cfg.Roles, r)
		}
	}
	for _, d := range strings.Split(o.oidcDomains, ",") {
		if d = strings.TrimSpace(d); d != "" {
			o.cfg.OIDC.AllowedDomains = append(o.cfg.OIDC.AllowedDomains, d)
		}
	}
	o.cfg.AdminToken = os.Getenv("FAULTLINE_ADMIN_TOKEN")
	o.cfg.AdminEmail = os.Getenv("FAULTLINE_ADMIN_EMAIL")
	o.cfg.AdminPassword = os.Getenv("FAULTLINE_ADMIN_PASSWORD")
	// For crash tests only: the worker kills its own process (SIGKILL)
	// when a batch reaches this stage ("stored": stored, not acked).
	if at := os.Getenv("FAULTLINE_TEST_KILL_AT"); at != "" {
		o.cfg.Worker.StageHook = func(stage string, _ jetstream.Msg) {
			if stage == at {
				syscall.Kill(os.Getpid(), syscall.SIGKILL) //nolint:errcheck
			}
		}
	}
	return nil
}

func (o *options) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	// Records logged with a request's context carry its id.
	if o.logJSON {
		return slog.New(reqlog.NewHandler(slog.NewJSONHandler(w, hopts)))
	}
	return slog.New(reqlog.NewHandler(slog.NewTextHandler(w, hopts)))
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	var o options
	if err := o.parse("serve", args, stderr); err != nil {
		return err
	}
	log := o.logger(stderr)
	if err := o.cfg.Validate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.cfg.Addr)
	if err != nil {
		return err
	}
	if o.pprof != "" {
		go servePprof(o.pprof, log)
	}
	s, err := server.New(ctx, o.cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer s.Close()
	return s.Serve(ctx, ln)
}

// openStore opens the store for a maintenance command: a ClickHouse
// server, or an embedded data directory that no `faultline serve` holds.
func openStore(ctx context.Context, o *options, stderr io.Writer) (*store.Store, error) {
	log := o.logger(stderr)
	if err := o.cfg.Validate(); err != nil {
		return nil, err
	}
	if o.cfg.Store.URL == "" {
		// What chDB writes (migrations, merges) stays private, as in serve.
		if err := server.PrivateDataDir(o.cfg.DataDir, log); err != nil {
			return nil, err
		}
	}
	st, err := store.Open(ctx, o.cfg.Store, log)
	if errors.Is(err, store.ErrEmbeddedInUse) {
		return nil, fmt.Errorf("%w.\nA running `faultline serve` holds its embedded ClickHouse; it migrates at start and cleans up every --cleanup-interval itself. Stop it to run this command on %s, or point --clickhouse-url at a ClickHouse server", err, o.cfg.Store.Path)
	}
	return st, err
}

func cleanup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	if err := o.parse("cleanup", args, stderr); err != nil {
		return err
	}
	o.cfg.Store.NoCreateDatabase = true
	st, err := openStore(ctx, &o, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	var parts []store.Partition
	if o.dryRun {
		parts, err = st.ExpiredPartitions(ctx, now)
	} else {
		parts, err = st.Cleanup(ctx, now)
	}
	verb := "dropped"
	if o.dryRun {
		verb = "would drop"
	}
	for _, p := range parts {
		fmt.Fprintf(stdout, "%s %s (expired %s)\n", verb, p, p.Expires().Format(time.DateOnly))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ClickHouse %s: %d expired partitions %s\n", st.Version(), len(parts), verb)
	return nil
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	if err := o.parse("migrate", args, stderr); err != nil {
		return err
	}
	st, err := openStore(ctx, &o, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	vs, err := st.Migrations(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ClickHouse %s: migrations applied: %v\n", st.Version(), vs)
	// The metadata's forward migrations run when the metadata is opened
	// (as at start): the default alert rule of older projects.
	q, err := queue.Open(ctx, o.cfg.Queue, o.logger(stderr).With("component", "queue"))
	if err != nil {
		return fmt.Errorf("metadata migrations: %w", err)
	}
	defer q.Close()
	m, err := meta.Open(ctx, q.JetStream(), meta.Config{Replicas: o.cfg.Queue.Replicas}, o.logger(stderr).With("component", "meta"))
	if err != nil {
		return fmt.Errorf("metadata migrations: %w", err)
	}
	m.Close()
	fmt.Fprintln(stdout, "Metadata: migrations applied (default alert rules)")
	return nil
}

// servePprof exposes profiles on a separate listener, never on the public
// address.
func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	log.Info("pprof listening", "addr", addr)
	if err := http.ListenAndServe(addr, mux); err != nil {
		log.Error("pprof", "err", err)
	}
}

// Flags returns the flag set of `faultline serve` (and migrate, cleanup),
// for tests that check deployment files against it.
func Flags() *flag.FlagSet {
	var o options
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	o.register(fs)
	return fs
}
