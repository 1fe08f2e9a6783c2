package demo

import (
	"math"
	"strings"
)

// Defaults of the options.
const (
	DefaultRate        = 5.0  // jobs per second of simulated time
	DefaultWorkers     = 8    // workers taking jobs
	DefaultFailureRate = 0.15 // chance that one run of a job fails
	DefaultMaxRetries  = 3    // retries after the first failed run
	DefaultSpeed       = 1.0  // simulated seconds per wall-clock second
)

// DefaultQueues are the queues jobs are put on unless WithQueues says
// otherwise.
var DefaultQueues = []string{"default", "emails", "reports", "billing"}

// Option configures a Simulator. Options are applied in order; a later
// option of the same kind wins.
type Option func(*config)

type config struct {
	rate        float64
	queues      []string
	workers     int
	seed        uint64
	seeded      bool
	failureRate float64
	maxRetries  int
	speed       float64
	jobs        int
	progress    func(Stats)
}

func newConfig(opts []Option) config {
	c := config{
		rate:        DefaultRate,
		queues:      DefaultQueues,
		workers:     DefaultWorkers,
		failureRate: DefaultFailureRate,
		maxRetries:  DefaultMaxRetries,
		speed:       DefaultSpeed,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// WithRate sets how many jobs arrive per second of simulated time, on
// average (arrivals are a Poisson process). Default 5. A value that is not a
// positive finite number keeps the default.
func WithRate(jobsPerSecond float64) Option {
	return func(c *config) {
		if jobsPerSecond > 0 && !math.IsInf(jobsPerSecond, 0) {
			c.rate = jobsPerSecond
		}
	}
}

// WithQueues sets the queues jobs are put on; queue_moved moves a job
// between them. Default DefaultQueues. Empty names are ignored; a list with
// no usable name keeps the default. Names are written as queue_name and
// need not be subject tokens.
func WithQueues(queues ...string) Option {
	return func(c *config) {
		var qs []string
		for _, q := range queues {
			if q = strings.TrimSpace(q); q != "" {
				qs = append(qs, q)
			}
		}
		if len(qs) > 0 {
			c.queues = qs
		}
	}
}

// WithWorkers sets how many workers (worker-1 … worker-N, of types async,
// thread and process in turn) take jobs. Default 8. Values below one keep
// the default.
func WithWorkers(n int) Option {
	return func(c *config) {
		if n >= 1 {
			c.workers = n
		}
	}
}

// WithSeed makes the simulation deterministic: the same seed and options
// give the same jobs, job ids and event sequences. By default the seed is
// random. Any value is valid.
func WithSeed(seed int64) Option {
	return func(c *config) { c.seed, c.seeded = uint64(seed), true }
}

// WithFailureRate sets the chance, from 0 to 1, that one run of a job fails
// (a failed job is retried up to the retry limit). Default 0.15. Values
// outside [0, 1] or NaN keep the default.
func WithFailureRate(p float64) Option {
	return func(c *config) {
		if p >= 0 && p <= 1 {
			c.failureRate = p
		}
	}
}

// WithMaxRetries sets how many times a failed job is retried before
// max_retries_exceeded. Default 3. Negative values keep the default; 0
// means a failure is final.
func WithMaxRetries(n int) Option {
	return func(c *config) {
		if n >= 0 {
			c.maxRetries = n
		}
	}
}

// WithSpeed sets how many simulated seconds pass per wall-clock second.
// Default 1 (real time: a job that "runs" 2 s logs its completion 2 s after
// its start). math.Inf(1) runs without waiting at all, for tests and
// benchmarks. Values that are not positive, or NaN, keep the default.
func WithSpeed(f float64) Option {
	return func(c *config) {
		if f > 0 {
			c.speed = f
		}
	}
}

// WithJobs sets how many jobs Run simulates before it returns, once every
// one of them has finished its lifecycle. Default 0: unlimited, Run returns
// when its ctx ends. Negative values keep the default.
func WithJobs(n int) Option {
	return func(c *config) {
		if n >= 0 {
			c.jobs = n
		}
	}
}

// WithProgress sets a function Run calls, on its own goroutine, after each
// job finishes, with the counters so far. It must return quickly. Default
// none; nil keeps none.
func WithProgress(fn func(Stats)) Option {
	return func(c *config) { c.progress = fn }
}
