package natsconn

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUntilDenied: a request to a subject the user may not publish to gets
// no answer, only the server's refusal; under UntilDenied's context it
// ends at once (context.Canceled), and Explain names the refusal. A
// request the user may make is not cut short.
func TestUntilDenied(t *testing.T) {
	_, nc := connectLimited(t, &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{"ok.>", "_INBOX.>"}},
	}, "until denied test")
	echo, err := nc.Subscribe("ok.echo", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	require.NoError(t, err)
	defer func() { _ = echo.Unsubscribe() }()

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	since := time.Now()
	rctx, stop := UntilDenied(ctx, nc, "no.service")
	start := time.Now()
	_, err = nc.RequestWithContext(rctx, "no.service", []byte("x"))
	stop()
	took := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled, "ended by the refusal, not the minute")
	assert.Less(t, took, 30*time.Second, "a refusal ends the request, it does not wait for ctx")
	assert.NoError(t, ctx.Err(), "the caller's ctx is still alive")
	explained := Explain(nc, since, err)
	require.ErrorIs(t, explained, ErrPermission)
	assert.Contains(t, explained.Error(), `"no.service"`)

	rctx, stop = UntilDenied(ctx, nc, "ok.echo")
	defer stop()
	msg, err := nc.RequestWithContext(rctx, "ok.echo", []byte("hi"))
	require.NoError(t, err, "an allowed request is answered")
	assert.Equal(t, "hi", string(msg.Data))
}

// TestCloseAndWait: once CloseAndWait returns, the callbacks of errors
// reported before the close have run to their end (here a slow error
// handler, as a warning being written), and the connection's own closed
// handler too; on a closed connection it returns at once.
func TestCloseAndWait(t *testing.T) {
	_, nc := connectLimited(t, &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{"ok.>", "_INBOX.>"}},
	}, "close and wait test")
	var steps []string // written by nats.go's callback goroutine, read after it is done
	seen := make(chan struct{}, 1)
	prevErr := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, s *nats.Subscription, err error) {
		prevErr(c, s, err)
		select {
		case seen <- struct{}{}:
		default:
		}
		time.Sleep(100 * time.Millisecond) // a slow writer of the warning, not a wait for something
		steps = append(steps, "error")
	})
	prevClosed := nc.ClosedHandler()
	nc.SetClosedHandler(func(c *nats.Conn) {
		prevClosed(c)
		steps = append(steps, "closed")
	})
	require.NoError(t, nc.Publish("no.service", []byte("x")))
	require.NoError(t, nc.Flush())
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("the refusal was not reported")
	}
	CloseAndWait(nc, 5*time.Second)
	assert.Equal(t, []string{"error", "closed"}, steps, "both callbacks done, in order, when CloseAndWait returns")

	start := time.Now()
	CloseAndWait(nc, 5*time.Second)
	assert.Less(t, time.Since(start), time.Second, "a closed connection returns at once")
}
