package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

func mustDecode(t *testing.T, doc string) event.JobEvent {
	t.Helper()
	ev, err := event.Decode([]byte(doc))
	if err != nil {
		t.Fatalf("Decode(%s): %v", doc, err)
	}
	return ev
}

func mustEncode(t *testing.T, ev event.JobEvent) string {
	t.Helper()
	b, err := ev.AppendJSON(nil)
	if err != nil {
		t.Fatalf("AppendJSON(%+v): %v", ev, err)
	}
	return string(b)
}

// TestDecodePython decodes every document of testdata/python, written as
// the Python design writes them, checks a few fields of each, and checks
// that re-encoding is canonical (encode, decode, encode gives the same
// bytes).
func TestDecodePython(t *testing.T) {
	ts := func(sec, usec int64) time.Time { return time.Unix(sec, usec*1000).UTC() }
	cases := map[string]func(t *testing.T, ev event.JobEvent){
		"design_started.json": func(t *testing.T, ev event.JobEvent) {
			check(t, "type", ev.Type, event.TypeStarted)
			check(t, "job", ev.JobID, "3f2b9c1e-8d4a-4c1e-9f00-1234567890ab")
			check(t, "timestamp", ev.Timestamp, ts(1634567890, 123000))
			check(t, "worker", ev.WorkerID+"/"+ev.WorkerType+"/"+ev.QueueName, "worker-123/async/default")
			check(t, "memory", *ev.MemoryMB, 45.2)
			check(t, "cpu", *ev.CPUTimeMS, 12.5)
			check(t, "duration nil", ev.DurationMS == nil, true)
			check(t, "priority", ev.Details["priority"], any(0.0))
			check(t, "tag", ev.Tags["project"], "naq")
			check(t, "metadata", ev.Metadata["custom_field"], any("custom_value"))
			check(t, "derived id is a ULID of the event time", idTime(t, ev.ID), ts(1634567890, 123000))
		},
		"design_example_pretty.json": func(t *testing.T, ev event.JobEvent) {
			check(t, "same as compact", mustEncode(t, ev), mustEncode(t, decodeFile(t, "design_started.json")))
		},
		"failed.json": func(t *testing.T, ev event.JobEvent) {
			check(t, "error type", ev.ErrorType, "ValueError")
			check(t, "error message", ev.ErrorMessage, "invalid literal for int() with base 10: 'x'")
			check(t, "duration", *ev.DurationMS, 1500.0)
			check(t, "metadata empty → nil", ev.Metadata == nil, true)
		},
		"integer_timestamp.json": func(t *testing.T, ev event.JobEvent) {
			check(t, "timestamp", ev.Timestamp, ts(1634567890, 0))
		},
		"seven_digit_timestamp.json": func(t *testing.T, ev event.JobEvent) {
			check(t, "timestamp truncated to µs", ev.Timestamp, ts(1634567890, 123456))
		},
		"no_version_no_optionals.json": func(t *testing.T, ev event.JobEvent) {
			check(t, "type", ev.Type, event.TypeEnqueued)
			check(t, "timestamp", ev.Timestamp, ts(1700000000, 500000))
			check(t, "all optional empty", ev.WorkerID+ev.Message+ev.QueueName, "")
			check(t, "maps nil", ev.Details == nil && ev.Tags == nil && ev.Metadata == nil, true)
			check(t, "id derived", len(ev.ID), event.IDLen)
		},
		"null_maps.json": func(t *testing.T, ev event.JobEvent) {
			check(t, "maps nil", ev.Details == nil && ev.Tags == nil && ev.Metadata == nil, true)
			check(t, "worker null", ev.WorkerID, "")
		},
		"extra_fields_v1_3.json": func(t *testing.T, ev event.JobEvent) {
			check(t, "extras ignored", strings.Contains(mustEncode(t, ev), "trace_id"), false)
			check(t, "written as 1.0", strings.HasPrefix(mustEncode(t, ev), `{"version":"1.0",`), true)
		},
		"unicode_ensure_ascii.json": func(t *testing.T, ev event.JobEvent) {
			check(t, "message", ev.Message, "Job démarré 🚀 on worker „w“")
			check(t, "tag", ev.Tags["owner"], "Zoë")
			check(t, "emoji", ev.Metadata["emoji"], any("🎉"))
			check(t, "escapes", ev.Metadata["path"], any("C:\\tmp\\x\n"))
		},
		"unicode_raw.json": func(t *testing.T, ev event.JobEvent) {
			check(t, "message", ev.Message, "Job démarré 🚀")
		},
		"field_order_shuffled.json": func(t *testing.T, ev event.JobEvent) {
			check(t, "type", ev.Type, event.TypeCompleted)
			check(t, "duration", *ev.DurationMS, 12.5)
		},
		"nested_details.json": func(t *testing.T, ev event.JobEvent) {
			ids, ok := ev.Details["dependency_ids"].([]any)
			check(t, "ids", ok && len(ids) == 2, true)
			check(t, "big", ev.Details["big"], any(1.2345678901234567e19))
			check(t, "small", ev.Details["small"], any(1e-7))
			check(t, "flag", ev.Details["flag"], any(false))
		},
		"with_event_id.json": func(t *testing.T, ev event.JobEvent) {
			check(t, "id kept", ev.ID, "01JC0000000000000000000099")
			check(t, "expires_at", ev.Details["expires_at"], any(1634601600.25))
		},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "python", "*.json"))
	if err != nil || len(files) != len(cases) {
		t.Fatalf("want %d files in testdata/python, found %d (%v)", len(cases), len(files), err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			fn, ok := cases[name]
			if !ok {
				t.Fatalf("no expectations for %s", name)
			}
			ev := decodeFile(t, name)
			fn(t, ev)
			enc := mustEncode(t, ev)
			if again := mustEncode(t, mustDecode(t, enc)); again != enc {
				t.Fatalf("not canonical:\n%s\n%s", enc, again)
			}
		})
	}
}

func decodeFile(t *testing.T, name string) event.JobEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "python", name))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := event.Decode(b)
	if err != nil {
		t.Fatalf("Decode(%s): %v", name, err)
	}
	return ev
}

func check[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func idTime(t *testing.T, id string) time.Time {
	t.Helper()
	tm, err := event.IDTime(id)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UTC().Truncate(time.Millisecond)
}

// TestDecodeDerivedIDStable: a document without event_id gets the same id
// however it is formatted, and a different one when its content differs.
func TestDecodeDerivedIDStable(t *testing.T) {
	a := mustDecode(t, `{"job_id":"j","event_type":"started","timestamp":1.5,"tags":{"a":"1","b":"2"}}`)
	b := mustDecode(t, "{ \"tags\": {\"b\": \"2\", \"a\": \"1\"}, \"timestamp\": 1.50,\n \"event_type\": \"started\", \"job_id\": \"j\", \"x\": 1 }")
	c := mustDecode(t, `{"job_id":"j","event_type":"started","timestamp":1.5,"tags":{"a":"1","b":"3"}}`)
	check(t, "same content, same id", a.ID, b.ID)
	if a.ID == c.ID {
		t.Errorf("different content got the same id %s", a.ID)
	}
	check(t, "empty id is derived too", mustDecode(t, `{"event_id":"","job_id":"j","event_type":"started","timestamp":1.5,"tags":{"a":"1","b":"2"}}`).ID, a.ID)
	check(t, "explicit null id is derived too", mustDecode(t, `{"event_id":null,"job_id":"j","event_type":"started","timestamp":1.5,"tags":{"a":"1","b":"2"}}`).ID, a.ID)
}

func TestDecodeRejects(t *testing.T) {
	const ok = `"job_id":"j","event_type":"started","timestamp":1`
	cases := []struct {
		name, doc, field string
	}{
		{"empty input", ``, "invalid JSON"},
		{"not an object", `[1]`, "JSON object"},
		{"null document", `null`, "JSON object"},
		{"truncated", `{"job_id":"j"`, "invalid JSON"},
		{"trailing garbage", `{` + ok + `} x`, "end of input"},
		{"two documents", `{` + ok + `}{}`, "end of input"},
		{"trailing comma", `{` + ok + `,}`, "invalid JSON"},
		{"single quotes", `{'job_id':'j'}`, "invalid JSON"},
		{"NaN as Python writes it", `{` + ok + `,"duration_ms":NaN}`, "invalid JSON in duration_ms"},
		{"Infinity", `{` + ok + `,"memory_mb":Infinity}`, "invalid JSON in memory_mb"},
		{"leading zero", `{` + ok + `,"memory_mb":01}`, "invalid JSON"},
		{"bare dot", `{` + ok + `,"memory_mb":1.}`, "invalid JSON"},
		{"raw newline in string", "{" + ok + ",\"message\":\"a\nb\"}", "invalid JSON in message"},
		{"bad escape", `{` + ok + `,"message":"\x"}`, "invalid JSON in message"},
		{"bad unicode escape", `{` + ok + `,"message":"\u12"}`, "invalid JSON in message"},
		{"raw invalid UTF-8", "{" + ok + ",\"message\":\"a\xffb\"}", `invalid JSON in message at byte 63: unexpected "\xff", want UTF-8`},
		{"raw invalid UTF-8 after escape", "{" + ok + ",\"message\":\"\\n\xc3\"}", "invalid JSON in message"},
		{"raw invalid UTF-8 in key", "{" + ok + ",\"\xff\":1}", "invalid JSON"},
		{"lone surrogate in job_id", `{"job_id":"a\ud800","event_type":"started","timestamp":1}`, "job_id \"a\ufffd\" has a lone UTF-16 surrogate"},
		{"bad literal", `{` + ok + `,"message":nul}`, "invalid JSON"},
		{"syntax error in unknown field", `{` + ok + `,"extra":[1,}`, "invalid JSON in extra"},
		{"missing job_id", `{"event_type":"started","timestamp":1}`, "job_id is missing"},
		{"null job_id", `{"job_id":null,"event_type":"started","timestamp":1}`, "job_id is missing"},
		{"empty job_id", `{"job_id":"","event_type":"started","timestamp":1}`, "job_id is empty"},
		{"job_id with dot", `{"job_id":"a.b","event_type":"started","timestamp":1}`, `job_id "a.b"`},
		{"job_id wildcard", `{"job_id":"*","event_type":"started","timestamp":1}`, `job_id "*"`},
		{"job_id number", `{"job_id":42,"event_type":"started","timestamp":1}`, "job_id is 42, want a string"},
		{"missing event_type", `{"job_id":"j","timestamp":1}`, "event_type is missing"},
		{"unknown event_type", `{"job_id":"j","event_type":"exploded","timestamp":1}`, `event_type "exploded"`},
		{"event_type case", `{"job_id":"j","event_type":"STARTED","timestamp":1}`, `event_type "STARTED"`},
		{"missing timestamp", `{"job_id":"j","event_type":"started"}`, "timestamp is missing"},
		{"null timestamp", `{"job_id":"j","event_type":"started","timestamp":null}`, "timestamp is missing"},
		{"string timestamp", `{"job_id":"j","event_type":"started","timestamp":"1634567890"}`, `timestamp is "1634567890", want a number`},
		{"negative timestamp", `{"job_id":"j","event_type":"started","timestamp":-1}`, "timestamp -1 is before 1970"},
		{"huge timestamp", `{"job_id":"j","event_type":"started","timestamp":1e300}`, "timestamp 1e300 is after 9999"},
		{"version 2", `{"version":"2.0",` + ok + `}`, `version "2.0" is not supported`},
		{"version 10", `{"version":"10.1",` + ok + `}`, `version "10.1" is not supported`},
		{"version garbage", `{"version":"one",` + ok + `}`, `version "one" is not MAJOR.MINOR`},
		{"version number", `{"version":1.0,` + ok + `}`, "version is 1.0, want a string"},
		{"details array", `{` + ok + `,"details":[1]}`, "details is [1], want an object or null"},
		{"metadata string", `{` + ok + `,"metadata":"x"}`, `metadata is "x", want an object or null`},
		{"tags value number", `{` + ok + `,"tags":{"a":1}}`, `tags["a"] is 1, want a string`},
		{"worker_id number", `{` + ok + `,"worker_id":7}`, "worker_id is 7, want a string or null"},
		{"duration string", `{` + ok + `,"duration_ms":"5"}`, `duration_ms is "5", want a number or null`},
		{"negative duration", `{` + ok + `,"duration_ms":-5}`, "duration_ms is -5, must not be negative"},
		{"number out of range", `{` + ok + `,"cpu_time_ms":1e400}`, "cpu_time_ms: number 1e400 is out of range"},
		{"event_id with space", `{"event_id":"a b",` + ok + `}`, `event_id "a b"`},
		{"event_id too long", `{"event_id":"` + strings.Repeat("x", 65) + `",` + ok + `}`, "event_id"},
		{"event_id number", `{"event_id":1,` + ok + `}`, "event_id is 1"},
		{"too deep", `{` + ok + `,"details":{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}}`, "nested deeper"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := event.Decode([]byte(c.doc))
			if err == nil {
				t.Fatalf("Decode accepted %q as %+v", c.doc, ev)
			}
			if !errors.Is(err, event.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("error %q does not mention %q", err, c.field)
			}
		})
	}
}

func TestDecodeStringEscapes(t *testing.T) {
	const head = `{"job_id":"j","event_type":"started","timestamp":1,"message":`
	for _, c := range []struct{ in, want string }{
		{`"plain"`, "plain"},
		{`"\u00e9\ud83d\ude80"`, "é🚀"},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		{`"lone \ud800 high"`, "lone \ufffd high"},
		{`"lone \udc00 low"`, "lone \ufffd low"},
		{`"high then non-low \ud800\u0041"`, "high then non-low \ufffdA"},
		{`"raw é 🚀"`, "raw é 🚀"},
		{`"\uFFFD"`, "\ufffd"},
	} {
		t.Run(c.in, func(t *testing.T) {
			check(t, "message", mustDecode(t, head+c.in+"}").Message, c.want)
		})
	}
}

func TestDecodeTimestamps(t *testing.T) {
	cases := []struct {
		num  string
		want time.Time
		enc  string
	}{
		{"1634567890", time.Unix(1634567890, 0), "1634567890.0"},
		{"1634567890.0", time.Unix(1634567890, 0), "1634567890.0"},
		{"1634567890.000000", time.Unix(1634567890, 0), "1634567890.0"},
		{"1634567890.1", time.Unix(1634567890, 100000000), "1634567890.1"},
		{"1634567890.123456", time.Unix(1634567890, 123456000), "1634567890.123456"},
		{"1634567890.1234569", time.Unix(1634567890, 123456000), "1634567890.123456"},
		{"1634567890.000001", time.Unix(1634567890, 1000), "1634567890.000001"},
		{"1.6345678901234E9", time.Unix(1634567890, 123400000), "1634567890.1234"},
		{"16345678901234e-4", time.Unix(1634567890, 123400000), "1634567890.1234"},
		{"0.000001e+3", time.Unix(0, 1000000), "0.001"},
		{"0", time.Unix(0, 0), "0.0"},
		{"0e99999999999999", time.Unix(0, 0), "0.0"},
		{"5e-999999999999", time.Unix(0, 0), "0.0"},
		{"253402300799.999999", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), "253402300799.999999"},
		{"00000000000000000000000000001", time.Time{}, ""}, // leading zeros are invalid JSON
	}
	for _, c := range cases {
		t.Run(c.num, func(t *testing.T) {
			ev, err := event.Decode([]byte(`{"job_id":"j","event_type":"started","timestamp":` + c.num + `}`))
			if c.enc == "" {
				if err == nil {
					t.Fatalf("accepted %s", c.num)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			check(t, "time", ev.Timestamp, c.want.UTC())
			if enc := mustEncode(t, ev); !strings.Contains(enc, `"timestamp":`+c.enc+`,`) {
				t.Errorf("encoded as %s, want timestamp %s", enc, c.enc)
			}
		})
	}
	_, err := event.Decode([]byte(`{"job_id":"j","event_type":"started","timestamp":253402300800}`))
	if !errors.Is(err, event.ErrInvalid) {
		t.Errorf("year 10000 accepted: %v", err)
	}
}

// TestEncodeStringsLikeEncodingJSON: strings are escaped as encoding/json
// does without HTML escaping, so any JSON reader gets the same text back.
func TestEncodeStringsLikeEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"plain", `quote " backslash \ slash /`, "ctl \x00\x01\x1f\x7f", "\n\r\t\b\f", "<html>&amp;",
		"é 🚀 „“", "bad utf8 \xff\xfe end", "trunc \xe2\x82", "line sep \u2028 para \u2029", "\ufffd",
	} {
		t.Run(s, func(t *testing.T) {
			ev := event.Started("j", "w", "async", event.WithMessage(s))
			enc := mustEncode(t, ev)
			var buf bytes.Buffer
			je := json.NewEncoder(&buf)
			je.SetEscapeHTML(false)
			if err := je.Encode(s); err != nil {
				t.Fatal(err)
			}
			want := `"message":` + strings.TrimSuffix(buf.String(), "\n") + `,`
			if !strings.Contains(enc, want) {
				t.Errorf("got %s\nwant it to contain %s", enc, want)
			}
			if !json.Valid([]byte(enc)) {
				t.Errorf("invalid JSON: %s", enc)
			}
			var back struct{ Message string }
			if err := json.Unmarshal([]byte(enc), &back); err != nil {
				t.Fatal(err)
			}
			check(t, "decoded", mustDecode(t, enc).Message, back.Message)
		})
	}
}

type custom struct {
	Name string  `json:"name"`
	At   float64 `json:"at,omitempty"`
}

func TestEncodeDetailValues(t *testing.T) {
	ptr := func(f float64) *float64 { return &f }
	cases := []struct {
		name  string
		value any
		want  string
		lossy bool // decodes to a float64 that cannot hold it exactly
	}{
		{"int", 42, `42`, false},
		{"negative int64", int64(-7), `-7`, false},
		{"uint64 max", uint64(math.MaxUint64), `18446744073709551615`, true},
		{"int64 beyond 2^53 too", int64(1)<<53 + 1, `9007199254740993`, true},
		{"float integral", 1500.0, `1500`, false},
		{"float fraction", 0.1, `0.1`, false},
		{"float tiny", 1e-7, `1e-7`, false},
		{"float huge", 1e21, `1e+21`, false},
		{"float32", float32(0.1), `0.1`, false},
		{"negative zero", math.Copysign(0, -1), `-0`, false},
		{"bool", true, `true`, false},
		{"nil", nil, `null`, false},
		{"nil []any", []any(nil), `null`, false},
		{"nil map", map[string]any(nil), `null`, false},
		{"strings", []string{"a", "b"}, `["a","b"]`, false},
		{"empty slice", []any{}, `[]`, false},
		{"nested sorted", map[string]any{"b": 1, "a": map[string]string{"z": "1", "y": "2"}}, `{"a":{"y":"2","z":"1"},"b":1}`, false},
		{"struct via encoding/json", custom{Name: "x<y"}, `{"name":"x<y"}`, false},
		{"pointer", ptr(2.5), `2.5`, false},
		{"time.Time via MarshalJSON", time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC), `"2021-01-02T03:04:05Z"`, false},
		{"duration is int nanoseconds", 2 * time.Second, `2000000000`, false},
		{"json.RawMessage canonicalised", json.RawMessage(`{ "b" : 1 , "a" : [ true ] }`), `{"a":[true],"b":1}`, false},
		{"many keys", manyKeys(40), manyKeysJSON(40), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := event.Started("j", "w", "async", event.WithDetail("v", c.value))
			enc := mustEncode(t, ev)
			if want := `"details":{"v":` + c.want + `},`; !strings.Contains(enc, want) {
				t.Errorf("got %s\nwant it to contain %s", enc, want)
			}
			if again := mustEncode(t, mustDecode(t, enc)); again != enc && !c.lossy {
				t.Errorf("not canonical:\n%s\n%s", enc, again)
			}
		})
	}
}

func manyKeys(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[string(rune('A'+i))] = i
	}
	return m
}

func manyKeysJSON(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(mustJSON(string(rune('A'+i))) + ":")
		b.WriteString(strings.TrimSpace(mustJSON(i)))
	}
	b.WriteByte('}')
	return b.String()
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestEncodeRejects(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	nan := math.NaN()
	cases := []struct {
		name string
		ev   event.JobEvent
		want string
	}{
		{"invalid event", event.Started("a.b", "w", "async"), `job_id "a.b"`},
		{"NaN in details", event.Started("j", "w", "async", event.WithDetail("x", math.NaN())), `details["x"]: NaN`},
		{"Inf in metadata", event.Started("j", "w", "async", event.WithMetadata("m", []any{math.Inf(1)})), `metadata["m"]: +Inf`},
		{"NaN float32", event.Started("j", "w", "async", event.WithDetail("x", float32(nan))), `details["x"]`},
		{"channel", event.Started("j", "w", "async", event.WithDetail("ch", make(chan int))), `details["ch"]: chan int`},
		{"func", event.Started("j", "w", "async", event.WithMetadata("f", func() {})), `metadata["f"]`},
		{"cycle", event.Started("j", "w", "async", event.WithDetail("c", cyclic)), `details["c"]: nested deeper`},
		{"NaN metric", event.Started("j", "w", "async", event.WithMemoryMB(nan)), "memory_mb is NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf := []byte("prefix")
			out, err := c.ev.AppendJSON(buf)
			if err == nil {
				t.Fatalf("encoded %s", out)
			}
			if !errors.Is(err, event.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q: want ErrInvalid mentioning %q", err, c.want)
			}
			check(t, "dst unchanged on error", string(out), "prefix")
		})
	}
}

// TestEncodingJSONIntegration: encoding/json uses MarshalJSON and
// UnmarshalJSON for values, pointers, slices and struct fields.
func TestEncodingJSONIntegration(t *testing.T) {
	ev := fixtures[2].event()
	direct := mustEncode(t, ev)

	byValue, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "value", string(byValue), direct)

	type envelope struct {
		Events []event.JobEvent `json:"events"`
		One    *event.JobEvent  `json:"one"`
		Map    map[string]event.JobEvent
	}
	in := envelope{Events: []event.JobEvent{ev, ev}, One: &ev, Map: map[string]event.JobEvent{"k": ev}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), direct) != 4 {
		t.Fatalf("envelope does not embed the wire document 4 times: %s", b)
	}
	var out envelope
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	check(t, "round trip", mustEncode(t, out.Events[1]), direct)
	check(t, "pointer", mustEncode(t, *out.One), direct)

	var keep = ev
	if err := json.Unmarshal([]byte(`null`), &keep); err != nil {
		t.Fatal(err)
	}
	check(t, "null is a no-op", keep.ID, ev.ID)
	err = json.Unmarshal([]byte(`{"job_id":"x"}`), &keep)
	if !errors.Is(err, event.ErrInvalid) {
		t.Errorf("UnmarshalJSON of an incomplete document: %v", err)
	}
	check(t, "unchanged on error", keep.ID, ev.ID)

	_, err = json.Marshal(event.JobEvent{})
	if !errors.Is(err, event.ErrInvalid) {
		t.Errorf("Marshal of the zero event: %v", err)
	}
}

// TestEncodeShape checks the exact document of a hand-built event: field
// order, null rules and timestamp.
func TestEncodeShape(t *testing.T) {
	ev := event.JobEvent{
		ID: "id-1", JobID: "job", Type: event.TypeEnqueued,
		Timestamp: time.Unix(1634567890, 0),
	}
	want := `{"version":"1.0","event_id":"id-1","job_id":"job","event_type":"enqueued","timestamp":1634567890.0,` +
		`"worker_id":null,"worker_type":null,"queue_name":null,"message":null,"details":{},"error_type":null,` +
		`"error_message":null,"duration_ms":null,"memory_mb":null,"cpu_time_ms":null,"tags":{},"metadata":{}}`
	check(t, "doc", mustEncode(t, ev), want)
	ev.Timestamp = time.Unix(1634567890, 999999999) // sub-µs digits are truncated
	if enc := mustEncode(t, ev); !strings.Contains(enc, `"timestamp":1634567890.999999,`) {
		t.Errorf("got %s", enc)
	}
}
