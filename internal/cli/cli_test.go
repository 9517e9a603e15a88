package cli

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/store"
	"github.com/faultline/faultline/internal/testenv"
)

// TestMaintenanceCommandsOnEmbeddedDir runs `faultline migrate` and
// `faultline cleanup` on an embedded data directory: they work when no
// process holds it, and say clearly what to do when one does.
func TestMaintenanceCommandsOnEmbeddedDir(t *testing.T) {
	lib := testenv.CHDBLib(t)
	data := t.TempDir()
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := Main(ctx, append(args, "--data-dir", data, "--chdb-lib", lib, "--log-level", "warn"), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	out, err := run("migrate")
	if err != nil || !strings.Contains(out, "migrations applied: [1") || !strings.Contains(out, "Metadata: migrations applied") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	// What migrate created in the embedded ClickHouse is private.
	n := 0
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error { //nolint:errcheck
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v after migrate", p, fi.Mode().Perm())
		}
		return nil
	})
	if n < 10 {
		t.Fatalf("only %d entries under the data directory", n)
	}
	out, err = run("cleanup", "--dry-run")
	if err != nil || !strings.Contains(out, "0 expired partitions would drop") {
		t.Fatalf("cleanup --dry-run: %v\n%s", err, out)
	}

	// A running server holds the directory.
	held, err := store.Open(ctx, store.Config{Path: filepath.Join(data, "clickhouse"), CHDBLib: lib}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for _, cmd := range []string{"migrate", "cleanup"} {
		out, err := run(cmd)
		if err == nil {
			t.Fatalf("%s succeeded on a held directory:\n%s", cmd, out)
		}
		for _, want := range []string{"in use by another process", "faultline serve", "--clickhouse-url"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", cmd, err, want)
			}
		}
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	t.Setenv("FAULTLINE_CLICKHOUSE_CLUSTER", "prod")
	t.Setenv("FAULTLINE_CLICKHOUSE_TLS_CA", "/etc/ca.pem")
	t.Setenv("FAULTLINE_CLEANUP_INTERVAL", "10m")
	var o options
	if err := o.parse("serve", []string{"--clickhouse-retries", "5"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Store.Cluster != "prod" || c.Store.TLS.CAFile != "/etc/ca.pem" || c.CleanupInterval.String() != "10m0s" || c.Store.Retries != 5 {
		t.Errorf("parsed %+v", c)
	}
}

// TestDeletionDelay: an hour by default, so that a deletion can be
// cancelled; the flag and the variable change it.
func TestDeletionDelay(t *testing.T) {
	for _, tc := range []struct {
		env  string
		args []string
		want time.Duration
	}{
		{"", nil, time.Hour},
		{"5m", nil, 5 * time.Minute},
		{"5m", []string{"--deletion-delay", "2s"}, 2 * time.Second},
	} {
		t.Setenv("FAULTLINE_DELETION_DELAY", tc.env)
		if tc.env == "" {
			os.Unsetenv("FAULTLINE_DELETION_DELAY") // t.Setenv restores it
		}
		var o options
		if err := o.parse("serve", tc.args, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		if o.cfg.DeletionDelay != tc.want {
			t.Errorf("env %q args %v: %v, want %v", tc.env, tc.args, o.cfg.DeletionDelay, tc.want)
		}
	}
}

// TestAdminUserFromEnvironment: FAULTLINE_ADMIN_EMAIL and
// FAULTLINE_ADMIN_PASSWORD reach the server's config, and a short password
// stops the start with a clear error.
func TestAdminUserFromEnvironment(t *testing.T) {
	t.Setenv("FAULTLINE_ADMIN_EMAIL", "root@example.com")
	t.Setenv("FAULTLINE_ADMIN_PASSWORD", "short")
	var o options
	if err := o.parse("serve", nil, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if o.cfg.AdminEmail != "root@example.com" || o.cfg.AdminPassword != "short" {
		t.Fatalf("parsed %q", o.cfg.AdminEmail)
	}
	err := serve(context.Background(), []string{"--data-dir", t.TempDir(), "--addr", "127.0.0.1:0"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "FAULTLINE_ADMIN_PASSWORD must be at least 12 characters long") {
		t.Fatalf("serve with a short admin password: %v", err)
	}
}

// TestOIDCFlags: the sign-on flags, the secret from its variable, the
// domains as a comma list, and a configuration that Validate refuses.
func TestOIDCFlags(t *testing.T) {
	t.Setenv("FAULTLINE_OIDC_CLIENT_SECRET", "s3cret")
	var o options
	err := o.parse("serve", []string{"--oidc-issuer", "https://gitlab.example.com", "--oidc-client-id", "abc",
		"--oidc-allowed-domains", "example.com, corp.example.org,", "--oidc-default-org", "acme",
		"--oidc-default-role", "admin", "--oidc-name", "GitLab", "--public-url", "https://faultline.example.com"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c := o.cfg.OIDC
	if c.Issuer != "https://gitlab.example.com" || c.ClientID != "abc" || c.ClientSecret != "s3cret" || c.DefaultOrg != "acme" ||
		c.DefaultRole != "admin" || c.Name != "GitLab" || strings.Join(c.AllowedDomains, " ") != "example.com corp.example.org" ||
		c.RedirectURL() != "https://faultline.example.com/auth/oidc/callback/" {
		t.Errorf("parsed %+v", c)
	}
	t.Setenv("FAULTLINE_OIDC_CLIENT_SECRET", "")
	var off options
	if err := off.parse("serve", nil, &bytes.Buffer{}); err != nil || off.cfg.Validate() != nil || off.cfg.OIDC.Enabled() {
		t.Errorf("sign-on must be off by default: %v %+v", err, off.cfg.OIDC)
	}
	var bad options
	if err := bad.parse("serve", []string{"--oidc-issuer", "https://idp.example", "--oidc-client-id", "x",
		"--oidc-default-role", "boss"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := bad.cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--oidc-default-role") {
		t.Errorf("a bad role: %v", err)
	}
}

// TestNotifyFlags: the SMTP and webhook settings come from flags or their
// FAULTLINE_* variables; a bad SMTP URL is refused without repeating it.
func TestNotifyFlags(t *testing.T) {
	t.Setenv("FAULTLINE_SMTP_URL", "smtps://alerts:pw@mail.example.org")
	t.Setenv("FAULTLINE_WEBHOOK_ALLOW_PRIVATE", "true")
	var o options
	if err := o.parse("serve", []string{"--smtp-from", "faultline@example.org", "--smtp-hourly-cap", "5"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := o.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c := o.cfg.Notify
	if !c.SMTP.Enabled() || c.SMTP.From != "faultline@example.org" || c.SMTP.HourlyCap != 5 || !c.WebhookAllowPrivate ||
		c.MaxAttempts != 8 || c.AttemptTimeout.String() != "10s" {
		t.Errorf("parsed %+v", c)
	}
	t.Setenv("FAULTLINE_SMTP_URL", "ftp://u:topsecret@mail.example.org")
	var bad options
	if err := bad.parse("serve", nil, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := bad.cfg.Validate(); err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("a bad URL: %v", err)
	}
}

// TestMigrateDatabaseFromURL: on a ClickHouse server (18.16 in CI), the
// database in --clickhouse-url's path is where `faultline migrate` creates
// the tables (it creates the database first, through "default"); the flag
// alone names it too; a flag naming another database than the URL is
// refused before anything is created; cleanup does not create a database.
func TestMigrateDatabaseFromURL(t *testing.T) {
	base := testenv.ClickHouseURL(t)
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := Main(ctx, append(args, "--log-level", "warn"), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	opts, err := clickhouse.ParseDSN(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tables := func(db string) int {
		t.Helper()
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ?", db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	suffix := time.Now().Format("150405") + "_" + strings.ReplaceAll(t.Name(), "/", "_")
	fromURL, fromFlag, other := "url_"+suffix, "flag_"+suffix, "other_"+suffix
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string // "" for success
		db      string // where the tables must be
	}{
		{"url names the database", []string{"--clickhouse-url", base + "/" + fromURL}, "", fromURL},
		{"again, idempotent", []string{"--clickhouse-url", base + "/" + fromURL}, "", fromURL},
		{"flag names it", []string{"--clickhouse-url", base, "--clickhouse-database", fromFlag}, "", fromFlag},
		{"both agree", []string{"--clickhouse-url", base + "/" + fromFlag, "--clickhouse-database", fromFlag}, "", fromFlag},
		{"conflict", []string{"--clickhouse-url", base + "/" + fromURL, "--clickhouse-database", other}, "names database", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(append([]string{"migrate"}, tc.args...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("migrate = %v, want an error with %q\n%s", err, tc.wantErr, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("migrate: %v\n%s", err, out)
			}
			if n := tables(tc.db); n < 10 {
				t.Errorf("%s holds %d tables after migrate", tc.db, n)
			}
		})
	}
	if n := tables(other); n != 0 {
		t.Errorf("a refused migrate created %d tables in %s", n, other)
	}
	t.Cleanup(func() {
		for _, db := range []string{fromURL, fromFlag} {
			conn.Exec(context.Background(), "DROP DATABASE IF EXISTS `"+db+"`") //nolint:errcheck
		}
	})
	missing := "missing_" + suffix
	if out, err := run("cleanup", "--clickhouse-url", base+"/"+missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("cleanup on a missing database = %v\n%s", err, out)
	}
	if n := tables(missing); n != 0 {
		t.Errorf("cleanup created %s", missing)
	}
}

// TestScaleOutFlags: the NATS cluster, publish, metrics and shutdown flags
// and their variables, with their defaults.
func TestScaleOutFlags(t *testing.T) {
	var o options
	if err := o.parse("serve", nil, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Queue.PublishTimeout != 10*time.Second || c.ShutdownGrace != 5*time.Second || c.ShutdownTimeout != 30*time.Second ||
		c.Store.Database != "" || c.Queue.AllowLowerReplicas {
		t.Errorf("defaults %+v", c)
	}
	t.Setenv("FAULTLINE_NATS_CREDS", "/etc/nats.creds")
	t.Setenv("FAULTLINE_METRICS_TOKEN", "0123456789abcdef0123")
	t.Setenv("FAULTLINE_SHUTDOWN_GRACE", "2s")
	o = options{}
	if err := o.parse("serve", []string{"--nats-url", "nats://a:4222,nats://b:4222", "--nats-replicas", "3",
		"--nats-allow-lower-replicas", "--nats-tls-ca", "ca.pem", "--publish-timeout", "15s", "--metrics-addr", "127.0.0.1:9100",
		"--shutdown-timeout", "1m"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	c = o.cfg
	if c.Queue.URL != "nats://a:4222,nats://b:4222" || c.Queue.Replicas != 3 || !c.Queue.AllowLowerReplicas ||
		c.Queue.CredsFile != "/etc/nats.creds" || c.Queue.TLSCAFile != "ca.pem" || c.Queue.PublishTimeout != 15*time.Second ||
		c.Metrics.Token != "0123456789abcdef0123" || c.MetricsAddr != "127.0.0.1:9100" ||
		c.ShutdownGrace != 2*time.Second || c.ShutdownTimeout != time.Minute {
		t.Errorf("parsed %+v", c)
	}
	c.ShutdownGrace = 2 * time.Minute
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "shorter than --shutdown-timeout") {
		t.Errorf("grace longer than the timeout: %v", err)
	}
}

// TestWorkerMaxBatchBytes: the worker's batch byte budget has a default,
// and the flag and its variable set it.
func TestWorkerMaxBatchBytes(t *testing.T) {
	var o options
	if err := o.parse("serve", nil, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if o.cfg.Worker.MaxBatchBytes != process.DefaultMaxBatchBytes {
		t.Errorf("default %d", o.cfg.Worker.MaxBatchBytes)
	}
	t.Setenv("FAULTLINE_WORKER_MAX_BATCH_BYTES", "16777216")
	o = options{}
	if err := o.parse("serve", nil, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if o.cfg.Worker.MaxBatchBytes != 16<<20 {
		t.Errorf("from the environment: %d", o.cfg.Worker.MaxBatchBytes)
	}
}
