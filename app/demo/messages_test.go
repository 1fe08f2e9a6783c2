package demo_test

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/naq-go/events/app/demo"
	"github.com/naq-go/events/domain/event"
)

// TestMessagesUseHumanDurations: the durations in the demo's messages are
// in human units ("Retry 2 scheduled in 2.13s"), not time.Duration's
// String ("2.131331472s").
func TestMessagesUseHumanDurations(t *testing.T) {
	rec, _ := run(t, demo.WithSeed(7), demo.WithJobs(400), demo.WithFailureRate(0.5), demo.WithMaxRetries(3))
	human := `-?\d{1,3}(\.\d{1,2})?(µs|ms|s)|\d+m\d\ds|\d+h\d\dm`
	want := map[event.JobEventType]*regexp.Regexp{
		event.TypeRetryScheduled: regexp.MustCompile(`^Retry \d+ scheduled in (` + human + `)$`),
		event.TypeTimeout:        regexp.MustCompile(`^Job timed out after (` + human + `) on worker \S+$`),
		event.TypeTTLExpired:     regexp.MustCompile(`^Job expired after its TTL of (` + human + `)$`),
	}
	seen := map[event.JobEventType]int{}
	limit := regexp.MustCompile(`limit of (\S+)`)
	for _, ev := range rec.snapshot() {
		if m := limit.FindStringSubmatch(ev.ErrorMessage); m != nil {
			seen["limit"]++
			assert.Regexp(t, `^(`+human+`)$`, m[1], "error of %s", ev.Type)
		}
		re, ok := want[ev.Type]
		if !ok {
			continue
		}
		seen[ev.Type]++
		assert.Regexp(t, re, ev.Message)
	}
	for typ := range want {
		assert.Positive(t, seen[typ], "the run has %s events", typ)
	}
	assert.Positive(t, seen["limit"], "the run has a job that exhausted its retries on a timeout")
}
