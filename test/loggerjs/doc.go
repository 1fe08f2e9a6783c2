// Package loggerjs holds the integration tests and benchmarks of the event
// logger (domain/logger) over the JetStream store (adapters/jsstore) on an
// embedded nats-server (adapters/natsembed): outages with the server
// stopped and restarted in-process on the same store directory, Close with
// a dead server, overflow under each policy against a stalled store, and
// LogSync's read-your-write promise. Every check is by event id, read back
// from the stream.
//
// The benchmarks measure Log's cost, the sustained throughput of 512-byte
// events into JetStream (beside the natscli figure, see `make bench-logger`)
// and the end-to-end latency from Log to acknowledgement at 1 k events/s.
// docs/performance.md ("Logger") records the figures.
package loggerjs
