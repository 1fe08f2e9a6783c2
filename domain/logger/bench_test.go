package logger_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// nopStore acknowledges every batch at once, so the benchmarks measure
// the logger, not a store.
type nopStore struct{}

func (nopStore) StoreBatch(context.Context, []event.JobEvent) error { return nil }

// benchEvent is built once: the benchmarks measure Log, not the
// constructor (which allocates the event's strings and maps).
var benchEvent = event.Enqueued("job-42", "default", 5)

func BenchmarkLog(b *testing.B) {
	l := logger.New(nopStore{}, logger.WithSlog(slog.New(slog.DiscardHandler)))
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Log(benchEvent); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.StopTimer()
	reportAndClose(b, l)
}

func BenchmarkLogParallel(b *testing.B) {
	l := logger.New(nopStore{}, logger.WithSlog(slog.New(slog.DiscardHandler)))
	b.ReportAllocs()
	// RunParallel starts SetParallelism·GOMAXPROCS goroutines; ask for 8
	// in all whatever the machine.
	b.SetParallelism(max(1, 8/runtimeProcs()))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Log(benchEvent); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.StopTimer()
	reportAndClose(b, l)
}

// BenchmarkLogSync measures one acknowledged round trip through the
// flusher and the store goroutine with an instant store.
func BenchmarkLogSync(b *testing.B) {
	l := logger.New(nopStore{}, logger.WithSlog(slog.New(slog.DiscardHandler)))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.LogSync(ctx, benchEvent); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportAndClose(b, l)
}

// reportAndClose closes l and reports which share of the logged events
// the instant store took (the rest overflowed: Log outran the flusher).
func reportAndClose(b *testing.B, l *logger.Logger) {
	b.Helper()
	if err := l.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	st := l.Stats()
	if st.Logged > 0 {
		b.ReportMetric(float64(st.Stored)/float64(st.Logged), "stored/logged")
	}
}

// TestLogAllocatesNothing pins the hot path's promise: Log allocates
// nothing, whether the event is appended, replaces the oldest queued one
// (DropOldest on a full buffer) or is itself discarded (DropNewest). The
// store holds its first call
// until the end, so the buffer stays full. AllocsPerRun counts the whole
// process; the flusher has nothing to do while the call hangs (the first
// drop is reported during the warm-up run).
func TestLogAllocatesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []logger.Option
	}{
		{"DropOldest", []logger.Option{logger.WithOverflow(logger.DropOldest)}},
		{"DropNewest", []logger.Option{logger.WithOverflow(logger.DropNewest)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			called := make(chan struct{}, 1)
			st := storeFunc(func(ctx context.Context, _ []event.JobEvent) error {
				select {
				case called <- struct{}{}:
				default:
				}
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			opts := append([]logger.Option{logger.WithSlog(slog.New(slog.DiscardHandler)), logger.WithMaxBufferSize(64),
				logger.WithStoreTimeout(time.Hour)}, tc.opts...)
			l := logger.New(st, opts...)
			defer func() {
				close(release)
				_ = l.Close(context.Background())
			}()
			if err := l.Log(benchEvent); err != nil {
				t.Fatal(err)
			}
			<-called // the first call hangs from now on
			if got := testing.AllocsPerRun(1000, func() {
				if err := l.Log(benchEvent); err != nil {
					t.Fatal(err)
				}
			}); got != 0 {
				t.Fatalf("Log allocates %v times per call, want 0", got)
			}
			if st := l.Stats(); st.Dropped.Overflow == 0 {
				t.Fatalf("no event overflowed (%+v): the test did not reach the drop path", st)
			}
		})
	}
}

// TestValidateAllocatesNothing: the check Log runs first allocates nothing
// for the common value types either.
func TestValidateAllocatesNothing(t *testing.T) {
	ev := event.Started("job-1", "worker-1", "async", event.WithQueue("default"),
		event.WithDetail("n", 1), event.WithDetail("f", 1.5), event.WithDetail("s", "x"),
		event.WithDetail("l", []any{1, "a", true, nil}), event.WithMetadata("m", map[string]any{"k": map[string]string{"a": "b"}}),
		event.WithTag("team", "core"), event.WithMemoryMB(3))
	if got := testing.AllocsPerRun(1000, func() {
		if err := ev.Validate(); err != nil {
			t.Fatal(err)
		}
	}); got != 0 {
		t.Fatalf("Validate allocates %v times per call, want 0", got)
	}
}

type storeFunc func(context.Context, []event.JobEvent) error

func (f storeFunc) StoreBatch(ctx context.Context, evs []event.JobEvent) error { return f(ctx, evs) }
