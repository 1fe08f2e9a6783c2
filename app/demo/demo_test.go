package demo_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/app/demo"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// recorder is a pure-logic EventLogger that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []event.JobEvent
	fail   error // returned by Log once set
}

func (r *recorder) Log(ev event.JobEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	if err := ev.Validate(); err != nil {
		return err
	}
	r.events = append(r.events, ev)
	return nil
}

func (r *recorder) snapshot() []event.JobEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.JobEvent(nil), r.events...)
}

// end stands for "the lifecycle may end here".
const end event.JobEventType = "<end>"

// allowed is the table of valid lifecycles: the types that may follow each
// type, written from the job queue's point of view, not from the code.
var allowed = map[event.JobEventType][]event.JobEventType{
	"<start>":                        {event.TypeEnqueued, event.TypeScheduled, event.TypeWaitingForDependencies},
	event.TypeScheduled:              {event.TypeSchedulePaused, event.TypeScheduleTriggered},
	event.TypeSchedulePaused:         {event.TypeScheduleResumed},
	event.TypeScheduleResumed:        {event.TypeScheduleTriggered},
	event.TypeScheduleTriggered:      {event.TypeEnqueued},
	event.TypeWaitingForDependencies: {event.TypeDependencySatisfied, event.TypeDependencyFailed},
	event.TypeDependencySatisfied:    {event.TypeDependencySatisfied, event.TypeDependencyFailed, event.TypeEnqueued},
	event.TypeDependencyFailed:       {event.TypeCancelled},
	event.TypeEnqueued:               queued,
	event.TypeQueuePriorityChanged:   queued,
	event.TypeQueueMoved:             queued,
	event.TypeTTLExtended:            queued,
	event.TypeTTLExpired:             {end},
	event.TypeDequeued:               {event.TypeWorkerAssigned},
	event.TypeWorkerAssigned:         {event.TypeStarted},
	event.TypeStarted:                {event.TypeCompleted, event.TypeFailed, event.TypeTimeout, event.TypeCancelled},
	event.TypeCompleted:              {event.TypeWorkerReleased},
	event.TypeFailed:                 {event.TypeWorkerReleased},
	event.TypeTimeout:                {event.TypeWorkerReleased},
	event.TypeCancelled:              {event.TypeWorkerReleased, end},
	event.TypeWorkerReleased:         {event.TypeRetryScheduled, event.TypeMaxRetriesExceeded, event.TypeScheduleDeactivated, end},
	event.TypeRetryScheduled:         {event.TypeRetryStarted},
	event.TypeRetryStarted:           {event.TypeWorkerAssigned},
	event.TypeMaxRetriesExceeded:     {end},
	event.TypeScheduleDeactivated:    {end},
}

var queued = []event.JobEventType{
	event.TypeDequeued, event.TypeQueuePriorityChanged, event.TypeQueueMoved,
	event.TypeTTLExtended, event.TypeTTLExpired, event.TypeCancelled,
}

func byJob(evs []event.JobEvent) (order []string, jobs map[string][]event.JobEvent) {
	jobs = map[string][]event.JobEvent{}
	for _, ev := range evs {
		if _, ok := jobs[ev.JobID]; !ok {
			order = append(order, ev.JobID)
		}
		jobs[ev.JobID] = append(jobs[ev.JobID], ev)
	}
	return order, jobs
}

func run(t *testing.T, opts ...demo.Option) (*recorder, demo.Stats) {
	t.Helper()
	rec := &recorder{}
	sim := demo.New(rec, append([]demo.Option{demo.WithSpeed(math.Inf(1))}, opts...)...)
	require.NoError(t, sim.Run(t.Context()))
	return rec, sim.Stats()
}

func TestLifecyclesAreValid(t *testing.T) {
	const maxRetries = 2
	rec, st := run(t, demo.WithSeed(42), demo.WithJobs(1000), demo.WithMaxRetries(maxRetries), demo.WithFailureRate(0.3))
	order, jobs := byJob(rec.snapshot())
	require.Len(t, order, 1000, "one id per job")
	assert.Equal(t, 1000, st.JobsStarted)
	assert.Equal(t, 1000, st.JobsFinished)
	assert.Equal(t, len(rec.snapshot()), st.Events)
	assert.Equal(t, st.JobsFinished, st.Completed+st.Failed+st.Cancelled+st.Expired)

	seen := map[event.JobEventType]int{}
	for _, id := range order {
		evs := jobs[id]
		t.Run(id, func(t *testing.T) {
			prev := event.JobEventType("<start>")
			var failures, retries int
			for i, ev := range evs {
				seen[ev.Type]++
				require.Containsf(t, allowed[prev], ev.Type, "event %d: %s after %s", i, ev.Type, prev)
				switch ev.Type {
				case event.TypeFailed, event.TypeTimeout:
					failures++
				case event.TypeRetryStarted:
					retries++
					assert.EqualValues(t, retries, ev.Details["attempt"], "attempts count up from 1")
				case event.TypeMaxRetriesExceeded:
					assert.Equal(t, maxRetries, retries, "gives up only after every retry")
					assert.NotEmpty(t, ev.ErrorType)
				case event.TypeCompleted:
					require.NotNil(t, ev.DurationMS)
					assert.Positive(t, *ev.DurationMS)
					require.NotNil(t, ev.MemoryMB)
				}
				assert.Equal(t, "demo", ev.Tags["source"])
				prev = ev.Type
			}
			assert.Contains(t, allowed[prev], end, "lifecycle ends after %s", prev)
			assert.LessOrEqual(t, retries, maxRetries)
			if prev == event.TypeWorkerReleased && failures > 0 {
				// Ended after a run: that run cannot have failed.
				assert.Less(t, failures, retries+1)
			}
		})
	}
	for _, typ := range event.Types() {
		assert.Positivef(t, seen[typ], "type %s never simulated in 1000 jobs", typ)
	}
}

func TestSeedIsDeterministic(t *testing.T) {
	type key struct {
		job, queue, worker string
		typ                event.JobEventType
	}
	keys := func(seed int64) []key {
		rec, _ := run(t, demo.WithSeed(seed), demo.WithJobs(200))
		var out []key
		for _, ev := range rec.snapshot() {
			out = append(out, key{ev.JobID, ev.QueueName, ev.WorkerID, ev.Type})
		}
		return out
	}
	a, b, c := keys(7), keys(7), keys(8)
	require.NotEmpty(t, a)
	assert.Equal(t, a, b, "same seed, same events")
	assert.NotEqual(t, a, c, "another seed, other events")
}

func TestRateIsHonoured(t *testing.T) {
	tests := []struct {
		rate float64
		jobs int
	}{{rate: 5, jobs: 500}, {rate: 50, jobs: 5000}}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			// allStarted is the simulated time of the first job to finish
			// after the last arrival: a little after that arrival.
			var allStarted time.Duration
			_, st := run(t, demo.WithSeed(1), demo.WithRate(tt.rate), demo.WithJobs(tt.jobs),
				demo.WithProgress(func(s demo.Stats) {
					if s.JobsStarted == tt.jobs && allStarted == 0 {
						allStarted = s.SimTime
					}
				}))
			require.Equal(t, tt.jobs, st.JobsFinished)
			// n Poisson arrivals at rate r take about n/r simulated seconds.
			want := float64(tt.jobs) / tt.rate
			assert.InEpsilon(t, want, allStarted.Seconds(), 0.15)
		})
	}
}

func TestQueuesAndWorkers(t *testing.T) {
	rec, _ := run(t, demo.WithSeed(3), demo.WithJobs(300), demo.WithQueues("a", " ", "b"), demo.WithWorkers(2))
	queues, workers := map[string]bool{}, map[string]bool{}
	for _, ev := range rec.snapshot() {
		queues[ev.QueueName] = true
		if ev.WorkerID != "" {
			workers[ev.WorkerID] = true
		}
	}
	assert.Equal(t, map[string]bool{"a": true, "b": true}, queues)
	assert.Equal(t, map[string]bool{"worker-1": true, "worker-2": true}, workers)
}

func TestRunStops(t *testing.T) {
	t.Run("ctx cancelled", func(t *testing.T) {
		rec := &recorder{}
		sim := demo.New(rec, demo.WithSeed(1), demo.WithRate(1000), demo.WithSpeed(100))
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- sim.Run(ctx) }()
		require.Eventually(t, func() bool { return sim.Stats().Events > 10 }, 10*time.Second, time.Millisecond)
		cancel()
		err := <-errc
		require.ErrorIs(t, err, context.Canceled)
		assert.Error(t, sim.Run(t.Context()), "a second Run is refused")
	})
	t.Run("logger error", func(t *testing.T) {
		boom := errors.New("boom")
		rec := &recorder{fail: boom}
		err := demo.New(rec, demo.WithSpeed(math.Inf(1))).Run(t.Context())
		require.ErrorIs(t, err, boom)
		// A job's first event is enqueued or, for a scheduled job,
		// scheduled; either way the error names the event and the job.
		assert.Regexp(t, `log (enqueued|scheduled) event of job demo-\S+: boom`, err.Error())
	})
}

func TestModule(t *testing.T) {
	store := memstore.New()
	lg := logger.New(store)
	app := fxtest.New(t,
		fx.Supply(lg, demo.Config{Rate: 200, Speed: 50, Seed: 5}),
		demo.Module,
	)
	app.RequireStart()
	require.Eventually(t, func() bool { return lg.Stats().Logged >= 20 }, 10*time.Second, time.Millisecond)
	app.RequireStop()
	// Stopped: nothing more is logged, and the logger can close cleanly.
	logged := lg.Stats().Logged
	require.NoError(t, lg.Close(t.Context()))
	assert.Equal(t, logged, lg.Stats().Logged)
	n, err := store.Count(t.Context(), event.Filter{})
	require.NoError(t, err)
	assert.Equal(t, int(logged), n, "every logged event is stored")
}
