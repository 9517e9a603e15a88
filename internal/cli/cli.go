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
	"time"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/store"
)

// Version is set at build time.
var Version = "dev"

const usage = `Faultline: a Sentry-compatible error tracker.

Usage:
  faultline serve   [flags]   run the server (all roles by default)
  faultline migrate [flags]   apply ClickHouse schema migrations and exit
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
	pprof    string
}

func (o *options) register(fs *flag.FlagSet) {
	c := &o.cfg
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8000", "HTTP listen address")
	fs.StringVar(&c.DataDir, "data-dir", "data", "directory for the embedded NATS and ClickHouse data")
	fs.StringVar(&c.PublicURL, "public-url", "", "URL clients use to reach Faultline, for DSNs and links (default http://ADDR)")
	fs.StringVar(&o.roles, "role", "all", "comma-separated roles: all, or ingest, worker, api")
	fs.BoolVar(&c.NoMigrate, "no-migrate", false, "do not apply ClickHouse migrations at start")
	fs.BoolVar(&c.Queue.SyncAlways, "sync-always", false, "fsync every queued event before answering (survives power loss; slower)")
	fs.StringVar(&c.Queue.URL, "nats-url", "", "external NATS cluster URL (default: embedded NATS in --data-dir)")
	fs.StringVar(&c.Queue.ListenAddr, "nats-listen", "", "let the embedded NATS server accept clients on host:port")
	fs.Int64Var(&c.Queue.MaxBytes, "queue-max-bytes", 4<<30, "largest size of the ingest queue; when full, ingest answers 429")
	fs.Int64Var(&c.Queue.MaxMsgs, "queue-max-msgs", 20_000_000, "most messages in the ingest queue; when full, ingest answers 429")
	fs.IntVar(&c.Queue.Replicas, "nats-replicas", 1, "JetStream replicas on a NATS cluster")
	fs.Int64Var(&c.Attachments.MaxBytes, "attachments-max-bytes", 16<<30, "largest size of the attachment store; when full, attachments get 429")
	fs.DurationVar(&c.Attachments.TTL, "attachments-ttl", 90*24*time.Hour, "how long attachments are kept (at least the longest project retention)")
	fs.StringVar(&c.Store.URL, "clickhouse-url", "", "ClickHouse server DSN, clickhouse://user:pass@host:9000/db (default: embedded chDB in --data-dir)")
	fs.StringVar(&c.Store.Database, "clickhouse-database", "faultline", "ClickHouse database for Faultline's tables")
	fs.StringVar(&c.Store.CHDBLib, "chdb-lib", "", "path of libchdb.so (default: search the npm cache and system paths)")
	fs.IntVar(&c.Worker.BatchSize, "batch-size", 1000, "events per ClickHouse insert")
	fs.DurationVar(&c.Worker.BatchWait, "batch-wait", time.Second, "longest wait before a partial batch is written")
	fs.DurationVar(&c.Worker.AckWait, "ack-wait", 30*time.Second, "redeliver a queued event this long after a worker took it without acknowledging it (e.g. it crashed)")
	fs.BoolVar(&c.Ingest.TrustForwarded, "trust-forwarded-for", false, "take client IPs from X-Forwarded-For (behind a proxy only)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&o.logJSON, "log-json", false, "log JSON lines instead of text")
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
	o.cfg.AdminToken = os.Getenv("FAULTLINE_ADMIN_TOKEN")
	return nil
}

func (o *options) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	if o.logJSON {
		return slog.New(slog.NewJSONHandler(w, hopts))
	}
	return slog.New(slog.NewTextHandler(w, hopts))
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

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	if err := o.parse("migrate", args, stderr); err != nil {
		return err
	}
	log := o.logger(stderr)
	if err := o.cfg.Validate(); err != nil {
		return err
	}
	st, err := store.Open(ctx, o.cfg.Store, log)
	if err != nil {
		if o.cfg.Store.URL == "" {
			return fmt.Errorf("%w (is `faultline serve` running on %s? stop it first, or migrate a ClickHouse server with --clickhouse-url)", err, o.cfg.Store.Path)
		}
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
