package server

import (
	"fmt"
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
// closing the data directory and its top-level entries to others.
func PrivateDataDir(dir string) error {
	syscall.Umask(0o077)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
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
		if err := os.Chmod(filepath.Join(dir, e.Name()), mode); err != nil {
			return fmt.Errorf("data directory %s: %w", dir, err)
		}
	}
	return nil
}
