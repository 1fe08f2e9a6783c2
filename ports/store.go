package ports

import (
	"context"
	"iter"
	"slices"
	"strings"
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
	// Created is when the store's sequence space began (a JetStream
	// stream's creation time): a store deleted and re-created under the
	// same name starts its sequences again with a new Created. Zero when
	// the backend cannot tell.
	Created time.Time
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
//
// Paging (event.Page): After and Before bound the result by Seq (both
// exclusive), so a page that starts after the previous page's last Seq
// skips nothing and repeats nothing however the store grows meanwhile.
// Offset and Limit never overflow: an Offset past every match is an empty
// page. An Offset above event.MaxOffset with more matches than that is an
// *event.OffsetError naming the Seq to continue after.
//
// A store may refuse a query whose scan would read more stored events
// than its stated bound (a filter on what its index cannot select, such as
// a queue, over a large stream) with a *ScanError wrapping ErrScanBound
// that says what to add; it never answers such a query by timing out.
type Reader interface {
	Job(ctx context.Context, jobID string, page event.Page) ([]event.JobEvent, error)
	ByType(ctx context.Context, t event.JobEventType, page event.Page) ([]event.JobEvent, error)
	List(ctx context.Context, f event.Filter, page event.Page) ([]event.Record, error)
	Count(ctx context.Context, f event.Filter) (int, error)
}

// JobLocation is an environment and service under which a job has events.
type JobLocation struct {
	Environment string
	Service     string
	Events      int
}

// JobFinder finds a job id under every environment and service, from an
// index: without reading the events. Every store implements it; use
// FindJob to call it on any Reader.
type JobFinder interface {
	// FindJob returns where jobID has events, sorted by environment then
	// service; none is an empty result and a nil error. An invalid job id
	// wraps ErrInvalid.
	FindJob(ctx context.Context, jobID string) ([]JobLocation, error)
}

// Named is a store bound to one environment and service: those Job,
// ByType and DeleteJob use and StoreBatch writes under. Every store
// implements it.
type Named interface {
	Names() (environment, service string)
}

// FindJob returns where jobID has events: r's FindJob when it has one,
// else counted from List(Filter{JobID: jobID}).
func FindJob(ctx context.Context, r Reader, jobID string) ([]JobLocation, error) {
	if jf, ok := r.(JobFinder); ok {
		return jf.FindJob(ctx, jobID)
	}
	recs, err := r.List(ctx, event.Filter{JobID: jobID}, event.Page{})
	if err != nil {
		return nil, err
	}
	var out []JobLocation
	for _, rec := range recs {
		i := slices.IndexFunc(out, func(l JobLocation) bool {
			return l.Environment == rec.Environment && l.Service == rec.Service
		})
		if i < 0 {
			out = append(out, JobLocation{Environment: rec.Environment, Service: rec.Service})
			i = len(out) - 1
		}
		out[i].Events++
	}
	SortLocations(out)
	return out, nil
}

// SortLocations sorts locations by environment, then service.
func SortLocations(ls []JobLocation) {
	slices.SortFunc(ls, func(a, b JobLocation) int {
		if c := strings.Compare(a.Environment, b.Environment); c != 0 {
			return c
		}
		return strings.Compare(a.Service, b.Service)
	})
}

// ServiceDeleter removes every event of a store's own environment and
// service at once: one call, whatever the number of jobs (a bench run's
// events under a service of its own).
type ServiceDeleter interface {
	// DeleteService removes every event of the store's environment and
	// service and returns how many it removed.
	DeleteService(ctx context.Context) (int, error)
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
