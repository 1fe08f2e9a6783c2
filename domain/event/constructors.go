package event

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Constructors, one per event type, in the order of Types.
//
// Each returns an event with a fresh id and the current time, the fields the
// design fills for that type, a human-readable Message and snake_case
// Details, then applies opts, which therefore override anything set here
// (WithMessage replaces the message, WithDetail adds or replaces one key).
// Constructors never validate: call Validate, or let AppendJSON do it.
//
// Units in Details follow the wire format's own: durations are float
// milliseconds under keys ending in "_ms" (like duration_ms), points in time
// are float seconds since the Unix epoch with microsecond precision under
// keys ending in "_at" (like timestamp). Messages show durations as
// time.Duration strings ("5s"), except Completed and Failed, which keep the
// design's "12.50ms", and times in RFC 3339, UTC.

// Enqueued: a job was put on queue with priority. Details: priority.
func Enqueued(jobID, queue string, priority int, opts ...Option) JobEvent {
	e := base(jobID, TypeEnqueued)
	e.QueueName = queue
	e.Message = "Job enqueued to '" + queue + "' with priority " + strconv.Itoa(priority)
	e.Details = map[string]any{"priority": priority}
	return apply(e, opts)
}

// Dequeued: worker workerID took the job off queue.
func Dequeued(jobID, queue, workerID string, opts ...Option) JobEvent {
	e := base(jobID, TypeDequeued)
	e.QueueName, e.WorkerID = queue, workerID
	e.Message = "Job dequeued from '" + queue + "' by worker " + workerID
	return apply(e, opts)
}

// Started: the job began to run on worker workerID of type workerType
// (e.g. "async", "thread", "process").
func Started(jobID, workerID, workerType string, opts ...Option) JobEvent {
	e := base(jobID, TypeStarted)
	e.WorkerID, e.WorkerType = workerID, workerType
	e.Message = "Job started on " + workerType + " worker " + workerID
	return apply(e, opts)
}

// Completed: the job finished successfully after duration; sets
// duration_ms.
func Completed(jobID, workerID string, duration time.Duration, opts ...Option) JobEvent {
	e := base(jobID, TypeCompleted)
	e.WorkerID = workerID
	e.DurationMS = msPtr(duration)
	e.Message = "Job completed successfully in " + fmtMS(duration)
	return apply(e, opts)
}

// Failed: attempt retryCount of the job failed with err after duration.
// Sets duration_ms, error_type (see ErrorType) and error_message
// (err.Error()); both error fields are null when err is nil. Details:
// retry_count.
func Failed(jobID, workerID string, err error, duration time.Duration, retryCount int, opts ...Option) JobEvent {
	e := base(jobID, TypeFailed)
	e.WorkerID = workerID
	e.DurationMS = msPtr(duration)
	setError(&e, err)
	e.Message = "Job failed after " + fmtMS(duration) + " (retry " + strconv.Itoa(retryCount) + ")"
	e.Details = map[string]any{"retry_count": retryCount}
	return apply(e, opts)
}

// Cancelled: the job was cancelled for reason (may be empty). Details:
// reason, when given.
func Cancelled(jobID, reason string, opts ...Option) JobEvent {
	e := base(jobID, TypeCancelled)
	e.Message = "Job cancelled"
	if reason != "" {
		e.Message += ": " + reason
		e.Details = map[string]any{"reason": reason}
	}
	return apply(e, opts)
}

// Timeout: the job ran on worker workerID for longer than limit and was
// stopped. Details: timeout_ms. duration_ms is left to WithDuration, since
// the actual run time may differ from the limit.
func Timeout(jobID, workerID string, limit time.Duration, opts ...Option) JobEvent {
	e := base(jobID, TypeTimeout)
	e.WorkerID = workerID
	e.Message = "Job timed out after " + limit.String() + " on worker " + workerID
	e.Details = map[string]any{"timeout_ms": ms(limit)}
	return apply(e, opts)
}

// RetryScheduled: retry number attempt (1 for the first retry) will start
// after delay. Details: attempt, delay_ms.
func RetryScheduled(jobID string, attempt int, delay time.Duration, opts ...Option) JobEvent {
	e := base(jobID, TypeRetryScheduled)
	e.Message = "Retry " + strconv.Itoa(attempt) + " scheduled in " + delay.String()
	e.Details = map[string]any{"attempt": attempt, "delay_ms": ms(delay)}
	return apply(e, opts)
}

// RetryStarted: retry number attempt began. Details: attempt.
func RetryStarted(jobID string, attempt int, opts ...Option) JobEvent {
	e := base(jobID, TypeRetryStarted)
	e.Message = "Retry " + strconv.Itoa(attempt) + " started"
	e.Details = map[string]any{"attempt": attempt}
	return apply(e, opts)
}

// MaxRetriesExceeded: the job failed for good after maxRetries retries, the
// last with lastErr (error_type and error_message as in Failed). Details:
// max_retries.
func MaxRetriesExceeded(jobID string, maxRetries int, lastErr error, opts ...Option) JobEvent {
	e := base(jobID, TypeMaxRetriesExceeded)
	setError(&e, lastErr)
	e.Message = "Job failed after exceeding its maximum of " + strconv.Itoa(maxRetries) + " retries"
	e.Details = map[string]any{"max_retries": maxRetries}
	return apply(e, opts)
}

// DependencySatisfied: job dependencyID, which the job waits for,
// completed. Details: dependency_id.
func DependencySatisfied(jobID, dependencyID string, opts ...Option) JobEvent {
	e := base(jobID, TypeDependencySatisfied)
	e.Message = "Dependency " + dependencyID + " satisfied"
	e.Details = map[string]any{"dependency_id": dependencyID}
	return apply(e, opts)
}

// DependencyFailed: job dependencyID failed with err, so the job cannot run
// (error_type and error_message as in Failed). Details: dependency_id.
func DependencyFailed(jobID, dependencyID string, err error, opts ...Option) JobEvent {
	e := base(jobID, TypeDependencyFailed)
	setError(&e, err)
	e.Message = "Dependency " + dependencyID + " failed"
	e.Details = map[string]any{"dependency_id": dependencyID}
	return apply(e, opts)
}

// WaitingForDependencies: the job waits for the jobs dependencyIDs.
// Details: dependency_ids (a copy of the slice).
func WaitingForDependencies(jobID string, dependencyIDs []string, opts ...Option) JobEvent {
	e := base(jobID, TypeWaitingForDependencies)
	e.Message = "Waiting for " + strconv.Itoa(len(dependencyIDs)) + " dependencies"
	if len(dependencyIDs) > 0 {
		e.Message += ": " + strings.Join(dependencyIDs, ", ")
	}
	e.Details = map[string]any{"dependency_ids": append([]string{}, dependencyIDs...)}
	return apply(e, opts)
}

// Scheduled: the job is due to run at runAt. Details: run_at.
func Scheduled(jobID string, runAt time.Time, opts ...Option) JobEvent {
	e := base(jobID, TypeScheduled)
	e.Message = "Job scheduled to run at " + fmtTime(runAt)
	e.Details = map[string]any{"run_at": unixSeconds(runAt)}
	return apply(e, opts)
}

// ScheduleTriggered: schedule scheduleID produced a run of the job.
// Details: schedule_id.
func ScheduleTriggered(jobID, scheduleID string, opts ...Option) JobEvent {
	return scheduleEvent(jobID, TypeScheduleTriggered, scheduleID, "triggered", opts)
}

// SchedulePaused: schedule scheduleID of the job was paused. Details:
// schedule_id.
func SchedulePaused(jobID, scheduleID string, opts ...Option) JobEvent {
	return scheduleEvent(jobID, TypeSchedulePaused, scheduleID, "paused", opts)
}

// ScheduleResumed: schedule scheduleID of the job was resumed. Details:
// schedule_id.
func ScheduleResumed(jobID, scheduleID string, opts ...Option) JobEvent {
	return scheduleEvent(jobID, TypeScheduleResumed, scheduleID, "resumed", opts)
}

// ScheduleDeactivated: schedule scheduleID of the job was deactivated for
// good, for reason (may be empty). Details: schedule_id, and reason when
// given.
func ScheduleDeactivated(jobID, scheduleID, reason string, opts ...Option) JobEvent {
	e := base(jobID, TypeScheduleDeactivated)
	e.Message = "Schedule " + scheduleID + " deactivated"
	e.Details = map[string]any{"schedule_id": scheduleID}
	if reason != "" {
		e.Message += ": " + reason
		e.Details["reason"] = reason
	}
	return apply(e, opts)
}

// WorkerAssigned: the job was given to worker workerID of type workerType.
func WorkerAssigned(jobID, workerID, workerType string, opts ...Option) JobEvent {
	e := base(jobID, TypeWorkerAssigned)
	e.WorkerID, e.WorkerType = workerID, workerType
	e.Message = "Job assigned to " + workerType + " worker " + workerID
	return apply(e, opts)
}

// WorkerReleased: worker workerID let go of the job.
func WorkerReleased(jobID, workerID string, opts ...Option) JobEvent {
	e := base(jobID, TypeWorkerReleased)
	e.WorkerID = workerID
	e.Message = "Job released by worker " + workerID
	return apply(e, opts)
}

// QueuePriorityChanged: the job's priority changed. Details: old_priority,
// new_priority.
func QueuePriorityChanged(jobID string, oldPriority, newPriority int, opts ...Option) JobEvent {
	e := base(jobID, TypeQueuePriorityChanged)
	e.Message = "Job priority changed from " + strconv.Itoa(oldPriority) + " to " + strconv.Itoa(newPriority)
	e.Details = map[string]any{"old_priority": oldPriority, "new_priority": newPriority}
	return apply(e, opts)
}

// QueueMoved: the job moved from queue fromQueue to toQueue; queue_name is
// the new queue. Details: from_queue, to_queue.
func QueueMoved(jobID, fromQueue, toQueue string, opts ...Option) JobEvent {
	e := base(jobID, TypeQueueMoved)
	e.QueueName = toQueue
	e.Message = "Job moved from queue '" + fromQueue + "' to '" + toQueue + "'"
	e.Details = map[string]any{"from_queue": fromQueue, "to_queue": toQueue}
	return apply(e, opts)
}

// TTLExpired: the job was dropped because its time to live ttl ran out.
// Details: ttl_ms.
func TTLExpired(jobID string, ttl time.Duration, opts ...Option) JobEvent {
	e := base(jobID, TypeTTLExpired)
	e.Message = "Job expired after its TTL of " + ttl.String()
	e.Details = map[string]any{"ttl_ms": ms(ttl)}
	return apply(e, opts)
}

// TTLExtended: the job's time to live now ends at newExpiry. Details:
// expires_at.
func TTLExtended(jobID string, newExpiry time.Time, opts ...Option) JobEvent {
	e := base(jobID, TypeTTLExtended)
	e.Message = "Job TTL extended until " + fmtTime(newExpiry)
	e.Details = map[string]any{"expires_at": unixSeconds(newExpiry)}
	return apply(e, opts)
}

// ErrorType returns the name recorded as error_type for err: the Go type of
// err without a leading '*', after stepping through the wrappers that
// fmt.Errorf makes with a single %w (they say nothing about the failure). So
// fmt.Errorf("load: %w", &fs.PathError{…}) gives "fs.PathError",
// errors.New("x") gives "errors.errorString", and errors.Join or a
// fmt.Errorf with several %w give "errors.joinError" and "fmt.wrapErrors".
// It is the Go counterpart of Python's type(error).__name__. A nil err gives
// "".
func ErrorType(err error) string {
	for err != nil {
		name := reflect.TypeOf(err).String()
		if name == "*fmt.wrapError" {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner
				continue
			}
		}
		return strings.TrimPrefix(name, "*")
	}
	return ""
}

func base(jobID string, t JobEventType) JobEvent {
	return JobEvent{
		ID:        NewID(),
		JobID:     jobID,
		Type:      t,
		Timestamp: time.Now().Truncate(time.Microsecond),
	}
}

func apply(e JobEvent, opts []Option) JobEvent {
	for _, o := range opts {
		o(&e)
	}
	return e
}

func scheduleEvent(jobID string, t JobEventType, scheduleID, verb string, opts []Option) JobEvent {
	e := base(jobID, t)
	e.Message = "Schedule " + scheduleID + " " + verb
	e.Details = map[string]any{"schedule_id": scheduleID}
	return apply(e, opts)
}

func setError(e *JobEvent, err error) {
	if err != nil {
		e.ErrorType = ErrorType(err)
		e.ErrorMessage = err.Error()
	}
}

// ms converts d to float milliseconds, the unit of duration_ms.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtMS formats d as the design does: "%.2fms".
func fmtMS(d time.Duration) string {
	var b [32]byte
	return string(strconv.AppendFloat(b[:0], ms(d), 'f', 2, 64)) + "ms"
}

func fmtTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
}

// unixSeconds returns t as float seconds since the epoch, truncated to
// microseconds, exactly as the wire writes timestamps: the float is parsed
// from the decimal text so that it prints back as the same digits.
func unixSeconds(t time.Time) float64 {
	var b [32]byte
	f, _ := strconv.ParseFloat(string(appendTimestamp(b[:0], t)), 64)
	return f
}
