package filestore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"sync"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// Store is an event store on local disk, writing under one environment and
// service. Stores opened on the same directory in one process share one log
// (see the package documentation); each must be closed.
type Store struct {
	log  *log
	pair *pair
	cfg  config

	closeOnce sync.Once
	done      chan struct{}
}

var (
	_ ports.Store  = (*Store)(nil)
	_ logger.Spill = (*Store)(nil)
)

// Open opens (creating it if needed) the event log in dir and returns a
// Store writing under the configured environment and service. Opening
// rebuilds the in-memory index by reading every segment once, cuts off a
// torn last line, and applies retention. A directory already open in this
// process is shared: the new Store must then be given the same segment
// size, sync and retention options (environment, service and logger may
// differ), else Open fails with an error wrapping ports.ErrInvalid. A
// directory open in another process fails with ports.ErrUnavailable.
func Open(dir string, opts ...Option) (*Store, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, fmt.Errorf("filestore: %w: directory is empty", ports.ErrInvalid)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("filestore: directory %q: %w", dir, err)
	}
	registry.Lock()
	defer registry.Unlock()
	l := registry.logs[abs]
	if l != nil && !l.cfg.sameLog(&cfg) {
		return nil, fmt.Errorf("filestore: %w: %s is already open with segment size %d, sync %v, max age %v, max bytes %d, max events %d",
			ports.ErrInvalid, abs, l.cfg.segmentSize, l.cfg.sync, l.cfg.maxAge, l.cfg.maxBytes, l.cfg.maxEvents)
	}
	if l == nil {
		if l, err = openLog(abs, cfg); err != nil {
			return nil, err
		}
		registry.logs[abs] = l
	}
	l.mu.Lock()
	p, err := l.pairFor(cfg.env, cfg.svc)
	l.mu.Unlock()
	if err != nil {
		if l.refs == 0 {
			delete(registry.logs, abs)
			_ = l.close()
		}
		return nil, err
	}
	l.refs++
	return &Store{log: l, pair: p, cfg: cfg, done: make(chan struct{})}, nil
}

// Dir returns the absolute directory of the log.
func (s *Store) Dir() string { return s.log.dir }

func (s *Store) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *Store) errClosed(op string) error {
	return fmt.Errorf("filestore: %s in %s: %w", op, s.log.dir, ports.ErrClosed)
}

// StoreBatch appends the events, in order, with one write and (with
// SyncAlways) one fsync. Events whose id the store already retains count as
// stored and are not written again. Invalid events are left out: the error
// is then a *logger.BatchError whose entries wrap ports.ErrInvalid.
func (s *Store) StoreBatch(ctx context.Context, events []event.JobEvent) error {
	if s.isClosed() {
		return s.errClosed("store batch")
	}
	if len(events) == 0 {
		return nil
	}
	return s.log.append(ctx, s.pair, events)
}

// Store stores one event.
func (s *Store) Store(ctx context.Context, ev event.JobEvent) error {
	err := s.StoreBatch(ctx, []event.JobEvent{ev})
	if be, ok := errors.AsType[*logger.BatchError](err); ok && len(be.Errs) == 1 {
		return be.Errs[0]
	}
	return err
}

// Job returns the job's events of the store's environment and service in
// store order. It reads the job index, never the whole log.
func (s *Store) Job(ctx context.Context, jobID string, page event.Page) ([]event.JobEvent, error) {
	if err := s.check(ctx, "job"); err != nil {
		return nil, err
	}
	if err := event.CheckToken("job_id", jobID); err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	if err := checkPage(page); err != nil {
		return nil, err
	}
	q := s.ownQuery()
	q.job = jobID
	return s.log.events(&q, page)
}

// ByType returns the events of type t of the store's environment and
// service in store order, from the type index.
func (s *Store) ByType(ctx context.Context, t event.JobEventType, page event.Page) ([]event.JobEvent, error) {
	if err := s.check(ctx, "by type"); err != nil {
		return nil, err
	}
	if !t.Valid() {
		return nil, fmt.Errorf("filestore: %w: event type %q is not one of the 24 known types", ports.ErrInvalid, t)
	}
	if err := checkPage(page); err != nil {
		return nil, err
	}
	q := s.ownQuery()
	q.types = make([]bool, len(typeByIndex))
	q.types[typeIndex[t]] = true
	return s.log.events(&q, page)
}

// ownQuery matches the store's own environment and service.
func (s *Store) ownQuery() query {
	q := query{pairs: make([]bool, int(s.pair.id)+1)}
	q.pairs[s.pair.id] = true
	return q
}

// List returns the records matching f, across every environment and
// service in the directory unless f names them.
func (s *Store) List(ctx context.Context, f event.Filter, page event.Page) ([]event.Record, error) {
	if err := s.check(ctx, "list"); err != nil {
		return nil, err
	}
	if err := checkFilter(&f); err != nil {
		return nil, err
	}
	if err := checkPage(page); err != nil {
		return nil, err
	}
	return s.log.list(&f, page)
}

// Count returns how many events List would return without a page.
func (s *Store) Count(ctx context.Context, f event.Filter) (int, error) {
	if err := s.check(ctx, "count"); err != nil {
		return 0, err
	}
	if err := checkFilter(&f); err != nil {
		return 0, err
	}
	return s.log.count(&f)
}

// DeleteJob deletes the job's events (of the store's environment and
// service) stored so far: a tombstone line in deleted.jsonl, synced unless
// the policy is SyncNever. It returns how many it deleted, 0 for an unknown
// job.
func (s *Store) DeleteJob(ctx context.Context, jobID string) (int, error) {
	if err := s.check(ctx, "delete job"); err != nil {
		return 0, err
	}
	if err := event.CheckToken("job_id", jobID); err != nil {
		return 0, fmt.Errorf("filestore: %w", err)
	}
	return s.log.deleteJob(s.pair, jobID)
}

// Cleanup applies the retention (age, bytes, events) now, removes segment
// files that hold no retained event, and returns how many events it
// removed. MaxBytes and MaxEvents are also enforced on every append, so
// Cleanup mostly matters for MaxAge.
func (s *Store) Cleanup(ctx context.Context) (int, error) {
	if err := s.check(ctx, "cleanup"); err != nil {
		return 0, err
	}
	return s.log.cleanup()
}

// Stream yields the records matching f as they are stored, from the point
// opts says, until ctx ends, the consumer stops, or the store closes (then
// an error wrapping ports.ErrClosed is yielded last). A pull loop over the
// sequence: no event stored after the stream started is missed, and
// history then live has no gap and no duplicate. opts.FromTime is the store
// time (when the batch was appended), not the event timestamp; see the
// package documentation.
func (s *Store) Stream(ctx context.Context, f event.Filter, opts event.StreamOptions) iter.Seq2[event.Record, error] {
	if s.isClosed() {
		return func(yield func(event.Record, error) bool) { yield(event.Record{}, s.errClosed("stream")) }
	}
	return s.log.stream(ctx, s.done, f, opts)
}

// Health reports the log's size and counters. It fails only when the store
// is closed.
func (s *Store) Health(ctx context.Context) (ports.Health, error) {
	if err := s.check(ctx, "health"); err != nil {
		return ports.Health{}, err
	}
	st := s.Stats()
	return ports.Health{
		OK:      true,
		Backend: "file",
		LastSeq: st.NextSeq - 1,
		Detail: map[string]any{
			"dir":          s.log.dir,
			"environment":  s.pair.env,
			"service":      s.pair.svc,
			"sync":         s.cfg.sync.String(),
			"segments":     st.Segments,
			"events":       st.Events,
			"bytes":        st.Bytes,
			"first_seq":    st.FirstSeq,
			"next_seq":     st.NextSeq,
			"last_seq":     st.NextSeq - 1,
			"torn_lines":   st.TornLines,
			"corrupt":      st.CorruptLines,
			"duplicates":   st.Duplicates,
			"removed":      st.Removed,
			"replayed":     st.Replayed,
			"sync_errors":  st.SyncErrors,
			"time_errors":  st.StoreTimeErrors,
			"tombstones":   st.Tombstones,
			"segment_size": s.cfg.segmentSize,
		},
	}, nil
}

// Stats are the counters of a directory's log.
type Stats struct {
	Segments     int    // segment files
	Events       int    // retained events
	Bytes        int64  // encoded size of the retained events
	FirstSeq     uint64 // first retained seq
	NextSeq      uint64 // seq of the next event
	Tombstones   int    // DeleteJob records still in deleted.jsonl
	TornLines    uint64 // torn last lines cut off on Open
	CorruptLines uint64 // lines (or the head file) that did not decode, skipped
	Duplicates   uint64 // ids found on two lines on Open: the earlier line (removed before the later was written) is dropped
	Removed      uint64 // events removed by retention
	Replayed     uint64 // events removed by Replay
	SyncErrors   uint64 // failed background fsyncs (SyncInterval)
	// StoreTimeErrors counts failed reads and writes of store-time files
	// (<base>.times); FromTime then uses a segment's modification time.
	StoreTimeErrors uint64
}

// Stats returns the log's counters; it works after Close too.
func (s *Store) Stats() Stats {
	l := s.log
	l.mu.RLock()
	defer l.mu.RUnlock()
	return Stats{
		Segments: len(l.segs), Events: l.liveCount, Bytes: l.liveBytes,
		FirstSeq: l.first, NextSeq: l.next, Tombstones: len(l.tombs),
		TornLines: l.torn.Load(), CorruptLines: l.corrupt.Load(), Duplicates: l.dups.Load(),
		Removed: l.removed.Load(), Replayed: l.replayed.Load(), SyncErrors: l.syncErrs.Load(),
		StoreTimeErrors: l.timeErrs.Load(),
	}
}

func (s *Store) check(ctx context.Context, op string) error {
	if s.isClosed() {
		return s.errClosed(op)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filestore: %s: %w", op, err)
	}
	return nil
}

// Close closes this Store; the last Store of a directory also syncs (unless
// SyncNever), closes the files and releases the directory. Streams end with
// an error wrapping ports.ErrClosed. Calling Close again returns nil.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		registry.Lock()
		defer registry.Unlock()
		l := s.log
		l.refs--
		if l.refs == 0 {
			delete(registry.logs, l.dir)
			err = l.close()
		}
	})
	return err
}
