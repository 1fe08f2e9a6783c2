package loggerjs_test

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// TestOverflow_StalledStore: with the server stopped and no spill, a
// logger of MaxBufferSize m given n > m events holds m and deals with the
// other n-m exactly as its policy says, counting each; once the server is
// back, the held events reach the stream, each once.
//
//   - DropOldest: n-m dropped (reason overflow), the oldest queued ones;
//     the newest events are all kept. Log returns nil.
//   - DropNewest: events m…n-1 dropped; Log returns nil.
//   - Block: Log refuses events m…n-1 with ErrBufferFull (Refused, not
//     Dropped); LogCtx waits for room until its ctx is done, and gets room
//     once the server is back.
func TestOverflow_StalledStore(t *testing.T) {
	const m, n, batch = 100, 1000, 10
	for _, policy := range []logger.OverflowPolicy{logger.DropOldest, logger.DropNewest, logger.Block} {
		t.Run(policy.String(), func(t *testing.T) {
			srv := startServer(t)
			nc := connect(t, srv.ClientURL())
			st := newStore(t, nc)
			srv.Stop()
			awaitDisconnect(t, nc)

			var (
				mu      sync.Mutex
				dropped []string
			)
			l := logger.New(st,
				logger.WithOverflow(policy),
				logger.WithMaxBufferSize(m),
				logger.WithBatchSize(batch),
				// Retry for ever, quickly: the held events stay in memory
				// and go out soon after the server is back.
				logger.WithRetry(math.MaxInt, 20*time.Millisecond, 50*time.Millisecond),
				logger.WithCircuitBreaker(math.MaxInt, time.Second),
				logger.WithDropHandler(func(ev event.JobEvent, r logger.DropReason) {
					mu.Lock()
					defer mu.Unlock()
					assert.Equal(t, logger.DropOverflow, r)
					dropped = append(dropped, ev.ID)
				}),
				logger.WithSlog(quiet))

			ids := make([]string, n)
			var refused []string
			for i := range n {
				ev := newEvent(i)
				ids[i] = ev.ID
				err := l.Log(ev)
				if policy == logger.Block && err != nil {
					require.ErrorIs(t, err, logger.ErrBufferFull)
					refused = append(refused, ev.ID)
					continue
				}
				require.NoError(t, err)
			}

			s := l.Stats()
			mu.Lock()
			gotDropped := slices.Clone(dropped)
			mu.Unlock()
			var kept []string
			switch policy {
			case logger.DropOldest:
				assert.Equal(t, uint64(n), s.Logged)
				assert.Equal(t, uint64(n-m), s.Dropped.Overflow)
				require.Len(t, gotDropped, n-m)
				kept = without(ids, gotDropped)
				// The queue is always the newest events; at most two
				// batches are held for the failing store calls (pipelined,
				// the default: the head and the chained one).
				assert.Subset(t, kept, ids[n-m+2*batch:], "the newest events are kept")
			case logger.DropNewest:
				assert.Equal(t, uint64(n), s.Logged)
				assert.Equal(t, uint64(n-m), s.Dropped.Overflow)
				assert.Equal(t, ids[m:], gotDropped)
				kept = ids[:m]
			case logger.Block:
				assert.Equal(t, uint64(m), s.Logged)
				assert.Equal(t, uint64(n-m), s.Refused)
				assert.Zero(t, s.Dropped.Total())
				assert.Empty(t, gotDropped)
				assert.Equal(t, ids[m:], refused)
				kept = ids[:m]

				// LogCtx waits for room until its ctx is done.
				ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
				err := l.LogCtx(ctx, newEvent(n))
				cancel()
				require.ErrorIs(t, err, logger.ErrBufferFull)
				require.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Equal(t, uint64(n-m+1), l.Stats().Refused)
			}
			assert.Len(t, kept, m)
			assert.Equal(t, m, s.BufferDepth, "the buffer is full, not over")
			assert.Zero(t, s.Stored)

			// A LogCtx waiting for room gets it once the server is back.
			waiting := newEvent(n + 1)
			waited := make(chan error, 1)
			if policy == logger.Block {
				go func() { waited <- l.LogCtx(t.Context(), waiting) }()
				kept = append(kept, waiting.ID)
			}
			require.NoError(t, srv.Restart())
			if policy == logger.Block {
				require.NoError(t, <-waited)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			require.NoError(t, l.Flush(ctx))
			require.NoError(t, l.Close(ctx))
			requireExactlyOnce(t, streamIDs(t, nc, st.StreamName()), kept)
			assert.Equal(t, uint64(len(kept)), l.Stats().Stored)
		})
	}
}

// without returns the ids of all not in drop, in order.
func without(all, drop []string) []string {
	gone := make(map[string]bool, len(drop))
	for _, id := range drop {
		gone[id] = true
	}
	var out []string
	for _, id := range all {
		if !gone[id] {
			out = append(out, id)
		}
	}
	return out
}
