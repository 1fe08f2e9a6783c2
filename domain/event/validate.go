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

// MaxDocumentSize is the largest wire document an event may have, in bytes:
// 64 MiB, the most any NATS server accepts as one message (its max_payload
// cannot be set higher). A store may have a lower limit of its own (the
// JetStream store refuses what exceeds the connection's max payload, by
// default 1 MiB) and rejects such events as invalid.
const MaxDocumentSize = 64 << 20

// Validate reports the first problem of e, checking the fields in wire
// order, as an error wrapping ErrInvalid that names the field and its value:
//
//   - ID: non-empty, at most MaxIDLen bytes, printable ASCII without spaces
//     (see CheckID);
//   - JobID: a valid subject token (see CheckToken);
//   - Type: one of the 24 known types;
//   - Timestamp: set, and between 1970-01-01 and 9999-12-31 UTC;
//   - DurationMS, MemoryMB, CPUTimeMS: when set, finite and not negative;
//   - Details and Metadata: every value one the wire format can carry
//     (AppendJSON would encode it): no NaN or infinity, no channel,
//     function or complex number, nothing nested deeper than 10,000 levels
//     (a map that contains itself), no value whose json.Marshaler fails;
//     the error names the field and key, as in details["ratio"];
//   - the document: its strings alone (ids, names, message, keys and string
//     values) must not add up to more than MaxDocumentSize bytes.
//
// So an event that validates is one the codec can encode (bar the exact
// size, which AppendJSON checks), and the logger refuses anything else at
// the door, before it is accepted. Only the first problem is reported, so
// that an error names exactly one field and value; fix it and validate
// again to see the next. Messages, worker and queue names and tags are
// free-form strings and not checked otherwise.
//
// For details and metadata holding strings, numbers, booleans, nil, []any,
// []string, map[string]any and map[string]string Validate allocates
// nothing; values of other types are checked with encoding/json, which
// allocates.
func (e *JobEvent) Validate() error {
	if err := CheckID(e.ID); err != nil {
		return err
	}
	if err := e.validateContent(); err != nil {
		return err
	}
	keys := constructorDetails(e.Type)
	size := len(e.ID) + len(e.JobID) + len(e.Type) + len(e.WorkerID) + len(e.WorkerType) + len(e.QueueName) +
		len(e.Message) + len(e.ErrorType) + len(e.ErrorMessage)
	if len(e.Tags) > 0 {
		for k, v := range e.Tags {
			size += len(k) + len(v)
		}
	}
	var err error
	if size, err = checkTopMap("details", e.Details, keys, size); err != nil {
		return err
	}
	if size, err = checkTopMap("metadata", e.Metadata, nil, size); err != nil {
		return err
	}
	if size > MaxDocumentSize {
		return fmt.Errorf("%w: event %s has %d bytes of strings, more than the %d bytes a document may have (MaxDocumentSize); move large data out of the event", ErrInvalid, e.ID, size, MaxDocumentSize)
	}
	return nil
}

// checkTopMap checks every value of details or metadata and adds the
// length of its strings to size. On error it names the smallest bad key, so
// that the message does not depend on map order.
//
// keys, when m has exactly as many entries, are tried first by lookup (see
// checkKnownKeys); only when that does not settle it is m iterated.
func checkTopMap(field string, m map[string]any, keys []string, size int) (int, error) {
	if len(m) == 0 {
		return size, nil
	}
	if len(m) == len(keys) {
		if n, ok := checkKnownKeys(m, keys); ok {
			return size + n, nil
		}
	}
	var bad string
	var badErr error
	for k, v := range m {
		size += len(k)
		switch x := v.(type) { // the usual values, without a call
		case string:
			size += len(x)
			continue
		case int, int64, bool, nil:
			continue
		case float64:
			if x-x == 0 { // finite: NaN and ±Inf give NaN
				continue
			}
		}
		n, err := checkValue(v, 1)
		size += n
		if err != nil && (badErr == nil || k < bad) {
			bad, badErr = k, err
		}
	}
	if badErr != nil {
		return size, fmt.Errorf("%w: %s[%q]: %w", ErrInvalid, field, bad, badErr)
	}
	return size, nil
}

// checkKnownKeys reports whether m's keys are exactly keys (distinct, and
// as many as m has entries, which the caller checked), each with a string,
// int, int64, bool, nil or finite float64 value, and if so returns the
// length of those keys and strings. Any other answer (a key missing, a
// value of another kind, a bad value) is false, and the caller checks m the
// long way, which names the bad key. It exists for speed: on Go 1.26 merely
// starting the iteration of a small map costs about 40 ns (its random start
// included), a lookup of a short key about 7 ns, and most events the
// constructors make have one or two known keys (see constructorDetails).
// Sound because a map whose len is n and that holds n distinct given keys
// holds nothing else.
func checkKnownKeys(m map[string]any, keys []string) (int, bool) {
	n := 0
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			return 0, false
		}
		n += len(k)
		switch x := v.(type) {
		case string:
			n += len(x)
		case int, int64, bool, nil:
		case float64:
			if x-x != 0 { // NaN or ±Inf
				return 0, false
			}
		default:
			return 0, false
		}
	}
	return n, true
}

// constructorDetails returns the details keys that the constructor of
// events of type t usually sets (see constructors.go), in the order they
// are tried: the shape Validate checks by lookup before it iterates. Nil
// where the only value is not one the lookup path takes
// (WaitingForDependencies' []string) or the type has no details; one of two
// shapes where a key is optional (ScheduleDeactivated's reason). An event
// with other details is checked all the same, by iteration. The keys of
// each list are distinct, which the lookup path's soundness needs.
// TestConstructorDetailsMatchConstructors keeps this list and the
// constructors in step.
func constructorDetails(t JobEventType) []string {
	switch t {
	case TypeEnqueued:
		return keysPriority
	case TypeFailed:
		return keysRetryCount
	case TypeCancelled:
		return keysReason
	case TypeTimeout:
		return keysTimeout
	case TypeRetryScheduled:
		return keysRetryScheduled
	case TypeRetryStarted:
		return keysAttempt
	case TypeMaxRetriesExceeded:
		return keysMaxRetries
	case TypeDependencySatisfied, TypeDependencyFailed:
		return keysDependency
	case TypeScheduled:
		return keysRunAt
	case TypeScheduleTriggered, TypeSchedulePaused, TypeScheduleResumed, TypeScheduleDeactivated:
		return keysSchedule
	case TypeQueuePriorityChanged:
		return keysPriorityChanged
	case TypeQueueMoved:
		return keysQueueMoved
	case TypeTTLExpired:
		return keysTTL
	case TypeTTLExtended:
		return keysExpiresAt
	}
	return nil
}

var (
	keysPriority        = []string{"priority"}
	keysRetryCount      = []string{"retry_count"}
	keysReason          = []string{"reason"}
	keysTimeout         = []string{"timeout_ms"}
	keysRetryScheduled  = []string{"attempt", "delay_ms"}
	keysAttempt         = []string{"attempt"}
	keysMaxRetries      = []string{"max_retries"}
	keysDependency      = []string{"dependency_id"}
	keysRunAt           = []string{"run_at"}
	keysSchedule        = []string{"schedule_id"}
	keysPriorityChanged = []string{"old_priority", "new_priority"}
	keysQueueMoved      = []string{"from_queue", "to_queue"}
	keysTTL             = []string{"ttl_ms"}
	keysExpiresAt       = []string{"expires_at"}
)

// checkValue is appendValue without the writing: it reports what
// appendValue would refuse and returns the length of the strings in v.
func checkValue(v any, depth int) (int, error) {
	if depth > maxDepth {
		return 0, &valueError{fmt.Sprintf("nested deeper than %d levels (a cycle?)", maxDepth)}
	}
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return 0, nil
	case string:
		return len(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, &valueError{fmt.Sprintf("%v is not a JSON number", x)}
		}
		return 0, nil
	case float32:
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, &valueError{fmt.Sprintf("%v is not a JSON number", x)}
		}
		return 0, nil
	case []string:
		n := 0
		for _, s := range x {
			n += len(s)
		}
		return n, nil
	case map[string]string:
		n := 0
		for k, s := range x {
			n += len(k) + len(s)
		}
		return n, nil
	case []any:
		n := 0
		for _, el := range x {
			m, err := checkValue(el, depth+1)
			n += m
			if err != nil {
				return n, err
			}
		}
		return n, nil
	case map[string]any:
		n := 0
		for k, el := range x {
			m, err := checkValue(el, depth+1)
			n += len(k) + m
			if err != nil {
				return n, err
			}
		}
		return n, nil
	}
	out, err := appendViaJSON(nil, v, depth)
	return len(out), err
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
	// One decoding of the time for the usual case; the three comparisons
	// below only for a time outside [1970, 9999-12-31 23:59:59) or to name
	// the problem.
	if u := e.Timestamp.Unix(); u < 0 || u >= maxTimestampUnix {
		if err := checkTimestamp(e.Timestamp); err != nil {
			return err
		}
	}
	if err := checkMetric("duration_ms", e.DurationMS); err != nil {
		return err
	}
	if err := checkMetric("memory_mb", e.MemoryMB); err != nil {
		return err
	}
	return checkMetric("cpu_time_ms", e.CPUTimeMS)
}

// maxTimestampUnix is maxTimestamp's second: every time before it (and
// from the epoch on) is in range.
var maxTimestampUnix = maxTimestamp.Unix()

func checkTimestamp(t time.Time) error {
	switch {
	case t.IsZero():
		return fmt.Errorf("%w: timestamp is zero", ErrInvalid)
	case t.Before(minTimestamp), t.After(maxTimestamp):
		return fmt.Errorf("%w: timestamp %s is outside 1970-01-01..9999-12-31 UTC", ErrInvalid, t.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// checkMetric is inlined: absent, or finite and not negative (NaN fails
// both comparisons, +Inf the second), costs two comparisons.
func checkMetric(field string, v *float64) error {
	if v == nil || (*v >= 0 && *v <= math.MaxFloat64) {
		return nil
	}
	return metricError(field, *v)
}

func metricError(field string, v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("%w: %s is %v; JSON has no NaN or infinity", ErrInvalid, field, v)
	default:
		return fmt.Errorf("%w: %s is %v, must not be negative", ErrInvalid, field, v)
	}
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
	if printableASCII(id) {
		return nil
	}
	for i := range len(id) {
		if c := id[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: event_id %q has byte %#02x at %d; only printable ASCII without spaces is allowed", ErrInvalid, id, c, i)
		}
	}
	return nil
}
