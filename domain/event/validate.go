package event

import (
	"fmt"
	"math"
	"time"
)

// The range of timestamps the wire format carries: the Unix epoch up to the
// end of year 9999. Earlier times would need a negative float; later ones are
// certainly bugs.
var (
	minTimestamp = time.Unix(0, 0)
	maxTimestamp = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// Validate reports the first problem of e, checking the fields in wire
// order, as an error wrapping ErrInvalid that names the field and its value:
//
//   - ID: non-empty, at most MaxIDLen bytes, printable ASCII without spaces
//     (see CheckID);
//   - JobID: a valid subject token (see CheckToken);
//   - Type: one of the 24 known types;
//   - Timestamp: set, and between 1970-01-01 and 9999-12-31 UTC;
//   - DurationMS, MemoryMB, CPUTimeMS: when set, finite and not negative.
//
// Only the first problem is reported, so that an error names exactly one
// field and value; fix it and validate again to see the next.
//
// Messages, worker and queue names, details, tags and metadata are free-form
// and not checked here; values in details and metadata that JSON cannot
// carry (NaN, channels, …) are reported by AppendJSON.
func (e *JobEvent) Validate() error {
	if err := CheckID(e.ID); err != nil {
		return err
	}
	return e.validateContent()
}

// validateContent is Validate without the id, for Decode, which derives a
// missing id from the content only after checking it.
func (e *JobEvent) validateContent() error {
	if err := CheckToken("job_id", e.JobID); err != nil {
		return err
	}
	if !e.Type.Valid() {
		if e.Type == "" {
			return fmt.Errorf("%w: event_type is empty", ErrInvalid)
		}
		return fmt.Errorf("%w: event_type %q is not one of the 24 known types", ErrInvalid, string(e.Type))
	}
	switch {
	case e.Timestamp.IsZero():
		return fmt.Errorf("%w: timestamp is zero", ErrInvalid)
	case e.Timestamp.Before(minTimestamp), e.Timestamp.After(maxTimestamp):
		return fmt.Errorf("%w: timestamp %s is outside 1970-01-01..9999-12-31 UTC", ErrInvalid, e.Timestamp.UTC().Format(time.RFC3339Nano))
	}
	if err := checkMetric("duration_ms", e.DurationMS); err != nil {
		return err
	}
	if err := checkMetric("memory_mb", e.MemoryMB); err != nil {
		return err
	}
	return checkMetric("cpu_time_ms", e.CPUTimeMS)
}

func checkMetric(field string, v *float64) error {
	switch {
	case v == nil:
		return nil
	case math.IsNaN(*v) || math.IsInf(*v, 0):
		return fmt.Errorf("%w: %s is %v; JSON has no NaN or infinity", ErrInvalid, field, *v)
	case *v < 0:
		return fmt.Errorf("%w: %s is %v, must not be negative", ErrInvalid, field, *v)
	}
	return nil
}

// CheckID reports whether id can be an event id: non-empty, at most MaxIDLen
// bytes, and only printable ASCII other than space (0x21 to 0x7E), because it
// is sent as the Nats-Msg-Id header, where white space and control characters
// would break the header block. Ids made by NewID always pass. The error
// wraps ErrInvalid and names the value.
func CheckID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: event_id is empty", ErrInvalid)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: event_id %q is %d bytes long, the limit is %d", ErrInvalid, id, len(id), MaxIDLen)
	}
	for i := range len(id) {
		if c := id[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: event_id %q has byte %#02x at %d; only printable ASCII without spaces is allowed", ErrInvalid, id, c, i)
		}
	}
	return nil
}
