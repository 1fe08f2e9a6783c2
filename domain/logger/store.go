package logger

import (
	"context"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Store is the one duty the logger needs from storage: make a batch of events
// durable. It is declared here, beside its only caller, so that the domain
// never imports the ports module; ports.Store embeds it.
//
// Contract for implementations:
//   - StoreBatch returns nil only when every event of the batch is durably
//     stored (for NATS: its JetStream publish acknowledgement has arrived).
//   - It is idempotent per event ID within the store's duplicate window: a
//     batch retried after an error or timeout stores no event twice.
//   - Events of one batch are stored in slice order.
//   - When some events fail, the error is (or wraps) a *BatchError whose Errs
//     say which; a failure that is the event's own fault (invalid, too large)
//     wraps event.ErrInvalid and is never worth retrying. Any other error is
//     taken as transient.
//   - It must honour ctx's deadline and must not retain the slice.
type Store interface {
	StoreBatch(ctx context.Context, events []event.JobEvent) error
}

// Spill holds events the Store could not take (an outage longer than the
// retries, or a buffer that would overflow) so they can be replayed, in
// order, once the Store is healthy. The file adapter implements it.
type Spill interface {
	// StoreBatch appends the events durably, in order. Its error follows
	// the Store contract: nil means every event is written; a *BatchError
	// with one entry per event says which were not, an entry wrapping
	// event.ErrInvalid being a refusal the logger drops (DropRejected)
	// rather than retries; any other error fails every event. The logger
	// counts the events written as spilled whatever happened to the
	// others, except when it spills the batch of a store call in flight:
	// that write counts only if it took every event, so an event may be
	// written twice (the file spill keeps one copy per ID; a copy
	// replayed is one more resend of the same ID). The logger waits for
	// the call at most until Close's bound (see CloseGrace); it must
	// honour ctx.
	StoreBatch(ctx context.Context, events []event.JobEvent) error
	// Replay calls fn with spilled events in the order they were spilled, in
	// batches of at most max events. A batch for which fn returns nil is
	// removed from the spill for good; delivery is at least once (a crash
	// between fn and the removal replays that batch again, which the Store's
	// de-duplication by event ID absorbs). Replay stops at fn's first error
	// and returns it; events not removed stay for the next Replay.
	Replay(ctx context.Context, max int, fn func(ctx context.Context, events []event.JobEvent) error) error
	// Pending returns how many spilled events wait to be replayed.
	Pending() int
}

// Lookup is implemented by stores that can tell cheaply whether events are
// already stored. Before re-publishing an event whose earlier publish had an
// unknown outcome (sent, never acknowledged) and that is older than the
// store's own de-duplication window, the logger asks Stored and skips what
// is there, so that no outage length stores an event twice.
type Lookup interface {
	// Stored reports for each event whether an event with its ID is stored:
	// found[i] answers evs[i]. On error nothing is known.
	Stored(ctx context.Context, evs []event.JobEvent) (found []bool, err error)
	// DedupWindow is how long the store de-duplicates by event ID on its
	// own (0: it does not).
	DedupWindow() time.Duration
}
