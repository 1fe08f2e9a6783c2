// Package demo simulates a busy job queue and logs the lifecycle events of
// its jobs, so that a new user of naq-events sees realistic events flowing
// within seconds of starting the service (`naq-events serve --demo`) or the
// `naq-events demo` command.
//
// A Simulator is plain Go: it takes anything with a Log(event.JobEvent)
// error method (a *logger.Logger) and runs until its ctx ends or its job
// budget is spent. Jobs arrive at a configurable rate and go through the
// lifecycles a real queue produces:
//
//	enqueued → [queue_priority_changed | queue_moved | ttl_extended]* →
//	  dequeued → worker_assigned → started →
//	    completed → worker_released
//	    failed | timeout → worker_released → retry_scheduled → retry_started →
//	      worker_assigned → started → … → max_retries_exceeded
//	    cancelled → worker_released
//	  | ttl_expired | cancelled                        (while queued)
//	scheduled → [schedule_paused → schedule_resumed] → schedule_triggered →
//	  enqueued → … [→ schedule_deactivated]
//	waiting_for_dependencies → dependency_satisfied* → enqueued → …
//	                         | dependency_failed → cancelled
//
// The simulation runs on a virtual clock: every decision (which path, how
// long, which worker) is drawn from one seeded generator in the order of
// virtual time, so a seed gives the same jobs and event sequences whatever
// the speed of the machine. WithSpeed maps virtual time to wall time.
//
// Module wires a Simulator into an fx application (see module.go).
package demo
