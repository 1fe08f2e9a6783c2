package event

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Decode reads one wire document: a 1.x JSON object as AppendJSON writes it
// or as a Python producer of the design does (any white space, fields in any
// order, absent optional fields, null maps, unknown extra fields, integer or
// float timestamps, no "version" or no "event_id", \uXXXX escapes).
//
// It returns only valid events: the result passes Validate, so job_id is a
// valid subject token. A document without "event_id" (or with null) gets an
// id derived from its content (see docs/wire-format.md), so the same
// document always decodes to the same id.
//
// Every error wraps ErrInvalid and names the field: invalid JSON (including
// text that is not UTF-8), a version
// whose major number is not 1, a missing or null job_id, event_type or
// timestamp, an unknown event_type, a field of the wrong JSON type, or a value
// Validate rejects. Field names are matched exactly (case-sensitive);
// duplicate fields: the last one wins, as in Python's json module. Numbers in
// details and metadata decode to float64, objects to map[string]any and arrays
// to []any, as with encoding/json; empty or null details, tags and metadata
// decode to nil maps. The timestamp is truncated to microseconds and returned
// in UTC.
func Decode(data []byte) (JobEvent, error) {
	// One copy of the document backs every string of the event that needed
	// no unescaping.
	d := decoder{s: string(data)}
	var e JobEvent
	if err := d.event(&e); err != nil {
		return JobEvent{}, err
	}
	if err := e.validateContent(); err != nil {
		return JobEvent{}, err
	}
	if e.ID == "" {
		doc, err := e.appendJSON(make([]byte, 0, 512))
		if err != nil {
			return JobEvent{}, err
		}
		e.ID = deriveID(e.Timestamp, sha256.Sum256(doc))
	} else if err := CheckID(e.ID); err != nil {
		return JobEvent{}, err
	}
	return e, nil
}

// decoder is a small JSON scanner over one document.
type decoder struct {
	s     string
	pos   int
	field string // top-level field being read, for error messages
	// surrogates is set when a string had a lone surrogate escape replaced.
	surrogates bool
}

// invalidUTF8At returns the index of the first byte of s that is not part of
// valid UTF-8, or -1.
func invalidUTF8At(s string) int {
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// errSyntax makes an invalid-JSON error at the current position.
func (d *decoder) errSyntax(what string) error {
	where := ""
	if d.field != "" {
		where = " in " + d.field
	}
	if d.pos >= len(d.s) {
		return fmt.Errorf("%w: invalid JSON%s: unexpected end of input, want %s", ErrInvalid, where, what)
	}
	return fmt.Errorf("%w: invalid JSON%s at byte %d: unexpected %q, want %s", ErrInvalid, where, d.pos, d.s[d.pos:d.pos+1], what)
}

// errType reports that the value starting at the current position has the
// wrong JSON type for field.
func (d *decoder) errType(field, want string) error {
	start := d.pos
	if err := d.skip(0); err != nil {
		return err
	}
	v := d.s[start:d.pos]
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	return fmt.Errorf("%w: %s is %s, want %s", ErrInvalid, field, v, want)
}

func (d *decoder) ws() {
	for d.pos < len(d.s) {
		switch d.s[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (d *decoder) peek() byte {
	d.ws()
	if d.pos < len(d.s) {
		return d.s[d.pos]
	}
	return 0
}

// fields calls fn for each member of the object at the current position,
// with the position at the member's value; fn must consume the value.
func (d *decoder) fields(fn func(key string) error) error {
	if d.peek() != '{' {
		return d.errSyntax("'{'")
	}
	d.pos++
	if d.peek() == '}' {
		d.pos++
		return nil
	}
	for {
		if d.peek() != '"' {
			return d.errSyntax("a string key")
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		if d.peek() != ':' {
			return d.errSyntax("':'")
		}
		d.pos++
		d.ws()
		if err := fn(key); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return nil
		default:
			return d.errSyntax("',' or '}'")
		}
	}
}

func (d *decoder) event(e *JobEvent) error {
	var hasJobID, hasType, hasTimestamp bool
	if d.peek() != '{' {
		return fmt.Errorf("%w: a wire document is a JSON object: %w", ErrInvalid, d.errSyntax("'{'"))
	}
	err := d.fields(func(key string) error {
		d.field = key
		var err error
		switch key {
		case "version":
			err = d.version()
		case "event_id":
			e.ID, err = d.optString(key)
		case "job_id":
			d.surrogates = false
			e.JobID, err = d.optString(key)
			hasJobID = d.s[d.pos-1] == '"'
			if err == nil && d.surrogates {
				// The id would no longer match the subject it was published on.
				err = fmt.Errorf("%w: job_id %q has a lone UTF-16 surrogate escape, which is no character", ErrInvalid, e.JobID)
			}
		case "event_type":
			var s string
			if s, err = d.optString(key); err == nil {
				hasType = d.s[d.pos-1] == '"'
				e.Type, err = parseWireType(s, hasType)
			}
		case "timestamp":
			hasTimestamp, err = d.timestamp(&e.Timestamp)
		case "worker_id":
			e.WorkerID, err = d.optString(key)
		case "worker_type":
			e.WorkerType, err = d.optString(key)
		case "queue_name":
			e.QueueName, err = d.optString(key)
		case "message":
			e.Message, err = d.optString(key)
		case "error_type":
			e.ErrorType, err = d.optString(key)
		case "error_message":
			e.ErrorMessage, err = d.optString(key)
		case "details":
			e.Details, err = d.anyMap(key)
		case "metadata":
			e.Metadata, err = d.anyMap(key)
		case "tags":
			e.Tags, err = d.tags()
		case "duration_ms":
			e.DurationMS, err = d.optNumber(key)
		case "memory_mb":
			e.MemoryMB, err = d.optNumber(key)
		case "cpu_time_ms":
			e.CPUTimeMS, err = d.optNumber(key)
		default:
			err = d.skip(0) // unknown field: ignored, but must be valid JSON
		}
		d.field = ""
		return err
	})
	if err != nil {
		return err
	}
	if d.peek() != 0 {
		return d.errSyntax("end of input after the object")
	}
	switch {
	case !hasJobID:
		return fmt.Errorf("%w: job_id is missing", ErrInvalid)
	case !hasType:
		return fmt.Errorf("%w: event_type is missing", ErrInvalid)
	case !hasTimestamp:
		return fmt.Errorf("%w: timestamp is missing", ErrInvalid)
	}
	return nil
}

func parseWireType(s string, present bool) (JobEventType, error) {
	if !present {
		return "", nil // null: reported as missing
	}
	t := JobEventType(s)
	if !t.Valid() {
		return "", fmt.Errorf("%w: event_type %q is not one of the 24 known types", ErrInvalid, s)
	}
	// Use the constant so the event does not keep the document alive.
	for _, k := range allTypes {
		if k == t {
			return k, nil
		}
	}
	return t, nil
}

// version accepts "1", "1.0" and any "1.<digits>"; another major version is
// unsupported.
func (d *decoder) version() error {
	if d.peek() != '"' {
		return d.errType("version", `a string such as "1.0"`)
	}
	v, err := d.str()
	if err != nil {
		return err
	}
	major, minor, hasMinor := v, "", false
	for i := range len(v) {
		if v[i] == '.' {
			major, minor, hasMinor = v[:i], v[i+1:], true
			break
		}
	}
	if !allDigits(major) || hasMinor && !allDigits(minor) {
		return fmt.Errorf("%w: version %q is not MAJOR.MINOR", ErrInvalid, v)
	}
	if n, _ := strconv.Atoi(major); n != 1 || len(major) != 1 {
		return fmt.Errorf("%w: version %q is not supported; this reader understands 1.x", ErrInvalid, v)
	}
	return nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// optString reads a string or null ("").
func (d *decoder) optString(field string) (string, error) {
	switch d.peek() {
	case '"':
		return d.str()
	case 'n':
		return "", d.literal("null")
	}
	return "", d.errType(field, "a string or null")
}

func (d *decoder) optNumber(field string) (*float64, error) {
	switch c := d.peek(); {
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		f, err := d.number()
		if err != nil {
			return nil, err
		}
		return &f, nil
	}
	return nil, d.errType(field, "a number or null")
}

func (d *decoder) timestamp(t *time.Time) (bool, error) {
	switch c := d.peek(); {
	case c == 'n':
		return false, d.literal("null") // reported as missing
	case c == '-' || c >= '0' && c <= '9':
		start := d.pos
		if err := d.scanNumber(); err != nil {
			return false, err
		}
		ts, err := parseTimestamp(d.s[start:d.pos])
		if err != nil {
			return false, err
		}
		*t = ts
		return true, nil
	}
	return false, d.errType("timestamp", "a number of seconds since the epoch")
}

// parseTimestamp turns the text of a JSON number (already checked against
// the grammar) into a time, working on the decimal digits rather than a
// float64 so that every digit down to the microsecond is kept exactly;
// further digits are truncated.
func parseTimestamp(num string) (time.Time, error) {
	if num[0] == '-' {
		return time.Time{}, fmt.Errorf("%w: timestamp %s is before 1970-01-01", ErrInvalid, num)
	}
	// num = intPart[.fracPart][e exp]; its digits D = intPart+fracPart with
	// the decimal point after point digits.
	i := 0
	for i < len(num) && num[i] >= '0' && num[i] <= '9' {
		i++
	}
	intPart, fracPart := num[:i], ""
	if i < len(num) && num[i] == '.' {
		j := i + 1
		for j < len(num) && num[j] >= '0' && num[j] <= '9' {
			j++
		}
		fracPart, i = num[i+1:j], j
	}
	point := len(intPart)
	if i < len(num) { // exponent
		i++
		neg := num[i] == '-'
		if num[i] == '+' || num[i] == '-' {
			i++
		}
		e := 0
		for ; i < len(num); i++ {
			if e < 1e7 { // further digits cannot matter: clamp
				e = e*10 + int(num[i]-'0')
			}
		}
		if neg {
			e = -e
		}
		point += e
	}
	n := len(intPart) + len(fracPart)
	digit := func(k int) int64 {
		switch {
		case k < 0 || k >= n:
			return 0
		case k < len(intPart):
			return int64(intPart[k] - '0')
		}
		return int64(fracPart[k-len(intPart)] - '0')
	}
	lead := 0
	for lead < n && digit(lead) == 0 {
		lead++
	}
	if lead == n {
		return time.Unix(0, 0).UTC(), nil
	}
	if point-lead > 12 { // at least 10^12 seconds: after year 9999
		return time.Time{}, fmt.Errorf("%w: timestamp %s is after 9999-12-31", ErrInvalid, num)
	}
	var sec, usec int64
	for k := lead; k < point; k++ {
		sec = sec*10 + digit(k)
	}
	for k := point; k < point+6; k++ {
		usec = usec*10 + digit(k)
	}
	t := time.Unix(sec, usec*1000).UTC()
	if t.After(maxTimestamp) {
		return time.Time{}, fmt.Errorf("%w: timestamp %s is after 9999-12-31", ErrInvalid, num)
	}
	return t, nil
}

func (d *decoder) tags() (map[string]string, error) {
	switch d.peek() {
	case 'n':
		return nil, d.literal("null")
	case '{':
	default:
		return nil, d.errType("tags", "an object of strings or null")
	}
	var m map[string]string
	err := d.fields(func(key string) error {
		if d.peek() != '"' {
			return d.errType("tags["+strconv.Quote(key)+"]", "a string")
		}
		v, err := d.str()
		if err != nil {
			return err
		}
		if m == nil {
			m = make(map[string]string, 4)
		}
		m[key] = v
		return nil
	})
	return m, err
}

func (d *decoder) anyMap(field string) (map[string]any, error) {
	switch d.peek() {
	case 'n':
		return nil, d.literal("null")
	case '{':
	default:
		return nil, d.errType(field, "an object or null")
	}
	var m map[string]any
	err := d.fields(func(key string) error {
		v, err := d.value(1)
		if err != nil {
			return err
		}
		if m == nil {
			m = make(map[string]any, 4)
		}
		m[key] = v
		return nil
	})
	return m, err
}

// value reads any JSON value into the types encoding/json uses for any.
func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: %s is nested deeper than %d levels", ErrInvalid, d.field, maxDepth)
	}
	switch c := d.peek(); {
	case c == '"':
		return d.str()
	case c == '{':
		m := map[string]any{}
		err := d.fields(func(key string) error {
			v, err := d.value(depth + 1)
			m[key] = v
			return err
		})
		return m, err
	case c == '[':
		d.pos++
		a := []any{}
		if d.peek() == ']' {
			d.pos++
			return a, nil
		}
		for {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
			switch d.peek() {
			case ',':
				d.pos++
			case ']':
				d.pos++
				return a, nil
			default:
				return nil, d.errSyntax("',' or ']'")
			}
		}
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return nil, d.errSyntax("a JSON value")
}

// skip consumes one value of any type without building it.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: %s is nested deeper than %d levels", ErrInvalid, d.field, maxDepth)
	}
	switch c := d.peek(); {
	case c == '"':
		_, err := d.str()
		return err
	case c == '{':
		return d.fields(func(string) error { return d.skip(depth + 1) })
	case c == '[':
		d.pos++
		if d.peek() == ']' {
			d.pos++
			return nil
		}
		for {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			switch d.peek() {
			case ',':
				d.pos++
			case ']':
				d.pos++
				return nil
			default:
				return d.errSyntax("',' or ']'")
			}
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.scanNumber()
	}
	return d.errSyntax("a JSON value")
}

func (d *decoder) literal(lit string) error {
	if len(d.s)-d.pos >= len(lit) && d.s[d.pos:d.pos+len(lit)] == lit {
		d.pos += len(lit)
		return nil
	}
	return d.errSyntax(lit)
}

// scanNumber consumes a number, checking the JSON grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) scanNumber() error {
	s, i := d.s, d.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
	default:
		d.pos = i
		return d.errSyntax("a digit")
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			d.pos = i
			return d.errSyntax("a digit after '.'")
		}
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			d.pos = i
			return d.errSyntax("a digit in the exponent")
		}
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
	}
	d.pos = i
	return nil
}

func (d *decoder) number() (float64, error) {
	start := d.pos
	if err := d.scanNumber(); err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(d.s[start:d.pos], 64)
	if err != nil {
		field := d.field
		if field == "" {
			field = "value"
		}
		return 0, fmt.Errorf("%w: %s: number %s is out of range", ErrInvalid, field, d.s[start:d.pos])
	}
	return f, nil
}

// str reads a string at the current position (which holds '"'). A string
// without escapes is a substring of the document; others are unescaped into
// a new string. Raw bytes that are not UTF-8 are an error (RFC 8259 requires
// UTF-8; replacing them would silently change the text); an escaped lone
// UTF-16 surrogate (\ud800), which is valid JSON but no character, becomes
// U+FFFD as in encoding/json, and sets d.surrogates.
func (d *decoder) str() (string, error) {
	s := d.s
	start := d.pos + 1
	ascii := true
	for i := start; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			if !ascii {
				if bad := invalidUTF8At(s[start:i]); bad >= 0 {
					d.pos = start + bad
					return "", d.errSyntax("UTF-8 text (JSON is UTF-8)")
				}
			}
			d.pos = i + 1
			return s[start:i], nil
		case c == '\\':
			return d.strSlow(start)
		case c < ' ':
			d.pos = i
			return "", d.errSyntax("no control characters in a string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	d.pos = len(s)
	return "", d.errSyntax(`'"' to end the string`)
}

func (d *decoder) strSlow(start int) (string, error) {
	s := d.s
	b := make([]byte, 0, 64)
	for i := start; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(b), nil
		case c < ' ':
			d.pos = i
			return "", d.errSyntax("no control characters in a string")
		case c == '\\':
			if i+1 >= len(s) {
				d.pos = len(s)
				return "", d.errSyntax("an escape")
			}
			switch e := s[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(s, i+2)
				if !ok {
					d.pos = i
					return "", d.errSyntax(`\u and four hex digits`)
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(s, i+2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							b = utf8.AppendRune(b, dec)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
					d.surrogates = true
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				d.pos = i
				return "", d.errSyntax(`a valid escape (\" \\ \/ \b \f \n \r \t \uXXXX)`)
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				d.pos = i
				return "", d.errSyntax("UTF-8 text (JSON is UTF-8)")
			}
			b = append(b, s[i:i+size]...)
			i += size
		}
	}
	d.pos = len(s)
	return "", d.errSyntax(`'"' to end the string`)
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
