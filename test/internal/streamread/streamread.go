// Package streamread reads a whole JetStream stream in stream order for the
// tests of test/: test/writepath and test/loggerjs check what it holds.
package streamread

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// Each calls each for every message the stream holds when it is called, in
// stream order, with one ordered consumer on nc. It fails the test if the
// stream cannot be read within its budget (30 s plus 1 s per 10,000
// messages) or if 5 s go by without a message before all were read.
//
// It reads with Messages, not Fetch: an ordered consumer's Fetch creates a
// new server-side consumer for every batch, and on a loaded three-node
// cluster 200 consumer creations for a 200k-message stream took more than
// 30 s on their own (a fresh-clone CI run on c677b4d,
// TestCluster/LeaderPartitioned). Messages keeps one consumer and
// re-creates it only after a gap, a missed heartbeat or "no responders".
func Each(t testing.TB, nc *nats.Conn, stream string, each func(jetstream.Msg)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	var (
		s    jetstream.Stream
		info *jetstream.StreamInfo
		cons jetstream.Consumer
	)
	// Right after a cluster (re)starts, JetStream may answer "no
	// responders" or 503 for a while: the same transient answers the
	// product retries.
	require.NoError(t, retry(ctx, func() (err error) {
		if s, err = js.Stream(ctx, stream); err != nil {
			return err
		}
		info, err = s.Info(ctx)
		return err
	}), "stream %s", stream)
	total := info.State.Msgs
	if total == 0 {
		return
	}
	budget := 30*time.Second + time.Duration(total/10_000)*time.Second
	readCtx, cancelRead := context.WithTimeout(context.Background(), budget)
	defer cancelRead()
	require.NoError(t, retry(readCtx, func() (err error) {
		// nats.go re-creates a lost consumer without end by default, and
		// the iterator waits through it: a stream deleted under the read
		// would hold the test until go test's timeout instead of failing
		// here. Five tries leave 1+2+4+8 s of backoff between them.
		cons, err = s.OrderedConsumer(readCtx, jetstream.OrderedConsumerConfig{MaxResetAttempts: 5})
		return err
	}), "ordered consumer on %s", stream)
	it, err := cons.Messages(jetstream.PullMaxMessages(1000))
	require.NoError(t, err, "messages of %s", stream)
	defer it.Stop()
	began := time.Now()
	var read uint64
	for read < total {
		// Next returns ErrTimeout after NextMaxWait without a message; the
		// iterator handles the transient answers itself (it re-creates its
		// consumer from the last message it delivered).
		m, err := it.Next(jetstream.NextMaxWait(5 * time.Second))
		require.NoError(t, err, "read %s: %d of %d after %s", stream, read, total, time.Since(began).Round(time.Millisecond))
		require.NoError(t, readCtx.Err(), "read %s: %d of %d within %s", stream, read, total, budget)
		read++
		each(m)
	}
}

// retry calls fn until it succeeds, fails with an error that is not
// transient, or ctx ends, backing off from 50 ms to 1 s.
func retry(ctx context.Context, fn func() error) error {
	wait := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code == 503 {
		return true
	}
	// A request's own timeout is transient; the caller's ctx ending is
	// seen by retry's select.
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}
