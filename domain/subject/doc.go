// Package subject maps job events to NATS subjects and back.
//
// Every event is published on a literal subject, the prefix followed by
// exactly four tokens:
//
//	naq.events.{environment}.{service}.{job_id}.{event_type}
//
// where "naq.events" is the [Scheme] prefix (configurable, see [DefaultPrefix])
// and the last four tokens come from the event. [For] and [AppendFor] build the
// subject, [Parse] is their exact inverse, [StreamFilter] is the subject filter
// of the JetStream stream, and [Job], [Type], [Service], [Environment] and
// [FromFilter] build the wildcard filters readers subscribe to. [Match]
// applies NATS matching rules in memory.
//
// Tokens that are not valid subject tokens — a job id containing '.', '*' or
// '>', white space, control characters or invalid UTF-8, an empty value, or
// one longer than [event.MaxTokenLen] bytes — are rejected with an error
// wrapping [event.ErrInvalid] that names the field and the value; they are
// never escaped. A rejected id can therefore never be mistaken for another
// job's id or act as a wildcard: the job id "a.b" cannot show up in the
// history of job "a", and the job id "*" cannot select every job.
// docs/subjects.md gives the reasoning.
//
// The package imports only the standard library and domain/event. Building
// into a reused buffer with [AppendFor] and parsing with [Parse] do not
// allocate.
package subject
