package logger_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// fakeStore is the pure-logic stand-in for a real store: it records every
// call and lets a test decide each call's answer. Real stores run the
// ports/storetest contract suite and the JetStream end-to-end tests.
type fakeStore struct {
	mu      sync.Mutex
	calls   [][]string // event ids of every call, in call order
	stored  []string   // ids acknowledged, in order, duplicates included
	respond func(ctx context.Context, call int, evs []event.JobEvent) error
}

var _ logger.Store = (*fakeStore)(nil)

func (s *fakeStore) StoreBatch(ctx context.Context, evs []event.JobEvent) error {
	ids := idsOf(evs)
	s.mu.Lock()
	n := len(s.calls)
	s.calls = append(s.calls, ids)
	respond := s.respond
	s.mu.Unlock()
	var err error
	if respond != nil {
		err = respond(ctx, n, evs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var be *logger.BatchError
	switch {
	case err == nil:
		s.stored = append(s.stored, ids...)
	case errors.As(err, &be):
		for i, e := range be.Errs {
			if e == nil {
				s.stored = append(s.stored, ids[i])
			}
		}
	}
	return err
}

func (s *fakeStore) setRespond(fn func(ctx context.Context, call int, evs []event.JobEvent) error) {
	s.mu.Lock()
	s.respond = fn
	s.mu.Unlock()
}

func (s *fakeStore) callSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, len(s.calls))
	for i, c := range s.calls {
		out[i] = len(c)
	}
	return out
}

func (s *fakeStore) numCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func (s *fakeStore) call(i int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls[i])
}

// storedOnce returns the stored ids without repeats, in first-store order.
func (s *fakeStore) storedOnce() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, id := range s.stored {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// fakeSpill keeps spilled events in memory and fails the test if the
// logger ever calls it concurrently.
type fakeSpill struct {
	t         *testing.T
	busy      atomic.Bool
	mu        sync.Mutex
	evs       []event.JobEvent
	failWrite atomic.Bool
	writes    int
	// write, if set, decides each write: nil writes every event, a
	// *logger.BatchError writes those with a nil entry, any other error
	// writes none. It may block (honouring ctx or not).
	write func(ctx context.Context, evs []event.JobEvent) error
}

var _ logger.Spill = (*fakeSpill)(nil)

func (s *fakeSpill) enter() func() {
	if s.busy.Swap(true) {
		s.t.Error("Spill methods called concurrently")
	}
	return func() { s.busy.Store(false) }
}

func (s *fakeSpill) StoreBatch(ctx context.Context, evs []event.JobEvent) error {
	defer s.enter()()
	if s.failWrite.Load() {
		return errors.New("disk full")
	}
	s.mu.Lock()
	write := s.write
	s.mu.Unlock()
	var err error
	if write != nil {
		err = write(ctx, evs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	var be *logger.BatchError
	switch {
	case err == nil:
		s.evs = append(s.evs, evs...)
	case errors.As(err, &be) && len(be.Errs) == len(evs):
		for i, e := range be.Errs {
			if e == nil {
				s.evs = append(s.evs, evs[i])
			}
		}
	}
	return err
}

func (s *fakeSpill) setWrite(fn func(ctx context.Context, evs []event.JobEvent) error) {
	s.mu.Lock()
	s.write = fn
	s.mu.Unlock()
}

func (s *fakeSpill) Replay(ctx context.Context, max int, fn func(context.Context, []event.JobEvent) error) error {
	defer s.enter()()
	for {
		s.mu.Lock()
		batch := slices.Clone(s.evs[:min(max, len(s.evs))])
		s.mu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		if err := fn(ctx, batch); err != nil {
			return err
		}
		s.mu.Lock()
		s.evs = s.evs[len(batch):]
		s.mu.Unlock()
	}
}

func (s *fakeSpill) Pending() int {
	defer s.enter()()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.evs)
}

func (s *fakeSpill) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return idsOf(s.evs)
}

func idsOf(evs []event.JobEvent) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}

func ev(i int) event.JobEvent {
	return event.Enqueued(fmt.Sprintf("job-%d", i), "default", 0)
}

// logN logs n fresh events and returns their ids in order.
func logN(t *testing.T, l *logger.Logger, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		e := ev(i)
		ids[i] = e.ID
		if err := l.Log(e); err != nil {
			t.Fatalf("Log %d: %v", i, err)
		}
	}
	return ids
}

// eventually waits, inside a synctest bubble, until cond holds: it lets
// the bubble's goroutines settle and steps the fake clock. It never waits
// in real time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		synctest.Wait()
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gate makes store calls wait until released.
type gate struct{ ch chan struct{} }

func newGate() *gate { return &gate{ch: make(chan struct{})} }

func (g *gate) respond(ctx context.Context, _ int, _ []event.JobEvent) error {
	select {
	case <-g.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) open() { close(g.ch) }

// newLogger returns a Logger that is closed when the test ends, even if
// it fails half-way (synctest requires every goroutine to end).
func newLogger(t *testing.T, s logger.Store, opts ...logger.Option) *logger.Logger {
	t.Helper()
	l := logger.New(s, append([]logger.Option{logger.WithSlog(slog.New(slog.DiscardHandler))}, opts...)...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = l.Close(ctx)
	})
	return l
}

func closeOK(t *testing.T, l *logger.Logger) {
	t.Helper()
	if err := l.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func equalIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %d ids %v\nwant %d ids %v", what, len(got), got, len(want), want)
	}
}
