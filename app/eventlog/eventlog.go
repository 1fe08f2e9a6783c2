// Package eventlog assembles the service's buffered event logger
// (domain/logger) over the configured store, with a disk spill for JetStream
// outages and a timing decorator that reports every batch to the metrics.
package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"go.uber.org/fx"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/shutdown"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// BatchObserver is told about every store call the logger makes (StoreBatch
// and, pipelined, SendBatch): the batch, how long the call took (a
// pipelined one from its send to its confirmation, overlapping the call
// before it) and its error. It must be fast and must not retain events.
type BatchObserver interface {
	ObserveBatch(events []event.JobEvent, took time.Duration, err error)
}

// TimedStore is a logger.Store decorator that times every batch for a
// BatchObserver.
type TimedStore struct {
	Store    logger.Store
	Observer BatchObserver
	now      func() time.Time
}

var _ logger.Store = (*TimedStore)(nil)

// StoreBatch implements logger.Store.
func (t *TimedStore) StoreBatch(ctx context.Context, events []event.JobEvent) error {
	start := t.clock()
	err := t.Store.StoreBatch(ctx, events)
	t.Observer.ObserveBatch(events, t.clock().Sub(start), err)
	return err
}

// clock is the time now, from the clock tests set or time.Now.
func (t *TimedStore) clock() time.Time {
	if t.now == nil {
		return time.Now()
	}
	return t.now()
}

// timedPipeliner is TimedStore over a store that pipelines (jsstore with
// fast-ingest batches): it forwards SendBatch, so that the logger keeps its
// second call in flight through the decorator, and times each pipelined
// batch from its send to the end of its wait.
type timedPipeliner struct {
	*TimedStore
	p logger.Pipeliner
}

var _ logger.Pipeliner = timedPipeliner{}

// Timed returns store wrapped in a TimedStore reporting to o, which is also
// a logger.Pipeliner when store is one.
func Timed(store logger.Store, o BatchObserver) logger.Store {
	t := &TimedStore{Store: store, Observer: o}
	if p, ok := store.(logger.Pipeliner); ok {
		return timedPipeliner{TimedStore: t, p: p}
	}
	return t
}

// setNow replaces the clock, for tests.
func (t *TimedStore) setNow(now func() time.Time) { t.now = now }

// SendBatch implements logger.Pipeliner.
func (t timedPipeliner) SendBatch(ctx context.Context, events []event.JobEvent, chained, more bool) func() error {
	start := t.clock()
	wait := t.p.SendBatch(ctx, events, chained, more)
	return func() error {
		err := wait()
		t.Observer.ObserveBatch(events, t.clock().Sub(start), err)
		return err
	}
}

// SpillDir is where the logger spills below cfg.DataDir.
func SpillDir(cfg config.Config) string { return filepath.Join(cfg.DataDir, "spill") }

// Options returns the logger options of cfg.Logger.
func Options(cfg config.Logger, log *slog.Logger) []logger.Option {
	return []logger.Option{
		logger.WithBatchSize(cfg.BatchSize),
		logger.WithFlushInterval(cfg.FlushInterval),
		logger.WithMaxBufferSize(cfg.MaxBuffer),
		logger.WithSpillLimit(cfg.SpillMax),
		logger.WithPipelineDepth(cfg.PipelineDepth),
		logger.WithSlog(log),
	}
}

// Params are the dependencies of the module's logger.
type Params struct {
	fx.In
	Shutdown *shutdown.Sequence
	Config   config.Config
	Log      *slog.Logger
	Store    ports.Store
	Observer BatchObserver `optional:"true"`
}

// Module provides *logger.Logger writing to the graph's ports.Store (through
// TimedStore when a BatchObserver is in the graph). With JetStream storage
// and cfg.Logger.Spill, events the store cannot take go to a filestore spill
// in DataDir/spill and are replayed when NATS is back; memory and file
// storage are local and need none. At step shutdown.Logger (after intake
// stops, while the processor still consumes) the logger is closed within
// the stop deadline (what it cannot store by then is spilled or counted as
// dropped), then the spill is closed.
var Module = fx.Module("eventlog",
	fx.Provide(New),
)

// New builds the logger for the fx graph; see Module.
func New(p Params) (*logger.Logger, error) {
	var store logger.Store = p.Store
	if p.Observer != nil {
		store = Timed(p.Store, p.Observer)
	}
	opts := Options(p.Config.Logger, p.Log)
	if lk, ok := p.Store.(logger.Lookup); ok {
		opts = append(opts, logger.WithLookup(lk)) // TimedStore hides it
	}
	var spill *filestore.Store
	if p.Config.Logger.Spill && p.Config.Storage == config.StorageJetStream {
		dir := SpillDir(p.Config)
		s, err := filestore.Open(dir,
			filestore.WithEnvironment(p.Config.Environment),
			filestore.WithService(p.Config.Service),
			filestore.WithSlog(p.Log))
		if err != nil {
			return nil, fmt.Errorf("open the logger spill in %s (--data-dir, or --spill=false): %w", dir, err)
		}
		if n := s.Pending(); n > 0 {
			p.Log.Info("replaying spilled events", "events", n, "dir", dir)
		}
		spill = s
		opts = append(opts, logger.WithSpill(s))
	}
	l := logger.New(store, opts...)
	p.Shutdown.Add(shutdown.Logger, func(ctx context.Context) error {
		err := l.Close(ctx)
		var ce *logger.CloseError
		if errors.As(err, &ce) {
			p.Log.Warn("logger closed with events not stored", "spilled", ce.Spilled, "dropped", ce.Dropped,
				"outcome_unknown", ce.OutcomeUnknown)
		}
		if spill != nil {
			err = errors.Join(err, spill.Close())
		}
		if err != nil {
			return fmt.Errorf("drain the event logger: %w", err)
		}
		return nil
	})
	return l, nil
}
