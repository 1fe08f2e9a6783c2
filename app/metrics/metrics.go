// Package metrics exposes the service's counters to Prometheus: the event
// logger's (logged, stored, retried, dropped by reason, spilled, replayed,
// buffer depth, batches, flush latency), the processor's (counters, handler
// latency and end-to-end delay as summaries, consumer lag, and the
// consumer's restarts, re-creations and ack floor), the NATS
// connection's state and the server it is on, the stream's cluster (its
// leader and each replica's state, cluster.go) and the events stored and
// processed per type.
//
// Counters the domain keeps (logger.Stats, processor.Stats, nats.Statistics)
// are read at scrape time, so they are never double-counted; only what the
// domain does not measure — the latency of each store call and the
// stored events per type — is observed here, through eventlog.Timed.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/naq-go/events/app/eventlog"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/domain/processor"
)

const namespace = "naq_events"

// Metrics owns a Prometheus registry with the service's metrics.
type Metrics struct {
	reg         *prometheus.Registry
	flush       *prometheus.HistogramVec
	batchEvents prometheus.Histogram
	storedType  *prometheus.CounterVec
}

var _ eventlog.BatchObserver = (*Metrics)(nil)

// New returns Metrics with a fresh registry holding the Go runtime and
// process collectors, the flush latency histogram and the stored-by-type
// counter. Add the sources with Logger, Processor, NATS and TypeCounts.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		flush: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "logger", Name: "flush_duration_seconds",
			Help:    "Duration of the logger's store calls, by result (ok or error); a pipelined call is timed from its send to its confirmation, so it overlaps the call before it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms … 16 s
		}, []string{"result"}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "logger", Name: "batch_events",
			Help:    "Events per store call.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1 … 8192
		}),
		storedType: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "stored_total",
			Help: "Events this process stored, by event type.",
		}, []string{"type"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.flush, m.batchEvents, m.storedType,
	)
	return m
}

// Registry returns the registry, to add metrics of one's own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveBatch implements eventlog.BatchObserver: it records the call's
// latency and size, and counts the stored events by type (all of a batch
// that succeeded, the ones without error of a *logger.BatchError).
func (m *Metrics) ObserveBatch(events []event.JobEvent, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.flush.WithLabelValues(result).Observe(took.Seconds())
	m.batchEvents.Observe(float64(len(events)))
	var be *logger.BatchError
	switch {
	case err == nil:
		for i := range events {
			m.storedType.WithLabelValues(string(events[i].Type)).Inc()
		}
	case errors.As(err, &be) && len(be.Errs) == len(events):
		for i := range events {
			if be.Errs[i] == nil {
				m.storedType.WithLabelValues(string(events[i].Type)).Inc()
			}
		}
	}
}

// Logger adds the counters and gauges of l.Stats().
func (m *Metrics) Logger(l *logger.Logger) {
	m.reg.MustRegister(&loggerCollector{l: l})
}

// LagSource reports a consumer's backlog at the time of the call:
// processing.ConsumerLag reads it from the server.
type LagSource interface {
	// Lag returns the events stored but not yet delivered (pending) and
	// those delivered but not yet acknowledged (ackPending).
	Lag(ctx context.Context) (pending, ackPending uint64, err error)
}

// Processor adds the counters, gauges and latency summaries of p.Stats().
// With lag (not nil) the lag series are read from it at each scrape (with a
// 2 s timeout; a failure is logged to log, counted in
// naq_events_processor_lag_errors_total and leaves the lag out of that
// scrape), so they stay current while nothing is delivered; without it the
// lag is p.Stats().Lag, the pending count seen with the latest delivery.
// A nil log means slog.Default().
func (m *Metrics) Processor(p *processor.Processor, lag LagSource, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	m.reg.MustRegister(&processorCollector{p: p, lag: lag, log: log})
}

// NATS adds the connection state and statistics of nc.
func (m *Metrics) NATS(nc *nats.Conn) {
	m.reg.MustRegister(&natsCollector{nc: nc})
}

// TypeCounts adds naq_events_processed_total{type} from snapshot.
func (m *Metrics) TypeCounts(snapshot func() map[event.JobEventType]uint64) {
	m.reg.MustRegister(&typeCollector{snapshot: snapshot})
}
