// Package natsembedtest gives a test an embedded nats-server with JetStream
// and a connection to it, both closed when the test ends.
package natsembedtest

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/naq-go/events/adapters/natsembed"
)

// Connect starts an embedded server with opts and connects to it; the test
// fails at once if either does not work. The connection is closed, then the
// server shut down, when tb ends.
func Connect(tb testing.TB, opts ...natsembed.Option) (*natsembed.Server, *nats.Conn) {
	tb.Helper()
	srv, err := natsembed.Start(opts...)
	if err != nil {
		tb.Fatalf("start embedded nats-server: %v", err)
	}
	tb.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		tb.Fatalf("connect to the embedded nats-server at %s: %v", srv.ClientURL(), err)
	}
	tb.Cleanup(nc.Close)
	return srv, nc
}
