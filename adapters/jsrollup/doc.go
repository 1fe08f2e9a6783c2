// Package jsrollup is the JetStream side of the rollups (domain/rollup):
//
//   - State keeps them in a JetStream key-value bucket (default
//     "naq_rollups"): one key "head" with the stream sequence the rollups
//     cover and their chunks, and one key "chunk.<n>" per chunk of 4096
//     stream sequences. Only changed chunks are written, so a flush after a
//     few events writes one chunk and the head.
//   - Log reads the event stream itself, raw, for them: its state (first
//     and last sequence, message count), the number of messages from a
//     sequence on (the pending count of a short-lived consumer: no message
//     is read) and the messages of a sequence range, each decoded once
//     (an undecodable message is reported as such, so that a chunk's
//     message count agrees with the stream).
//
// Several writers may share one bucket: a head is never replaced by one
// covering less of the stream, and a chunk written by a writer that was
// behind only makes a reader replay more of the stream (rollup.Restore).
//
// Option values follow the adapters' rule: NewState and NewLog fail with an
// error wrapping ports.ErrInvalid that names the option and the value; a
// bad value never falls back to a default silently.
package jsrollup
