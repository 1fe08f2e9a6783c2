// Package processing runs the service's event processor (domain/processor)
// on a durable JetStream consumer (adapters/jsconsume), with a built-in
// handler that counts events per type for the metrics.
package processing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/naq-go/events/adapters/jsconsume"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/shutdown"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/processor"
)

// Durable is the consumer name of `naq-events serve`. Instances of the
// service share it, and with it the work: each counts the events it was
// handed, and the sum over instances is the total.
const Durable = "naq-events-serve"

// TypeCounts counts processed events per type. It is safe for concurrent use.
type TypeCounts struct {
	mu sync.Mutex
	m  map[event.JobEventType]uint64
}

// Handle is a processor.Handler that counts ev.
func (c *TypeCounts) Handle(_ context.Context, ev event.JobEvent) error {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[event.JobEventType]uint64)
	}
	c.m[ev.Type]++
	c.mu.Unlock()
	return nil
}

// Snapshot returns a copy of the counts.
func (c *TypeCounts) Snapshot() map[event.JobEventType]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[event.JobEventType]uint64, len(c.m))
	for t, n := range c.m {
		out[t] = n
	}
	return out
}

// SetUpWait is how much longer than the connect timeout the service's
// processor waits at start for JetStream to answer its consumer's and the
// dead-letter stream's requests (jsconsume.New tries a transient answer
// again, each request bounded by jsconsume.DefaultRequestTimeout, 5 s):
// long enough for a cluster that is forming or electing its leaders, the
// same slack as the app's start timeout. A permanent answer (a missing
// stream, a refused permission) ends the start at once.
const SetUpWait = 30 * time.Second

// New builds a processor consuming the stream cfg.Stream.Name through the
// durable consumer Durable, dead-lettering to jsconsume's default DLQ stream,
// and registers counts as a handler for every event.
func New(ctx context.Context, nc *nats.Conn, cfg config.Config, counts *TypeCounts, log *slog.Logger) (*processor.Processor, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("JetStream context: %w", err)
	}
	src, err := jsconsume.New(ctx, js,
		jsconsume.WithStream(cfg.Stream.Name),
		jsconsume.WithDurable(Durable),
		jsconsume.WithSlog(log),
	)
	if err != nil {
		return nil, fmt.Errorf("create the consumer %q on stream %q: %w", Durable, cfg.Stream.Name, err)
	}
	p := processor.New(src, processor.WithDeadLetter(src), processor.WithSlog(log))
	if _, err := p.HandleAll(counts.Handle); err != nil {
		return nil, fmt.Errorf("register the type counter: %w", err)
	}
	return p, nil
}

// ConsumerLag reads the backlog of a durable consumer from the server when
// asked, so that it is current even while nothing is delivered (the
// processor's Stats().Lag is the pending count of the latest delivery and
// goes stale when deliveries stop). It is safe for concurrent use.
type ConsumerLag struct {
	js      jetstream.JetStream
	stream  string
	durable string
}

// NewConsumerLag returns the ConsumerLag of the consumer durable on stream.
// It does no I/O.
func NewConsumerLag(nc *nats.Conn, stream, durable string) (*ConsumerLag, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("JetStream context: %w", err)
	}
	return &ConsumerLag{js: js, stream: stream, durable: durable}, nil
}

// Lag asks the server for the consumer's info (one request) and returns
// its num_pending, the events stored but not yet delivered to any instance,
// and its num_ack_pending, those delivered but not yet acknowledged.
func (c *ConsumerLag) Lag(ctx context.Context) (pending, ackPending uint64, err error) {
	cons, err := c.js.Consumer(ctx, c.stream, c.durable)
	if err != nil {
		return 0, 0, fmt.Errorf("consumer %q on stream %q: %w", c.durable, c.stream, err)
	}
	info := cons.CachedInfo() // just fetched by Consumer
	return info.NumPending, uint64(max(info.NumAckPending, 0)), nil
}

// Module provides *TypeCounts, the *ConsumerLag of the durable consumer,
// and a *processor.Processor that is started with the app and stopped
// (within the stop deadline) at step shutdown.Processor: after the logger
// has drained, before the store closes. It needs JetStream storage: include
// it only then.
var Module = fx.Module("processing",
	fx.Provide(
		func() *TypeCounts { return new(TypeCounts) },
		func(nc *nats.Conn, cfg config.Config) (*ConsumerLag, error) {
			return NewConsumerLag(nc, cfg.Stream.Name, Durable)
		},
		func(lc fx.Lifecycle, seq *shutdown.Sequence, nc *nats.Conn, cfg config.Config, counts *TypeCounts, log *slog.Logger) (*processor.Processor, error) {
			ctx, cancel := context.WithTimeout(context.Background(), cfg.NATS.ConnectTimeout+SetUpWait)
			defer cancel()
			p, err := New(ctx, nc, cfg, counts, log)
			if err != nil {
				return nil, err
			}
			lc.Append(fx.StartHook(p.Start))
			seq.Add(shutdown.Processor, processorStop(p))
			return p, nil
		},
	),
	// The processor runs whether or not anything else asks for it.
	fx.Invoke(func(*processor.Processor) {}),
)

// processorStop stops p within ctx and then waits, as far as ctx allows, for
// what Stop left running (a handler ignoring its ctx), so that it ends
// before the store closes. A processor that never started (fx undoing a
// failed start) has nothing to stop.
func processorStop(p *processor.Processor) func(context.Context) error {
	return func(ctx context.Context) error {
		err := p.Stop(ctx)
		if errors.Is(err, processor.ErrNotStarted) {
			return nil
		}
		select {
		case <-p.Done():
			return err
		case <-ctx.Done():
			return errors.Join(err, fmt.Errorf("processor still running at the stop deadline: %w", ctx.Err()))
		}
	}
}
