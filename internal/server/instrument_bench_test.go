package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/internal/metrics"
	"github.com/faultline/faultline/internal/reqlog"
	"github.com/faultline/faultline/internal/route"
)

// BenchmarkInstrument measures what request ids and metrics add to a
// request: the route table with one route, with and without instrument.
func BenchmarkInstrument(b *testing.B) {
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Config{})
	if err != nil {
		b.Fatal(err)
	}
	routes := route.New(route.Config{})
	routes.Add(route.Route{Method: "POST", Path: "/api/{project_id}/store/", Auth: route.Public,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })})
	s := &Server{metrics: m, log: slog.New(reqlog.NewHandler(slog.DiscardHandler))}
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", routes}, {"instrumented", s.instrument(routes)}} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("POST", "/api/42/store/", nil)
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
