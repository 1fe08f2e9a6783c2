package memstore_test

import (
	"context"
	"fmt"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/domain/event"
)

func Example() {
	ctx := context.Background()
	st := memstore.New(memstore.WithService("billing"), memstore.WithMaxEvents(10_000))
	// Any error is printed, so it fails the example's output check.
	defer func() {
		if err := st.Close(); err != nil {
			fmt.Println("close:", err)
		}
	}()

	if err := st.StoreBatch(ctx, []event.JobEvent{
		event.New("job-1", event.TypeEnqueued, event.WithQueue("invoices")),
		event.New("job-1", event.TypeStarted, event.WithWorker("w1", "thread")),
		event.New("job-2", event.TypeEnqueued, event.WithQueue("invoices")),
		event.New("job-1", event.TypeCompleted),
	}); err != nil {
		fmt.Println("store:", err)
	}

	history, err := st.Job(ctx, "job-1", event.Page{})
	if err != nil {
		fmt.Println("job:", err)
	}
	for _, ev := range history {
		fmt.Println(ev.JobID, ev.Type)
	}
	n, err := st.Count(ctx, event.Filter{Queue: "invoices"})
	if err != nil {
		fmt.Println("count:", err)
	}
	fmt.Println("enqueued on invoices:", n)

	// Replay everything stored so far, then stop.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for rec, err := range st.Stream(sctx, event.Filter{JobID: "job-2"}, event.StreamOptions{History: true}) {
		if err != nil {
			if sctx.Err() == nil {
				fmt.Println("stream:", err)
			}
			break
		}
		fmt.Println(rec.Seq, rec.Service, rec.Event.JobID, rec.Event.Type)
		cancel()
	}
	// Output:
	// job-1 enqueued
	// job-1 started
	// job-1 completed
	// enqueued on invoices: 2
	// 3 billing job-2 enqueued
}
