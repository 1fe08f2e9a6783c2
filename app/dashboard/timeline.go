package dashboard

import (
	"slices"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Phase kinds of a job's waterfall.
const (
	PhaseWaiting = "waiting" // enqueued (or a retry started) until a worker starts it
	PhaseRunning = "running" // an attempt, started until its outcome
	PhaseBackoff = "backoff" // a retry scheduled until it starts
)

// Phase is one bar of a job's waterfall.
type Phase struct {
	Kind       string
	Start, End time.Time
	Attempt    int    // the attempt a running phase is, from 1
	Worker     string // of a running phase
	Outcome    string // of a running phase: its closing event type, or "running"
	Error      string // of a failed attempt: "Type: message"
}

// Attempt is one run of a job on a worker.
type Attempt struct {
	N          int
	Worker     string
	Start, End time.Time
	Duration   time.Duration // the event's duration_ms if given, else End − Start
	Outcome    string        // completed, failed, timeout, cancelled, or running
	Error      string
}

// Timeline is a job's history read as phases and attempts.
type Timeline struct {
	Start, End time.Time
	Phases     []Phase
	Attempts   []Attempt
}

// BuildTimeline reads evs (in any order; sorted here by timestamp, store
// order among equal times) as waiting, running and back-off phases. An
// attempt still open at the last event ends there with outcome "running".
func BuildTimeline(evs []event.JobEvent) Timeline {
	var tl Timeline
	if len(evs) == 0 {
		return tl
	}
	sorted := slices.Clone(evs)
	slices.SortStableFunc(sorted, func(a, b event.JobEvent) int { return a.Timestamp.Compare(b.Timestamp) })
	tl.Start, tl.End = sorted[0].Timestamp, sorted[len(sorted)-1].Timestamp

	var (
		waitFrom, backoffFrom time.Time
		run                   *Attempt
	)
	closeRun := func(ev *event.JobEvent, outcome string) {
		run.End, run.Outcome = ev.Timestamp, outcome
		run.Duration = run.End.Sub(run.Start)
		if ev.DurationMS != nil {
			run.Duration = time.Duration(*ev.DurationMS * float64(time.Millisecond))
		}
		if ev.ErrorType != "" || ev.ErrorMessage != "" {
			run.Error = ev.ErrorType
			if ev.ErrorMessage != "" {
				if run.Error != "" {
					run.Error += ": "
				}
				run.Error += ev.ErrorMessage
			}
		}
		tl.Attempts = append(tl.Attempts, *run)
		tl.Phases = append(tl.Phases, Phase{Kind: PhaseRunning, Start: run.Start, End: run.End, Attempt: run.N, Worker: run.Worker, Outcome: outcome, Error: run.Error})
		run = nil
	}
	for i := range sorted {
		ev := &sorted[i]
		switch ev.Type {
		case event.TypeEnqueued, event.TypeScheduleTriggered:
			if waitFrom.IsZero() && run == nil {
				waitFrom = ev.Timestamp
			}
		case event.TypeRetryScheduled:
			backoffFrom = ev.Timestamp
		case event.TypeRetryStarted:
			if !backoffFrom.IsZero() {
				tl.Phases = append(tl.Phases, Phase{Kind: PhaseBackoff, Start: backoffFrom, End: ev.Timestamp})
				backoffFrom = time.Time{}
			}
			waitFrom = ev.Timestamp
		case event.TypeStarted:
			if run != nil { // a start without an outcome: the earlier run ended unseen
				closeRun(ev, "lost")
			}
			if !waitFrom.IsZero() {
				tl.Phases = append(tl.Phases, Phase{Kind: PhaseWaiting, Start: waitFrom, End: ev.Timestamp})
				waitFrom = time.Time{}
			}
			run = &Attempt{N: len(tl.Attempts) + 1, Worker: ev.WorkerID, Start: ev.Timestamp}
		case event.TypeCompleted, event.TypeFailed, event.TypeTimeout, event.TypeCancelled:
			if run != nil {
				closeRun(ev, string(ev.Type))
			}
		}
	}
	if run != nil {
		last := sorted[len(sorted)-1]
		run.End, run.Outcome, run.Duration = last.Timestamp, "running", last.Timestamp.Sub(run.Start)
		tl.Attempts = append(tl.Attempts, *run)
		tl.Phases = append(tl.Phases, Phase{Kind: PhaseRunning, Start: run.Start, End: run.End, Attempt: run.N, Worker: run.Worker, Outcome: "running"})
	}
	if !waitFrom.IsZero() && waitFrom.Before(tl.End) {
		tl.Phases = append(tl.Phases, Phase{Kind: PhaseWaiting, Start: waitFrom, End: tl.End})
	}
	if !backoffFrom.IsZero() && backoffFrom.Before(tl.End) {
		tl.Phases = append(tl.Phases, Phase{Kind: PhaseBackoff, Start: backoffFrom, End: tl.End})
	}
	return tl
}
