package metrics

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

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
	logUnknown       = desc("logger", "outcome_unknown_total", "Events given up on after a publish that was never acknowledged: they may or may not be stored.")
	logBatches       = desc("logger", "batches_total", "Store calls (StoreBatch and pipelined SendBatch), replays included.")
	logFailedBatches = desc("logger", "failed_batches_total", "Store calls that did not store every event.")
	logDepth         = desc("logger", "buffer_depth", "Events in memory not yet stored.")
	logInFlight      = desc("logger", "in_flight", "Events in the store calls in flight (up to two, pipelined).")
	logSpillPending  = desc("logger", "spill_pending", "Events in the spill waiting for replay.")
	logBreaker       = desc("logger", "breaker_open", "1 while the circuit breaker holds store calls back.")
)

type loggerCollector struct{ l *logger.Logger }

func (c *loggerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{logLogged, logRefused, logStored, logRetried, logDropped, logSpilled,
		logReplayed, logUnknown, logBatches, logFailedBatches, logDepth, logInFlight, logSpillPending, logBreaker} {
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
	ch <- counter(logUnknown, s.OutcomeUnknown)
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
	procAbandoned    = desc("processor", "abandoned_total", "Messages nak'd for immediate redelivery because the processor was stopping.")
	procSettleErrors = desc("processor", "settle_errors_total", "Ack, Nak or Term calls the consumer refused (redelivered after the ack wait).")
	procInFlight     = desc("processor", "in_flight", "Messages being handled now.")
	procLag          = desc("processor", "lag", "Events stored but not yet delivered to the consumer (its num_pending, read at scrape time).")
	procAckPending   = desc("processor", "ack_pending", "Events delivered to the consumer but not yet acknowledged (its num_ack_pending, read at scrape time).")
	procLagErrors    = desc("processor", "lag_errors_total", "Scrapes whose consumer info request failed (the lag series is then left out).")
	procHandleTime   = desc("processor", "handle_duration_seconds",
		"Time from a delivery's first handler call to its settlement. Quantiles are upper bounds within 12.5 %, over the whole run.")
	procHandleMax = desc("processor", "handle_duration_max_seconds", "Longest time from a delivery's first handler call to its settlement.")
	procDelay     = desc("processor", "delay_seconds",
		"Time from an event's timestamp (when it was logged) to its first handler call. Quantiles are upper bounds within 12.5 %, over the whole run.")
	procDelayMax = desc("processor", "delay_max_seconds", "Longest time from an event's timestamp to its first handler call.")
)

// The consumer's own counters, when the processor's Source reports them
// (ConsumerCounters: jsconsume.Source does).
var (
	procConsRestarts    = desc("processor", "consumer_restarts_total", "Times consumption was re-established after the consumer was lost or the subscription ended.")
	procConsRecreations = desc("processor", "consumer_recreations_total", "Times the durable consumer was created again after it was lost, resuming after the last ack floor seen.")
	procConsAckFloor    = desc("processor", "consumer_ack_floor", "Stream sequence of the consumer's ack floor as last read: a re-created consumer resumes after it.")
)

// lagTimeout bounds the consumer info request of one scrape.
const lagTimeout = 2 * time.Second

type processorCollector struct {
	p         *processor.Processor
	lag       LagSource // nil: the lag is p.Stats().Lag
	lagErrors atomic.Uint64
	log       *slog.Logger
}

func (c *processorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{procReceived, procHandled, procFailed, procRetried, procDead, procDeadErrors,
		procPanics, procTimeouts, procUndecodable, procSourceErrors, procAbandoned, procSettleErrors, procInFlight,
		procLag, procHandleTime, procHandleMax, procDelay, procDelayMax} {
		ch <- d
	}
	if c.lag != nil {
		ch <- procAckPending
		ch <- procLagErrors
	}
	if _, ok := c.p.Source().(ConsumerCounters); ok {
		ch <- procConsRestarts
		ch <- procConsRecreations
		ch <- procConsAckFloor
	}
}

// ConsumerCounters is what a processor's Source may report of its consumer
// (jsconsume.Source does); the processor's metrics then include them.
type ConsumerCounters interface {
	Restarts() uint64
	Recreations() uint64
	AckFloor() uint64
}

// summary is a processor.Latency as a Prometheus summary: its count, the
// sum (mean × count) and the 0.5, 0.9 and 0.99 quantiles, in seconds. The
// domain keeps quantiles, not buckets, so a histogram cannot be made of it.
func summary(d *prometheus.Desc, l processor.Latency) prometheus.Metric {
	return prometheus.MustNewConstSummary(d, l.Count, l.Mean.Seconds()*float64(l.Count), map[float64]float64{
		0.5: l.P50.Seconds(), 0.9: l.P90.Seconds(), 0.99: l.P99.Seconds(),
	})
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
	ch <- counter(procAbandoned, s.Abandoned)
	ch <- counter(procSettleErrors, s.SettleErrors)
	ch <- gauge(procInFlight, float64(s.InFlight))
	if cc, ok := c.p.Source().(ConsumerCounters); ok {
		ch <- counter(procConsRestarts, cc.Restarts())
		ch <- counter(procConsRecreations, cc.Recreations())
		ch <- gauge(procConsAckFloor, float64(cc.AckFloor()))
	}
	ch <- summary(procHandleTime, s.HandleTime)
	ch <- gauge(procHandleMax, s.HandleTime.Max.Seconds())
	ch <- summary(procDelay, s.Delay)
	ch <- gauge(procDelayMax, s.Delay.Max.Seconds())
	if c.lag == nil {
		ch <- gauge(procLag, float64(s.Lag))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	pending, ackPending, err := c.lag.Lag(ctx)
	if err != nil {
		c.lagErrors.Add(1)
		c.log.Warn("metrics: consumer lag unavailable", "err", err)
	} else {
		ch <- gauge(procLag, float64(pending))
		ch <- gauge(procAckPending, float64(ackPending))
	}
	ch <- counter(procLagErrors, c.lagErrors.Load())
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
	for _, d := range []*prometheus.Desc{natsConnected, natsStatus, natsReconnects, natsOutMsgs, natsInMsgs, natsServerInfo} {
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
	if st == nats.CONNECTED {
		ch <- gauge(natsServerInfo, 1, c.nc.ConnectedServerName(), c.nc.ConnectedUrlRedacted(), c.nc.ConnectedClusterName())
	}
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
