package loggerjs_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/logger"
)

// closeGrace is how long after its ctx's deadline Close may take: the
// logger's stated bound, logger.CloseGrace, plus scheduling slack on a
// loaded machine.
const closeGrace = logger.CloseGrace + 500*time.Millisecond

// awaitDisconnect waits until nc has seen the server go away, so that the
// store's publishes fail at once rather than wait for acknowledgements
// from a dead socket.
func awaitDisconnect(t testing.TB, nc *nats.Conn) {
	t.Helper()
	requireEventually(t, 10*time.Second, func() bool { return !nc.IsConnected() }, "client still connected")
}

// closeBy calls l.Close with a ctx of the given timeout and fails the
// test if it has not returned by the deadline plus closeGrace.
func closeBy(t *testing.T, l *logger.Logger, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	done := make(chan error, 1)
	go func() { done <- l.Close(ctx) }()
	limit := time.NewTimer(time.Until(deadline.Add(closeGrace)))
	defer limit.Stop()
	select {
	case err := <-done:
		return err
	case <-limit.C:
		t.Fatalf("Close has not returned %v after its deadline", closeGrace)
		return nil
	}
}

// TestClose_DeadServer: Close with the server stopped (and not restarted)
// returns by its deadline and accounts for every event it could not store:
// without a spill they are dropped (DropClosed) or, where the store cannot
// say the publish was not sent, outcome unknown; with one they are spilled,
// and a new logger over the restarted server replays them, each once.
func TestClose_DeadServer(t *testing.T) {
	const stored, n = 50, 1000
	for _, tc := range []struct {
		name      string
		withSpill bool
	}{
		{name: "no spill: dropped and reported", withSpill: false},
		{name: "spill: spilled, then replayed by the next logger", withSpill: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t)
			nc := connect(t, srv.ClientURL())
			st := newStore(t, nc)
			opts := []logger.Option{
				logger.WithSlog(quiet),
				// Retry for ever: every event is still held when Close
				// begins, so Close alone decides their fate.
				logger.WithRetry(math.MaxInt, 20*time.Millisecond, 200*time.Millisecond),
			}
			spillDir := t.TempDir()
			if tc.withSpill {
				opts = append(opts, logger.WithSpill(openSpill(t, spillDir)))
			}
			l := logger.New(st, opts...)

			var ids []string
			for i := range stored {
				ev := newEvent(i)
				require.NoError(t, l.Log(ev))
				ids = append(ids, ev.ID)
			}
			require.NoError(t, l.Flush(t.Context()))

			srv.Stop()
			awaitDisconnect(t, nc)
			for i := range n {
				ev := newEvent(stored + i)
				require.NoError(t, l.Log(ev))
				ids = append(ids, ev.ID)
			}

			err := closeBy(t, l, 2*time.Second)
			ce, ok := errors.AsType[*logger.CloseError](err)
			require.True(t, ok, "Close: %v", err)
			s := l.Stats()
			t.Logf("Close: %v; stats: stored %d, spilled %d, dropped %+v", err, s.Stored, s.Spilled, s.Dropped)
			assert.Equal(t, n, ce.NotStored, "NotStored = logged - stored")
			assert.Equal(t, ce.NotStored, ce.Spilled+ce.Dropped+ce.OutcomeUnknown)
			assert.Equal(t, uint64(stored), s.Stored)
			assert.Equal(t, uint64(stored+n), s.Logged)
			assert.Zero(t, s.BufferDepth)
			if !tc.withSpill {
				// Given up at Close: dropped where the store said the
				// publish was not sent (logger.ErrNotSent), outcome unknown
				// otherwise (it cannot tell; the events may be stored).
				assert.Equal(t, n, ce.Dropped+ce.OutcomeUnknown)
				assert.Equal(t, uint64(ce.Dropped), s.Dropped.Closed)
				assert.Equal(t, uint64(ce.Dropped), s.Dropped.Total())
				assert.Equal(t, uint64(ce.OutcomeUnknown), s.OutcomeUnknown)
				assert.ErrorIs(t, ce, context.DeadlineExceeded, "the store never came back: Close gave up at its deadline")
				return
			}
			assert.Zero(t, ce.OutcomeUnknown, "with a working spill everything not stored is spilled")
			assert.Equal(t, n, ce.Spilled)
			assert.Zero(t, s.Dropped.Total())
			assert.ErrorIs(t, ce, logger.ErrSpilled)

			// The next logger on the same spill, once the server is back,
			// replays the spilled events before anything else.
			require.NoError(t, srv.Restart())
			spill := openSpill(t, spillDir)
			require.Equal(t, n, spill.Pending())
			l2 := logger.New(st, logger.WithSpill(spill), logger.WithSlog(quiet))
			requireEventually(t, 20*time.Second, func() bool { return l2.Stats().SpillPending == 0 },
				"spill not replayed: %+v", func() any { return l2.Stats() })
			require.NoError(t, closeBy(t, l2, 5*time.Second))
			assert.Equal(t, uint64(n), l2.Stats().Replayed)
			requireExactlyOnce(t, streamIDs(t, nc, st.StreamName()), ids)
		})
	}
}
