package processor

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a processor's counters. Counters only grow.
type Stats struct {
	// Received counts deliveries from the source (redeliveries included).
	Received uint64
	// Handled counts events acknowledged after every handler succeeded
	// (an event with no handler for its type is acknowledged and counted).
	Handled uint64
	// Failed counts deliveries on which at least one handler failed.
	Failed uint64
	// Retried counts failed deliveries nak'd for a later redelivery (or,
	// with WithJobOrdering, retried in place).
	Retried uint64
	// DeadLettered counts messages given up on and terminated: failed
	// MaxDeliveries times, undecodable, or redelivered too often.
	DeadLettered uint64
	// DeadLetterErrors counts dead-letter writes that failed. Each is
	// retried in place (3 attempts in all); if the last fails too, the
	// message is nak'd and dead-lettered, with the same reason and error,
	// on its next delivery — or, with WithJobOrdering, kept held and
	// retried with backoff until the write succeeds.
	DeadLetterErrors uint64
	// Panics and Timeouts count handler calls that panicked or overran the
	// handler timeout (each is also a failure).
	Panics   uint64
	Timeouts uint64
	// Undecodable counts messages that did not decode (terminated, never
	// retried; also counted in DeadLettered).
	Undecodable uint64
	// Abandoned counts messages nak'd for immediate redelivery because the
	// processor was stopping.
	Abandoned uint64
	// SettleErrors counts Ack/Nak/Term calls the source refused (the
	// message will be redelivered after the source's timeout).
	SettleErrors uint64
	// SourceErrors counts Consume calls that returned an error (each is
	// retried after a backoff).
	SourceErrors uint64
	// Duplicates counts redeliveries of a message the processor still
	// held (its redelivery timer ran out although it was reported in
	// progress, e.g. during a disconnection): dropped unhandled and
	// unsettled, since the held delivery settles the message.
	Duplicates uint64
	// InFlight is how many messages are being handled now.
	InFlight int64
	// Held is how many messages the processor holds unsettled (waiting
	// for a slot, queued behind their job, running, retried or being
	// dead-lettered in place); each is reported in progress.
	Held int64
	// Lag is the consumer's pending count reported with the latest
	// delivery: events stored but not yet delivered to any instance.
	Lag uint64
	// HandleTime is the time from a message's first handler call to its
	// settlement, per delivery.
	HandleTime Latency
	// Delay is the time from an event's timestamp (when it was logged) to
	// its first handler call: the end-to-end latency, per delivery.
	Delay Latency
}

// Latency summarises a latency histogram. Quantiles are bucket upper
// bounds (within 1/8 of a power of two, i.e. ≤ 12.5 % above the truth).
type Latency struct {
	Count         uint64
	Mean          time.Duration
	P50, P90, P99 time.Duration
	Max           time.Duration
}

type counters struct {
	received, handled, failed, retried       atomic.Uint64
	deadLettered, deadLetterErrors           atomic.Uint64
	panics, timeouts, undecodable, abandoned atomic.Uint64
	settleErrors, sourceErrors, lag          atomic.Uint64
	duplicates                               atomic.Uint64
	inFlight                                 atomic.Int64
	handleTime, delay                        histogram
}

// Stats returns a snapshot of the counters. It is safe to call at any time
// and does no I/O.
func (p *Processor) Stats() Stats {
	c := &p.c
	return Stats{
		Received:         c.received.Load(),
		Handled:          c.handled.Load(),
		Failed:           c.failed.Load(),
		Retried:          c.retried.Load(),
		DeadLettered:     c.deadLettered.Load(),
		DeadLetterErrors: c.deadLetterErrors.Load(),
		Panics:           c.panics.Load(),
		Timeouts:         c.timeouts.Load(),
		Undecodable:      c.undecodable.Load(),
		Abandoned:        c.abandoned.Load(),
		SettleErrors:     c.settleErrors.Load(),
		SourceErrors:     c.sourceErrors.Load(),
		Duplicates:       c.duplicates.Load(),
		Held:             int64(p.flights.count()),
		InFlight:         c.inFlight.Load(),
		Lag:              c.lag.Load(),
		HandleTime:       c.handleTime.snapshot(),
		Delay:            c.delay.snapshot(),
	}
}

// histogram is a lock-free log-linear histogram of nanoseconds: 8
// sub-buckets per power of two.
type histogram struct {
	buckets [nBuckets]atomic.Uint64
	count   atomic.Uint64
	sum     atomic.Uint64
	max     atomic.Uint64
}

const (
	subBits  = 3
	nBuckets = (64 - subBits + 1) << subBits
)

func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v in [2^e, 2^(e+1))
	m := (v >> (e - subBits)) & (1<<subBits - 1)
	return (e-subBits+1)<<subBits + int(m)
}

// upperBound is the largest value of bucket i.
func upperBound(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	e := i>>subBits + subBits - 1
	m := uint64(i & (1<<subBits - 1))
	lo := uint64(1)<<e | m<<(e-subBits)
	return lo + uint64(1)<<(e-subBits) - 1
}

func (h *histogram) observe(d time.Duration) {
	v := uint64(max(d, 0))
	h.buckets[bucketOf(v)].Add(1)
	h.count.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

func (h *histogram) snapshot() Latency {
	var counts [nBuckets]uint64
	var n uint64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		n += counts[i]
	}
	l := Latency{Count: n, Max: time.Duration(h.max.Load())}
	if n == 0 {
		return l
	}
	l.Mean = time.Duration(h.sum.Load() / max(h.count.Load(), 1))
	q := func(f float64) time.Duration {
		rank := uint64(f*float64(n-1)) + 1
		var cum uint64
		for i, c := range counts {
			cum += c
			if cum >= rank {
				return min(time.Duration(upperBound(i)), l.Max)
			}
		}
		return l.Max
	}
	l.P50, l.P90, l.P99 = q(0.50), q(0.90), q(0.99)
	return l
}
