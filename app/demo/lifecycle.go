package demo

import (
	"errors"
	"fmt"
	"time"

	"github.com/naq-go/events/domain/event"
)

// job is one simulated job: which event it logs next and what it needs to
// know to log it.
type job struct {
	id       string
	queue    string
	priority int
	next     event.JobEventType
	counted  bool // JobsStarted includes it
	running  bool // between started and worker_released

	worker   worker
	attempt  int           // retries started so far
	runTime  time.Duration // of the current run
	limit    time.Duration // timeout of a run
	outcome  outcome
	lastErr  failure
	extras   int           // queue events (moves, priority, TTL) so far
	ttl      time.Duration // time to live in the queue (short: demo jobs are urgent)
	schedule string        // schedule id, for scheduled jobs
	deps     []string      // dependencies not yet reported
	reason   string        // why a cancelled job was cancelled
}

type outcome uint8

const (
	outcomeNone outcome = iota
	outcomeOK
	outcomeFailed
	outcomeCancelled
)

// failure is an error as a Python naq worker reports it.
type failure struct{ typ, msg string }

var failures = []failure{
	{"ConnectionError", "connection to db-primary:5432 refused"},
	{"TimeoutError", "upstream API did not answer within 30s"},
	{"ValueError", "invalid invoice total: -12.50"},
	{"KeyError", "'customer_id'"},
	{"HTTPError", "502 Bad Gateway from payments.example.com"},
	{"RateLimitError", "SMTP provider rate limit reached"},
}

// medianRun is the typical run time of a job on each known queue.
var medianRun = map[string]time.Duration{
	"default": 400 * time.Millisecond,
	"emails":  150 * time.Millisecond,
	"reports": 2500 * time.Millisecond,
	"billing": 700 * time.Millisecond,
}

func (s *Simulator) newJob(n int) *job {
	j := &job{
		id:       fmt.Sprintf("demo-%s-%06d", s.runTag, n),
		queue:    s.cfg.queues[s.rng.IntN(len(s.cfg.queues))],
		priority: s.rng.IntN(10),
		ttl:      s.between(3*time.Second, 10*time.Second),
		next:     event.TypeEnqueued,
	}
	switch r := s.rng.Float64(); {
	case r < 0.10:
		j.next = event.TypeScheduled
		j.schedule = fmt.Sprintf("sched-%s-%d", s.runTag, n)
	case r < 0.20 && n > 1:
		j.next = event.TypeWaitingForDependencies
		// One to three distinct jobs among the last eight of this run.
		lo := max(1, n-8)
		perm := s.rng.Perm(n - lo)
		for _, k := range perm[:1+s.rng.IntN(min(3, len(perm)))] {
			j.deps = append(j.deps, fmt.Sprintf("demo-%s-%06d", s.runTag, lo+k))
		}
	}
	return j
}

// fire builds j's next event, decides the one after it and how long after,
// and reports whether j's lifecycle ended with this event.
func (s *Simulator) fire(j *job) (ev event.JobEvent, delay time.Duration, done bool) {
	opts := []event.Option{event.WithQueue(j.queue), event.WithTag("source", "demo")}
	w := j.worker
	switch t := j.next; t {
	case event.TypeScheduled:
		runIn := s.between(2*time.Second, 15*time.Second)
		ev = event.Scheduled(j.id, s.wallTime(runIn), opts...)
		ev.Details["schedule_id"] = j.schedule
		if s.chance(0.2) {
			j.next, delay = event.TypeSchedulePaused, s.between(500*time.Millisecond, runIn/2)
		} else {
			j.next, delay = event.TypeScheduleTriggered, runIn
		}
	case event.TypeSchedulePaused:
		ev = event.SchedulePaused(j.id, j.schedule, opts...)
		j.next, delay = event.TypeScheduleResumed, s.between(time.Second, 5*time.Second)
	case event.TypeScheduleResumed:
		ev = event.ScheduleResumed(j.id, j.schedule, opts...)
		j.next, delay = event.TypeScheduleTriggered, s.between(500*time.Millisecond, 3*time.Second)
	case event.TypeScheduleTriggered:
		ev = event.ScheduleTriggered(j.id, j.schedule, opts...)
		j.next, delay = event.TypeEnqueued, s.between(time.Millisecond, 5*time.Millisecond)
	case event.TypeScheduleDeactivated:
		ev = event.ScheduleDeactivated(j.id, j.schedule, "one-off schedule finished", opts...)
		done = true

	case event.TypeWaitingForDependencies:
		ev = event.WaitingForDependencies(j.id, j.deps, opts...)
		j.next, delay = s.nextDependency(), s.between(200*time.Millisecond, 3*time.Second)
	case event.TypeDependencySatisfied:
		ev = event.DependencySatisfied(j.id, j.deps[0], opts...)
		j.deps = j.deps[1:]
		if len(j.deps) > 0 {
			j.next, delay = s.nextDependency(), s.between(200*time.Millisecond, 3*time.Second)
		} else {
			j.next, delay = event.TypeEnqueued, s.between(time.Millisecond, 5*time.Millisecond)
		}
	case event.TypeDependencyFailed:
		f := failures[s.rng.IntN(len(failures))]
		ev = event.DependencyFailed(j.id, j.deps[0], errors.New(f.msg), opts...)
		ev.ErrorType = f.typ
		j.reason = "dependency " + j.deps[0] + " failed"
		j.deps = nil
		j.next, delay = event.TypeCancelled, s.between(time.Millisecond, 10*time.Millisecond)

	case event.TypeEnqueued:
		ev = event.Enqueued(j.id, j.queue, j.priority, opts...)
		j.next, delay = s.whileQueued(j)
	case event.TypeQueuePriorityChanged:
		old := j.priority
		j.priority = (old + 1 + s.rng.IntN(9)) % 10
		ev = event.QueuePriorityChanged(j.id, old, j.priority, opts...)
		j.next, delay = s.whileQueued(j)
	case event.TypeQueueMoved:
		from := j.queue
		for j.queue == from {
			j.queue = s.cfg.queues[s.rng.IntN(len(s.cfg.queues))]
		}
		ev = event.QueueMoved(j.id, from, j.queue, opts...)
		j.next, delay = s.whileQueued(j)
	case event.TypeTTLExtended:
		j.ttl += s.between(5*time.Second, 10*time.Second)
		ev = event.TTLExtended(j.id, s.wallTime(j.ttl), opts...)
		j.next, delay = s.whileQueued(j)
	case event.TypeTTLExpired:
		ev = event.TTLExpired(j.id, j.ttl, append(opts, event.WithMessage("Job expired after its TTL of "+human(j.ttl)))...)
		done = true

	case event.TypeDequeued:
		j.worker = s.pickWorker()
		ev = event.Dequeued(j.id, j.queue, j.worker.id, append(opts, event.WithWorker(j.worker.id, j.worker.typ))...)
		j.next, delay = event.TypeWorkerAssigned, s.between(time.Millisecond, 5*time.Millisecond)
	case event.TypeWorkerAssigned:
		ev = event.WorkerAssigned(j.id, w.id, w.typ, opts...)
		j.next, delay = event.TypeStarted, s.between(time.Millisecond, 20*time.Millisecond)
	case event.TypeStarted:
		ev = event.Started(j.id, w.id, w.typ, opts...)
		j.running = true
		j.next, delay = s.run(j)
	case event.TypeCompleted:
		ev = event.Completed(j.id, w.id, j.runTime, append(opts,
			event.WithWorker(w.id, w.typ),
			event.WithMemoryMB(float64(20+s.rng.IntN(380))),
			event.WithCPUTime(time.Duration(float64(j.runTime)*(0.3+0.65*s.rng.Float64()))),
		)...)
		j.outcome = outcomeOK
		j.next, delay = event.TypeWorkerReleased, s.between(time.Millisecond, 5*time.Millisecond)
	case event.TypeFailed:
		j.lastErr = failures[s.rng.IntN(len(failures))]
		ev = event.Failed(j.id, w.id, errors.New(j.lastErr.msg), j.runTime, j.attempt, append(opts,
			event.WithWorker(w.id, w.typ),
			event.WithMemoryMB(float64(20+s.rng.IntN(380))),
		)...)
		ev.ErrorType = j.lastErr.typ
		j.outcome = outcomeFailed
		j.next, delay = event.TypeWorkerReleased, s.between(time.Millisecond, 5*time.Millisecond)
	case event.TypeTimeout:
		j.lastErr = failure{"TimeoutError", "job exceeded its limit of " + human(j.limit)}
		ev = event.Timeout(j.id, w.id, j.limit, append(opts,
			event.WithWorker(w.id, w.typ),
			event.WithDuration(j.runTime),
			event.WithMessage("Job timed out after "+human(j.limit)+" on worker "+w.id),
		)...)
		j.outcome = outcomeFailed
		j.next, delay = event.TypeWorkerReleased, s.between(time.Millisecond, 5*time.Millisecond)
	case event.TypeCancelled:
		reason := j.reason
		if reason == "" {
			reason = "cancelled by an operator"
		}
		if j.running {
			// Cancelled while running: the worker lets go of it next.
			ev = event.Cancelled(j.id, reason, append(opts, event.WithWorker(w.id, w.typ))...)
			j.outcome = outcomeCancelled
			j.next, delay = event.TypeWorkerReleased, s.between(time.Millisecond, 5*time.Millisecond)
		} else {
			ev = event.Cancelled(j.id, reason, opts...)
			done = true
		}
	case event.TypeWorkerReleased:
		ev = event.WorkerReleased(j.id, w.id, append(opts, event.WithWorker(w.id, w.typ))...)
		j.running = false
		switch {
		case j.outcome == outcomeFailed && j.attempt < s.cfg.maxRetries:
			j.next, delay = event.TypeRetryScheduled, s.between(time.Millisecond, 10*time.Millisecond)
		case j.outcome == outcomeFailed:
			j.next, delay = event.TypeMaxRetriesExceeded, s.between(time.Millisecond, 10*time.Millisecond)
		case j.outcome == outcomeOK && j.schedule != "" && s.chance(0.3):
			j.next, delay = event.TypeScheduleDeactivated, s.between(time.Millisecond, 10*time.Millisecond)
		default:
			done = true
		}

	case event.TypeRetryScheduled:
		j.attempt++
		backoff := min(time.Second<<(j.attempt-1), 30*time.Second)
		backoff += s.between(0, backoff/5)
		ev = event.RetryScheduled(j.id, j.attempt, backoff, append(opts,
			event.WithMessage(fmt.Sprintf("Retry %d scheduled in %s", j.attempt, human(backoff))))...)
		j.next, delay = event.TypeRetryStarted, backoff
	case event.TypeRetryStarted:
		ev = event.RetryStarted(j.id, j.attempt, opts...)
		j.worker, j.outcome = s.pickWorker(), outcomeNone
		j.next, delay = event.TypeWorkerAssigned, s.between(time.Millisecond, 10*time.Millisecond)
	case event.TypeMaxRetriesExceeded:
		ev = event.MaxRetriesExceeded(j.id, s.cfg.maxRetries, errors.New(j.lastErr.msg), opts...)
		ev.ErrorType = j.lastErr.typ
		done = true

	default:
		panic(fmt.Sprintf("demo: job %s in unknown state %q", j.id, t))
	}
	return ev, delay, done
}

// nextDependency decides how the first pending dependency turns out.
func (s *Simulator) nextDependency() event.JobEventType {
	if s.chance(0.15) {
		return event.TypeDependencyFailed
	}
	return event.TypeDependencySatisfied
}

// whileQueued decides what happens to a queued job next: mostly a worker
// takes it; sometimes its priority, queue or TTL changes first, or it
// expires or is cancelled.
func (s *Simulator) whileQueued(j *job) (event.JobEventType, time.Duration) {
	wait := s.between(20*time.Millisecond, 1500*time.Millisecond)
	r := s.rng.Float64()
	if j.extras < 2 {
		switch {
		case r < 0.04:
			j.extras++
			return event.TypeQueuePriorityChanged, wait
		case r < 0.07 && len(s.cfg.queues) > 1:
			j.extras++
			return event.TypeQueueMoved, wait
		case r < 0.10:
			j.extras++
			return event.TypeTTLExtended, wait
		}
	}
	switch r = s.rng.Float64(); {
	case r < 0.015:
		return event.TypeTTLExpired, j.ttl
	case r < 0.03:
		return event.TypeCancelled, wait
	}
	return event.TypeDequeued, wait
}

// run decides how the run that just started ends and after how long.
func (s *Simulator) run(j *job) (event.JobEventType, time.Duration) {
	median, ok := medianRun[j.queue]
	if !ok {
		median = 500 * time.Millisecond
	}
	j.limit = 6 * median
	j.runTime = s.lognormal(median, 0.8)
	switch {
	case s.chance(0.01):
		cut := time.Duration(float64(j.runTime) * (0.1 + 0.8*s.rng.Float64()))
		return event.TypeCancelled, cut
	case j.runTime > j.limit:
		j.runTime = j.limit + s.between(time.Millisecond, 50*time.Millisecond)
		return event.TypeTimeout, j.runTime
	case s.chance(s.cfg.failureRate):
		j.runTime = time.Duration(float64(j.runTime) * (0.1 + 0.9*s.rng.Float64()))
		return event.TypeFailed, j.runTime
	}
	return event.TypeCompleted, j.runTime
}
