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
// replayed in order, and every event that is discarded anyway is counted by
// reason and reported.
//
// The package imports only the standard library and domain/event; the
// Store and Spill it needs are declared here, beside their consumer.
package logger
