// Package writepath holds the fault tests of the JetStream store's write
// path (adapters/jsstore StoreBatch with fast-ingest batches): the server
// stopped and restarted mid-batch, the connection cut mid fast batch, the
// server killed with SIGKILL (a separate process in a container, see
// test/natstest) mid batch, and a gap forced by a message lost on the way
// (a TCP proxy that drops one publish). Each test writes batches through a
// caller that retries the failed events of a batch in order, as the logger
// does, and then reads the whole stream back: every event exactly once, each
// job's events in the order they were given.
package writepath
