package natsembedtest_test

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/adapters/natsembed/natsembedtest"
)

func TestConnect(t *testing.T) {
	srv, nc := natsembedtest.Connect(t)
	if !nc.IsConnected() || nc.ConnectedUrl() != srv.ClientURL() {
		t.Fatalf("connection to %s: connected=%v url=%q", srv.ClientURL(), nc.IsConnected(), nc.ConnectedUrl())
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatalf("JetStream account info (is JetStream on?): %v", err)
	}
	if !srv.Running() {
		t.Fatal("server not running")
	}
}
