// Package natsembed runs a nats-server with JetStream inside the current
// process, for tests, benchmarks and single-binary deployments.
//
//	srv, err := natsembed.Start(natsembed.WithLogger(slog.Default()))
//	if err != nil { ... }
//	defer srv.Shutdown()
//	nc, err := nats.Connect(srv.ClientURL())
//
// A Server can be stopped and started again on the same store directory and
// port (Stop, then Restart), so a client configured with unlimited
// reconnects sees an outage and a recovery, and the stream's data survives —
// the way tests of the logger simulate a NATS restart.
package natsembed
