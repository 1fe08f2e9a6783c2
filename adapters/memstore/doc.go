// Package memstore is the in-memory ports.Store: concurrency-safe, indexed by
// job and by type, with retention by age and by count and de-duplication by
// event ID. It is the store for tests, development and single-process use;
// nothing survives the process.
//
// A Store is a view of a Backend under one environment and service. Stores
// built on one Backend (WithBackend) share their data the way producers share
// a JetStream stream: each writes and reads its own environment and service
// through Store, Job, ByType and DeleteJob, while List, Count and Stream see
// every store of the backend through their filter. Without WithBackend each
// Store gets a backend of its own.
//
// Retention (WithMaxAge, WithMaxEvents) bounds the events of the store's own
// environment and service. The age of an event is the time the store took it
// (its clock, see WithClock), not the event's Timestamp, as on JetStream.
// Expired and excess events are removed on each write and by Cleanup; reads
// in between may still see expired ones.
//
// Streams are pulled: each reader keeps its own position in the backend's
// sequence and is woken by a broadcast channel that every write replaces, so
// a slow reader never blocks writers, and misses nothing that is still
// retained when it gets there.
//
// Options follow the rule of every adapter: each option's comment states its
// default and range, and Open fails with an error wrapping ports.ErrInvalid
// that names the option and the value when one is out of range (New, for
// options known to be valid, panics with that error instead).
package memstore
