package jsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// readBatch is how many messages one direct get request asks for.
const readBatch = 1024

// Job returns the events of jobID in the Store's environment and service, in
// store order, windowed by page. It reads the job's 24 literal subjects at
// once with batched direct gets and merges them by sequence: no consumer,
// no wildcard filter. A job with no events gives an empty result.
func (s *Store) Job(ctx context.Context, jobID string, page event.Page) ([]event.JobEvent, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := checkPage(page); err != nil {
		return nil, err
	}
	filters, err := s.jobSubjects(s.cfg.env, s.cfg.svc, jobID, nil)
	if err != nil {
		return nil, fmt.Errorf("jsstore: job: %w", err)
	}
	var out []event.JobEvent
	err = s.readN(ctx, filters, time.Time{}, nil, page, s.jobBatch, func(r event.Record) { out = append(out, r.Event) })
	if err != nil {
		return nil, fmt.Errorf("jsstore: job %s: %w", jobID, err)
	}
	return out, nil
}

// ByType returns the events of type t of every job in the Store's
// environment and service, in store order, windowed by page.
func (s *Store) ByType(ctx context.Context, t event.JobEventType, page event.Page) ([]event.JobEvent, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := checkPage(page); err != nil {
		return nil, err
	}
	filter, err := s.scheme.Type(s.cfg.env, s.cfg.svc, t)
	if err != nil {
		return nil, fmt.Errorf("jsstore: by type: %w", err)
	}
	var out []event.JobEvent
	err = s.read(ctx, []string{filter}, time.Time{}, nil, page, func(r event.Record) { out = append(out, r.Event) })
	if err != nil {
		return nil, fmt.Errorf("jsstore: by type %s: %w", t, err)
	}
	return out, nil
}

// List returns the records matching f, in store order, windowed by page.
// Environment, service, job and types select filter subjects (literal
// subjects when f names a job in one environment and service); queue,
// worker and the time range are applied to what is read. Since also makes
// the read start at the store time Since minus the clock skew margin
// (WithClockSkew).
func (s *Store) List(ctx context.Context, f event.Filter, page event.Page) ([]event.Record, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := checkPage(page); err != nil {
		return nil, err
	}
	filters, err := s.filterSubjects(f)
	if err != nil {
		return nil, fmt.Errorf("jsstore: list: %w", err)
	}
	var out []event.Record
	if err := s.read(ctx, filters, s.startTime(f), &f, page, func(r event.Record) { out = append(out, r) }); err != nil {
		return nil, fmt.Errorf("jsstore: list: %w", err)
	}
	return out, nil
}

// Count returns how many stored messages match f. When f sets neither
// Queue, Worker, Since nor Until, the server counts from its subject index
// (the pending count of a short-lived consumer on f's subjects, made and
// deleted in two round trips) and no message is read: such a count includes
// any stored message on a matching subject that List skips as undecodable
// (counted in Stats.DecodeErrors when a read meets it), so it equals
// len(List(f, Page{})) when the stream holds only valid events. Otherwise the
// matching records are read and counted, and the garbage is not.
func (s *Store) Count(ctx context.Context, f event.Filter) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	filters, err := s.filterSubjects(f)
	if err != nil {
		return 0, fmt.Errorf("jsstore: count: %w", err)
	}
	if f.Queue == "" && f.Worker == "" && f.Since.IsZero() && f.Until.IsZero() {
		n, err := s.pending(ctx, filters)
		if err != nil {
			return 0, fmt.Errorf("jsstore: count: %w", err)
		}
		return int(n), nil
	}
	n := 0
	if err := s.read(ctx, filters, s.startTime(f), &f, event.Page{}, func(event.Record) { n++ }); err != nil {
		return 0, fmt.Errorf("jsstore: count: %w", err)
	}
	return n, nil
}

// read scans filters from the start of the stream (or from store time
// since), decodes each message, keeps those f matches (all when f is nil)
// and hands the page's window of them to fn.
func (s *Store) read(ctx context.Context, filters []string, since time.Time, f *event.Filter, page event.Page, fn func(event.Record)) error {
	batch := readBatch
	if f == nil && page.Limit > 0 {
		batch = min(batch, page.Offset+page.Limit)
	}
	return s.readN(ctx, filters, since, f, page, batch, fn)
}

// pending returns how many stored messages match filters, as counted by the
// server from its subject index: the pending count of a consumer on filters
// (created, read and deleted; two round trips), or, with countByDirectGet,
// the Nats-Num-Pending headers of one-message direct gets.
func (s *Store) pending(ctx context.Context, filters []string) (uint64, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if s.countByDirectGet {
		sc, err := s.newScan(filters, 1, time.Time{}, 1)
		if err != nil {
			return 0, err
		}
		defer sc.close()
		return sc.count(ctx)
	}
	cons, err := s.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubjects:    filters,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: streamInactiveThreshold,
	})
	if err != nil {
		return 0, fmt.Errorf("count consumer: %w", classify(err))
	}
	info := cons.CachedInfo()
	if err := s.stream.DeleteConsumer(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		s.log.Debug("delete count consumer", "consumer", info.Name, "error", err)
	}
	return info.NumPending, nil
}

// readN is read with batch messages a request (0: single gets).
func (s *Store) readN(ctx context.Context, filters []string, since time.Time, f *event.Filter, page event.Page, batch int, fn func(event.Record)) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	sc, err := s.newScan(filters, 1, since, batch)
	if err != nil {
		return err
	}
	defer sc.close()
	skipped, taken := 0, 0
	return sc.each(ctx, func(m rawMsg) bool {
		rec, ok := s.record(m.seq, m.subject, m.data)
		if !ok || (f != nil && !f.Match(rec.Environment, rec.Service, &rec.Event)) {
			return true
		}
		if skipped < page.Offset {
			skipped++
			return true
		}
		fn(rec)
		taken++
		return page.Limit == 0 || taken < page.Limit
	})
}

// record decodes one stored message. A message that does not decode, or
// whose subject names another job or type than its document (it would land
// in the wrong job's history), is counted, logged and reported as not ok.
func (s *Store) record(seq uint64, subj string, data []byte) (event.Record, bool) {
	rec, err := s.decode(seq, subj, data)
	if err == nil {
		return rec, true
	}
	n := s.decodeErrors.Add(1)
	s.log.Warn("skipping stored message that is not a job event",
		"seq", seq, "subject", subj, "size", len(data), "error", err, "decode_errors", n)
	return event.Record{}, false
}

func (s *Store) decode(seq uint64, subj string, data []byte) (event.Record, error) {
	parts, err := s.scheme.Parse(subj)
	if err != nil {
		return event.Record{}, err
	}
	ev, err := event.Decode(data)
	if err != nil {
		return event.Record{}, err
	}
	if ev.JobID != parts.JobID || ev.Type != parts.Type {
		return event.Record{}, fmt.Errorf("%w: subject says job %q type %q, the document job %q type %q",
			event.ErrInvalid, parts.JobID, parts.Type, ev.JobID, ev.Type)
	}
	return event.Record{Seq: seq, Environment: parts.Environment, Service: parts.Service, Event: ev}, nil
}

// filterSubjects returns non-overlapping filter subjects selecting what f
// can match on environment, service, job and types.
func (s *Store) filterSubjects(f event.Filter) ([]string, error) {
	if f.JobID != "" && f.Environment != "" && f.Service != "" {
		return s.jobSubjects(f.Environment, f.Service, f.JobID, f.Types)
	}
	return s.scheme.FromFilterAll(f)
}

// jobSubjects returns the literal subjects of a job: one per type of types,
// or all 24 when types is empty.
func (s *Store) jobSubjects(env, svc, jobID string, types []event.JobEventType) ([]string, error) {
	if len(types) == 0 {
		types = event.Types()
	}
	out := make([]string, 0, len(types))
	seen := make(map[event.JobEventType]bool, len(types))
	for _, t := range types {
		if seen[t] {
			continue
		}
		seen[t] = true
		subj, err := s.scheme.JobType(env, svc, jobID, t)
		if err != nil {
			return nil, err
		}
		out = append(out, subj)
	}
	return out, nil
}

// startTime is the store time a read of f may start at.
func (s *Store) startTime(f event.Filter) time.Time {
	if f.Since.IsZero() {
		return time.Time{}
	}
	return f.Since.Add(-s.cfg.clockSkew)
}

func checkPage(p event.Page) error {
	if p.Limit < 0 {
		return fmt.Errorf("jsstore: %w: page limit %d is negative", ports.ErrInvalid, p.Limit)
	}
	if p.Offset < 0 {
		return fmt.Errorf("jsstore: %w: page offset %d is negative", ports.ErrInvalid, p.Offset)
	}
	return nil
}
