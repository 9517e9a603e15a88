package server

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/faultline/faultline/internal/reqlog"
)

// instrument gives every request an id (X-Request-Id, taken from the
// client when sane, returned in the response), carried into the logs
// written with its context, and counts it in the metrics by the route
// table's pattern (never the raw path).
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, id := reqlog.Start(r.Context(), r.Header.Get(reqlog.Header))
		w.Header().Set(reqlog.Header, id)
		r = r.WithContext(ctx)
		r.Pattern = ""
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		code := sw.status
		if code == 0 {
			code = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.ObserveRequest(r.Pattern, r.Method, code, d)
		lvl := slog.LevelDebug
		if code >= 500 {
			lvl = slog.LevelWarn
		}
		if s.log.Enabled(ctx, lvl) {
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			s.log.Log(ctx, lvl, "request", "method", r.Method, "route", route, "status", code,
				"duration", d.Round(time.Microsecond))
		}
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes on.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
