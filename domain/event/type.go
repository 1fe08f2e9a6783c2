package event

import "fmt"

// JobEventType is the kind of a job lifecycle event. Its string value is the
// one written on the wire and used as the last token of the NATS subject.
type JobEventType string

// The 24 event types of the v1.0 design, with their wire values.
const (
	// Job lifecycle.
	TypeEnqueued  JobEventType = "enqueued"
	TypeDequeued  JobEventType = "dequeued"
	TypeStarted   JobEventType = "started"
	TypeCompleted JobEventType = "completed"
	TypeFailed    JobEventType = "failed"
	TypeCancelled JobEventType = "cancelled"
	TypeTimeout   JobEventType = "timeout"

	// Retries.
	TypeRetryScheduled     JobEventType = "retry_scheduled"
	TypeRetryStarted       JobEventType = "retry_started"
	TypeMaxRetriesExceeded JobEventType = "max_retries_exceeded"

	// Dependencies.
	TypeDependencySatisfied    JobEventType = "dependency_satisfied"
	TypeDependencyFailed       JobEventType = "dependency_failed"
	TypeWaitingForDependencies JobEventType = "waiting_for_dependencies"

	// Schedules.
	TypeScheduled           JobEventType = "scheduled"
	TypeScheduleTriggered   JobEventType = "schedule_triggered"
	TypeSchedulePaused      JobEventType = "schedule_paused"
	TypeScheduleResumed     JobEventType = "schedule_resumed"
	TypeScheduleDeactivated JobEventType = "schedule_deactivated"

	// Workers.
	TypeWorkerAssigned JobEventType = "worker_assigned"
	TypeWorkerReleased JobEventType = "worker_released"

	// Queues.
	TypeQueuePriorityChanged JobEventType = "queue_priority_changed"
	TypeQueueMoved           JobEventType = "queue_moved"

	// Time to live.
	TypeTTLExpired  JobEventType = "ttl_expired"
	TypeTTLExtended JobEventType = "ttl_extended"
)

var allTypes = [...]JobEventType{
	TypeEnqueued, TypeDequeued, TypeStarted, TypeCompleted, TypeFailed, TypeCancelled, TypeTimeout,
	TypeRetryScheduled, TypeRetryStarted, TypeMaxRetriesExceeded,
	TypeDependencySatisfied, TypeDependencyFailed, TypeWaitingForDependencies,
	TypeScheduled, TypeScheduleTriggered, TypeSchedulePaused, TypeScheduleResumed, TypeScheduleDeactivated,
	TypeWorkerAssigned, TypeWorkerReleased,
	TypeQueuePriorityChanged, TypeQueueMoved,
	TypeTTLExpired, TypeTTLExtended,
}

// Types returns all 24 event types in the order of the design. The slice is a
// fresh copy the caller may modify.
func Types() []JobEventType {
	out := make([]JobEventType, len(allTypes))
	copy(out, allTypes[:])
	return out
}

// Valid reports whether t is one of the 24 known types.
func (t JobEventType) Valid() bool {
	switch t {
	case TypeEnqueued, TypeDequeued, TypeStarted, TypeCompleted, TypeFailed, TypeCancelled, TypeTimeout,
		TypeRetryScheduled, TypeRetryStarted, TypeMaxRetriesExceeded,
		TypeDependencySatisfied, TypeDependencyFailed, TypeWaitingForDependencies,
		TypeScheduled, TypeScheduleTriggered, TypeSchedulePaused, TypeScheduleResumed, TypeScheduleDeactivated,
		TypeWorkerAssigned, TypeWorkerReleased,
		TypeQueuePriorityChanged, TypeQueueMoved,
		TypeTTLExpired, TypeTTLExtended:
		return true
	}
	return false
}

// String returns the wire value.
func (t JobEventType) String() string { return string(t) }

// ParseType returns the type whose wire value is s. An unknown value is an
// error wrapping ErrInvalid that names the value.
func ParseType(s string) (JobEventType, error) {
	t := JobEventType(s)
	if !t.Valid() {
		return "", fmt.Errorf("%w: event_type %q is not one of the 24 known types", ErrInvalid, s)
	}
	return t, nil
}
