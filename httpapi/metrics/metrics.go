// Package metrics is Tally's Prometheus instrumentation: one registry per
// server, the instruments the HTTP surface and the projector feed, and the
// /metrics handler. Every method is safe on a nil *Metrics (it does
// nothing), so code that is handed none needs no check.
//
// The series, all prefixed tally_:
//
//	graphql_operations_total{operation,type,outcome}   operations by name, type and outcome
//	graphql_operation_duration_seconds{operation,type} their latency (parse to response)
//	http_requests_total{route,code}                    every HTTP request by route pattern and status
//	http_request_duration_seconds{route}               their latency
//	rate_limit_refusals_total{where}                   requests or fields refused by a rate limit
//	store_calls_total{side}                            store operations issued (side: requests, projector)
//	projection_events_total                            events projected by this process
//	projection_lag_seconds{stat}                       projector lag: last, p99, max
//	postback_deliveries_total{outcome}                 partner postbacks (PostbackDelivery)
//
// plus the Go runtime's and the process's standard series.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tally/foundation/label"
)

// maxOperationNames bounds the operation label: operation names are the
// clients' to choose, and each new one is a new series. Names past the
// first ones seen are counted as "other"; a name that is not a GraphQL name
// (any string a request sent as operationName, not UTF-8 maybe) or is
// longer than label.MaxLen, as "invalid", and takes no place.
const maxOperationNames = 200

// Metrics holds a server's instruments and their registry.
type Metrics struct {
	Registry *prometheus.Registry

	operations  *prometheus.CounterVec
	opDuration  *prometheus.HistogramVec
	httpCount   *prometheus.CounterVec
	httpLatency *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
	postbacks   *prometheus.CounterVec

	mu    sync.Mutex
	names map[string]bool
	// ops holds each (operation, type, outcome)'s counter and histogram,
	// so that counting one does not hash its labels again.
	ops sync.Map // opKey → opSeries
	// http does the same for each (route, status): routes are the mux's
	// patterns and "unmatched", statuses a few dozen codes.
	http sync.Map // httpKey → opSeries
}

type httpKey struct {
	route  string
	status int
}

type opKey struct{ name, typ, outcome string }

// observe counts one and records its duration.
func (s opSeries) observe(d time.Duration) {
	s.count.Inc()
	s.duration.Observe(d.Seconds())
}

type opSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// New returns the instruments, registered in a fresh registry with the Go
// runtime and process collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r, names: map[string]bool{}}
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m.operations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_graphql_operations_total",
		Help: "GraphQL operations by operation name, type and outcome (ok, field_errors, refused, rate_limited)."},
		[]string{"operation", "type", "outcome"})
	m.opDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tally_graphql_operation_duration_seconds",
		Help: "GraphQL operation latency, from parsing to the response, by operation name and type.", Buckets: buckets},
		[]string{"operation", "type"})
	m.httpCount = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_http_requests_total",
		Help: "HTTP requests by route pattern and status code."}, []string{"route", "code"})
	m.httpLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tally_http_request_duration_seconds",
		Help: "HTTP request latency by route pattern.", Buckets: buckets}, []string{"route"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_rate_limit_refusals_total",
		Help: "Requests, or GraphQL fields, refused by a rate limit, by where (graphql, route)."}, []string{"where"})
	m.postbacks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_postback_deliveries_total",
		Help: "Partner postback deliveries by outcome."}, []string{"outcome"})
	r.MustRegister(m.operations, m.opDuration, m.httpCount, m.httpLatency, m.rateLimited, m.postbacks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Operation counts one GraphQL operation. name is the operation's name
// ("" for an anonymous one), typ query, mutation or subscription ("" when
// the document did not parse), outcome one of graphqlhttp's (ok,
// field_errors, refused, rate_limited).
func (m *Metrics) Operation(name, typ, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	if typ == "" {
		typ = "unknown"
	}
	k := opKey{name, typ, outcome}
	v, ok := m.ops.Load(k)
	if !ok {
		label := m.operationLabel(name)
		if label != name && name != "" {
			k.name = "\x00" + label // a name past the bound: keyed by its label, so the map stays bounded too
		}
		if v, ok = m.ops.Load(k); !ok {
			v, _ = m.ops.LoadOrStore(k, opSeries{m.operations.WithLabelValues(label, typ, outcome), m.opDuration.WithLabelValues(label, typ)})
		}
	}
	v.(opSeries).observe(d)
}

func (m *Metrics) operationLabel(name string) string {
	if name == "" {
		return "anonymous"
	}
	if !graphQLName(name) || len(name) > label.MaxLen {
		return "invalid"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[name] {
		return name
	}
	if len(m.names) >= maxOperationNames {
		return "other"
	}
	m.names[name] = true
	return name
}

// graphQLName reports whether s is a GraphQL Name: /[_A-Za-z][_0-9A-Za-z]*/.
func graphQLName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

// HTTPRequest counts one HTTP request by its route pattern (never its path,
// which may hold a token).
func (m *Metrics) HTTPRequest(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	k := httpKey{route, status}
	v, ok := m.http.Load(k)
	if !ok {
		l := label.Safe(route) // a mux pattern, but a label must never panic
		v, _ = m.http.LoadOrStore(k, opSeries{m.httpCount.WithLabelValues(l, strconv.Itoa(status)), m.httpLatency.WithLabelValues(l)})
	}
	v.(opSeries).observe(d)
}

// RateLimited counts a refusal by a rate limit: where is "graphql" (a
// field or a request) or "route" (GET /r/, GET /overlay/).
func (m *Metrics) RateLimited(where string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(where).Inc()
}

// PostbackDelivery counts one attempt to notify a partner of a conversion;
// outcome is the sender's word for it (delivered, failed, retried, …, a
// small fixed set). The postback sender calls it.
func (m *Metrics) PostbackDelivery(outcome string) {
	if m == nil {
		return
	}
	m.postbacks.WithLabelValues(outcome).Inc()
}

// PostbackObserver is what a postback sender needs of Metrics.
type PostbackObserver interface {
	PostbackDelivery(outcome string)
}

var _ PostbackObserver = (*Metrics)(nil)

// ObserveStore exports the store's operation counts, read when scraped.
func (m *Metrics) ObserveStore(requests, projector func() int64) {
	if m == nil {
		return
	}
	for side, f := range map[string]func() int64{"requests": requests, "projector": projector} {
		f := f
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tally_store_calls_total",
			Help: "Store operations issued, by side (requests: the API's repositories; projector).", ConstLabels: prometheus.Labels{"side": side}},
			func() float64 { return float64(f()) }))
	}
}

// Lag is the projector's lag as metrics see it.
type Lag struct {
	Events         int64
	Last, P99, Max time.Duration
}

// ObserveProjection exports the projector's progress and lag, read when
// scraped.
func (m *Metrics) ObserveProjection(lag func() Lag) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tally_projection_events_total",
		Help: "Events projected (billed and counted) by this process since it started."},
		func() float64 { return float64(lag().Events) }))
	for stat, pick := range map[string]func(Lag) time.Duration{
		"last": func(l Lag) time.Duration { return l.Last },
		"p99":  func(l Lag) time.Duration { return l.P99 },
		"max":  func(l Lag) time.Duration { return l.Max },
	} {
		pick := pick
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_projection_lag_seconds",
			Help:        "Time from an event being recorded to its projection: the newest batch's (last), and the p99 and max of recent events.",
			ConstLabels: prometheus.Labels{"stat": stat}},
			func() float64 { return pick(lag()).Seconds() }))
	}
}

// Backlog is the database's projection backlog as metrics see it.
type Backlog struct {
	Pending   int64
	OldestAge time.Duration
}

// ObserveBacklog exports the database's projection backlog (the same on
// every process), read when scraped.
func (m *Metrics) ObserveBacklog(backlog func() Backlog) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_projection_pending_events",
		Help: "Events in the database not yet projected, counted up to 10000 (whichever process projects them)."},
		func() float64 { return float64(backlog().Pending) }))
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_projection_oldest_pending_seconds",
		Help: "How long the oldest event not yet projected has waited (0 with none): the database's projection lag."},
		func() float64 { return backlog().OldestAge.Seconds() }))
}
