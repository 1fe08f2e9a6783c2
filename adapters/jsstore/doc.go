// Package jsstore is the JetStream adapter of the storage port: it stores job
// events in one JetStream stream, on the subjects of domain/subject
// ("naq.events.{env}.{svc}.{job}.{type}"), and answers queries without full
// scans and without a consumer per query.
//
// # Writing
//
// StoreBatch stores each batch as one JetStream fast-ingest batch (ADR-50,
// nats-server ≥ 2.14; New sets allow_batched on the stream) in gap mode
// "fail", with the event id as Nats-Msg-Id on every event: the server stores
// a contiguous prefix of the batch and stops at the first message lost on
// the way or refused, so a batch that ends short is sent again from the
// first event not stored, in order and with the same ids. What is stored
// is known from the commit's count; when the outcome is unknown (a
// timeout, a lost connection, a restarted server that no longer knows the
// batch) StoreBatch asks Stored first. An event counts as stored only when
// the server confirmed it; nats.go's reconnect buffer is never taken for
// durability. Where the server is older than 2.14, the stream refuses
// allow_batched (a mirror), or WithPublishMode(PublishAsync) is given, the
// Store publishes one asynchronous publish per event instead and says so in
// Health ("publish", "publish_fallback") and in a warning.
//
// SendBatch (logger.Pipeliner, which the logger uses by default) appends
// consecutive calls to one open fast batch, each confirmed by the flow ack
// covering its last message, so that a second call goes out while the
// first awaits its acknowledgements and nothing of it can be stored behind
// a lost message of the first (pipeline.go). A plain StoreBatch first ends
// that batch.
//
// The fast-batch publisher is the package's own (fastpub.go), not
// jetstreamext.NewFastPublisher of github.com/synadia-io/orbit.go (v0.3.2):
// that one has the server's fast-batch error codes off by two (10203–10206
// for 10205–10208), drops a gap report that arrives before Commit, returns
// a short count after Commit without an error, waits a round trip for the
// first flow ack, and runs a callback goroutine per batch — while
// StoreBatch needs exactly the stored prefix, whether the rest is certainly
// not stored or unknown, and the "batch publish disabled" signal for the
// fallback. The protocol (one wildcard reply subscription, reply subjects
// "<inbox>.<batch id>.<flow>.fail.<seq>.<op>.$FI", JSON flow acks) is small
// enough to implement here without a new dependency.
//
// Stored and DedupWindow implement logger.Lookup: Stored answers "is this
// event stored?" with batched direct gets on each event's literal job
// subject, never a scan, so that the logger can re-send an event of unknown
// outcome older than the duplicate window without storing it twice.
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
// Reads are paged by stream sequence (event.Page After/Before): a page
// starts its direct gets at After+1, so it costs what it returns anywhere
// in the stream; offsets skip at most event.MaxOffset matches. A read with
// Since starts at the first message stored at Since minus the clock skew
// margin. A List or Count on what subjects cannot select (queue, worker;
// a Count's time window) over more than WithMaxScan stored messages is
// refused at once with a *ports.ScanError. FindJob finds a job under every
// environment and service from the server's subject index, and
// KeepIndexWarm keeps the server's per-block subject index loaded so that
// histories stay fast after a server restart (see warm.go).
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
//
// # Options
//
// Options follow the rule of every adapter: each option's comment states its
// default and range, and a value out of range makes New fail with an error
// wrapping ports.ErrInvalid that names the option and the value, before any
// request reaches the server.
package jsstore
