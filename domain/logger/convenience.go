package logger

import (
	"time"

	"github.com/naq-go/events/domain/event"
)

// LogX methods: one per event type. Each builds the event with the
// constructor of the same name in package event (see there for the fields
// it fills) and logs it with Log: it never blocks, and returns an error
// only for an invalid event (wrapping event.ErrInvalid, e.g. a job id that
// is not a valid subject token), a closed logger or, under the Block
// policy, a full buffer.

// LogEnqueued logs event.Enqueued(jobID, queue, priority, opts...).
func (l *Logger) LogEnqueued(jobID, queue string, priority int, opts ...event.Option) error {
	return l.Log(event.Enqueued(jobID, queue, priority, opts...))
}

// LogDequeued logs event.Dequeued(jobID, queue, workerID, opts...).
func (l *Logger) LogDequeued(jobID, queue, workerID string, opts ...event.Option) error {
	return l.Log(event.Dequeued(jobID, queue, workerID, opts...))
}

// LogStarted logs event.Started(jobID, workerID, workerType, opts...).
func (l *Logger) LogStarted(jobID, workerID, workerType string, opts ...event.Option) error {
	return l.Log(event.Started(jobID, workerID, workerType, opts...))
}

// LogCompleted logs event.Completed(jobID, workerID, duration, opts...).
func (l *Logger) LogCompleted(jobID, workerID string, duration time.Duration, opts ...event.Option) error {
	return l.Log(event.Completed(jobID, workerID, duration, opts...))
}

// LogFailed logs event.Failed(jobID, workerID, err, duration, retryCount, opts...).
func (l *Logger) LogFailed(jobID, workerID string, err error, duration time.Duration, retryCount int, opts ...event.Option) error {
	return l.Log(event.Failed(jobID, workerID, err, duration, retryCount, opts...))
}

// LogCancelled logs event.Cancelled(jobID, reason, opts...).
func (l *Logger) LogCancelled(jobID, reason string, opts ...event.Option) error {
	return l.Log(event.Cancelled(jobID, reason, opts...))
}

// LogTimeout logs event.Timeout(jobID, workerID, limit, opts...).
func (l *Logger) LogTimeout(jobID, workerID string, limit time.Duration, opts ...event.Option) error {
	return l.Log(event.Timeout(jobID, workerID, limit, opts...))
}

// LogRetryScheduled logs event.RetryScheduled(jobID, attempt, delay, opts...).
func (l *Logger) LogRetryScheduled(jobID string, attempt int, delay time.Duration, opts ...event.Option) error {
	return l.Log(event.RetryScheduled(jobID, attempt, delay, opts...))
}

// LogRetryStarted logs event.RetryStarted(jobID, attempt, opts...).
func (l *Logger) LogRetryStarted(jobID string, attempt int, opts ...event.Option) error {
	return l.Log(event.RetryStarted(jobID, attempt, opts...))
}

// LogMaxRetriesExceeded logs event.MaxRetriesExceeded(jobID, maxRetries, lastErr, opts...).
func (l *Logger) LogMaxRetriesExceeded(jobID string, maxRetries int, lastErr error, opts ...event.Option) error {
	return l.Log(event.MaxRetriesExceeded(jobID, maxRetries, lastErr, opts...))
}

// LogDependencySatisfied logs event.DependencySatisfied(jobID, dependencyID, opts...).
func (l *Logger) LogDependencySatisfied(jobID, dependencyID string, opts ...event.Option) error {
	return l.Log(event.DependencySatisfied(jobID, dependencyID, opts...))
}

// LogDependencyFailed logs event.DependencyFailed(jobID, dependencyID, err, opts...).
func (l *Logger) LogDependencyFailed(jobID, dependencyID string, err error, opts ...event.Option) error {
	return l.Log(event.DependencyFailed(jobID, dependencyID, err, opts...))
}

// LogWaitingForDependencies logs event.WaitingForDependencies(jobID, dependencyIDs, opts...).
func (l *Logger) LogWaitingForDependencies(jobID string, dependencyIDs []string, opts ...event.Option) error {
	return l.Log(event.WaitingForDependencies(jobID, dependencyIDs, opts...))
}

// LogScheduled logs event.Scheduled(jobID, runAt, opts...).
func (l *Logger) LogScheduled(jobID string, runAt time.Time, opts ...event.Option) error {
	return l.Log(event.Scheduled(jobID, runAt, opts...))
}

// LogScheduleTriggered logs event.ScheduleTriggered(jobID, scheduleID, opts...).
func (l *Logger) LogScheduleTriggered(jobID, scheduleID string, opts ...event.Option) error {
	return l.Log(event.ScheduleTriggered(jobID, scheduleID, opts...))
}

// LogSchedulePaused logs event.SchedulePaused(jobID, scheduleID, opts...).
func (l *Logger) LogSchedulePaused(jobID, scheduleID string, opts ...event.Option) error {
	return l.Log(event.SchedulePaused(jobID, scheduleID, opts...))
}

// LogScheduleResumed logs event.ScheduleResumed(jobID, scheduleID, opts...).
func (l *Logger) LogScheduleResumed(jobID, scheduleID string, opts ...event.Option) error {
	return l.Log(event.ScheduleResumed(jobID, scheduleID, opts...))
}

// LogScheduleDeactivated logs event.ScheduleDeactivated(jobID, scheduleID, reason, opts...).
func (l *Logger) LogScheduleDeactivated(jobID, scheduleID, reason string, opts ...event.Option) error {
	return l.Log(event.ScheduleDeactivated(jobID, scheduleID, reason, opts...))
}

// LogWorkerAssigned logs event.WorkerAssigned(jobID, workerID, workerType, opts...).
func (l *Logger) LogWorkerAssigned(jobID, workerID, workerType string, opts ...event.Option) error {
	return l.Log(event.WorkerAssigned(jobID, workerID, workerType, opts...))
}

// LogWorkerReleased logs event.WorkerReleased(jobID, workerID, opts...).
func (l *Logger) LogWorkerReleased(jobID, workerID string, opts ...event.Option) error {
	return l.Log(event.WorkerReleased(jobID, workerID, opts...))
}

// LogQueuePriorityChanged logs event.QueuePriorityChanged(jobID, oldPriority, newPriority, opts...).
func (l *Logger) LogQueuePriorityChanged(jobID string, oldPriority, newPriority int, opts ...event.Option) error {
	return l.Log(event.QueuePriorityChanged(jobID, oldPriority, newPriority, opts...))
}

// LogQueueMoved logs event.QueueMoved(jobID, fromQueue, toQueue, opts...).
func (l *Logger) LogQueueMoved(jobID, fromQueue, toQueue string, opts ...event.Option) error {
	return l.Log(event.QueueMoved(jobID, fromQueue, toQueue, opts...))
}

// LogTTLExpired logs event.TTLExpired(jobID, ttl, opts...).
func (l *Logger) LogTTLExpired(jobID string, ttl time.Duration, opts ...event.Option) error {
	return l.Log(event.TTLExpired(jobID, ttl, opts...))
}

// LogTTLExtended logs event.TTLExtended(jobID, newExpiry, opts...).
func (l *Logger) LogTTLExtended(jobID string, newExpiry time.Time, opts ...event.Option) error {
	return l.Log(event.TTLExtended(jobID, newExpiry, opts...))
}
