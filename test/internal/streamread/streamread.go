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
// stream order, with an ordered consumer on nc. It fails the test if the
// stream cannot be read within 30 s or a fetch of 5 s brings no message
// before all were read.
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
	require.NoError(t, retry(ctx, func() (err error) {
		// nats.go re-creates a lost consumer without end by default, and
		// a Fetch waits through it: a stream deleted under the read would
		// hold the test until go test's timeout instead of failing here.
		// Five tries leave 1+2+4+8 s of backoff between them.
		cons, err = s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{MaxResetAttempts: 5})
		return err
	}), "ordered consumer on %s", stream)
	var read uint64
	for read < total {
		// An ordered consumer creates its server-side consumer at the
		// fetch, and a fetch can end with the same transient answers; the
		// next fetch goes on from the last message delivered.
		var batch jetstream.MessageBatch
		require.NoError(t, retry(ctx, func() (err error) {
			batch, err = cons.Fetch(int(min(total-read, 1000)), jetstream.FetchMaxWait(5*time.Second))
			return err
		}), "fetch from %s after %d of %d", stream, read, total)
		n := 0
		for m := range batch.Messages() {
			n++
			each(m)
		}
		read += uint64(n)
		if err := batch.Error(); err != nil {
			if transient(err) && pause(ctx, 100*time.Millisecond) {
				continue
			}
			require.NoError(t, err, "fetch from %s after %d of %d", stream, read, total)
		}
		require.NotZero(t, n, "no message fetched after %d of %d", read, total)
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

// pause waits d and reports true, or false at once if ctx ends first.
func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
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
