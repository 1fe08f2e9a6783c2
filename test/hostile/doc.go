// Package hostile is the hostile-input sweep: bad input through each door
// of a running `naq-events serve` — the stream (messages published with
// natscli on valid subjects), the CLI (`log --stdin` lines and flags) and the
// HTTP API (query parameters, path segments, Last-Event-ID, headers,
// bodies). Each class must get a clear error or a counted skip; afterwards
// the service is healthy and nothing stored before is lost.
package hostile
