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
