package logger

import (
	"context"
	"time"

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
	// sentAt is what lookupFor decided check by (with check only).
	sentAt []time.Time
	// For callStore with a Pipeliner (pipeline.go): pipe sends the batch
	// with SendBatch, chained behind the call in flight, more if events
	// are queued behind it.
	pipe, chained, more bool
}

// worker runs one I/O call at a time on its own goroutine and hands its
// error back, so that the flusher never blocks in a Store or a Spill: it
// can spill while a store call hangs, and Close can stop waiting for a
// call that never returns (the goroutine then ends when the call does).
// The flusher owns it: only the flusher sends, receives and reads busy.
//
// A pipelined worker (startPipeWorker) has a second goroutine that waits
// for the outcomes: the first sends a pipelined job with SendBatch and
// goes on to the next job while the second waits, so two store calls may
// be in flight (the second chained behind the first); results come back
// in the order the jobs were started.
type worker struct {
	kind    callKind // of the oldest call in flight, callNone when idle
	second  bool     // a second store call is in flight behind it
	jobs    chan job
	results chan error // room for the results of the calls in flight
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

// startPipeWorker is startWorker for up to pipeDepth calls in flight:
// jobs with pipe set go through send (which returns the wait for their
// outcome), the others through run.
func startPipeWorker(run func(job) error, send func(job) func() error) *worker {
	w := &worker{jobs: make(chan job, pipeDepth), results: make(chan error, pipeDepth), done: make(chan struct{})}
	waits := make(chan func() error, pipeDepth)
	go func() {
		defer close(waits)
		for j := range w.jobs {
			if j.pipe {
				waits <- send(j)
				continue
			}
			err := run(j)
			waits <- func() error { return err }
		}
	}()
	go func() {
		defer close(w.done)
		for wait := range waits {
			w.results <- wait()
		}
	}()
	return w
}

func (w *worker) busy() bool { return w.kind != callNone }

// start hands j to the goroutine; the worker must be idle, or j a store
// call chained behind the one store call in flight of a pipelined worker.
func (w *worker) start(j job) {
	if w.kind != callNone {
		w.second = true
	} else {
		w.kind = j.kind
	}
	w.jobs <- j
}

// took marks the result of the oldest call in flight as received.
func (w *worker) took() {
	if w.second {
		w.second = false // the chained store call is the oldest now
		return
	}
	w.kind = callNone
}

// stop ends the goroutine: at once when idle; when a call is still in
// flight (Close gave up on it) the goroutine ends as soon as it returns.
func (w *worker) stop() {
	close(w.jobs)
	if !w.busy() {
		<-w.done
	}
}
