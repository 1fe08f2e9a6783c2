// Package jsstore is the JetStream adapter of the storage port: it stores job
// events in one JetStream stream, on the subjects of domain/subject
// ("naq.events.{env}.{svc}.{job}.{type}"), and answers queries without full
// scans and without a consumer per query.
//
// # Writing
//
// StoreBatch publishes the whole batch with asynchronous publishes, each with
// the event id as Nats-Msg-Id, and returns only when every publish
// acknowledgement has arrived. The stream's duplicate window makes a retried
// batch store no event twice; an acknowledgement flagged duplicate counts as
// success. nats.go's reconnect buffer is never taken for durability: an
// event counts as stored only when its acknowledgement arrives.
//
// # Reading
//
// Queries use JetStream's batched direct get ($JS.API.DIRECT.GET, the stream
// has AllowDirect set) on filter subjects, pipelined on one connection and
// merged by stream sequence:
//
//   - Job reads the 24 literal subjects "…{job}.{type}" at once. A literal
//     subject is answered from the server's per-subject index, which is two
//     orders of magnitude faster on a big stream than one wildcard filter
//     "…{job}.*" (see docs/performance.md).
//   - Count of a filter that only names environment, service, job and types
//     is the server's pending count for the filter subjects, read from a
//     short-lived consumer made and deleted at once (two round trips): no
//     message bodies are read. Filters on queue, worker or time are counted
//     by reading.
//   - ByType and List read the filter subjects of domain/subject and apply
//     event.Filter.Match for what subjects cannot say (queue, worker, time).
//
// Job, ByType and List never create a consumer. Count creates one only for
// its pending count; Stream runs an ordered consumer, created when its range
// loop starts and deleted when it ends.
//
// Records that fail to decode, or whose subject names another job or type
// than their document, are counted (Stats.DecodeErrors), logged at warning
// level and skipped; they never fail a query or a stream. A Count answered
// by the server counts them all the same (see Count).
//
// # Lifetime
//
// The Store does not own the *nats.Conn it is given: Close stops the
// Store's own streams and rejects further calls with ports.ErrClosed, but
// leaves the connection open for its owner to close.
package jsstore
