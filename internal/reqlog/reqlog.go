// Package reqlog gives every HTTP request an id (the client's X-Request-Id
// when it is sane, else a new one) and carries it, with what handlers learn
// on the way (the project and event ids), into every log record written
// with the request's context.
package reqlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
)

// Header is the request and response header of the id.
const Header = "X-Request-Id"

// maxIDLen bounds an id taken from a client.
const maxIDLen = 128

// maxAttrs bounds what handlers add to one request.
const maxAttrs = 8

type ctxKey struct{}

// fields are one request's id and attributes.
type fields struct {
	id    string
	mu    sync.Mutex // guards attrs
	attrs []slog.Attr
}

// Start returns ctx carrying the request id: id when it is a sane one
// (printable ASCII without spaces, at most 128 bytes), else a new one.
func Start(ctx context.Context, id string) (context.Context, string) {
	if !sane(id) {
		id = NewID()
	}
	return context.WithValue(ctx, ctxKey{}, &fields{id: id}), id
}

// NewID returns a random id of 32 hex digits.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // never fails
	return hex.EncodeToString(b[:])
}

func sane(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// ID returns the request id in ctx, "" when there is none.
func ID(ctx context.Context) string {
	if f, ok := ctx.Value(ctxKey{}).(*fields); ok {
		return f.id
	}
	return ""
}

// Add attaches attributes (e.g. project_id, event_id) to the request in
// ctx; later values of a key replace earlier ones. It does nothing outside
// a request.
func Add(ctx context.Context, attrs ...slog.Attr) {
	f, ok := ctx.Value(ctxKey{}).(*fields)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
next:
	for _, a := range attrs {
		for i := range f.attrs {
			if f.attrs[i].Key == a.Key {
				f.attrs[i] = a
				continue next
			}
		}
		if len(f.attrs) < maxAttrs {
			f.attrs = append(f.attrs, a)
		}
	}
}

// Attrs returns the request id and the attributes added to ctx.
func Attrs(ctx context.Context) []slog.Attr {
	f, ok := ctx.Value(ctxKey{}).(*fields)
	if !ok {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]slog.Attr, 0, 1+len(f.attrs))
	out = append(out, slog.String("request_id", f.id))
	return append(out, f.attrs...)
}

// Handler adds the request id and attributes of a record's context to
// the record.
type Handler struct{ slog.Handler }

// NewHandler wraps h.
func NewHandler(h slog.Handler) *Handler { return &Handler{h} }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if attrs := Attrs(ctx); len(attrs) > 0 {
		r = r.Clone()
		r.AddAttrs(attrs...)
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler { return &Handler{h.Handler.WithGroup(name)} }
