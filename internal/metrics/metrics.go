// Package metrics is a Switchboard process's Prometheus registry and its
// HTTP endpoints: /metrics, /healthz and /readyz.
package metrics

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/worker"
)

// Metrics is the node's Prometheus registry: gateway counters, worker
// handling latency, NATS connection health.
type Metrics struct {
	reg     *prometheus.Registry
	handled *prometheus.CounterVec
	latency *prometheus.HistogramVec
	kinds   map[string]*kindMetrics // the known event kinds, resolved once
	// SlowConsumers counts NATS slow-consumer errors (the node's error
	// handler adds to it); exported by RegisterSlowConsumers.
	SlowConsumers atomic.Uint64
}

// kindMetrics are one event kind's series, looked up once instead of by
// label values on every event.
type kindMetrics struct {
	ok, failed prometheus.Counter
	latency    prometheus.Observer
}

// New returns a registry with the worker's event series and the Go and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_worker_events_total", Help: "Events handled by the worker, by kind and result.",
		}, []string{"kind", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_worker_event_duration_seconds", Help: "Time a handler took, by event kind.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10),
		}, []string{"kind"}),
	}
	m.kinds = map[string]*kindMetrics{}
	for _, kind := range []string{wire.EventWebSocketConnect, wire.EventConnect, wire.EventMessage, wire.EventClose} {
		m.kinds[kind] = m.series(kind)
	}
	m.reg.MustRegister(m.handled, m.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds collectors; it panics on a duplicate, as
// prometheus.Registry.MustRegister does.
func (m *Metrics) Register(cs ...prometheus.Collector) { m.reg.MustRegister(cs...) }

// Observe is the worker's Observe hook.
func (m *Metrics) Observe(kind string, d time.Duration, err error) {
	k := m.kinds[kind]
	if k == nil {
		k = m.series(kind)
	}
	if err != nil {
		k.failed.Inc()
	} else {
		k.ok.Inc()
	}
	k.latency.Observe(d.Seconds())
}

func (m *Metrics) series(kind string) *kindMetrics {
	return &kindMetrics{
		ok:      m.handled.WithLabelValues(kind, "ok"),
		failed:  m.handled.WithLabelValues(kind, "error"),
		latency: m.latency.WithLabelValues(kind),
	}
}

// RegisterWorker exports the worker role's gauges (events in flight, busy)
// and counters (stale events skipped, events dropped, held events run).
func (m *Metrics) RegisterWorker(w *worker.Worker) {
	m.gaugeFunc("switchboard_worker_events_in_flight", "Events being handled now.",
		func() float64 { return float64(w.InFlight()) })
	m.counterFunc("switchboard_worker_stale_events_skipped_total", "Events not handled because their deadline (Sb-Deadline) had passed when the worker got to them.",
		w.StaleSkipped)
	m.counterFunc("switchboard_worker_events_dropped_total", "Events the worker's NATS client dropped unstarted because a subscription held worker.MaxPendingBytes already (slow consumer); their gateways redeliver them.",
		w.Dropped)
	m.counterFunc("switchboard_worker_held_events_run_total", "Events run after their deadline because their gateways held them (overload) or paused (bus outage).",
		w.HeldRun)
	m.gaugeFunc("switchboard_worker_busy", "1 while the worker says it is busy: events wait for its handler slots.",
		func() float64 { return one(w.Busy()) })
}

// counterFunc registers a counter read from n on every scrape.
func (m *Metrics) counterFunc(name, help string, n func() uint64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
		func() float64 { return float64(n()) }))
}

// gaugeFunc registers a gauge read from v on every scrape.
func (m *Metrics) gaugeFunc(name, help string, v func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, v))
}

// one is a flag as a gauge's value: 1 for true, 0 for false.
func one(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// WatchNATS exports the reconnects of the role's connection and the slow
// consumer errors counted by the node's error handler.
func (m *Metrics) WatchNATS(role string, nc *nats.Conn) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "switchboard_nats_reconnects_total", Help: "NATS reconnects of a role's connection.",
		ConstLabels: prometheus.Labels{"role": role},
	}, func() float64 { return float64(nc.Stats().Reconnects) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "switchboard_nats_connected", Help: "1 while a role's NATS connection is up.",
		ConstLabels: prometheus.Labels{"role": role},
	}, func() float64 { return one(nc.IsConnected()) }))
}

// RegisterSlowConsumers exports SlowConsumers.
func (m *Metrics) RegisterSlowConsumers() {
	m.counterFunc("switchboard_nats_slow_consumer_total", "NATS slow-consumer errors (messages dropped by a subscription).",
		m.SlowConsumers.Load)
}

// gatewayCollector exports gateway.Stats.
type gatewayCollector struct {
	g     *gateway.Gateway
	descs map[string]*prometheus.Desc
}

// NewGatewayCollector exports g's Stats.
func NewGatewayCollector(g *gateway.Gateway) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("switchboard_gateway_"+name, help, labels, nil)
	}
	return &gatewayCollector{g: g, descs: map[string]*prometheus.Desc{
		"connections":        d("connections", "Live client connections."),
		"sockets":            d("sockets", "Sockets open on the listeners (clients, handshakes, plain HTTP), as max_connections counts them."),
		"connects":           d("connects_total", "Connections accepted."),
		"disconnects":        d("disconnects_total", "Connections ended, for any reason."),
		"refused":            d("refused_total", "Clients refused or closed by a limit.", "reason"),
		"msgs_in":            d("messages_in_total", "Client messages read."),
		"msgs_out":           d("messages_out_total", "Messages written to clients."),
		"bytes_in":           d("bytes_in_total", "Client message bytes read."),
		"bytes_out":          d("bytes_out_total", "Bytes sent to clients."),
		"events_out":         d("events_published_total", "Events published to workers, resends included."),
		"events_local":       d("events_local_total", "Message events run by the worker in the gateway's process on the in-process path, without publishing them (not in events_published_total)."),
		"events_dropped":     d("events_dropped_total", "Events given up."),
		"events_redelivered": d("events_redelivered_total", "Events resent after event_timeout."),
		"events_direct":      d("events_redelivered_direct_total", "Resends (redeliveries, retries after no responders) sent to one recently heard worker's direct subject instead of the queue group."),
		"redeliveries_held":  d("redeliveries_held_total", "Overdue events held until the inbound dispatcher handled what had reached it (their reply may be there)."),
		"events_held_busy":   d("events_held_busy_total", "Overdue events held, not sent again, because every live worker said it was busy."),
		"event_batches":      d("event_batches_total", "NATS messages that carried several message events."),
		"events_batched":     d("events_batched_total", "Message events sent in batches (also counted in events_published_total)."),
		"reply_batches":      d("reply_batches_total", "NATS messages from workers that carried several event replies."),
		"replies_batched":    d("replies_batched_total", "Event replies received in reply batches."),
		"holdouts":           d("workers_without_batches", "Live workers that announce themselves and do not take event batches; while not 0, events go one by one."),
		"max_queued":         d("max_queued_bytes", "The most bytes ever queued for one client."),
		"answers_failed":     d("answers_failed_total", "Answers to queries and commands that could not be published (each logged with its cause)."),
		"backpressure":       d("backpressure_total", "Times a client's reader waited for room in its pending events."),
		"max_pending":        d("max_pending_bytes", "The most message bytes ever pending for one client."),
	}}
}

func (c *gatewayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.g.Stats()
	counter := func(name string, v uint64) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v))
	}
	ch <- prometheus.MustNewConstMetric(c.descs["connections"], prometheus.GaugeValue, float64(st.Connections))
	ch <- prometheus.MustNewConstMetric(c.descs["sockets"], prometheus.GaugeValue, float64(st.Sockets))
	ch <- prometheus.MustNewConstMetric(c.descs["max_queued"], prometheus.GaugeValue, float64(st.MaxQueuedBytes))
	ch <- prometheus.MustNewConstMetric(c.descs["holdouts"], prometheus.GaugeValue, float64(st.WorkersWithoutBatches))
	ch <- prometheus.MustNewConstMetric(c.descs["max_pending"], prometheus.GaugeValue, float64(st.MaxPendingBytes))
	counter("backpressure", st.Backpressure)
	counter("connects", st.Connects)
	counter("disconnects", st.Disconnects)
	counter("msgs_in", st.MsgsIn)
	counter("msgs_out", st.MsgsOut)
	counter("bytes_in", st.BytesIn)
	counter("bytes_out", st.BytesOut)
	counter("events_out", st.EventsOut)
	counter("events_local", st.EventsLocal)
	counter("events_dropped", st.EventsDropped)
	counter("events_redelivered", st.EventsRedelivered)
	counter("events_direct", st.EventsRedeliveredDirect)
	counter("redeliveries_held", st.RedeliveriesHeld)
	counter("events_held_busy", st.EventsHeldBusy)
	counter("event_batches", st.EventBatches)
	counter("events_batched", st.EventsBatched)
	counter("reply_batches", st.ReplyBatches)
	counter("replies_batched", st.RepliesBatched)
	counter("answers_failed", st.AnswersFailed)
	for reason, v := range st.Refused {
		ch <- prometheus.MustNewConstMetric(c.descs["refused"], prometheus.CounterValue, float64(v), reason)
	}
}

// Handler serves /metrics (when withMetrics), /healthz (the process runs)
// and /readyz (every NATS connection is up), and passes anything else to
// next.
func (m *Metrics) Handler(ready func() bool, next http.Handler, withMetrics bool) http.Handler {
	mux := http.NewServeMux()
	if withMetrics {
		mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready: NATS connection down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if next != nil {
		mux.Handle("/", next)
	}
	return mux
}
