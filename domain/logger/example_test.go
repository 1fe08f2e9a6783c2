package logger_test

import (
	"context"
	"fmt"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// printStore stands in for a real store (jsstore, filestore, memstore).
type printStore struct{}

func (printStore) StoreBatch(_ context.Context, evs []event.JobEvent) error {
	for _, e := range evs {
		fmt.Println("stored", e.Type, e.JobID)
	}
	return nil
}

func Example() {
	l := logger.New(printStore{},
		logger.WithBatchSize(500),
		logger.WithMaxBufferSize(10_000),
		logger.WithOverflow(logger.DropOldest),
	)
	_ = l.LogEnqueued("job-1", "default", 5)
	_ = l.LogStarted("job-1", "worker-1", "async")
	_ = l.LogCompleted("job-1", "worker-1", 120*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		fmt.Println(err)
	}
	st := l.Stats()
	fmt.Println("logged", st.Logged, "stored", st.Stored, "dropped", st.Dropped.Total())
	// Output:
	// stored enqueued job-1
	// stored started job-1
	// stored completed job-1
	// logged 3 stored 3 dropped 0
}

func ExampleLogger_LogSync() {
	l := logger.New(printStore{})
	defer func() {
		if err := l.Close(context.Background()); err != nil {
			fmt.Println("close:", err)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := l.LogSync(ctx, event.Failed("job-2", "worker-1", fmt.Errorf("boom"), time.Second, 3)); err != nil {
		fmt.Println("not stored:", err)
		return
	}
	fmt.Println("durable")
	// Output:
	// stored failed job-2
	// durable
}
