package processor

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

// fakeSource is an in-memory Source with JetStream-like redelivery: a nak'd
// message is delivered again (at once; the delay is only recorded).
type fakeSource struct {
	in      chan *fakeMsg
	mu      sync.Mutex
	log     []settlement
	beats   map[uint64]int
	changed chan struct{} // signalled on every settlement or beat
	letters []Letter
	dlqErr  error // DeadLetter fails with it while set
	dlqFail int   // DeadLetter fails this many more times
	dlqCall int   // DeadLetter calls
	// termFail makes this many Term calls fail; the message then comes
	// back as a redelivery (as after a lost Term and an expired AckWait).
	termFail int

	delivered map[uint64]uint64   // highest delivery number per sequence
	first     map[uint64]*fakeMsg // first delivery per sequence
	// With ackWait set (expireAfter), a message neither settled nor
	// reported in progress for ackWait is delivered again, as JetStream
	// does; expired counts those redeliveries per sequence, sweeps the
	// watchdog's rounds.
	ackWait time.Duration
	touched map[uint64]time.Time // unsettled sequences: last delivery or InProgress
	expired map[uint64]int
	sweeps  int
}

type settlement struct {
	seq       uint64
	delivered uint64
	kind      string // ack, nak, term
	delay     time.Duration
	reason    string
}

func newFakeSource() *fakeSource {
	return &fakeSource{in: make(chan *fakeMsg, 4096), beats: map[uint64]int{}, changed: make(chan struct{}, 1),
		delivered: map[uint64]uint64{}, first: map[uint64]*fakeMsg{}, touched: map[uint64]time.Time{}, expired: map[uint64]int{}}
}

// expireAfter turns on redelivery after d without settlement or
// in-progress report. Call it before the processor starts.
func (s *fakeSource) expireAfter(d time.Duration) { s.ackWait = d }

func (s *fakeSource) Consume(ctx context.Context, deliver func(Message)) error {
	if s.ackWait > 0 {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { s.watchdog(ctx) })
	}
	for {
		select {
		case m := <-s.in:
			s.mu.Lock()
			s.touched[m.seq] = time.Now()
			s.mu.Unlock()
			deliver(m)
		case <-ctx.Done():
			return nil
		}
	}
}

// watchdog redelivers expired messages until ctx ends.
func (s *fakeSource) watchdog(ctx context.Context) {
	t := time.NewTicker(s.ackWait / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.mu.Lock()
			var due []uint64
			for seq, last := range s.touched {
				if now.Sub(last) >= s.ackWait {
					s.touched[seq] = now
					s.expired[seq]++
					due = append(due, seq)
				}
			}
			s.sweeps++
			s.mu.Unlock()
			for _, seq := range due {
				s.redeliver(seq)
			}
			s.signal()
		}
	}
}

func (s *fakeSource) DeadLetter(_ context.Context, l Letter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dlqCall++
	if s.dlqErr != nil {
		return s.dlqErr
	}
	if s.dlqFail > 0 {
		s.dlqFail--
		return errors.New("dlq refused")
	}
	s.letters = append(s.letters, l)
	return nil
}

// publish queues an event for delivery.
func (s *fakeSource) publish(seq uint64, ev event.JobEvent) {
	s.add(&fakeMsg{src: s, seq: seq, delivered: 1, rec: event.Record{Seq: seq, Environment: "test", Service: "svc", Event: ev}})
}

func (s *fakeSource) add(m *fakeMsg) {
	s.mu.Lock()
	s.delivered[m.seq] = 1
	s.first[m.seq] = m
	s.mu.Unlock()
	s.in <- m
}

// redeliver queues the next delivery of a published sequence, as the
// server does after a nak or an expired ack wait.
func (s *fakeSource) redeliver(seq uint64) {
	s.mu.Lock()
	s.delivered[seq]++
	n, first := s.delivered[seq], s.first[seq]
	s.mu.Unlock()
	s.in <- &fakeMsg{src: s, seq: seq, delivered: n, rec: first.rec, decodeErr: first.decodeErr}
}

func (s *fakeSource) publishGarbage(seq uint64) {
	s.add(&fakeMsg{src: s, seq: seq, delivered: 1, decodeErr: fmt.Errorf("%w: not JSON", event.ErrInvalid)})
}

func (s *fakeSource) record(st settlement) {
	s.mu.Lock()
	s.log = append(s.log, st)
	s.mu.Unlock()
	s.signal()
}

func (s *fakeSource) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *fakeSource) settlements() []settlement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]settlement(nil), s.log...)
}

func (s *fakeSource) count(kind string) int {
	n := 0
	for _, st := range s.settlements() {
		if st.kind == kind {
			n++
		}
	}
	return n
}

func (s *fakeSource) expiries() (expired, sweeps int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.expired {
		expired += n
	}
	return expired, s.sweeps
}

func (s *fakeSource) deadLetters() []Letter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Letter(nil), s.letters...)
}

type fakeMsg struct {
	src       *fakeSource
	seq       uint64
	delivered uint64
	rec       event.Record
	decodeErr error
	once      sync.Once
}

func (m *fakeMsg) Delivery() Delivery {
	return Delivery{Seq: m.seq, NumDelivered: m.delivered, Pending: 7}
}
func (m *fakeMsg) Subject() string {
	return "naq.events.test.svc." + m.rec.Event.JobID + "." + string(m.rec.Event.Type)
}
func (m *fakeMsg) Data() []byte { return []byte("payload") }
func (m *fakeMsg) Decode() (event.Record, error) {
	return m.rec, m.decodeErr
}

func (m *fakeMsg) settle(st settlement) error {
	done := false
	m.once.Do(func() { done = true })
	if !done {
		panic(fmt.Sprintf("message %d settled twice (%s)", m.seq, st.kind))
	}
	st.seq, st.delivered = m.seq, m.delivered
	m.src.mu.Lock()
	delete(m.src.touched, m.seq) // a settlement of any delivery settles the sequence
	m.src.mu.Unlock()
	m.src.record(st)
	return nil
}

func (m *fakeMsg) Ack() error { return m.settle(settlement{kind: "ack"}) }
func (m *fakeMsg) Nak(d time.Duration) error {
	err := m.settle(settlement{kind: "nak", delay: d})
	m.src.redeliver(m.seq)
	return err
}
func (m *fakeMsg) Term(reason string) error {
	m.src.mu.Lock()
	fail := m.src.termFail > 0
	if fail {
		m.src.termFail--
	}
	m.src.mu.Unlock()
	if fail {
		m.src.redeliver(m.seq)
		return errors.New("term lost")
	}
	return m.settle(settlement{kind: "term", reason: reason})
}
func (m *fakeMsg) InProgress() error {
	m.src.mu.Lock()
	m.src.beats[m.seq]++
	if _, ok := m.src.touched[m.seq]; ok {
		m.src.touched[m.seq] = time.Now()
	}
	m.src.mu.Unlock()
	m.src.signal()
	return nil
}

var (
	_ Source         = (*fakeSource)(nil)
	_ DeadLetterSink = (*fakeSource)(nil)
	_ Message        = (*fakeMsg)(nil)
)

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// recv waits for a value on ch for at most 10 s.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func start(t *testing.T, src Source, opts ...Option) *Processor {
	t.Helper()
	p := New(src, append([]Option{WithBackoff(time.Millisecond, 4*time.Millisecond), WithSlog(testLogger(t))}, opts...)...)
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return p
}

// testLogger logs into the test's output, shown only for failures and -v.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func ev(job string, t event.JobEventType) event.JobEvent {
	return event.New(job, t)
}

// fakeStore is an in-memory Streamer whose Stream reads by cursor, so it
// has no gap between history and live events.
type fakeStore struct {
	mu           sync.Mutex
	recs         []event.Record
	wake         chan struct{} // closed and replaced on every append
	streams      int           // Stream calls that reached their live phase
	yielded      int
	opts         []event.StreamOptions
	afterHistory func() // called once history is read, before waiting live
}

func newFakeStore() *fakeStore { return &fakeStore{wake: make(chan struct{})} }

func (s *fakeStore) append(e event.JobEvent) {
	s.mu.Lock()
	s.recs = append(s.recs, event.Record{Seq: uint64(len(s.recs) + 1), Environment: "test", Service: "svc", Event: e})
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

func (s *fakeStore) live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams
}

func (s *fakeStore) yields() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.yielded
}

func (s *fakeStore) Stream(ctx context.Context, f event.Filter, o event.StreamOptions) iter.Seq2[event.Record, error] {
	return func(yield func(event.Record, error) bool) {
		s.mu.Lock()
		s.opts = append(s.opts, o)
		pos := len(s.recs)
		if o.History {
			pos = 0
		}
		s.mu.Unlock()
		historyDone := false
		for {
			s.mu.Lock()
			batch := append([]event.Record(nil), s.recs[pos:]...)
			pos = len(s.recs)
			wake := s.wake
			s.mu.Unlock()
			for _, r := range batch {
				if !f.Match(r.Environment, r.Service, &r.Event) {
					continue
				}
				if !yield(r, nil) {
					return
				}
				s.mu.Lock()
				s.yielded++
				s.mu.Unlock()
			}
			if !historyDone {
				historyDone = true
				if s.afterHistory != nil {
					s.afterHistory()
				}
				s.mu.Lock()
				s.streams++
				s.mu.Unlock()
				continue // re-read: the hook may have appended
			}
			select {
			case <-wake:
			case <-ctx.Done():
				yield(event.Record{}, ctx.Err())
				return
			}
		}
	}
}

var _ Streamer = (*fakeStore)(nil)

var errBoom = errors.New("boom")
