// Package chdb is a minimal binding to libchdb, the embedded ClickHouse
// engine, loaded at run time with purego (no cgo).
//
// The library is opened on the first call to Open, never at import, so a
// binary that talks to a ClickHouse server runs where libchdb is absent.
//
// libchdb allows one connection per process and runs one query at a time;
// Conn serialises calls with a mutex. Scheduling between readers and writers
// is the caller's business (see internal/store).
package chdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// ErrNotFound is returned by Open when no libchdb.so can be located.
var ErrNotFound = errors.New("chdb: libchdb.so not found (run `make chdb` or set FAULTLINE_CHDB_LIB)")

// ErrClosed is returned by Query after Close.
var ErrClosed = errors.New("chdb: connection closed")

type cConn struct{}
type cResult struct{}

// lib holds the resolved symbols of one loaded libchdb.
type lib struct {
	setSignalHandlers func(int32)
	connect           func(argc int32, argv **byte) **cConn
	closeConn         func(**cConn)
	queryN            func(conn *cConn, q *byte, qlen uintptr, f *byte, flen uintptr) *cResult
	resultBuffer      func(*cResult) *byte
	resultLength      func(*cResult) uintptr
	resultError       func(*cResult) *byte
	resultRowsWritten func(*cResult) uint64
	destroyResult     func(*cResult)
}

// The dynamic loader is process-wide by nature: a library opened twice is the
// same library. loaded caches it so that reconnecting does not dlopen again.
var (
	loadMu sync.Mutex
	loaded = map[string]*lib{}
)

func load(path string) (*lib, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if l, ok := loaded[path]; ok {
		return l, nil
	}
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("chdb: dlopen %s: %w", path, err)
	}
	l := &lib{}
	syms := []struct {
		fn   any
		name string
	}{
		{&l.setSignalHandlers, "chdb_set_signal_handlers_enabled"},
		{&l.connect, "chdb_connect"},
		{&l.closeConn, "chdb_close_conn"},
		{&l.queryN, "chdb_query_n"},
		{&l.resultBuffer, "chdb_result_buffer"},
		{&l.resultLength, "chdb_result_length"},
		{&l.resultError, "chdb_result_error"},
		{&l.resultRowsWritten, "chdb_result_rows_written"},
		{&l.destroyResult, "chdb_destroy_query_result"},
	}
	for _, s := range syms {
		if _, err := purego.Dlsym(h, s.name); err != nil {
			return nil, fmt.Errorf("chdb: %s lacks %s: %w", path, s.name, err)
		}
		purego.RegisterLibFunc(s.fn, h, s.name)
	}
	loaded[path] = l
	return l, nil
}

// FindLibrary returns the first libchdb.so found: explicit, then
// $FAULTLINE_CHDB_LIB, then the npm cache that `make chdb` fills (relative to
// the working directory and to the executable), then system paths.
func FindLibrary(explicit string) (string, error) {
	var cands []string
	if explicit != "" {
		cands = append(cands, explicit)
	}
	if env := os.Getenv("FAULTLINE_CHDB_LIB"); env != "" {
		cands = append(cands, env)
	}
	const rel = ".cache/chdb/node_modules/@chdb/lib-linux-x64-gnu/libchdb.so"
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			cands = append(cands, filepath.Join(d, rel))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		cands = append(cands, filepath.Join(dir, "libchdb.so"), filepath.Join(dir, "..", rel))
	}
	cands = append(cands, "/usr/local/lib/libchdb.so", "/usr/lib/libchdb.so")
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	if explicit != "" {
		return "", fmt.Errorf("%w: %s", ErrNotFound, explicit)
	}
	return "", ErrNotFound
}

// Config configures an embedded connection.
type Config struct {
	// LibPath is libchdb.so; empty means FindLibrary("").
	LibPath string
	// Path is the data directory. It is created if missing.
	Path string
	// Settings are server settings passed as --key=value, e.g.
	// max_server_memory_usage or mark_cache_size.
	Settings map[string]string
}

// Conn is one embedded ClickHouse connection. It is safe for concurrent use;
// queries run one at a time.
type Conn struct {
	mu   sync.Mutex
	lib  *lib
	conn **cConn
}

// Open loads libchdb if needed and connects to the data directory.
func Open(cfg Config) (*Conn, error) {
	path, err := FindLibrary(cfg.LibPath)
	if err != nil {
		return nil, err
	}
	l, err := load(path)
	if err != nil {
		return nil, err
	}
	if cfg.Path == "" {
		return nil, errors.New("chdb: empty data path")
	}
	if err := os.MkdirAll(cfg.Path, 0o700); err != nil {
		return nil, fmt.Errorf("chdb: %w", err)
	}
	args := []string{"clickhouse", "--path=" + cfg.Path}
	for k, v := range cfg.Settings {
		args = append(args, "--"+k+"="+v)
	}
	cargs := make([][]byte, len(args))
	ptrs := make([]*byte, len(args)+1)
	for i, a := range args {
		cargs[i] = append([]byte(a), 0)
		ptrs[i] = &cargs[i][0]
	}
	// Keep Go's own signal handlers: libchdb would otherwise install its own
	// and break the runtime's preemption and crash reporting.
	l.setSignalHandlers(0)
	pp := l.connect(int32(len(args)), &ptrs[0])
	runtime.KeepAlive(cargs)
	runtime.KeepAlive(ptrs)
	if pp == nil || *pp == nil {
		return nil, fmt.Errorf("chdb: connect to %s failed (is another process using it?)", cfg.Path)
	}
	return &Conn{lib: l, conn: pp}, nil
}

// Query runs one statement and returns its output in the given format
// (e.g. "JSONEachRow", "TabSeparated"). The query text may carry inline
// insert data after FORMAT.
func (c *Conn) Query(query, format string) ([]byte, error) {
	out, _, err := c.query(query, format)
	return out, err
}

// Exec runs a statement and returns the number of rows it wrote.
func (c *Conn) Exec(query string) (uint64, error) {
	_, n, err := c.query(query, "TabSeparated")
	return n, err
}

func (c *Conn) query(query, format string) ([]byte, uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil, 0, ErrClosed
	}
	q := []byte(query)
	if len(q) == 0 {
		q = []byte(" ")
	}
	f := []byte(format)
	res := c.lib.queryN(*c.conn, &q[0], uintptr(len(query)), &f[0], uintptr(len(f)))
	runtime.KeepAlive(q)
	runtime.KeepAlive(f)
	if res == nil {
		return nil, 0, errors.New("chdb: query returned no result")
	}
	defer c.lib.destroyResult(res)
	if e := c.lib.resultError(res); e != nil {
		msg := cstring(e)
		if msg != "" {
			return nil, 0, &Error{Message: strings.TrimSpace(msg)}
		}
	}
	n := c.lib.resultLength(res)
	var out []byte
	if n > 0 {
		out = make([]byte, n)
		copy(out, unsafe.Slice(c.lib.resultBuffer(res), n))
	}
	return out, c.lib.resultRowsWritten(res), nil
}

// Close releases the connection. Another Open in the same process may follow.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	c.lib.closeConn(c.conn)
	c.conn = nil
	return nil
}

// Error is an error reported by the engine, e.g. "Code: 60. DB::Exception: ...".
type Error struct{ Message string }

func (e *Error) Error() string { return "chdb: " + e.Message }

func cstring(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}
