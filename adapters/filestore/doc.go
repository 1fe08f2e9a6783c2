// Package filestore is a durable, append-only event store on local disk. It
// implements ports.Store, and logger.Spill for the logger to spill to when
// NATS is unreachable.
//
// # Layout
//
// One directory holds one log: a single sequence of events (Record.Seq, from
// 1, strictly increasing, never reused) shared by every environment and
// service written into it:
//
//	dir/
//	  LOCK                            advisory lock: one process per directory
//	  start.seq                       the head: every seq below it was removed
//	  deleted.jsonl                   DeleteJob tombstones, one JSON line each
//	  <environment>/<service>/
//	    00000000000000000001.jsonl    segment: its name is the seq of its first line
//	    00000000000000000001.times    its store times, one "<end seq> <unix ns>" line a batch
//	    00000000000000000742.jsonl
//	    00000000000000000742.times
//
// A segment file holds the v1.0 wire JSON of one event per line
// (event.JobEvent.AppendJSON), nothing else, so any JSON-lines tool reads it.
// An event's seq is its segment's first seq plus its line number; its
// environment and service are the directory of its segment. Segments cover
// consecutive, non-overlapping seq ranges across all directories, so a
// segment holds the events of one environment/service pair: a batch of
// another pair starts a new segment. In the usual case (one pair per
// directory, as a spill is) that never happens.
//
// Stores opened on the same directory in one process share the log (and see
// each other's events in List and Count); Job, ByType and DeleteJob act on
// the Store's own environment and service.
//
// # Writes and durability
//
// StoreBatch encodes the whole batch into one buffer, writes it with one
// call and, under the default SyncAlways policy, fsyncs once before it
// returns. Events whose id is already retained count as stored and are not
// written again (de-duplication by event id, within retention). An event
// stored again after its first copy was removed (by DeleteJob or retention,
// e.g. a logger retry or a spill replay) is written again; Open then keeps
// the later line of an id and drops the earlier one (Stats.Duplicates),
// before it applies tombstones and retention. A segment is closed for
// writing past WithSegmentSize.
//
// A crash (kill -9, power loss) can leave at most a torn last line. Open
// cuts it off with a warning and counts it (Stats.TornLines); every line
// before it is kept. A line that does not decode keeps its seq, is skipped
// and counted (Stats.CorruptLines). Neither is fatal.
//
// # Index
//
// Open reads every segment once and builds an in-memory index: for each seq
// the file and offset of its line plus the fields filters need (job, type,
// timestamp, queue, worker, id), and per environment/service the seqs of each
// job and each type. Job and ByType read only their index lists; List and
// Count filter the index and read only the lines of the page, with pread
// calls that coalesce adjacent lines. The index costs on the order of 150
// to 200 bytes per retained event (not measured precisely).
//
// # Removal
//
// Retention and Replay remove the oldest events by moving the head forward:
// start.seq is rewritten (atomically, synced) before any segment file is
// deleted, and a segment file is deleted once every seq in it is below the
// head. MaxEvents and MaxBytes are enforced on every append; MaxAge (on the
// event timestamp) by Cleanup and Open, which also delete expired events
// that are not at the head (they are expired again after a restart, so that
// needs no record). DeleteJob appends a tombstone (environment, service,
// job, before_seq) to deleted.jsonl and syncs it; tombstones are applied on
// Open and dropped once the head passes them.
//
// # Streams
//
// Stream is a pull loop over the sequence: it reads what is retained from
// its cursor, yields it without holding a lock, and waits on a channel that
// every append closes. It sees only appends of this process.
//
// FromTime is the store's time, as in the other stores: the time the batch
// was appended (this machine's clock, never going back), not the event's
// timestamp. The index keeps one (seq, time) mark per batch and a FromTime
// start is a binary search of them. The marks persist in each segment's
// .times file, appended after the batch's line write but not synced on their
// own (they are synced with the segment under SyncInterval, when the segment
// is left and on Close); batches whose mark was lost (a crash, a power
// loss, a segment written by an older version) take the segment file's
// modification time plus 2 s on Open, a later time than the true one: a
// FromTime stream then starts a few events early, never late.
//
// # Spill
//
// Replay delivers the retained events oldest first and moves the head past
// each batch its callback accepted, so progress survives a restart;
// Pending is the number of retained events.
//
// # Options
//
// Options follow the rule of every adapter: each option's comment states its
// default and range, and a value out of range makes Open fail with an error
// wrapping ports.ErrInvalid that names the option and the value (nothing is
// silently replaced by a default; WithSlog(nil) is the documented default).
package filestore
