// Package metrics holds Faultline's Prometheus metrics: one registry per
// process, made by New and passed to the components that count, which see
// it through small interfaces of their own. Every name starts with
// faultline_. Labels never carry raw paths or event data: HTTP requests are
// labelled by the route table's pattern, and organizations and projects
// appear only when Config.TenantLabels is set (the metrics are then behind a
// token or on their own address).
package metrics

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faultline/faultline/internal/queue"
)

// Config configures the metrics.
type Config struct {
	// TenantLabels adds a project label to the event counts; set only when
	// /metrics needs a token or is served on its own address.
	TenantLabels bool
	// Token, when set, is the bearer token /metrics requires.
	Token string
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Token != "" && len(c.Token) < 16 {
		return errors.New("metrics: --metrics-token must be at least 16 characters long")
	}
	return nil
}

// Metrics are the process's metrics. A nil *Metrics counts nothing.
type Metrics struct {
	cfg Config
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	events       *prometheus.CounterVec

	publishDuration prometheus.Histogram
	publishRetried  prometheus.Counter
	publishFailed   prometheus.Counter

	batchSize      prometheus.Histogram
	insertDuration *prometheus.HistogramVec
	insertErrors   *prometheus.CounterVec
	processErrors  *prometheus.CounterVec
	issueCache     *prometheus.CounterVec
}

// New registers Faultline's metrics, and Go's and the process's collectors,
// on reg.
func New(reg *prometheus.Registry, cfg Config) (*Metrics, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	eventLabels := []string{"outcome", "category"}
	if cfg.TenantLabels {
		eventLabels = append(eventLabels, "project")
	}
	m := &Metrics{
		cfg: cfg,
		reg: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_http_requests_total", Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "faultline_http_request_duration_seconds", Help: "Time to answer HTTP requests, by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_events_total", Help: "Items decided by ingest and the workers, by outcome (accepted, rate_limited, filtered, invalid) and data category.",
		}, eventLabels),
		publishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "faultline_queue_publish_duration_seconds", Help: "Time from a publish to JetStream's ack, retries included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20},
		}),
		publishRetried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "faultline_queue_publish_retried_total", Help: "Publishes that needed more than one attempt (the stream had no leader, a server was lost).",
		}),
		publishFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "faultline_queue_publish_failed_total", Help: "Publishes that failed for good (the request got 503 or 429).",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "faultline_worker_batch_events", Help: "Events per batch written by a worker.",
			Buckets: []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000},
		}),
		insertDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "faultline_clickhouse_insert_duration_seconds", Help: "Time of ClickHouse inserts, by table.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"table"}),
		insertErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_clickhouse_insert_errors_total", Help: "ClickHouse inserts that failed, by table.",
		}, []string{"table"}),
		processErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_processing_errors_total", Help: "Processing failures of workers, by stage (decode, normalize, store...).",
		}, []string{"stage"}),
		issueCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_issue_id_cache_total", Help: "Issue id lookups by workers, by result (hit: the in-memory cache; miss: the KV bucket).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.httpRequests, m.httpDuration, m.events, m.publishDuration,
		m.publishRetried, m.publishFailed, m.batchSize, m.insertDuration, m.insertErrors, m.processErrors, m.issueCache,
		goCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// goCollector is Go's collector with, beside its defaults, the runtime's
// histograms of stop-the-world pauses (go_sched_pauses_total_gc_seconds,
// from runtime/metrics' /sched/pauses/total/gc:seconds, which replaced
// /gc/pauses:seconds) and of goroutine scheduling latencies
// (go_sched_latencies_seconds): the stalls behind ingest's tail latency.
func goCollector() prometheus.Collector {
	return collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/(pauses/total/gc|latencies):seconds$`)}))
}

// Registry returns the registry, for components that register their own
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// TenantLabels reports whether organization and project labels may be used.
func (m *Metrics) TenantLabels() bool { return m != nil && m.cfg.TenantLabels }

// Handler serves the metrics in Prometheus' text format, behind the bearer
// token when one is configured.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
	if m.cfg.Token == "" {
		return h
	}
	want := []byte("Bearer " + m.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need the bearer token of --metrics-token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ObserveRequest counts an answered HTTP request. route is the route
// table's pattern ("" for a request that matched none).
func (m *Metrics) ObserveRequest(route, method string, code int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	method = normalMethod(method)
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// normalMethod keeps the method label's values few.
func normalMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "other"
}

// CountEvents counts n items of a category decided with an outcome. The
// project is used only with TenantLabels.
func (m *Metrics) CountEvents(outcome, category string, projectID uint64, n int) {
	if m == nil || n <= 0 {
		return
	}
	outcome, category = strings.ToLower(outcome), strings.ToLower(category)
	if m.cfg.TenantLabels {
		m.events.WithLabelValues(outcome, category, strconv.FormatUint(projectID, 10)).Add(float64(n))
		return
	}
	m.events.WithLabelValues(outcome, category).Add(float64(n))
}

// ObservePublish implements queue.PublishObserver.
func (m *Metrics) ObservePublish(d time.Duration, attempts int, err error) {
	if m == nil {
		return
	}
	m.publishDuration.Observe(d.Seconds())
	if attempts > 1 {
		m.publishRetried.Inc()
	}
	if err != nil {
		m.publishFailed.Inc()
	}
}

// ObserveBatch records the events of a batch a worker wrote.
func (m *Metrics) ObserveBatch(events int) {
	if m != nil {
		m.batchSize.Observe(float64(events))
	}
}

// ProcessingError counts a worker's failure at a stage.
func (m *Metrics) ProcessingError(stage string) {
	if m != nil {
		m.processErrors.WithLabelValues(stage).Inc()
	}
}

// ObserveInsert records a ClickHouse insert into table (a qualified name;
// the database is dropped).
func (m *Metrics) ObserveInsert(table string, d time.Duration, err error) {
	if m == nil {
		return
	}
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		table = table[i+1:]
	}
	table = strings.Trim(table, "`")
	m.insertDuration.WithLabelValues(table).Observe(d.Seconds())
	if err != nil {
		m.insertErrors.WithLabelValues(table).Inc()
	}
}

// IssueCache counts an issue id lookup that the cache answered (hit) or
// not.
func (m *Metrics) IssueCache(hit bool) {
	if m == nil {
		return
	}
	if hit {
		m.issueCache.WithLabelValues("hit").Inc()
	} else {
		m.issueCache.WithLabelValues("miss").Inc()
	}
}

// BacklogSource reads the queue's backlog.
type BacklogSource interface {
	Backlog(ctx context.Context) (queue.Backlog, error)
}

// WatchQueue exports the queue's messages, bytes, pending and ack-pending
// counts, read from JetStream at each scrape.
func (m *Metrics) WatchQueue(src BacklogSource) error {
	return m.reg.Register(&backlogCollector{src: src})
}

var (
	descMessages   = prometheus.NewDesc("faultline_queue_messages", "Messages in the ingest stream.", nil, nil)
	descBytes      = prometheus.NewDesc("faultline_queue_bytes", "Bytes in the ingest stream.", nil, nil)
	descPending    = prometheus.NewDesc("faultline_queue_pending_messages", "Messages not yet delivered to a worker.", nil, nil)
	descAckPending = prometheus.NewDesc("faultline_queue_ack_pending_messages", "Messages delivered to a worker and not yet acknowledged.", nil, nil)
	descUp         = prometheus.NewDesc("faultline_queue_up", "1 when the queue's state could be read from JetStream.", nil, nil)
)

type backlogCollector struct{ src BacklogSource }

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMessages, descBytes, descPending, descAckPending, descUp} {
		ch <- d
	}
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := c.src.Backlog(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(descMessages, prometheus.GaugeValue, float64(b.Messages))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(b.Bytes))
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(b.Pending))
	ch <- prometheus.MustNewConstMetric(descAckPending, prometheus.GaugeValue, float64(b.AckPending))
}

// AdmissionSource reads ingest's in-flight byte budget
// (--ingest-max-inflight-bytes): the bytes of request bodies being read and
// inflated now, the budget, and the requests that waited for it and that
// were refused (503) because it stayed exhausted.
type AdmissionSource interface {
	AdmissionStats() (inUse, limit int64, waited, refused uint64)
}

// WatchIngest exports ingest's byte budget, read at each scrape.
func (m *Metrics) WatchIngest(src AdmissionSource) error {
	if m == nil {
		return nil
	}
	return m.reg.Register(&admissionCollector{src: src})
}

var (
	descInflightBytes = prometheus.NewDesc("faultline_ingest_inflight_bytes", "Bytes of ingest request bodies being read and inflated now.", nil, nil)
	descInflightLimit = prometheus.NewDesc("faultline_ingest_inflight_bytes_limit", "The in-flight byte budget (--ingest-max-inflight-bytes).", nil, nil)
	descBudgetWaited  = prometheus.NewDesc("faultline_ingest_budget_waits_total", "Ingest requests that waited for the in-flight byte budget.", nil, nil)
	descBudgetRefused = prometheus.NewDesc("faultline_ingest_budget_refused_total", "Ingest requests refused with 503 because the in-flight byte budget stayed exhausted.", nil, nil)
)

type admissionCollector struct{ src AdmissionSource }

func (c *admissionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInflightBytes, descInflightLimit, descBudgetWaited, descBudgetRefused} {
		ch <- d
	}
}

func (c *admissionCollector) Collect(ch chan<- prometheus.Metric) {
	inUse, limit, waited, refused := c.src.AdmissionStats()
	ch <- prometheus.MustNewConstMetric(descInflightBytes, prometheus.GaugeValue, float64(inUse))
	ch <- prometheus.MustNewConstMetric(descInflightLimit, prometheus.GaugeValue, float64(limit))
	ch <- prometheus.MustNewConstMetric(descBudgetWaited, prometheus.CounterValue, float64(waited))
	ch <- prometheus.MustNewConstMetric(descBudgetRefused, prometheus.CounterValue, float64(refused))
}
