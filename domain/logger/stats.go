package logger

import "time"

// Stats is a snapshot of a Logger's counters. Counters only grow; gauges
// (BufferDepth, InFlight, SpillPending, BreakerOpen) are current values.
//
// Every accepted event ends in exactly one of Stored, Dropped (by reason,
// Rejected included), OutcomeUnknown or the spill, or is still in
// BufferDepth, with one exception: events spilled while their store call
// was in flight count as Spilled and, if that call then succeeds, as Stored
// too (and as Replayed when the spill is replayed; the store de-duplicates
// them by event ID).
type Stats struct {
	Logged  uint64 // events accepted by Log, LogCtx and LogSync
	Refused uint64 // events not accepted because the buffer was full (Block policy)
	Stored  uint64 // events acknowledged by the store from the buffer
	// Retried counts the events of each retry after a failed store call:
	// those sent again, and those the lookup found stored and left out
	// (counted in FoundStored too).
	Retried  uint64
	Dropped  Drops  // accepted events discarded, by reason
	Spilled  uint64 // events written to the Spill
	Replayed uint64 // events moved from the Spill to the store
	// OutcomeUnknown counts events the logger gave up on (Close's deadline,
	// retries used up without a Spill, a failed Spill) after a publish that
	// was sent and never acknowledged: they may be stored. See
	// ErrOutcomeUnknown.
	OutcomeUnknown uint64
	// FoundStored counts events left out of a re-publish (a retry or a
	// replay) because the store's Lookup found them stored already: their
	// earlier publish of unknown outcome had arrived. They count as Stored
	// (or Replayed) too.
	FoundStored uint64

	Batches       uint64 // store calls made (StoreBatch and pipelined SendBatch), replays included
	FailedBatches uint64 // store calls that did not store every event

	BufferDepth  int  // events in memory not yet stored, InFlight included
	InFlight     int  // events in the store calls in flight (two, pipelined)
	SpillPending int  // events in the Spill waiting for replay, as last seen
	BreakerOpen  bool // the circuit breaker holds calls back

	LastError   error     // the last store or spill error, nil if none
	LastErrorAt time.Time // when LastError happened
}

// Drops counts discarded events by reason.
type Drops struct {
	Overflow         uint64
	Rejected         uint64
	RetriesExhausted uint64
	SpillFailed      uint64
	Closed           uint64
}

// Total returns the sum over all reasons.
func (d Drops) Total() uint64 {
	return d.Overflow + d.Rejected + d.RetriesExhausted + d.SpillFailed + d.Closed
}

func (d *Drops) add(r DropReason, n uint64) {
	switch r {
	case DropOverflow:
		d.Overflow += n
	case DropRejected:
		d.Rejected += n
	case DropRetriesExhausted:
		d.RetriesExhausted += n
	case DropSpillFailed:
		d.SpillFailed += n
	case DropClosed:
		d.Closed += n
	}
}
