package storetest

import (
	"fmt"
	"testing"
	"time"
)

// Option adapts the suite to what a backend cannot do or needs more time
// for. The zero set of options runs every test with the defaults below.
type Option func(*options) error

type options struct {
	retentionByCount bool
	retentionByAge   bool
	retentionAge     time.Duration
	retentionTimeout time.Duration
	waitTimeout      time.Duration
	backendName      string
}

func defaultOptions() options {
	return options{
		retentionByCount: true,
		retentionByAge:   true,
		retentionAge:     time.Second,
		retentionTimeout: 10 * time.Second,
		waitTimeout:      10 * time.Second,
	}
}

// WithoutRetentionByCount skips the Config.MaxEvents test (t.Skip, with
// the reason), for a backend that cannot bound its size by a number of
// events. Default: the test runs.
func WithoutRetentionByCount() Option {
	return func(o *options) error { o.retentionByCount = false; return nil }
}

// WithoutRetentionByAge skips the Config.MaxAge test (t.Skip, with the
// reason), for a backend that cannot expire events by age. Default: the
// test runs.
func WithoutRetentionByAge() Option {
	return func(o *options) error { o.retentionByAge = false; return nil }
}

// WithRetentionAge sets the Config.MaxAge the age-retention test gives its
// store. Default 1s; it must be > 0 (the suite fails otherwise). A backend
// with a coarse expiry clock may want a larger value; keep it well under the
// retention timeout.
func WithRetentionAge(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("storetest: WithRetentionAge(%v): must be > 0", d)
		}
		o.retentionAge = d
		return nil
	}
}

// WithRetentionTimeout sets how long the retention tests poll Cleanup and
// Count for expired or excess events to disappear. Default 10s; it must be
// > 0 (the suite fails otherwise).
func WithRetentionTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("storetest: WithRetentionTimeout(%v): must be > 0", d)
		}
		o.retentionTimeout = d
		return nil
	}
}

// WithWaitTimeout sets how long the suite waits for anything asynchronous
// other than retention: a record to arrive on a stream, a stream to end
// after its context is cancelled or its store closed, goroutines to exit.
// Default 10s; it must be > 0 (the suite fails otherwise).
func WithWaitTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("storetest: WithWaitTimeout(%v): must be > 0", d)
		}
		o.waitTimeout = d
		return nil
	}
}

// WithBackendName makes the Health test require Health.Backend == name
// ("memory", "file", "jetstream"). Default: any non-empty name passes. An
// empty name is invalid (the suite fails).
func WithBackendName(name string) Option {
	return func(o *options) error {
		if name == "" {
			return fmt.Errorf("storetest: WithBackendName(\"\"): must not be empty")
		}
		o.backendName = name
		return nil
	}
}

// Run runs the storage contract suite against the stores newStore makes,
// each check as a subtest of t. Every subtest makes its own stores (so each
// gets a fresh backend, see Factory) and closes them. Subtests do not call
// t.Parallel; the whole suite takes a few seconds on a healthy backend.
//
// The contract it checks, beyond the doc comments of ports.Store:
//   - Job, ByType, List: results in store order (ascending Seq), Page applied
//     after filtering; a job with no events is an empty result and a nil error
//     (not ErrNotFound); a negative Page.Limit or Page.Offset is ErrInvalid.
//   - Count(f) == len(List(f, Page{})) for every filter, on stores holding
//     only valid events (the suite stores nothing else; Count may also count
//     undecodable stored messages a read skips, see ports.Reader).
//   - Invalid input (a job id, environment or service that is not a subject
//     token, an unknown type, a negative page) wraps ports.ErrInvalid and the
//     message names the value. It applies to reads as well, so "*" or "a.b"
//     never match anything by accident.
//   - Partial store: StoreBatch with some invalid events stores every valid
//     one (in order) and returns a *logger.BatchError whose Errs are non-nil
//     exactly for the invalid events.
//   - Idempotency: an event ID already stored is not stored again (also within
//     one batch), and that is not an error.
//   - Paging: Page.After/Before bound every read by Seq (exclusive); a
//     cursor walk (each page After the last Seq of the one before) returns
//     every record once, also while writers add more; offsets and limits
//     near math.MaxInt give an empty page, not an error or an overflow; an
//     Offset above event.MaxOffset over more matches is an
//     *event.OffsetError whose After continues the walk.
//   - FindJob finds a job under every environment and service.
//   - A feature the backend lacks (WithoutX) is reported as a skipped
//     subtest with the reason, never as a pass.
//   - DeleteJob of an unknown job returns 0, nil.
//   - Stream starts when the range loop begins (its first pull), not when
//     Stream is called. When ctx ends it yields one final error wrapping
//     ctx.Err(); when the store is closed, one wrapping ports.ErrClosed;
//     when the consumer breaks, it releases everything it holds.
//   - After Close every method returns an error wrapping ports.ErrClosed
//     (Stream yields it); Close again returns nil.
func Run(t *testing.T, newStore Factory, opts ...Option) {
	t.Helper()
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			t.Fatal(err)
		}
	}
	s := &suite{newStore: newStore, o: o}

	t.Run("Job", s.testJob)
	t.Run("ByType", s.testByType)
	t.Run("RoundTrip", s.testRoundTrip)
	t.Run("List", s.testList)
	t.Run("HugeOffset", s.testHugeOffset)
	t.Run("Cursor", s.testCursor)
	t.Run("CursorConcurrentWrites", s.testCursorConcurrent)
	t.Run("OffsetBound", s.testOffsetBound)
	t.Run("FindJob", s.testFindJob)
	t.Run("SharedBackend", s.testSharedBackend)
	t.Run("Idempotent", s.testIdempotent)
	t.Run("Invalid", s.testInvalid)
	t.Run("PartialBatch", s.testPartialBatch)
	t.Run("DeleteJob", s.testDeleteJob)
	t.Run("RetentionByCount", func(t *testing.T) {
		if !o.retentionByCount {
			t.Skip("the backend cannot bound its size by a number of events (WithoutRetentionByCount)")
		}
		s.testRetentionByCount(t)
	})
	t.Run("RetentionByAge", func(t *testing.T) {
		if !o.retentionByAge {
			t.Skip("the backend cannot expire events by age (WithoutRetentionByAge)")
		}
		s.testRetentionByAge(t)
	})
	t.Run("ConcurrentWriters", s.testConcurrentWriters)
	t.Run("Stream", s.testStream)
	t.Run("Closed", s.testClosed)
	t.Run("Health", s.testHealth)
}

// suite carries the factory and options to every test.
type suite struct {
	newStore Factory
	o        options
}
