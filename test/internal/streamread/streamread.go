// Package streamread reads a whole JetStream stream in stream order for the
// tests of test/: test/writepath and test/loggerjs check what it holds.
package streamread

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// Each calls each for every message the stream holds when it is called, in
// stream order, with an ordered consumer on nc. It fails the test if the
// stream cannot be read within 30 s or a fetch of 5 s brings no message
// before all were read.
func Each(t testing.TB, nc *nats.Conn, stream string, each func(jetstream.Msg)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	total := info.State.Msgs
	if total == 0 {
		return
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	var read uint64
	for read < total {
		batch, err := cons.Fetch(int(min(total-read, 1000)), jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			n++
			each(m)
		}
		require.NoError(t, batch.Error())
		require.NotZero(t, n, "no message fetched after %d of %d", read, total)
		read += uint64(n)
	}
}
