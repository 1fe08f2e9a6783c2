package event_test

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/naq-go/events/domain/event"
)

// fixedTime is the timestamp of every fixture: it has a microsecond part
// with a trailing zero to exercise the trimming.
var fixedTime = time.Date(2021, 10, 18, 14, 38, 10, 123450000, time.UTC)

// fixture is one constructor call with fixed id and time, per event type, in
// the order of event.Types.
type fixture struct {
	typ   event.JobEventType
	build func(opts ...event.Option) event.JobEvent
}

func fixedOpts(typ event.JobEventType, extra ...event.Option) []event.Option {
	return append([]event.Option{
		event.WithID(fmt.Sprintf("01JC0000000000000000%06d", indexOf(typ))),
		event.WithTimestamp(fixedTime),
	}, extra...)
}

func indexOf(typ event.JobEventType) int {
	for i, t := range event.Types() {
		if t == typ {
			return i
		}
	}
	return -1
}

var fixtures = []fixture{
	{event.TypeEnqueued, func(o ...event.Option) event.JobEvent {
		return event.Enqueued("job-1", "default", 5, o...)
	}},
	{event.TypeDequeued, func(o ...event.Option) event.JobEvent {
		return event.Dequeued("job-1", "default", "w-1", o...)
	}},
	{event.TypeStarted, func(o ...event.Option) event.JobEvent {
		return event.Started("job-1", "w-1", "async", append(o,
			event.WithQueue("default"), event.WithTag("project", "naq"), event.WithTag("department", "engineering"),
			event.WithMemoryMB(45.2), event.WithCPUTime(12500*time.Microsecond))...)
	}},
	{event.TypeCompleted, func(o ...event.Option) event.JobEvent {
		return event.Completed("job-1", "w-1", 12500*time.Microsecond, o...)
	}},
	{event.TypeFailed, func(o ...event.Option) event.JobEvent {
		err := fmt.Errorf("load config: %w", &fs.PathError{Op: "open", Path: "/etc/x.conf", Err: fs.ErrNotExist})
		return event.Failed("job-1", "w-1", err, 1500*time.Millisecond, 2, o...)
	}},
	{event.TypeCancelled, func(o ...event.Option) event.JobEvent {
		return event.Cancelled("job-1", "user request", o...)
	}},
	{event.TypeTimeout, func(o ...event.Option) event.JobEvent {
		return event.Timeout("job-1", "w-1", 30*time.Second, o...)
	}},
	{event.TypeRetryScheduled, func(o ...event.Option) event.JobEvent {
		return event.RetryScheduled("job-1", 2, 5*time.Second, o...)
	}},
	{event.TypeRetryStarted, func(o ...event.Option) event.JobEvent {
		return event.RetryStarted("job-1", 2, o...)
	}},
	{event.TypeMaxRetriesExceeded, func(o ...event.Option) event.JobEvent {
		return event.MaxRetriesExceeded("job-1", 3, errors.New("connection refused"), o...)
	}},
	{event.TypeDependencySatisfied, func(o ...event.Option) event.JobEvent {
		return event.DependencySatisfied("job-1", "job-0", o...)
	}},
	{event.TypeDependencyFailed, func(o ...event.Option) event.JobEvent {
		return event.DependencyFailed("job-1", "job-0", errors.New("exit status 1"), o...)
	}},
	{event.TypeWaitingForDependencies, func(o ...event.Option) event.JobEvent {
		return event.WaitingForDependencies("job-1", []string{"job-0", "job-a"}, o...)
	}},
	{event.TypeScheduled, func(o ...event.Option) event.JobEvent {
		return event.Scheduled("job-1", fixedTime.Add(time.Hour+500*time.Microsecond), o...)
	}},
	{event.TypeScheduleTriggered, func(o ...event.Option) event.JobEvent {
		return event.ScheduleTriggered("job-1", "sched-1", o...)
	}},
	{event.TypeSchedulePaused, func(o ...event.Option) event.JobEvent {
		return event.SchedulePaused("job-1", "sched-1", o...)
	}},
	{event.TypeScheduleResumed, func(o ...event.Option) event.JobEvent {
		return event.ScheduleResumed("job-1", "sched-1", o...)
	}},
	{event.TypeScheduleDeactivated, func(o ...event.Option) event.JobEvent {
		return event.ScheduleDeactivated("job-1", "sched-1", "end date reached", o...)
	}},
	{event.TypeWorkerAssigned, func(o ...event.Option) event.JobEvent {
		return event.WorkerAssigned("job-1", "w-1", "thread", o...)
	}},
	{event.TypeWorkerReleased, func(o ...event.Option) event.JobEvent {
		return event.WorkerReleased("job-1", "w-1", o...)
	}},
	{event.TypeQueuePriorityChanged, func(o ...event.Option) event.JobEvent {
		return event.QueuePriorityChanged("job-1", 0, 10, o...)
	}},
	{event.TypeQueueMoved, func(o ...event.Option) event.JobEvent {
		return event.QueueMoved("job-1", "default", "high", o...)
	}},
	{event.TypeTTLExpired, func(o ...event.Option) event.JobEvent {
		return event.TTLExpired("job-1", time.Hour, o...)
	}},
	{event.TypeTTLExtended, func(o ...event.Option) event.JobEvent {
		return event.TTLExtended("job-1", time.Date(2021, 10, 19, 0, 0, 0, 0, time.UTC), append(o,
			event.WithMetadata("requested_by", "ops"),
			event.WithMetadata("attempt", map[string]any{"n": 1, "ok": true, "ids": []any{"a", nil, 2.5}}))...)
	}},
}

// event builds the fixture of f with its fixed id and time.
func (f fixture) event() event.JobEvent { return f.build(fixedOpts(f.typ)...) }
