package event

import (
	"time"
)

// JobEvent is one lifecycle event of one job: the record of the v1.0 design
// plus ID, a unique, time-sortable identifier used to de-duplicate retried
// writes.
//
// Optional strings are absent when empty and optional numbers when nil; both
// are written as JSON null. Timestamps have microsecond precision, the
// precision of the wire format's float seconds.
type JobEvent struct {
	// ID is unique and sorts by creation time (see NewID). It is written on
	// the wire as "event_id" and, on NATS, as the Nats-Msg-Id header.
	ID string

	JobID     string
	Type      JobEventType
	Timestamp time.Time

	WorkerID   string
	WorkerType string
	QueueName  string

	Message string
	Details map[string]any

	ErrorType    string
	ErrorMessage string

	DurationMS *float64
	MemoryMB   *float64
	CPUTimeMS  *float64

	Tags     map[string]string
	Metadata map[string]any
}

// Option sets an optional field of an event built by a constructor.
type Option func(*JobEvent)

// WithID sets the event id instead of a freshly generated one.
func WithID(id string) Option { return func(e *JobEvent) { e.ID = id } }

// WithTimestamp sets the event time instead of now. It is truncated to
// microseconds.
func WithTimestamp(t time.Time) Option {
	return func(e *JobEvent) { e.Timestamp = t.Truncate(time.Microsecond) }
}

// WithWorker sets the worker id and type.
func WithWorker(id, typ string) Option {
	return func(e *JobEvent) { e.WorkerID, e.WorkerType = id, typ }
}

// WithQueue sets the queue name.
func WithQueue(name string) Option { return func(e *JobEvent) { e.QueueName = name } }

// WithMessage replaces the constructor's human-readable message.
func WithMessage(msg string) Option { return func(e *JobEvent) { e.Message = msg } }

// WithDetail adds one key to the event details.
func WithDetail(key string, value any) Option {
	return func(e *JobEvent) {
		if e.Details == nil {
			e.Details = make(map[string]any, 2)
		}
		e.Details[key] = value
	}
}

// WithTag adds one tag.
func WithTag(key, value string) Option {
	return func(e *JobEvent) {
		if e.Tags == nil {
			e.Tags = make(map[string]string, 2)
		}
		e.Tags[key] = value
	}
}

// WithTags adds every tag of tags.
func WithTags(tags map[string]string) Option {
	return func(e *JobEvent) {
		for k, v := range tags {
			WithTag(k, v)(e)
		}
	}
}

// WithMetadata adds one metadata key.
func WithMetadata(key string, value any) Option {
	return func(e *JobEvent) {
		if e.Metadata == nil {
			e.Metadata = make(map[string]any, 2)
		}
		e.Metadata[key] = value
	}
}

// WithDuration sets duration_ms.
func WithDuration(d time.Duration) Option {
	return func(e *JobEvent) { e.DurationMS = msPtr(d) }
}

// WithMemoryMB sets memory_mb.
func WithMemoryMB(mb float64) Option { return func(e *JobEvent) { e.MemoryMB = &mb } }

// WithCPUTime sets cpu_time_ms.
func WithCPUTime(d time.Duration) Option {
	return func(e *JobEvent) { e.CPUTimeMS = msPtr(d) }
}

func msPtr(d time.Duration) *float64 {
	ms := float64(d) / float64(time.Millisecond)
	return &ms
}

// New returns an event of type t for job jobID with a fresh ID and the
// current time, then applies opts. It does not validate; see Validate.
func New(jobID string, t JobEventType, opts ...Option) JobEvent {
	e := JobEvent{
		ID:        NewID(),
		JobID:     jobID,
		Type:      t,
		Timestamp: time.Now().Truncate(time.Microsecond),
	}
	for _, o := range opts {
		o(&e)
	}
	return e
}
