package jsstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// TestUnavailable_NoReconnectBuffer: on a connection without a reconnect
// buffer (nats.ReconnectBufSize(-1), as a logger should use), a publish
// while the server is down fails at once with nats.ErrReconnectBufExceeded;
// StoreBatch reports it as transient (ports.ErrUnavailable), so callers
// retry it rather than take it for the event's own fault.
func TestUnavailable_NoReconnectBuffer(t *testing.T) {
	srv := startServer(t)
	nc := connect(t, srv.ClientURL(), nats.ReconnectBufSize(-1))
	st := newStore(t, nc)
	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// The client may not have seen the disconnect yet: its first publishes
	// then go to the dead socket and time out, which is transient too.
	err := st.StoreBatch(ctx, events("job1", 5))
	require.ErrorIs(t, err, ports.ErrUnavailable)
	require.Eventually(t, func() bool { return !nc.IsConnected() }, 5*time.Second, 5*time.Millisecond)
	err = st.StoreBatch(ctx, events("job1", 5))
	require.ErrorIs(t, err, ports.ErrUnavailable)
	require.ErrorIs(t, err, nats.ErrReconnectBufExceeded)
	be, ok := errors.AsType[*logger.BatchError](err)
	require.True(t, ok)
	for i, e := range be.Errs {
		assert.ErrorIs(t, e, ports.ErrUnavailable, "event %d", i)
	}
}
