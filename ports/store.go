package ports

import (
	"context"
	"iter"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// Health is a store's answer to a health check.
type Health struct {
	OK      bool
	Backend string // "memory", "file", "jetstream"
	// LastSeq is the sequence of the newest event the store holds or held
	// (0 when none was ever stored). A Stream with FromSeq: LastSeq+1
	// delivers exactly the events stored after this Health call, whatever
	// the clocks of the caller and the backend say.
	LastSeq uint64
	Detail  map[string]any // backend-specific figures, for people
	RTT     time.Duration
}

// Writer stores events. StoreBatch's contract is written on logger.Store;
// in addition, the valid events of a batch that holds invalid ones are stored
// (in order) and the *logger.BatchError marks exactly the invalid ones. An
// event whose ID is already stored is skipped without error.
type Writer interface {
	logger.Store
	// Store stores one event; it is StoreBatch of one.
	Store(ctx context.Context, ev event.JobEvent) error
}

// Reader queries stored events. Every result is in store order (ascending
// Seq), with the Page applied after filtering. Job and ByType read the store's
// own environment and service; List and Count take both from the filter
// (empty matches all).
//
// Count(f) counts the stored messages matching f, so that a backend can
// answer it from an index without reading them: it may include stored
// messages that a read skips as undecodable (a backend that has such
// records counts each skip, e.g. in its Stats().DecodeErrors). When the
// store holds only valid events, Count(f) equals len(List(f, Page{})).
//
// A job or type with no events gives an empty result and a nil error, not
// ErrNotFound. A job id, environment or service that is not a valid subject
// token (event.CheckToken), an unknown type, or a negative Page.Limit or
// Page.Offset is an error wrapping ErrInvalid that names the value, so "*" or
// "a.b" never match anything by accident.
type Reader interface {
	Job(ctx context.Context, jobID string, page event.Page) ([]event.JobEvent, error)
	ByType(ctx context.Context, t event.JobEventType, page event.Page) ([]event.JobEvent, error)
	List(ctx context.Context, f event.Filter, page event.Page) ([]event.Record, error)
	Count(ctx context.Context, f event.Filter) (int, error)
}

// Admin removes events.
type Admin interface {
	// DeleteJob removes every event of the job (in the store's own
	// environment and service) and returns how many it removed: 0 and a
	// nil error for a job with no events.
	DeleteJob(ctx context.Context, jobID string) (int, error)
	// Cleanup removes events past the store's retention and returns how many.
	Cleanup(ctx context.Context) (int, error)
}

// Streamer delivers events as they are stored.
type Streamer interface {
	// Stream yields matching records in store order until ctx ends, the
	// consumer stops ranging, or a fatal error (yielded last). Records that
	// fail to decode are counted and skipped, never yielded as errors.
	//
	// The stream starts when the range loop begins (the iterator's first
	// pull), not when Stream is called; with zero options it delivers every
	// matching event stored after that. It never ends silently on its own:
	// when ctx ends it yields one last error wrapping ctx.Err(), when the
	// store is closed one wrapping ErrClosed, and an invalid filter is its
	// only item (wrapping ErrInvalid). A consumer that breaks out of the loop
	// releases everything the stream holds before the loop returns or soon
	// after.
	Stream(ctx context.Context, f event.Filter, opts event.StreamOptions) iter.Seq2[event.Record, error]
}

// Store is the whole storage port: every adapter implements it.
type Store interface {
	Writer
	Reader
	Admin
	Streamer
	// Health reports whether the backend works now and names it.
	Health(ctx context.Context) (Health, error)
	// Close releases the store and ends its streams. Afterwards every method
	// returns an error wrapping ErrClosed; closing again returns nil.
	Close() error
}
