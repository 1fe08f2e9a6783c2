package logger

import (
	"context"

	"github.com/naq-go/events/domain/event"
)

type callKind uint8

const (
	callNone callKind = iota
	callStore
	callReplay
	callSpill
)

// job is one I/O call for a worker.
type job struct {
	kind  callKind
	ctx   context.Context // for callSpill; store calls derive theirs
	batch []event.JobEvent
	check []bool // for callStore: events to look up first (lookup.go)
}

// worker runs one I/O call at a time on its own goroutine and hands its
// error back, so that the flusher never blocks in a Store or a Spill: it
// can spill while a store call hangs, and Close can stop waiting for a
// call that never returns (the goroutine then ends when the call does).
// The flusher owns it: only the flusher sends, receives and reads busy.
type worker struct {
	kind    callKind // of the call in flight, callNone when idle
	jobs    chan job
	results chan error // room for the one result of the call in flight
	done    chan struct{}
}

func startWorker(run func(job) error) *worker {
	w := &worker{jobs: make(chan job, 1), results: make(chan error, 1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for j := range w.jobs {
			w.results <- run(j)
		}
	}()
	return w
}

func (w *worker) busy() bool { return w.kind != callNone }

// start hands j to the goroutine; the worker must be idle.
func (w *worker) start(j job) {
	w.kind = j.kind
	w.jobs <- j
}

// took marks the result of the call in flight as received.
func (w *worker) took() { w.kind = callNone }

// stop ends the goroutine: at once when idle; when a call is still in
// flight (Close gave up on it) the goroutine ends as soon as it returns.
func (w *worker) stop() {
	close(w.jobs)
	if !w.busy() {
		<-w.done
	}
}
