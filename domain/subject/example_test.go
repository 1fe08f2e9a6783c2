package subject_test

import (
	"errors"
	"fmt"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/subject"
)

func ExampleFor() {
	s, err := subject.For("prod", "billing", "job-42", event.TypeCompleted)
	fmt.Println(s, err)

	// A job id that is not a valid subject token is rejected, not escaped.
	_, err = subject.For("prod", "billing", "job.42", event.TypeCompleted)
	fmt.Println(errors.Is(err, event.ErrInvalid))
	fmt.Println(err)
	// Output:
	// naq.events.prod.billing.job-42.completed <nil>
	// true
	// invalid event: job_id "job.42" contains '.' at byte 3; '.', '*' and '>' are not allowed in a NATS subject token
}

func ExampleParse() {
	p, err := subject.Parse("naq.events.prod.billing.job-42.failed")
	fmt.Printf("%+v %v\n", p, err)

	_, err = subject.Parse("naq.events.prod.billing.job.42.failed")
	fmt.Println(err)
	// Output:
	// {Environment:prod Service:billing JobID:job-42 Type:failed} <nil>
	// invalid event: subject "naq.events.prod.billing.job.42.failed" has 5 tokens after "naq.events", want 4 (environment.service.job_id.event_type)
}

func ExampleFromFilter() {
	history, _ := subject.FromFilter(event.Filter{Environment: "prod", Service: "billing", JobID: "job-42"})
	failures, _ := subject.FromFilter(event.Filter{Environment: "prod", Types: []event.JobEventType{event.TypeFailed}})
	ends, _ := subject.FromFilterAll(event.Filter{Environment: "prod", Types: []event.JobEventType{event.TypeCompleted, event.TypeFailed}})
	fmt.Println(history)
	fmt.Println(failures)
	fmt.Println(ends)
	fmt.Println(subject.Match(history, "naq.events.prod.billing.job-42.started"))
	// Output:
	// naq.events.prod.billing.job-42.*
	// naq.events.prod.*.*.failed
	// [naq.events.prod.*.*.completed naq.events.prod.*.*.failed]
	// true
}

func ExampleScheme() {
	s := subject.Scheme{Prefix: "acme.naq.events"}
	if err := s.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	stream, _ := s.StreamFilter()
	subj, _ := s.For("prod", "billing", "job-42", event.TypeStarted)
	fmt.Println(stream)
	fmt.Println(subj)

	fmt.Println(subject.Scheme{Prefix: "acme.*"}.Validate())
	// Output:
	// acme.naq.events.*.*.*.*
	// acme.naq.events.prod.billing.job-42.started
	// subject prefix "acme.*": invalid event: prefix "*" contains '*' at byte 0; '.', '*' and '>' are not allowed in a NATS subject token
}
