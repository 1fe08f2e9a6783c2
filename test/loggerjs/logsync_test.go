package loggerjs_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// TestLogSync_ReadableAtOnce: when LogSync returns nil the event can be
// read back from the stream at once, whether it went alone or inside a
// batch of background events.
func TestLogSync_ReadableAtOnce(t *testing.T) {
	srv := startServer(t)
	nc := connect(t, srv.ClientURL())
	st := newStore(t, nc)
	l := logger.New(st, logger.WithSlog(quiet))

	// Background load, so that synchronous events share batches.
	stopLoad, loadDone := make(chan struct{}), make(chan error, 1)
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopLoad:
				loadDone <- nil
				return
			case <-tick.C:
				for j := range 5 {
					if err := l.Log(newEvent(i*5 + j)); err != nil {
						loadDone <- err
						return
					}
				}
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 200 {
		ev := event.New("sync-job-"+strconv.Itoa(i), event.TypeCompleted)
		require.NoError(t, l.LogSync(ctx, ev), "LogSync %d", i)
		got, err := st.Job(ctx, ev.JobID, event.Page{})
		require.NoError(t, err)
		require.True(t, slices.ContainsFunc(got, func(e event.JobEvent) bool { return e.ID == ev.ID }),
			"event %d (%s) not readable right after LogSync returned", i, ev.ID)
	}
	close(stopLoad)
	require.NoError(t, <-loadDone)
	require.NoError(t, l.Close(ctx))
	require.Zero(t, l.Stats().Dropped.Total())
}
