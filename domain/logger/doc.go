// Package logger is the buffered, non-blocking job event logger: Log never
// blocks or does I/O, batches are written to a Store in the background, and
// nothing accepted is lost silently.
package logger
