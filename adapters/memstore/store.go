package memstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// Store is an in-memory event store, a view of a Backend under one
// environment and service. It is safe for concurrent use.
type Store struct {
	b         *Backend
	k         part
	maxAge    time.Duration
	maxEvents int
	now       func() time.Time

	closeOnce sync.Once
	done      chan struct{} // closed by Close
}

var (
	_ ports.Store     = (*Store)(nil)
	_ ports.JobFinder = (*Store)(nil)
)

// Open returns a store configured by opts; see the With functions for the
// defaults. An option value out of range is an error wrapping
// ports.ErrInvalid that names the option and the value.
func Open(opts ...Option) (*Store, error) {
	c := config{env: DefaultEnvironment, svc: DefaultService, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	if c.err != nil {
		return nil, c.err
	}
	return newStore(c), nil
}

// New is Open for options known to be valid (tests, fixed setups): it
// panics with Open's error on an invalid option value.
func New(opts ...Option) *Store {
	s, err := Open(opts...)
	if err != nil {
		panic(err)
	}
	return s
}

func newStore(c config) *Store {
	if c.backend == nil {
		c.backend = NewBackend()
	}
	return &Store{
		b:         c.backend,
		k:         part{env: c.env, svc: c.svc},
		maxAge:    c.maxAge,
		maxEvents: c.maxEvents,
		now:       c.now,
		done:      make(chan struct{}),
	}
}

func (s *Store) closed() error {
	select {
	case <-s.done:
		return fmt.Errorf("memstore: %w", ports.ErrClosed)
	default:
		return nil
	}
}

// cutoff is the store time before which events have expired, or zero.
func (s *Store) cutoff(now time.Time) time.Time {
	if s.maxAge <= 0 {
		return time.Time{}
	}
	return now.Add(-s.maxAge)
}

// Store stores one event; see StoreBatch. An invalid event is reported by an
// error wrapping ports.ErrInvalid, not a *logger.BatchError.
func (s *Store) Store(ctx context.Context, ev event.JobEvent) error {
	err := s.StoreBatch(ctx, []event.JobEvent{ev})
	if be, ok := errors.AsType[*logger.BatchError](err); ok {
		return be.Errs[0]
	}
	return err
}

// StoreBatch stores the valid events of evs in order, skipping those whose
// ID is already stored, and then applies retention. If some are invalid the
// others are still stored and the error is a *logger.BatchError marking the
// invalid ones. It never blocks on readers.
func (s *Store) StoreBatch(ctx context.Context, evs []event.JobEvent) error {
	if err := s.closed(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: store batch: %w", err)
	}
	var errs []error
	ok := make([]bool, len(evs))
	for i := range evs {
		if err := evs[i].Validate(); err != nil {
			if errs == nil {
				errs = make([]error, len(evs))
			}
			errs[i] = fmt.Errorf("memstore: event %d of %d: %w", i, len(evs), err)
			continue
		}
		ok[i] = true
	}
	now := s.now()
	s.b.mu.Lock()
	s.b.append(s.k, evs, ok, now)
	s.b.expire(s.k, s.cutoff(now), s.maxEvents)
	s.b.mu.Unlock()
	if errs != nil {
		return &logger.BatchError{Errs: errs}
	}
	return nil
}

// Job returns the events of jobID in the store's environment and service.
func (s *Store) Job(ctx context.Context, jobID string, p event.Page) ([]event.JobEvent, error) {
	if err := s.readable(ctx, p); err != nil {
		return nil, err
	}
	if err := event.CheckToken("job_id", jobID); err != nil {
		return nil, fmt.Errorf("memstore: job: %w", err)
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	var x *index
	if part := s.b.parts[s.k]; part != nil {
		x = part.jobs[jobID]
	}
	return events(x, p)
}

// ByType returns the events of type t in the store's environment and
// service.
func (s *Store) ByType(ctx context.Context, t event.JobEventType, p event.Page) ([]event.JobEvent, error) {
	if err := s.readable(ctx, p); err != nil {
		return nil, err
	}
	if _, err := event.ParseType(string(t)); err != nil {
		return nil, fmt.Errorf("memstore: by type: %w", err)
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	var x *index
	if part := s.b.parts[s.k]; part != nil {
		x = part.types[t]
	}
	return events(x, p)
}

func events(x *index, p event.Page) ([]event.JobEvent, error) {
	out := []event.JobEvent{}
	if err := x.page(p, func(e *entry) { out = append(out, clone(e.rec.Event)) }); err != nil {
		return nil, fmt.Errorf("memstore: %w", err)
	}
	return out, nil
}

// List returns the records of every store on the backend that match f.
func (s *Store) List(ctx context.Context, f event.Filter, p event.Page) ([]event.Record, error) {
	if err := s.readable(ctx, p); err != nil {
		return nil, err
	}
	if err := checkFilter(f); err != nil {
		return nil, fmt.Errorf("memstore: list: %w", err)
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	out := []event.Record{}
	x, exact := s.b.pick(f)
	if x == nil {
		return out, nil
	}
	add := func(e *entry) { out = append(out, record(e)) }
	var err error
	if exact {
		err = x.page(p, add)
	} else if !p.Empty() {
		es := x.es[x.seek(p.After+1):]
		if p.Before > 0 {
			es = es[:sort.Search(len(es), func(i int) bool { return es[i].rec.Seq >= p.Before })]
		}
		err = each(es, p, func(e *entry) bool { return f.Match(e.rec.Environment, e.rec.Service, &e.rec.Event) }, add)
	}
	if err != nil {
		return nil, fmt.Errorf("memstore: list: %w", err)
	}
	return out, nil
}

// Count returns how many records List would return for f.
func (s *Store) Count(ctx context.Context, f event.Filter) (int, error) {
	if err := s.readable(ctx, event.Page{}); err != nil {
		return 0, err
	}
	if err := checkFilter(f); err != nil {
		return 0, fmt.Errorf("memstore: count: %w", err)
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	x, exact := s.b.pick(f)
	if x == nil {
		return 0, nil
	}
	if exact {
		return x.live(), nil
	}
	n := 0
	for _, e := range x.es {
		if !e.dead && f.Match(e.rec.Environment, e.rec.Service, &e.rec.Event) {
			n++
		}
	}
	return n, nil
}

func record(e *entry) event.Record {
	r := e.rec
	r.Event = clone(r.Event)
	return r
}

// pick returns the smallest index holding every record f can match (nil if
// there is none) and whether every live entry of it matches. b.mu must be
// held.
func (b *Backend) pick(f event.Filter) (x *index, exact bool) {
	if f.Environment == "" || f.Service == "" {
		return &b.log, f.Environment == "" && f.Service == "" && rest(f, false, false)
	}
	p := b.parts[part{f.Environment, f.Service}]
	switch {
	case p == nil:
		return nil, true
	case f.JobID != "":
		return p.jobs[f.JobID], rest(f, true, false)
	case len(f.Types) == 1:
		return p.types[f.Types[0]], rest(f, false, true)
	default:
		return &p.all, rest(f, false, false)
	}
}

// rest reports whether f sets nothing beyond environment, service and, when
// allowed, the job or the types.
func rest(f event.Filter, job, types bool) bool {
	return (job || f.JobID == "") && (types || len(f.Types) == 0) &&
		f.Queue == "" && f.Worker == "" && f.Since.IsZero() && f.Until.IsZero()
}

// DeleteJob removes the events of jobID in the store's environment and
// service and returns how many it removed.
func (s *Store) DeleteJob(ctx context.Context, jobID string) (int, error) {
	if err := s.readable(ctx, event.Page{}); err != nil {
		return 0, err
	}
	if err := event.CheckToken("job_id", jobID); err != nil {
		return 0, fmt.Errorf("memstore: delete job: %w", err)
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	p := s.b.parts[s.k]
	if p == nil || p.jobs[jobID] == nil {
		return 0, nil
	}
	var doomed []*entry
	for _, e := range p.jobs[jobID].es {
		if !e.dead {
			doomed = append(doomed, e)
		}
	}
	for _, e := range doomed {
		s.b.kill(e)
	}
	return len(doomed), nil
}

// Cleanup removes the store's events past its retention and returns how
// many.
func (s *Store) Cleanup(ctx context.Context) (int, error) {
	if err := s.readable(ctx, event.Page{}); err != nil {
		return 0, err
	}
	now := s.now()
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.b.expire(s.k, s.cutoff(now), s.maxEvents), nil
}

// Health reports OK with the backend's event count and sequence.
func (s *Store) Health(ctx context.Context) (ports.Health, error) {
	if err := s.readable(ctx, event.Page{}); err != nil {
		return ports.Health{}, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	return ports.Health{
		OK:      true,
		Backend: "memory",
		LastSeq: s.b.seq,
		Created: s.b.made,
		Detail: map[string]any{
			"events":      s.b.log.live(),
			"last_seq":    s.b.seq,
			"environment": s.k.env,
			"service":     s.k.svc,
		},
	}, nil
}

// Close ends the store's streams; it leaves the backend's data to the other
// stores on it. Every later call returns ports.ErrClosed; Close itself
// always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	return nil
}

// readable checks that the store is open, ctx alive and p valid.
func (s *Store) readable(ctx context.Context, p event.Page) error {
	if err := s.closed(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	if p.Limit < 0 || p.Offset < 0 {
		return fmt.Errorf("memstore: %w: page limit %d, offset %d: neither may be negative", ports.ErrInvalid, p.Limit, p.Offset)
	}
	return nil
}

// checkFilter rejects names that are not subject tokens and unknown types.
func checkFilter(f event.Filter) error {
	for _, c := range [...]struct{ field, v string }{
		{"environment", f.Environment}, {"service", f.Service}, {"job_id", f.JobID},
	} {
		if c.v != "" {
			if err := event.CheckToken(c.field, c.v); err != nil {
				return err
			}
		}
	}
	for _, t := range f.Types {
		if _, err := event.ParseType(string(t)); err != nil {
			return err
		}
	}
	return nil
}

// FindJob returns where jobID has events, from the job index of every
// environment and service on the backend.
func (s *Store) FindJob(ctx context.Context, jobID string) ([]ports.JobLocation, error) {
	if err := s.readable(ctx, event.Page{}); err != nil {
		return nil, err
	}
	if err := event.CheckToken("job_id", jobID); err != nil {
		return nil, fmt.Errorf("memstore: find job: %w", err)
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	out := []ports.JobLocation{}
	for k, p := range s.b.parts {
		if x := p.jobs[jobID]; x != nil && x.live() > 0 {
			out = append(out, ports.JobLocation{Environment: k.env, Service: k.svc, Events: x.live()})
		}
	}
	ports.SortLocations(out)
	return out, nil
}

// Names returns the environment and service of the Store.
func (s *Store) Names() (environment, service string) { return s.k.env, s.k.svc }

var _ ports.Named = (*Store)(nil)

// DeleteService removes every event of the store's environment and
// service and returns how many it removed.
func (s *Store) DeleteService(ctx context.Context) (int, error) {
	if err := s.readable(ctx, event.Page{}); err != nil {
		return 0, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	p := s.b.parts[s.k]
	if p == nil {
		return 0, nil
	}
	var doomed []*entry
	for _, e := range p.all.es {
		if !e.dead {
			doomed = append(doomed, e)
		}
	}
	for _, e := range doomed {
		s.b.kill(e)
	}
	return len(doomed), nil
}

var _ ports.ServiceDeleter = (*Store)(nil)
