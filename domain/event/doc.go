// Package event defines the job lifecycle event: its 24 types, the JobEvent
// record, a constructor for every type, validation, and the v1.0 JSON wire
// format shared with the Python naq producers.
//
// Build events with the constructors (Started, Failed, …) and options
// (WithQueue, WithTag, …); check them with Validate; write them with
// AppendJSON (or MarshalJSON) and read them with Decode (or UnmarshalJSON).
// The wire format, its null rules, units and compatibility rules are
// described in docs/wire-format.md; testdata/golden holds one exact document
// per type.
//
// It is the innermost package of naq-events and imports only the standard
// library. Every other package speaks in these types.
package event
