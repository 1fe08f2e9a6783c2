package event_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/naq-go/events/domain/event"
)

// A failed attempt, written in the v1.0 wire format. Id and time are fixed
// here so the output is stable; normally the constructor sets them.
func Example_failed() {
	ev := event.Failed("job-42", "worker-7", errors.New("connection refused"), 1500*time.Millisecond, 1,
		event.WithID("01JC0000000000000000000001"),
		event.WithTimestamp(time.Unix(1634567890, 123000000)),
		event.WithQueue("default"),
		event.WithTag("project", "naq"))

	buf, err := ev.AppendJSON(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(buf))
	// Output:
	// {"version":"1.0","event_id":"01JC0000000000000000000001","job_id":"job-42","event_type":"failed","timestamp":1634567890.123,"worker_id":"worker-7","worker_type":null,"queue_name":"default","message":"Job failed after 1500.00ms (retry 1)","details":{"retry_count":1},"error_type":"errors.errorString","error_message":"connection refused","duration_ms":1500,"memory_mb":null,"cpu_time_ms":null,"tags":{"project":"naq"},"metadata":{}}
}

// Decoding a document as a Python producer of the design writes it: no
// event_id (one is derived from the content), spaces, an integer timestamp.
func ExampleDecode() {
	doc := []byte(`{"version": "1.0", "job_id": "job-42", "event_type": "completed", "timestamp": 1634567890,
		"worker_id": "worker-7", "duration_ms": 12.5, "tags": {"project": "naq"}, "trace": "ignored"}`)
	ev, err := event.Decode(doc)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ev.JobID, ev.Type, ev.Timestamp.Format(time.RFC3339), *ev.DurationMS, ev.Tags["project"], len(ev.ID))

	_, err = event.Decode([]byte(`{"version": "2.0", "job_id": "job-42", "event_type": "completed", "timestamp": 1}`))
	fmt.Println(errors.Is(err, event.ErrInvalid), err)
	// Output:
	// job-42 completed 2021-10-18T14:38:10Z 12.5 naq 26
	// true invalid event: version "2.0" is not supported; this reader understands 1.x
}

func ExampleParseType() {
	t, err := event.ParseType("retry_scheduled")
	fmt.Println(t, err)
	_, err = event.ParseType("exploded")
	fmt.Println(errors.Is(err, event.ErrInvalid), err)
	// Output:
	// retry_scheduled <nil>
	// true invalid event: event_type "exploded" is not one of the 24 known types
}

func ExampleTypes() {
	types := event.Types()
	fmt.Println(len(types), types[0], types[4], types[len(types)-1])
	// Output:
	// 24 enqueued failed ttl_extended
}
