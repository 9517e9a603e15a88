package server_test

import (
	"context"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testenv"
)

// startAt runs a server on dir with the admin token and returns its URL
// and a function that stops it, so that a test can restart on the same
// data directory.
func startAt(t *testing.T, dir, token string) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{DataDir: dir, Addr: ln.Addr().String(), AdminToken: token}
	cfg.Store.CHDBLib = testenv.CHDBLib(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		cancel()
		ln.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ctx, ln) //nolint:errcheck
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			s.Close()
		}
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

func status(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/api/0/organizations/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdminTokenRotationAcrossRestart: restarting on the same data
// directory with another FAULTLINE_ADMIN_TOKEN revokes the previous value.
// The data directory's contents are private from the first start, and a
// directory left world-readable (as the previous version created it) is
// closed at the next start.
func TestAdminTokenRotationAcrossRestart(t *testing.T) {
	const (
		a = "token-a-0123456789abcdef0123456789abcdef"
		b = "token-b-0123456789abcdef0123456789abcdef"
	)
	dir := filepath.Join(t.TempDir(), "data")
	url, stop := startAt(t, dir, a)
	if st := status(t, url, a); st != 200 {
		t.Fatalf("token A on first start: %d", st)
	}
	stop()
	checkPrivate(t, dir)

	// The previous version's modes: everything readable by others.
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error { //nolint:errcheck
		if err == nil && d.Type().IsRegular() {
			os.Chmod(p, 0o644) //nolint:errcheck
		} else if err == nil && d.IsDir() {
			os.Chmod(p, 0o755) //nolint:errcheck
		}
		return nil
	})

	url, stop = startAt(t, dir, b)
	for _, c := range []struct {
		token string
		want  int
	}{{a, 401}, {b, 200}, {"", 401}} {
		if st := status(t, url, c.token); st != c.want {
			t.Errorf("token %.7s after rotation: %d, want %d", c.token, st, c.want)
		}
	}
	stop()
	for _, p := range []string{dir, filepath.Join(dir, "clickhouse"), filepath.Join(dir, "nats")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s after restart: %v %v", p, fi.Mode(), err)
		}
	}
}

// checkPrivate fails if anything under dir (the ClickHouse files above
// all) is open to the group or others.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, want no group or other access", p, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fis, _ := os.ReadDir(filepath.Join(dir, "clickhouse")); len(fis) == 0 || n < 10 {
		t.Fatalf("data directory holds %d entries, clickhouse %d: nothing checked", n, len(fis))
	}
}

// TestPrivateDataDir: a new directory is created private, an existing
// one's top-level entries are closed, and a symbolic link is not followed.
func TestPrivateDataDir(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(root, "outside")
	// Modes are set with Chmod: the process's umask is 0077 once a server
	// started in this test binary.
	if err := os.Mkdir(outside, 0o755); err != nil || os.Chmod(outside, 0o755) != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup func(dir string)
		want  map[string]os.FileMode // relative path → mode
	}{
		{"new", func(string) {}, map[string]os.FileMode{".": 0o700}},
		{"old install", func(dir string) {
			os.MkdirAll(filepath.Join(dir, "clickhouse", "store"), 0o755)                //nolint:errcheck
			os.WriteFile(filepath.Join(dir, "clickhouse", "status"), []byte("x"), 0o644) //nolint:errcheck
			os.MkdirAll(filepath.Join(dir, "nats"), 0o755)                               //nolint:errcheck
			os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)            //nolint:errcheck
			os.Symlink(outside, filepath.Join(dir, "linked"))                            //nolint:errcheck
			for rel, mode := range map[string]os.FileMode{".": 0o755, "clickhouse": 0o755, "clickhouse/store": 0o755,
				"clickhouse/status": 0o644, "nats": 0o755, "notes.txt": 0o644} {
				os.Chmod(filepath.Join(dir, rel), mode) //nolint:errcheck
			}
		}, map[string]os.FileMode{".": 0o700, "clickhouse": 0o700, "nats": 0o700, "notes.txt": 0o600,
			// Below the top level, the closed directories protect the rest.
			"clickhouse/status": 0o644, "clickhouse/store": 0o755}},
	}
	for _, tc := range tests {
		dir := filepath.Join(root, tc.name)
		tc.setup(dir)
		if err := server.PrivateDataDir(dir, slog.Default()); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for rel, want := range tc.want {
			fi, err := os.Stat(filepath.Join(dir, rel))
			if err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: %s: %v, want %v (%v)", tc.name, rel, fi.Mode().Perm(), want, err)
			}
		}
	}
	if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o755 {
		t.Errorf("the link's target was changed: %v", fi.Mode().Perm())
	}
}
