package metrics

import (
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/domain/processor"
)

func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil)
}

func counter(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var (
	logLogged        = desc("logger", "logged_total", "Events accepted by the logger.")
	logRefused       = desc("logger", "refused_total", "Events refused because the buffer was full (Block policy).")
	logStored        = desc("logger", "stored_total", "Events the store acknowledged.")
	logRetried       = desc("logger", "retried_total", "Events sent again after a failed store call.")
	logDropped       = desc("logger", "dropped_total", "Accepted events discarded, by reason.", "reason")
	logSpilled       = desc("logger", "spilled_total", "Events written to the disk spill.")
	logReplayed      = desc("logger", "replayed_total", "Events moved from the spill to the store.")
	logBatches       = desc("logger", "batches_total", "StoreBatch calls, replays included.")
	logFailedBatches = desc("logger", "failed_batches_total", "StoreBatch calls that did not store every event.")
	logDepth         = desc("logger", "buffer_depth", "Events in memory not yet stored.")
	logInFlight      = desc("logger", "in_flight", "Events in the current StoreBatch call.")
	logSpillPending  = desc("logger", "spill_pending", "Events in the spill waiting for replay.")
	logBreaker       = desc("logger", "breaker_open", "1 while the circuit breaker holds store calls back.")
)

type loggerCollector struct{ l *logger.Logger }

func (c *loggerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{logLogged, logRefused, logStored, logRetried, logDropped, logSpilled,
		logReplayed, logBatches, logFailedBatches, logDepth, logInFlight, logSpillPending, logBreaker} {
		ch <- d
	}
}

func (c *loggerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.l.Stats()
	ch <- counter(logLogged, s.Logged)
	ch <- counter(logRefused, s.Refused)
	ch <- counter(logStored, s.Stored)
	ch <- counter(logRetried, s.Retried)
	for _, r := range []struct {
		reason logger.DropReason
		n      uint64
	}{
		{logger.DropOverflow, s.Dropped.Overflow},
		{logger.DropRejected, s.Dropped.Rejected},
		{logger.DropRetriesExhausted, s.Dropped.RetriesExhausted},
		{logger.DropSpillFailed, s.Dropped.SpillFailed},
		{logger.DropClosed, s.Dropped.Closed},
	} {
		ch <- counter(logDropped, r.n, r.reason.String())
	}
	ch <- counter(logSpilled, s.Spilled)
	ch <- counter(logReplayed, s.Replayed)
	ch <- counter(logBatches, s.Batches)
	ch <- counter(logFailedBatches, s.FailedBatches)
	ch <- gauge(logDepth, float64(s.BufferDepth))
	ch <- gauge(logInFlight, float64(s.InFlight))
	ch <- gauge(logSpillPending, float64(s.SpillPending))
	ch <- gauge(logBreaker, b2f(s.BreakerOpen))
}

var (
	procReceived     = desc("processor", "received_total", "Deliveries from the consumer, redeliveries included.")
	procHandled      = desc("processor", "handled_total", "Events acknowledged after every handler succeeded.")
	procFailed       = desc("processor", "failed_total", "Deliveries on which a handler failed.")
	procRetried      = desc("processor", "retried_total", "Failed deliveries nak'd for redelivery.")
	procDead         = desc("processor", "dead_lettered_total", "Messages given up on and dead-lettered.")
	procDeadErrors   = desc("processor", "dead_letter_errors_total", "Dead-letter writes that failed.")
	procPanics       = desc("processor", "panics_total", "Handler calls that panicked.")
	procTimeouts     = desc("processor", "timeouts_total", "Handler calls that overran the handler timeout.")
	procUndecodable  = desc("processor", "undecodable_total", "Messages that did not decode.")
	procSourceErrors = desc("processor", "source_errors_total", "Consume calls that returned an error.")
	procInFlight     = desc("processor", "in_flight", "Messages being handled now.")
	procLag          = desc("processor", "lag", "Events stored but not yet delivered to the consumer.")
)

type processorCollector struct{ p *processor.Processor }

func (c *processorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{procReceived, procHandled, procFailed, procRetried, procDead, procDeadErrors,
		procPanics, procTimeouts, procUndecodable, procSourceErrors, procInFlight, procLag} {
		ch <- d
	}
}

func (c *processorCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stats()
	ch <- counter(procReceived, s.Received)
	ch <- counter(procHandled, s.Handled)
	ch <- counter(procFailed, s.Failed)
	ch <- counter(procRetried, s.Retried)
	ch <- counter(procDead, s.DeadLettered)
	ch <- counter(procDeadErrors, s.DeadLetterErrors)
	ch <- counter(procPanics, s.Panics)
	ch <- counter(procTimeouts, s.Timeouts)
	ch <- counter(procUndecodable, s.Undecodable)
	ch <- counter(procSourceErrors, s.SourceErrors)
	ch <- gauge(procInFlight, float64(s.InFlight))
	ch <- gauge(procLag, float64(s.Lag))
}

var (
	natsConnected  = desc("nats", "connected", "1 while the NATS connection is connected.")
	natsStatus     = desc("nats", "connection_status", "1 for the NATS connection's current status.", "status")
	natsReconnects = desc("nats", "reconnects_total", "Reconnections of the NATS connection.")
	natsOutMsgs    = desc("nats", "out_msgs_total", "Messages published on the NATS connection.")
	natsInMsgs     = desc("nats", "in_msgs_total", "Messages received on the NATS connection.")
)

// statuses are the nats.Status values exported, so every series exists.
var statuses = []nats.Status{nats.DISCONNECTED, nats.CONNECTED, nats.CLOSED, nats.RECONNECTING,
	nats.CONNECTING, nats.DRAINING_SUBS, nats.DRAINING_PUBS}

type natsCollector struct{ nc *nats.Conn }

func (c *natsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{natsConnected, natsStatus, natsReconnects, natsOutMsgs, natsInMsgs} {
		ch <- d
	}
}

func (c *natsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.nc.Status()
	ch <- gauge(natsConnected, b2f(st == nats.CONNECTED))
	for _, s := range statuses {
		ch <- gauge(natsStatus, b2f(st == s), s.String())
	}
	stats := c.nc.Stats()
	ch <- counter(natsReconnects, stats.Reconnects)
	ch <- counter(natsOutMsgs, stats.OutMsgs)
	ch <- counter(natsInMsgs, stats.InMsgs)
}

var processedType = desc("", "processed_total", "Events the processor handled, by event type.", "type")

type typeCollector struct {
	snapshot func() map[event.JobEventType]uint64
}

func (c *typeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- processedType }

func (c *typeCollector) Collect(ch chan<- prometheus.Metric) {
	for t, n := range c.snapshot() {
		ch <- counter(processedType, n, string(t))
	}
}
