package server

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// PrivateDataDir makes the embedded data directory private to the user
// running Faultline: it holds event data and the metadata (DSN secrets,
// token hashes). New files are created 0600 and directories 0700 (the
// process's umask becomes 0077 before NATS and chDB create anything; chDB
// creates its files with the umask's modes), and an install made by an
// earlier version, whose ClickHouse files are world-readable, is fixed by
// closing the data directory and its top-level entries to others. An
// entry Faultline may not chmod (another user's) is logged, not fatal.
func PrivateDataDir(dir string, log *slog.Logger) error {
	syscall.Umask(0o077)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	chmod := func(p string, mode os.FileMode) error {
		err := os.Chmod(p, mode)
		if errors.Is(err, fs.ErrPermission) {
			log.Warn("cannot make the data directory private; make it readable by its owner only", "path", p, "err", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("data directory %s: %w", dir, err)
		}
		return nil
	}
	if err := chmod(dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		mode := os.FileMode(0o600)
		if e.IsDir() {
			mode = 0o700
		} else if !e.Type().IsRegular() {
			continue // never follow a symbolic link out of the directory
		}
		if err := chmod(filepath.Join(dir, e.Name()), mode); err != nil {
			return err
		}
	}
	return nil
}
