package processor_test

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/processor"
)

// oneShot is a Source delivering a fixed list of events once, for the
// example; real code uses adapters/jsconsume.
type oneShot struct{ events []event.JobEvent }

func (s oneShot) Consume(ctx context.Context, deliver func(processor.Message)) error {
	for i, e := range s.events {
		deliver(msg{seq: uint64(i + 1), e: e})
	}
	<-ctx.Done()
	return nil
}

type msg struct {
	seq uint64
	e   event.JobEvent
}

func (m msg) Delivery() processor.Delivery { return processor.Delivery{Seq: m.seq, NumDelivered: 1} }
func (m msg) Subject() string              { return "" }
func (m msg) Data() []byte                 { return nil }
func (m msg) Decode() (event.Record, error) {
	return event.Record{Seq: m.seq, Environment: "dev", Service: "svc", Event: m.e}, nil
}
func (m msg) Ack() error              { return nil }
func (m msg) Nak(time.Duration) error { return nil }
func (m msg) Term(string) error       { return nil }
func (m msg) InProgress() error       { return nil }

func Example() {
	src := oneShot{events: []event.JobEvent{
		event.New("job-1", event.TypeStarted),
		event.New("job-1", event.TypeCompleted),
	}}
	p := processor.New(src, processor.WithMaxConcurrent(1))
	done := make(chan struct{})
	_, _ = p.Handle(event.TypeCompleted, func(_ context.Context, e event.JobEvent) error {
		fmt.Println("completed:", e.JobID)
		close(done)
		return nil
	})
	_ = p.Start(context.Background())
	<-done
	_ = p.Stop(context.Background())
	fmt.Println("handled:", p.Stats().Handled)
	// Output:
	// completed: job-1
	// handled: 2
}

// history is a Streamer over a fixed history with no live events.
type history []event.JobEvent

func (h history) Stream(ctx context.Context, f event.Filter, _ event.StreamOptions) iter.Seq2[event.Record, error] {
	return func(yield func(event.Record, error) bool) {
		for i, e := range h {
			if f.Match("dev", "svc", &e) && !yield(event.Record{Seq: uint64(i + 1), Event: e}, nil) {
				return
			}
		}
		<-ctx.Done()
		yield(event.Record{}, ctx.Err())
	}
}

func ExampleWatcher_WaitFor() {
	store := history{event.New("job-1", event.TypeStarted), event.New("job-1", event.TypeCompleted)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	e, err := processor.NewWatcher(store).WaitFor(ctx, "job-1", event.TypeCompleted, event.TypeFailed)
	fmt.Println(e.Type, err)
	// Output: completed <nil>
}
