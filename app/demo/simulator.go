package demo

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// EventLogger is what the simulator needs from a logger: a Log that does
// not block. *logger.Logger satisfies it.
type EventLogger interface {
	Log(ev event.JobEvent) error
}

var _ EventLogger = (*logger.Logger)(nil)

// Stats counts what a Simulator has done so far.
type Stats struct {
	JobsStarted  int // jobs that logged their first event
	JobsFinished int // jobs whose lifecycle has ended
	Events       int // events logged

	// How finished jobs ended.
	Completed int // completed (after retries, perhaps)
	Failed    int // max_retries_exceeded
	Cancelled int // cancelled while queued or running, or after a failed dependency
	Expired   int // ttl_expired while queued

	// SimTime is the simulated time since Run started.
	SimTime time.Duration
}

// Simulator simulates a job queue and logs its jobs' events. Make one with
// New and call Run once; Stats may be called at any time from any
// goroutine.
type Simulator struct {
	lg      EventLogger
	cfg     config
	rng     *rand.Rand
	runTag  string // part of every job id, so runs do not mix their jobs
	workers []worker
	started atomic.Bool

	mu sync.Mutex
	st Stats
}

type worker struct{ id, typ string }

// New returns a Simulator logging to lg. It panics if lg is nil, which is a
// programming error.
func New(lg EventLogger, opts ...Option) *Simulator {
	if lg == nil {
		panic("demo.New: nil EventLogger")
	}
	cfg := newConfig(opts)
	seed := cfg.seed
	if !cfg.seeded {
		seed = rand.Uint64()
	}
	s := &Simulator{
		lg:  lg,
		cfg: cfg,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	s.runTag = fmt.Sprintf("%04x", s.rng.IntN(1<<16))
	types := [...]string{"async", "thread", "process"}
	for i := range cfg.workers {
		s.workers = append(s.workers, worker{id: fmt.Sprintf("worker-%d", i+1), typ: types[i%len(types)]})
	}
	return s
}

// Stats returns a snapshot of the counters.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// Run simulates jobs and logs their events until ctx ends, then returns an
// error wrapping ctx's error. With WithJobs(n) it returns nil once n jobs
// have finished their lifecycles. An error from the logger (a closed
// logger, say) stops it and is returned wrapped. Run may be called once;
// a second call returns an error.
func (s *Simulator) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("demo: Run called twice; make a new Simulator with demo.New")
	}
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	var (
		pending     steps
		seq         uint64
		nextArrival time.Duration // the first job arrives at once
		arrived     int
	)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("demo: stopped after %d jobs: %w", arrived, err)
		}
		more := s.cfg.jobs == 0 || arrived < s.cfg.jobs
		var at time.Duration
		switch {
		case more && (len(pending) == 0 || nextArrival <= pending[0].at):
			at = nextArrival
		case len(pending) > 0:
			at = pending[0].at
		default:
			return nil // every job of the budget has finished
		}
		if err := s.waitUntil(ctx, timer, start, at); err != nil {
			return fmt.Errorf("demo: stopped after %d jobs: %w", arrived, err)
		}

		var j *job
		if more && (len(pending) == 0 || nextArrival <= pending[0].at) {
			arrived++
			j = s.newJob(arrived)
			nextArrival = at + s.interarrival()
		} else {
			j = heap.Pop(&pending).(step).j
		}
		ev, delay, done := s.fire(j)
		if err := s.lg.Log(ev); err != nil {
			return fmt.Errorf("demo: log %s event of job %s: %w", ev.Type, ev.JobID, err)
		}
		st := s.count(j, ev, done, at)
		if done && s.cfg.progress != nil {
			s.cfg.progress(st)
		}
		if !done {
			seq++
			heap.Push(&pending, step{at: at + delay, seq: seq, j: j})
		}
	}
}

// waitUntil waits until the wall-clock time of simulated time at.
func (s *Simulator) waitUntil(ctx context.Context, timer *time.Timer, start time.Time, at time.Duration) error {
	if math.IsInf(s.cfg.speed, 1) {
		return nil
	}
	d := time.Until(start.Add(time.Duration(float64(at) / s.cfg.speed)))
	if d <= 0 {
		return nil
	}
	timer.Reset(d)
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// count updates the counters after ev was logged and returns them.
func (s *Simulator) count(j *job, ev event.JobEvent, done bool, at time.Duration) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Events++
	s.st.SimTime = at
	if !j.counted {
		j.counted = true
		s.st.JobsStarted++
	}
	if done {
		s.st.JobsFinished++
		switch ev.Type {
		case event.TypeMaxRetriesExceeded:
			s.st.Failed++
		case event.TypeCancelled:
			s.st.Cancelled++
		case event.TypeTTLExpired:
			s.st.Expired++
		default: // worker_released or schedule_deactivated after success
			s.st.Completed++
		}
	}
	return s.st
}

// step is a job's next event, due at simulated time at. seq breaks ties in
// the order steps were made, which keeps the run deterministic.
type step struct {
	at  time.Duration
	seq uint64
	j   *job
}

// steps is a min-heap of steps by (at, seq).
type steps []step

func (h steps) Len() int { return len(h) }
func (h steps) Less(a, b int) bool {
	return h[a].at < h[b].at || h[a].at == h[b].at && h[a].seq < h[b].seq
}
func (h steps) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *steps) Push(x any)   { *h = append(*h, x.(step)) }
func (h *steps) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// interarrival draws the simulated time to the next job's arrival.
func (s *Simulator) interarrival() time.Duration {
	return time.Duration(s.rng.ExpFloat64() / s.cfg.rate * float64(time.Second))
}

func (s *Simulator) chance(p float64) bool { return s.rng.Float64() < p }

// between draws a duration uniformly from [lo, hi].
func (s *Simulator) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
}

// lognormal draws a run time around median with a long right tail.
func (s *Simulator) lognormal(median time.Duration, sigma float64) time.Duration {
	d := time.Duration(float64(median) * math.Exp(sigma*s.rng.NormFloat64()))
	return max(d, time.Millisecond)
}

func (s *Simulator) pickWorker() worker { return s.workers[s.rng.IntN(len(s.workers))] }

// wallTime is the wall-clock time simulated duration d from now.
func (s *Simulator) wallTime(d time.Duration) time.Time {
	if math.IsInf(s.cfg.speed, 1) {
		return time.Now()
	}
	return time.Now().Add(time.Duration(float64(d) / s.cfg.speed))
}
