// Package natsembed runs a nats-server with JetStream inside the current
// process, for tests, benchmarks and single-binary deployments.
//
//	srv, err := natsembed.Start(natsembed.WithSlog(slog.Default()))
//	if err != nil { ... }
//	defer srv.Shutdown()
//	nc, err := nats.Connect(srv.ClientURL())
//
// A Server can be stopped and started again on the same store directory and
// port (Stop, then Restart), so a client configured with unlimited
// reconnects sees an outage and a recovery, and the stream's data survives —
// the way tests of the logger simulate a NATS restart.
//
// Options follow the rule of every adapter: each option's comment states its
// default and range, and a value out of range makes Start fail with an error
// wrapping ports.ErrInvalid that names the option and the value (nothing is
// silently replaced by a default).
package natsembed
