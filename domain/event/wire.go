package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// WireVersion is the version of the JSON document AppendJSON writes. Decode
// reads every 1.x document.
const WireVersion = "1.0"

// maxDepth bounds the nesting of details and metadata values, on both
// encoding (a map that contains itself) and decoding. It is encoding/json's
// limit.
const maxDepth = 10000

var (
	_ json.Marshaler   = JobEvent{}
	_ json.Unmarshaler = (*JobEvent)(nil)
)

// AppendJSON appends the v1.0 wire document of e to dst and returns the
// extended buffer. The document is compact JSON with the fields of the
// design's "Message Format" in its order, plus "event_id" after "version":
//
//	{"version":"1.0","event_id":…,"job_id":…,"event_type":…,"timestamp":…,
//	 "worker_id":…,"worker_type":…,"queue_name":…,"message":…,"details":{…},
//	 "error_type":…,"error_message":…,"duration_ms":…,"memory_mb":…,
//	 "cpu_time_ms":…,"tags":{…},"metadata":{…}}
//
// Empty strings and nil numbers are written as null, nil maps as {}, map
// keys in sorted order, the timestamp as seconds since the epoch with up to
// six decimals. The output is canonical: Decode then AppendJSON gives the
// same bytes. See docs/wire-format.md.
//
// AppendJSON refuses what Validate refuses, so nothing reaches the wire
// that Decode would refuse; a value in details or metadata that JSON cannot
// carry (NaN, a channel, a cycle) is an error naming its key, and so is a
// document larger than MaxDocumentSize. The errors wrap ErrInvalid, and on
// error dst is returned unchanged. Appending to a reused
// buffer allocates nothing for events whose details and metadata hold
// strings, numbers, booleans, nil, []any, []string, map[string]any and
// map[string]string; other values go through encoding/json.
func (e *JobEvent) AppendJSON(dst []byte) ([]byte, error) {
	// Validate's checks, with the values checked while writing them.
	if err := CheckID(e.ID); err != nil {
		return dst, err
	}
	if err := e.validateContent(); err != nil {
		return dst, err
	}
	start := len(dst)
	out, err := e.appendJSON(dst)
	if err != nil {
		return dst, err
	}
	if n := len(out) - start; n > MaxDocumentSize {
		return dst, fmt.Errorf("%w: event %s encodes to %d bytes, more than the %d bytes a document may have (MaxDocumentSize); move large data out of the event", ErrInvalid, e.ID, n, MaxDocumentSize)
	}
	return out, nil
}

// MarshalJSON returns the v1.0 wire document of e, as AppendJSON. It has a
// value receiver so that encoding/json uses it for JobEvent values too, not
// only for pointers.
func (e JobEvent) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 512))
}

// UnmarshalJSON sets e from a wire document, as Decode. The JSON literal
// null leaves e unchanged, as encoding/json expects; on error e is unchanged
// too.
func (e *JobEvent) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	ev, err := Decode(data)
	if err != nil {
		return err
	}
	*e = ev
	return nil
}

// appendJSON writes the document of e without validating it.
func (e *JobEvent) appendJSON(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `{"version":"`+WireVersion+`","event_id":`...)
	dst = appendOptString(dst, e.ID)
	dst = append(dst, `,"job_id":`...)
	dst = appendString(dst, e.JobID)
	dst = append(dst, `,"event_type":`...)
	dst = appendString(dst, string(e.Type))
	dst = append(dst, `,"timestamp":`...)
	dst = appendTimestamp(dst, e.Timestamp)
	dst = append(dst, `,"worker_id":`...)
	dst = appendOptString(dst, e.WorkerID)
	dst = append(dst, `,"worker_type":`...)
	dst = appendOptString(dst, e.WorkerType)
	dst = append(dst, `,"queue_name":`...)
	dst = appendOptString(dst, e.QueueName)
	dst = append(dst, `,"message":`...)
	dst = appendOptString(dst, e.Message)
	dst = append(dst, `,"details":`...)
	dst, err := appendTopMap(dst, "details", e.Details)
	if err != nil {
		return dst[:start], err
	}
	dst = append(dst, `,"error_type":`...)
	dst = appendOptString(dst, e.ErrorType)
	dst = append(dst, `,"error_message":`...)
	dst = appendOptString(dst, e.ErrorMessage)
	dst = append(dst, `,"duration_ms":`...)
	if dst, err = appendMetric(dst, "duration_ms", e.DurationMS); err != nil {
		return dst[:start], err
	}
	dst = append(dst, `,"memory_mb":`...)
	if dst, err = appendMetric(dst, "memory_mb", e.MemoryMB); err != nil {
		return dst[:start], err
	}
	dst = append(dst, `,"cpu_time_ms":`...)
	if dst, err = appendMetric(dst, "cpu_time_ms", e.CPUTimeMS); err != nil {
		return dst[:start], err
	}
	dst = append(dst, `,"tags":`...)
	dst = appendStringMap(dst, e.Tags)
	dst = append(dst, `,"metadata":`...)
	if dst, err = appendTopMap(dst, "metadata", e.Metadata); err != nil {
		return dst[:start], err
	}
	return append(dst, '}'), nil
}

func appendOptString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendString(dst, s)
}

func appendMetric(dst []byte, field string, v *float64) ([]byte, error) {
	if v == nil {
		return append(dst, "null"...), nil
	}
	if math.IsNaN(*v) || math.IsInf(*v, 0) {
		return dst, fmt.Errorf("%w: %s is %v; JSON has no NaN or infinity", ErrInvalid, field, *v)
	}
	return appendFloat(dst, *v, 64), nil
}

// appendTimestamp writes t as decimal seconds since the epoch, truncated to
// microseconds, with trailing zeros of the fraction trimmed but at least one
// digit after the point, as Python prints floats: 1634567890.0,
// 1634567890.123. The digits are computed from integers, never through a
// float, so they are exact.
func appendTimestamp(dst []byte, t time.Time) []byte {
	us := t.UnixMicro()
	if us < 0 {
		dst = append(dst, '-')
		us = -us
	}
	dst = strconv.AppendUint(dst, uint64(us)/1e6, 10)
	frac := uint64(us) % 1e6
	if frac == 0 {
		return append(dst, ".0"...)
	}
	var digits [7]byte
	digits[0] = '.'
	for i := 6; i >= 1; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 7
	for digits[n-1] == '0' {
		n--
	}
	return append(dst, digits[:n]...)
}

// appendFloat writes f as encoding/json does: the shortest decimal that
// reads back as the same float, in plain notation unless it is below 1e-6 or
// at least 1e21. f must be finite.
func appendFloat(dst []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) ||
		bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// safeASCII[c] is true for the ASCII bytes a JSON string holds as they are.
var safeASCII = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does, except
// that <, > and & are not escaped: control characters as \n, \r, \t, \b,
// \f or \u00XX, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped (for
// JavaScript readers), everything else as is.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	i := 0
	for i < len(s) && safeASCII[s[i]] {
		i++
	}
	if i == len(s) { // the usual case: nothing to escape
		dst = append(dst, s...)
		return append(dst, '"')
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// valueError is a problem with one value inside details or metadata; the
// top-level map turns it into an error naming the field and key.
type valueError struct{ msg string }

func (e *valueError) Error() string { return e.msg }

func appendTopMap(dst []byte, field string, m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return append(dst, '{', '}'), nil
	}
	var arr [16]string
	keys := sortedKeys(arr[:0], m)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		var err error
		if dst, err = appendValue(dst, m[k], 1); err != nil {
			return dst, fmt.Errorf("%w: %s[%q]: %w", ErrInvalid, field, k, err)
		}
	}
	return append(dst, '}'), nil
}

func appendStringMap(dst []byte, m map[string]string) []byte {
	dst = append(dst, '{')
	var arr [16]string
	for i, k := range sortedKeys(arr[:0], m) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, m[k])
	}
	return append(dst, '}')
}

func sortedKeys[V any](keys []string, m map[string]V) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendValue writes one details or metadata value. Common types are
// written directly; anything else is marshaled by encoding/json, read back
// and written again, so that the output is canonical whatever the input.
func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, &valueError{fmt.Sprintf("nested deeper than %d levels (a cycle?)", maxDepth)}
	}
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return appendString(dst, x), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return dst, &valueError{fmt.Sprintf("%v is not a JSON number", x)}
		}
		return appendFloat(dst, x, 64), nil
	case float32:
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return dst, &valueError{fmt.Sprintf("%v is not a JSON number", x)}
		}
		return appendFloat(dst, float64(x), 32), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int8:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint8:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint16:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case []string:
		if x == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i, s := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, s)
		}
		return append(dst, ']'), nil
	case []any:
		if x == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i, el := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, el, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]string:
		if x == nil {
			return append(dst, "null"...), nil
		}
		return appendStringMap(dst, x), nil
	case map[string]any:
		if x == nil {
			return append(dst, "null"...), nil
		}
		var arr [16]string
		dst = append(dst, '{')
		for i, k := range sortedKeys(arr[:0], x) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			var err error
			if dst, err = appendValue(dst, x[k], depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}
	return appendViaJSON(dst, v, depth)
}

// appendViaJSON handles values of other types: encoding/json marshals them
// (honoring json.Marshaler, struct tags, …), the result is parsed into
// plain values and written canonically.
func appendViaJSON(dst []byte, v any, depth int) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		var ue *json.UnsupportedValueError
		if errors.As(err, &ue) {
			return dst, &valueError{fmt.Sprintf("%T value %s is not JSON", v, ue.Str)}
		}
		return dst, &valueError{fmt.Sprintf("%T value: %v", v, err)}
	}
	d := decoder{s: string(raw)}
	plain, err := d.value(depth)
	if err != nil {
		return dst, &valueError{fmt.Sprintf("%T value: encoding/json wrote %s: %v", v, raw, err)}
	}
	return appendValue(dst, plain, depth)
}
