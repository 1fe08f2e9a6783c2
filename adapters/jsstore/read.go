package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/subject"
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
	err = s.retryRead(ctx, func(ctx context.Context) error {
		out = nil
		return s.readN(ctx, readSpec{filters: filters, page: page, batch: s.jobBatch}, func(r event.Record) { out = append(out, r.Event) })
	})
	if err != nil {
		return nil, fmt.Errorf("jsstore: job %s: %w", jobID, err)
	}
	return out, nil
}

// ByType returns the events of type t of every job in the Store's
// environment and service, in store order, windowed by page. A page with
// After starts its read at that sequence.
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
	err = s.retryRead(ctx, func(ctx context.Context) error {
		out = nil
		return s.read(ctx, readSpec{filters: []string{filter}, page: page}, func(r event.Record) { out = append(out, r.Event) })
	})
	if err != nil {
		return nil, fmt.Errorf("jsstore: by type %s: %w", t, err)
	}
	return out, nil
}

// List returns the records matching f, in store order, windowed by page.
// Environment, service, job and types select filter subjects (literal
// subjects when f names a job in one environment and service); queue,
// worker and the time range are applied to what is read. The read starts
// at page.After, else at the store time Since minus the clock skew margin
// (WithClockSkew): a window costs what it holds from its start on, not the
// stream before it. It ends when the page is full, at page.Before, or, with
// WithMaxLateness, at the store time Until plus the skew and the lateness.
//
// A filter on queue or worker is refused with a *ports.ScanError when the
// part of the stream it would read (its filter subjects within its time
// window) holds more than the scan bound (WithMaxScan): before anything is
// read, and again if a read meets more than that without filling its page.
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
	err = s.retryRead(ctx, func(ctx context.Context) error {
		out = nil
		spec := s.listSpec(filters, &f, page)
		if f.Queue != "" || f.Worker != "" {
			if err := s.checkScan(ctx, &spec, residue(&f, false)); err != nil {
				return err
			}
		}
		return s.read(ctx, spec, func(r event.Record) { out = append(out, r) })
	})
	if err != nil {
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
// matching records are read and counted, and the garbage is not: within the
// time window only, and refused with a *ports.ScanError when that part of
// the stream holds more than the scan bound (WithMaxScan).
func (s *Store) Count(ctx context.Context, f event.Filter) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	filters, err := s.filterSubjects(f)
	if err != nil {
		return 0, fmt.Errorf("jsstore: count: %w", err)
	}
	n := 0
	err = s.retryRead(ctx, func(ctx context.Context) error {
		n = 0
		if f.Queue == "" && f.Worker == "" && f.Since.IsZero() && f.Until.IsZero() {
			p, err := s.pending(ctx, filters)
			n = int(p)
			return err
		}
		spec := s.listSpec(filters, &f, event.Page{})
		if err := s.checkScan(ctx, &spec, residue(&f, true)); err != nil {
			return err
		}
		return s.read(ctx, spec, func(event.Record) { n++ })
	})
	if err != nil {
		return 0, fmt.Errorf("jsstore: count: %w", err)
	}
	return n, nil
}

// readSpec is one read of the stream.
type readSpec struct {
	filters []string
	f       *event.Filter // applied to every record; nil: all match
	page    event.Page
	since   time.Time // store time to start at when page.After is 0 (zero: the start)
	until   time.Time // store time after which nothing can match (zero: none)
	batch   int       // messages a direct get request asks for; 0: single gets
	// budget bounds the messages read without filling the page (0: no
	// bound); scanErr describes the refusal when it is exceeded.
	budget  int
	scanErr *ports.ScanError
}

// listSpec is the read of f's filter subjects in f's time window.
func (s *Store) listSpec(filters []string, f *event.Filter, page event.Page) readSpec {
	spec := readSpec{filters: filters, f: f, page: page, since: s.startTime(*f)}
	if !f.Until.IsZero() && s.cfg.lateness > 0 {
		spec.until = f.Until.Add(s.cfg.clockSkew + s.cfg.lateness)
	}
	return spec
}

// residue names the part of f its filter subjects cannot select (the
// cause of a scan) and what would narrow it. count: the time window is part
// of it too (a count must read the whole window).
func residue(f *event.Filter, count bool) *ports.ScanError {
	var what []string
	if f.Queue != "" {
		what = append(what, "queue")
	}
	if f.Worker != "" {
		what = append(what, "worker")
	}
	if count && (!f.Since.IsZero() || !f.Until.IsZero()) {
		what = append(what, "time window")
	}
	e := &ports.ScanError{What: strings.Join(what, " and ") + " filter"}
	var fix []string
	if f.Since.IsZero() && f.Until.IsZero() {
		e.NoWindow = true
		fix = append(fix, "since=")
	} else {
		fix = append(fix, "a narrower since=/until=")
	}
	if len(f.Types) == 0 {
		fix = append(fix, "type=")
	}
	if f.JobID == "" {
		fix = append(fix, "job=")
	}
	e.Fix = strings.Join(fix, " or ")
	return e
}

// checkScan refuses spec when the messages it would read exceed the scan
// bound, and otherwise gives it that budget. The estimate is the smaller
// of the filter subjects' message count (the server's subject index) and,
// for a time window, the number of stream sequences in it.
func (s *Store) checkScan(ctx context.Context, spec *readSpec, e *ports.ScanError) error {
	if s.cfg.maxScan == 0 {
		return nil
	}
	e.Bound = s.cfg.maxScan
	spec.budget, spec.scanErr = s.cfg.maxScan, e
	n, err := s.pending(ctx, spec.filters)
	if err != nil {
		return err
	}
	if n > uint64(s.cfg.maxScan) && (!spec.since.IsZero() || !spec.until.IsZero()) {
		span, err := s.span(ctx, spec.since, spec.until)
		if err != nil {
			return err
		}
		n = min(n, span)
	}
	if n > uint64(s.cfg.maxScan) {
		e.Estimate = n
		return e
	}
	return nil
}

// span returns how many stream sequences lie between store times since
// and until (zero: the stream's start or end): stream info, and a direct
// get by start time for each bound given.
func (s *Store) span(ctx context.Context, since, until time.Time) (uint64, error) {
	ctx, cancel := s.requestTimeout(ctx)
	defer cancel()
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", classify(err))
	}
	first, last := info.State.FirstSeq, info.State.LastSeq+1
	if !since.IsZero() {
		if first, err = s.seqAt(ctx, since, last); err != nil {
			return 0, err
		}
	}
	if !until.IsZero() {
		if last, err = s.seqAt(ctx, until, last); err != nil {
			return 0, err
		}
	}
	if last < first {
		return 0, nil
	}
	return last - first, nil
}

// seqAt returns the sequence of the first message stored at or after t,
// or end when there is none.
func (s *Store) seqAt(ctx context.Context, t time.Time, end uint64) (uint64, error) {
	u := t.UTC()
	body, _ := json.Marshal(&getRequest{StartTime: &u})
	resp, err := s.nc.RequestWithContext(ctx, s.apiDirectGet, body)
	if err != nil {
		return 0, fmt.Errorf("find the sequence at %s: %w", t.Format(time.RFC3339Nano), classify(err))
	}
	switch status := resp.Header.Get("Status"); status {
	case "":
		seq, err := strconv.ParseUint(resp.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("find the sequence at %s: answer without a valid %s header: %w", t.Format(time.RFC3339Nano), jetstream.SequenceHeader, err)
		}
		return seq, nil
	case "404":
		return end, nil
	case "503":
		return 0, fmt.Errorf("%w: %s %s", ports.ErrUnavailable, status, resp.Header.Get("Description"))
	default:
		return 0, fmt.Errorf("find the sequence at %s: status %s %s", t.Format(time.RFC3339Nano), status, resp.Header.Get("Description"))
	}
}

// read is readN with batched gets, asking for no more than the page can
// take when (nearly) every message read is taken: no queue or worker to
// skip on, no skew margin before a start time.
func (s *Store) read(ctx context.Context, spec readSpec, fn func(event.Record)) error {
	spec.batch = readBatch
	// A read from a start time first skips the clock skew margin: keep the
	// full batch for it.
	byTime := !spec.since.IsZero() && spec.page.After == 0
	if spec.page.Limit > 0 && !byTime && (spec.f == nil || (spec.f.Queue == "" && spec.f.Worker == "")) {
		spec.batch = min(spec.batch, spec.page.Take())
	}
	return s.readN(ctx, spec, fn)
}

// pending returns how many stored messages match filters, as counted by the
// server from its subject index: the pending count of a consumer on filters
// (created, read and deleted; two round trips), or, with countByDirectGet,
// the Nats-Num-Pending headers of one-message direct gets.
func (s *Store) pending(ctx context.Context, filters []string) (uint64, error) {
	ctx, cancel := s.requestTimeout(ctx)
	defer cancel()
	if len(filters) == 1 && filters[0] == subject.StreamFilter() {
		// The whole stream: its message count, O(1) on the server, where a
		// consumer on the filter would match every subject (150 ms on a 1M
		// stream of distinct subjects).
		info, err := s.stream.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("stream info: %w", classify(err))
		}
		return info.State.Msgs, nil
	}
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

// readN runs spec: it reads spec.filters from page.After+1 (or store time
// spec.since), decodes each message, keeps those spec.f matches within the
// page's sequence bounds, and hands the page's window of them to fn. It
// stops at page.Before, at the first message stored after spec.until, when
// the page is full, or with spec.scanErr when more than spec.budget
// messages were read.
func (s *Store) readN(ctx context.Context, spec readSpec, fn func(event.Record)) error {
	page := spec.page
	if page.Empty() || page.After == ^uint64(0) {
		return nil
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	since := spec.since
	if page.After > 0 {
		since = time.Time{}
	}
	batch := spec.batch
	if singleGets(spec, since) {
		batch = 0
	}
	sc, err := s.newScan(spec.filters, page.After+1, since, batch)
	if err != nil {
		return err
	}
	defer sc.close()
	k := event.NewSkipper(page)
	var stop error
	read := 0
	err = sc.each(ctx, func(m rawMsg) bool {
		if page.Before > 0 && m.seq >= page.Before {
			return false
		}
		if !spec.until.IsZero() && m.storedAt().After(spec.until) {
			return false
		}
		if read++; spec.budget > 0 && read > spec.budget {
			e := *spec.scanErr
			e.Estimate = uint64(read)
			stop = &e
			return false
		}
		rec, ok := s.record(m.seq, m.subject, m.data)
		if !ok || (spec.f != nil && !spec.f.Match(rec.Environment, rec.Service, &rec.Event)) {
			return true
		}
		take, more, err := k.Offer(rec.Seq)
		if err != nil {
			stop = err
			return false
		}
		if take {
			fn(rec)
		}
		return more
	})
	if err != nil {
		return err
	}
	return stop
}

// singlePage is the largest page a read of a wildcard filter from the
// middle of the stream fetches with single direct gets.
const singlePage = 256

// singleGets reports whether spec is better read with single direct gets:
// a small page, every message of which is taken (no queue or worker to
// skip on), of a wildcard filter narrower than the whole stream, starting
// in the middle of the stream. The server answers each batched request of
// such a filter with a pending count that walks its subject index or the
// blocks after the start (tens to hundreds of milliseconds on a 1M stream
// of distinct subjects, docs/performance.md); a single get only finds the
// next message, and the page costs a round trip per event instead.
func singleGets(spec readSpec, since time.Time) bool {
	if spec.page.Limit == 0 || spec.page.Take() > singlePage || (spec.page.After == 0 && since.IsZero()) {
		return false
	}
	if spec.f != nil && (spec.f.Queue != "" || spec.f.Worker != "") {
		return false
	}
	for _, f := range spec.filters {
		if wildcard(f) && serverFilter(f) != ">" {
			return true
		}
	}
	return false
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

// FindJob returns where jobID has events, from the server's subject index:
// one stream info request listing the subjects "naq.events.*.*.{job}.*"
// with their message counts. No message is read.
func (s *Store) FindJob(ctx context.Context, jobID string) ([]ports.JobLocation, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	filter, err := s.scheme.FromFilter(event.Filter{JobID: jobID})
	if err != nil {
		return nil, fmt.Errorf("jsstore: find job: %w", err)
	}
	var info *jetstream.StreamInfo
	err = s.retryRead(ctx, func(ctx context.Context) error {
		ctx, cancel := s.requestTimeout(ctx)
		defer cancel()
		info, err = s.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
		return classify(err)
	})
	if err != nil {
		return nil, fmt.Errorf("jsstore: find job %s: subjects of %s: %w", jobID, filter, err)
	}
	out := []ports.JobLocation{}
	for subj, n := range info.State.Subjects {
		p, err := s.scheme.Parse(subj)
		if err != nil || p.JobID != jobID {
			continue
		}
		i := slices.IndexFunc(out, func(l ports.JobLocation) bool {
			return l.Environment == p.Environment && l.Service == p.Service
		})
		if i < 0 {
			out = append(out, ports.JobLocation{Environment: p.Environment, Service: p.Service})
			i = len(out) - 1
		}
		out[i].Events += int(n)
	}
	ports.SortLocations(out)
	return out, nil
}

var _ ports.JobFinder = (*Store)(nil)

// Names returns the environment and service of the Store (WithEnvironment,
// WithService).
func (s *Store) Names() (environment, service string) { return s.cfg.env, s.cfg.svc }

var _ ports.Named = (*Store)(nil)
