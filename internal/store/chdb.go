package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/internal/chdb"
)

// chdbTransport runs queries on the embedded engine. chDB executes one query
// at a time on its single connection, so one goroutine owns it and takes
// work from two queues: reads first, so that the API stays responsive under
// ingest load, then writes. Inserts are cut into chunks of at most
// chunkBytes so that one write holds the connection for tens of
// milliseconds, never for a whole batch.
type chdbTransport struct {
	conn       *chdb.Conn
	lock       *os.File // flock'ed: the data directory is ours
	reads      chan *chdbJob
	writes     chan *chdbJob
	quit       chan struct{}
	done       chan struct{}
	chunkBytes int
}

type chdbJob struct {
	ctx    context.Context
	query  string
	format string
	out    []byte
	err    error
	done   chan struct{}
}

// chdbChunkBytes bounds one inline insert, so that a read waits for at
// most one chunk. Each insert writes a new part (and one per materialized
// view), and on this machine's ext4 creating a part's files costs far more
// than the rows in it: 1,000 events of 6 KB cost 357 µs each to insert in
// 2 MiB chunks and 178 µs in one 8 MiB insert (BenchmarkInsertCHDB). 8 MiB
// holds a typical batch; it is about 150 ms of engine time.
const chdbChunkBytes = 8 << 20

// ErrEmbeddedInUse means another process holds the embedded ClickHouse
// data directory: chDB has no server, so only one process may open it.
var ErrEmbeddedInUse = errors.New("store: the embedded ClickHouse data directory is in use by another process")

// lockDir takes an exclusive lock on dir, so that a second process (or a
// second Open in this one) fails with ErrEmbeddedInUse instead of
// corrupting the data or failing obscurely inside chDB.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "faultline.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (stop `faultline serve` first, or use a ClickHouse server with --clickhouse-url)", ErrEmbeddedInUse, dir)
		}
		return nil, fmt.Errorf("store: lock %s: %w", dir, err)
	}
	return f, nil
}

func openCHDB(cfg Config) (*chdbTransport, error) {
	settings := map[string]string{}
	for k, v := range cfg.EmbeddedSettings {
		settings[k] = v
	}
	lock, err := lockDir(cfg.Path)
	if err != nil {
		return nil, err
	}
	conn, err := chdb.Open(chdb.Config{LibPath: cfg.CHDBLib, Path: cfg.Path, Settings: settings})
	if err != nil {
		lock.Close()
		return nil, err
	}
	// chDB turns async inserts on by default: each INSERT then waits for a
	// buffer flush (tens of milliseconds) on the one connection. The worker
	// batches already, so write each insert as its own part at once.
	if _, err := conn.Query("SET async_insert = 0", "TabSeparated"); err != nil {
		conn.Close()
		lock.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	t := &chdbTransport{
		lock:       lock,
		conn:       conn,
		reads:      make(chan *chdbJob),
		writes:     make(chan *chdbJob),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
		chunkBytes: chdbChunkBytes,
	}
	go t.loop()
	return t, nil
}

func (t *chdbTransport) loop() {
	defer close(t.done)
	for {
		// Reads have priority: drain any that wait before taking a write.
		select {
		case j := <-t.reads:
			t.run(j)
			continue
		default:
		}
		select {
		case j := <-t.reads:
			t.run(j)
		case j := <-t.writes:
			t.run(j)
		case <-t.quit:
			return
		}
	}
}

func (t *chdbTransport) run(j *chdbJob) {
	defer close(j.done)
	if err := j.ctx.Err(); err != nil {
		j.err = err
		return
	}
	j.out, j.err = t.conn.Query(j.query, j.format)
}

func (t *chdbTransport) submit(ctx context.Context, q chan *chdbJob, query, format string) ([]byte, error) {
	j := &chdbJob{ctx: ctx, query: query, format: format, done: make(chan struct{})}
	select {
	case q <- j:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.quit:
		return nil, chdb.ErrClosed
	}
	// Once taken, a query cannot be interrupted: wait for it so that its
	// result is never written after we return.
	<-j.done
	return j.out, j.err
}

func (t *chdbTransport) exec(ctx context.Context, query string) error {
	_, err := t.submit(ctx, t.writes, query, "TabSeparated")
	return err
}

func (t *chdbTransport) query(ctx context.Context, dest any, query string) error {
	out, err := t.submit(ctx, t.reads, query, "JSONEachRow")
	if err != nil {
		return err
	}
	return decodeJSONEachRow(out, dest)
}

func (t *chdbTransport) ping(ctx context.Context) error {
	_, err := t.submit(ctx, t.reads, "SELECT 1", "TabSeparated")
	return err
}

func (t *chdbTransport) insert(ctx context.Context, table string, cols []string, rows [][]any) error {
	head := "INSERT INTO " + table + " (" + quoteCols(cols) + ") FORMAT TabSeparated\n"
	var b strings.Builder
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		_, err := t.submit(ctx, t.writes, head+b.String(), "TabSeparated")
		b.Reset()
		return err
	}
	for _, row := range rows {
		if len(row) != len(cols) {
			return fmt.Errorf("store: row has %d values for %d columns", len(row), len(cols))
		}
		for i, v := range row {
			if i > 0 {
				b.WriteByte('\t')
			}
			if err := writeTSV(&b, v); err != nil {
				return fmt.Errorf("store: column %s: %w", cols[i], err)
			}
		}
		b.WriteByte('\n')
		if b.Len() >= t.chunkBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (t *chdbTransport) close() error {
	select {
	case <-t.quit:
		return nil
	default:
	}
	close(t.quit)
	<-t.done
	err := t.conn.Close()
	t.lock.Close() // releases the flock
	return err
}

func quoteCols(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = "`" + c + "`"
	}
	return strings.Join(q, ", ")
}

// writeTSV writes one value in ClickHouse's TabSeparated escaping. Strings
// are escaped so that a row never contains a raw tab or newline: chDB reads
// inline data up to the first blank line, which escaped rows cannot contain.
func writeTSV(b *strings.Builder, v any) error {
	switch x := v.(type) {
	case string:
		escapeTSV(b, x)
	case uint64:
		b.WriteString(strconv.FormatUint(x, 10))
	case uint32:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case uint16:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case uint8:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case time.Time:
		b.WriteString(x.UTC().Format(dateTimeLayout))
	case []string:
		// Arrays are written in their quoted text form; the quoted-string
		// escapes below also keep tabs and newlines out of the row.
		b.WriteByte('[')
		for i, s := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('\'')
			escapeQuoted(b, s)
			b.WriteByte('\'')
		}
		b.WriteByte(']')
	default:
		return fmt.Errorf("unsupported type %T", v)
	}
	return nil
}

func escapeTSV(b *strings.Builder, s string) {
	// Copy runs of ordinary bytes at once: event bodies are kilobytes of
	// JSON with few bytes to escape.
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\', '\t', '\n', '\r', 0:
			b.WriteString(s[start:i])
			escapeTSVByte(b, s[i])
			start = i + 1
		}
	}
	b.WriteString(s[start:])
}

func escapeQuoted(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			b.WriteString(`\'`)
		default:
			escapeTSVByte(b, c)
		}
	}
}

func escapeTSVByte(b *strings.Builder, c byte) {
	switch c {
	case '\\':
		b.WriteString(`\\`)
	case '\t':
		b.WriteString(`\t`)
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	case 0:
		b.WriteString(`\0`)
	default:
		b.WriteByte(c)
	}
}
