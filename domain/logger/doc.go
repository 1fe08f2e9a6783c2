// Package logger is the buffered, non-blocking job event logger: Log never
// blocks or does I/O, batches are written to a Store in the background, and
// nothing accepted is lost silently.
//
// The Logger type's comment holds the picture and the guarantees; the
// options say their defaults. In short: a lone event is stored in about one
// store round trip, a flood goes out in batches of up to BatchSize while the
// previous batch is in flight (group commit), failed batches are retried
// with backoff and the same event IDs, a circuit breaker stops hammering a
// dead store, an optional Spill takes what memory cannot hold and is
// replayed in order, every event that is discarded anyway is counted by
// reason and reported, and Close returns by its ctx's deadline plus
// CloseGrace whatever the Store and the Spill do.
//
// Every accepted event ends in exactly one of: stored, spilled (durable on
// disk, replayed later), dropped (by DropReason, rejections included) or
// outcome unknown (sent, never acknowledged, then given up on: it may be
// stored), or is still buffered. Stats, LogSync, Flush and Close report
// which.
//
// Where things live: logger.go (Log, Flush, Close, the queue's accounting),
// loop.go (the flusher loop, which only coordinates), worker.go (the store
// and spill goroutines), held.go (events taken off the queue), classify.go
// (sorting a write's result), settle.go (applying it: stored, rejected,
// retried, given up), backoff.go and breaker.go, spill.go (the spill path
// and replay), lookup.go (exactly once beyond the store's de-duplication
// window), close.go (the bounded close path), report.go (drop warnings).
//
// Bad option values: options never fail. A value outside an option's
// stated range selects that option's documented default (the rule of the
// domain layer; adapters instead fail New with an error wrapping
// ErrInvalid). Each option's comment states its default, its range and
// what a bad value does.
//
// The package imports only the standard library and domain/event; the
// Store and Spill it needs are declared here, beside their consumer.
package logger
