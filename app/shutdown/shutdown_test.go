package shutdown

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestOrderIsTheDesign pins the stop order the service promises
// (docs/service.md, "Assembly and shutdown").
func TestOrderIsTheDesign(t *testing.T) {
	assert.Equal(t, []Step{Demo, HTTP, Logger, Processor, Rollups, Store, NATS, Embedded}, Order)
	seen := map[Step]bool{}
	for _, s := range Order {
		assert.False(t, seen[s], "%s twice in Order", s)
		seen[s] = true
	}
}

// TestStopRunsInOrder: steps run in the sequence's order whatever the order
// they were added in, several functions of one step in the order added,
// steps without functions are skipped, and every function gets Stop's ctx.
func TestStopRunsInOrder(t *testing.T) {
	s := New(Order, quiet)
	var ran []string
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "stop-ctx")
	add := func(step Step, name string) {
		s.Add(step, func(c context.Context) error {
			assert.Equal(t, "stop-ctx", c.Value(key{}), "%s gets Stop's ctx", name)
			ran = append(ran, name)
			return nil
		})
	}
	add(Embedded, "server")
	add(Store, "store")
	add(HTTP, "http")
	add(Logger, "logger")
	add(Logger, "spill")
	add(NATS, "conn")
	var observed []Step
	s.Observe(func(st Step) { observed = append(observed, st) })

	assert.Equal(t, []Step{HTTP, Logger, Store, NATS, Embedded}, s.Steps())
	require.NoError(t, s.Stop(ctx))
	assert.Equal(t, []string{"http", "logger", "spill", "store", "conn", "server"}, ran)
	assert.Equal(t, []Step{HTTP, Logger, Store, NATS, Embedded}, observed)

	require.NoError(t, s.Stop(ctx), "a second Stop does nothing")
	assert.Len(t, ran, 6)
	add(HTTP, "late")
	require.NoError(t, s.Stop(ctx))
	assert.Len(t, ran, 6, "nothing added after Stop runs")
}

// TestStopGoesOnAfterAFailure: a failing step does not keep later ones from
// running, and its error is returned, naming the step.
func TestStopGoesOnAfterAFailure(t *testing.T) {
	s := New(Order, quiet)
	boom := errors.New("boom")
	var ran []Step
	for _, st := range []Step{HTTP, Store, NATS} {
		s.Add(st, func(context.Context) error {
			ran = append(ran, st)
			if st == Store {
				return boom
			}
			return nil
		})
	}
	err := s.Stop(t.Context())
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "stop storage: boom")
	assert.Equal(t, []Step{HTTP, Store, NATS}, ran)
}

// TestStopAfterTheDeadline: with the deadline gone, every step still runs
// (with the ended ctx, so it can close at once) instead of being skipped,
// as fx skips the hooks left when its ctx ends.
func TestStopAfterTheDeadline(t *testing.T) {
	s := New(Order, quiet)
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	var ran []Step
	s.Add(Logger, func(ctx context.Context) error {
		<-ctx.Done()
		ran = append(ran, Logger)
		return ctx.Err()
	})
	s.Add(NATS, func(ctx context.Context) error {
		ran = append(ran, NATS)
		return nil
	})
	err := s.Stop(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, []Step{Logger, NATS}, ran)
}

func TestAddRefusesUnknownSteps(t *testing.T) {
	s := New([]Step{HTTP, Store}, quiet)
	assert.PanicsWithValue(t,
		`shutdown: step "natsconn" is not in the stop order [httpapi storage]; add it to shutdown.Order where it must stop`,
		func() { s.Add(NATS, func(context.Context) error { return nil }) })
	assert.Panics(t, func() { s.Add(HTTP, nil) })
}

// TestModuleStopsAfterAFailedStart: the sequence's hook is appended before
// the start hooks of the modules that use it, so when a later start fails,
// fx's rollback still runs the whole sequence.
func TestModuleStopsAfterAFailedStart(t *testing.T) {
	var stopped []Step
	app := fx.New(
		fx.Supply(quiet),
		Module,
		fx.Invoke(func(lc fx.Lifecycle, s *Sequence) {
			s.Add(Store, func(context.Context) error { stopped = append(stopped, Store); return nil })
			lc.Append(fx.StartHook(func() error { return nil }))
			s.Add(HTTP, func(context.Context) error { stopped = append(stopped, HTTP); return nil })
			lc.Append(fx.StartHook(func() error { return errors.New("cannot listen") }))
		}),
		fx.NopLogger,
	)
	require.NoError(t, app.Err())
	err := app.Start(t.Context())
	require.ErrorContains(t, err, "cannot listen")
	assert.Equal(t, []Step{HTTP, Store}, stopped, "rolled back in the sequence's order")

	stopped = nil
	ok := fxtest.New(t, fx.Supply(quiet), Module, fx.Invoke(func(s *Sequence) {
		s.Add(Embedded, func(context.Context) error { stopped = append(stopped, Embedded); return nil })
	}))
	ok.RequireStart().RequireStop()
	assert.Equal(t, []Step{Embedded}, stopped)
}

// TestModuleHookPrecedesUnrelatedStartHooks: a start hook appended by a
// constructor or invoke that does not take the *Sequence, ahead of the
// first one that does, still comes after the sequence's stop hook (the
// module builds the Sequence itself), so its failure rolls the sequence
// back.
func TestModuleHookPrecedesUnrelatedStartHooks(t *testing.T) {
	var stopped []Step
	app := fx.New(
		fx.Supply(quiet),
		Module,
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.StartHook(func() error { return errors.New("cannot connect") }))
		}),
		fx.Invoke(func(s *Sequence) {
			s.Add(Embedded, func(context.Context) error { stopped = append(stopped, Embedded); return nil })
		}),
		fx.NopLogger,
	)
	require.NoError(t, app.Err())
	require.ErrorContains(t, app.Start(t.Context()), "cannot connect")
	assert.Equal(t, []Step{Embedded}, stopped, "the server started by a constructor is stopped")
}
