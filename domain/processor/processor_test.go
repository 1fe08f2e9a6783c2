package processor

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

func TestHandlersPerTypeAndGlobal(t *testing.T) {
	src := newFakeSource()
	p := start(t, src)
	var mu sync.Mutex
	var started, all []event.JobEventType
	_, err := p.Handle(event.TypeStarted, func(_ context.Context, e event.JobEvent) error {
		mu.Lock()
		started = append(started, e.Type)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error {
		mu.Lock()
		all = append(all, e.Type)
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	src.publish(1, ev("j1", event.TypeStarted))
	src.publish(2, ev("j1", event.TypeCompleted))
	eventually(t, "2 acks", func() bool { return src.count("ack") == 2 })

	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(started, []event.JobEventType{event.TypeStarted}) {
		t.Errorf("type handler saw %v, want [started]", started)
	}
	slices.Sort(all)
	if !slices.Equal(all, []event.JobEventType{event.TypeCompleted, event.TypeStarted}) {
		t.Errorf("global handler saw %v, want completed and started", all)
	}
	if st := p.Stats(); st.Handled != 2 || st.Received != 2 || st.Lag != 7 || st.HandleTime.Count != 2 || st.Delay.Count != 2 {
		t.Errorf("stats = %+v, want Handled=Received=2, Lag=7, two latency samples", st)
	}
}

func TestRemoveHandler(t *testing.T) {
	src := newFakeSource()
	p := start(t, src)
	var removed, kept atomic.Int32
	remove, err := p.Handle(event.TypeStarted, func(context.Context, event.JobEvent) error { removed.Add(1); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Handle(event.TypeStarted, func(context.Context, event.JobEvent) error { kept.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	remove()
	remove() // idempotent
	src.publish(1, ev("j1", event.TypeStarted))
	eventually(t, "ack", func() bool { return src.count("ack") == 1 })
	if removed.Load() != 0 || kept.Load() != 1 {
		t.Errorf("removed handler ran %d times, kept %d; want 0 and 1", removed.Load(), kept.Load())
	}
}

func TestHandleRejectsBadInput(t *testing.T) {
	p := New(newFakeSource())
	ok := func(context.Context, event.JobEvent) error { return nil }
	tests := []struct {
		name string
		call func() (func(), error)
		want string
	}{
		{"unknown type", func() (func(), error) { return p.Handle("exploded", ok) }, `"exploded"`},
		{"nil handler", func() (func(), error) { return p.Handle(event.TypeStarted, nil) }, "nil"},
		{"nil global handler", func() (func(), error) { return p.HandleAll(nil) }, "nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.call()
			if !errors.Is(err, event.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalid naming %s", err, tt.want)
			}
		})
	}
}

func TestLifecycleErrors(t *testing.T) {
	p := New(newFakeSource())
	if err := p.Stop(context.Background()); !errors.Is(err, ErrNotStarted) {
		t.Errorf("stop before start = %v, want ErrNotStarted", err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Errorf("second start = %v, want ErrStarted", err)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Errorf("stop = %v", err)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Errorf("second stop = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := New(newFakeSource()).Start(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("start with cancelled ctx = %v", err)
	}
}

func TestPanicIsRecoveredAndProcessingGoesOn(t *testing.T) {
	src := newFakeSource()
	p := start(t, src, WithMaxDeliveries(2))
	if _, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error {
		if e.JobID == "bad" {
			panic("kaboom")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	src.publish(1, ev("bad", event.TypeStarted))
	src.publish(2, ev("good", event.TypeStarted))
	eventually(t, "dead letter and ack", func() bool { return src.count("term") == 1 && src.count("ack") == 1 })

	st := p.Stats()
	if st.Panics != 2 || st.Failed != 2 || st.Retried != 1 || st.DeadLettered != 1 || st.Handled != 1 {
		t.Errorf("stats = %+v, want 2 panics/failures, 1 retry, 1 dead letter, 1 handled", st)
	}
	l := src.deadLetters()
	if len(l) != 1 || !errors.Is(l[0].Err, ErrPanic) || !strings.Contains(l[0].Err.Error(), "kaboom") {
		t.Fatalf("dead letters = %+v, want one with the panic", l)
	}
	var pe *PanicError
	if !errors.As(l[0].Err, &pe) || len(pe.Stack) == 0 {
		t.Errorf("dead letter error %v carries no stack", l[0].Err)
	}
}

func TestHandlerTimeoutCancelsCtx(t *testing.T) {
	src := newFakeSource()
	p := start(t, src, WithHandlerTimeout(20*time.Millisecond), WithMaxDeliveries(1))
	cancelled := make(chan error, 1)
	if _, err := p.HandleAll(func(ctx context.Context, _ event.JobEvent) error {
		<-ctx.Done()
		cancelled <- ctx.Err()
		return ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	src.publish(1, ev("j", event.TypeStarted))
	if err := recv(t, cancelled, "handler ctx cancelled"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("handler ctx err = %v, want deadline exceeded", err)
	}
	eventually(t, "term", func() bool { return src.count("term") == 1 })
	l := src.deadLetters()
	if len(l) != 1 || !errors.Is(l[0].Err, ErrHandlerTimeout) || l[0].Reason != ReasonFailed {
		t.Errorf("dead letters = %+v, want one failed with ErrHandlerTimeout", l)
	}
	if st := p.Stats(); st.Timeouts != 1 {
		t.Errorf("Timeouts = %d, want 1", st.Timeouts)
	}
}

func TestConcurrencyCapAndSlowHandlerDoesNotBlockOthers(t *testing.T) {
	const limit, n = 3, 30
	src := newFakeSource()
	p := start(t, src, WithMaxConcurrent(limit))
	var cur, peak atomic.Int32
	release := make(chan struct{})
	slowRunning := make(chan struct{})
	if _, err := p.HandleAll(func(ctx context.Context, e event.JobEvent) error {
		c := cur.Add(1)
		defer cur.Add(-1)
		for {
			p := peak.Load()
			if c <= p || peak.CompareAndSwap(p, c) {
				break
			}
		}
		if e.JobID == "slow" {
			close(slowRunning)
			<-release
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	src.publish(1, ev("slow", event.TypeStarted))
	recv(t, slowRunning, "slow handler")
	for i := range n {
		src.publish(uint64(i+2), ev("fast", event.TypeStarted))
	}
	eventually(t, "every fast event acked while the slow one runs", func() bool { return src.count("ack") == n })
	if got := p.Stats().InFlight; got != 1 {
		t.Errorf("InFlight = %d, want 1 (the slow handler)", got)
	}
	close(release)
	eventually(t, "slow event acked", func() bool { return src.count("ack") == n+1 })
	if peak.Load() > limit {
		t.Errorf("peak concurrency %d exceeds cap %d", peak.Load(), limit)
	}
}

func TestConcurrencyCapIsReached(t *testing.T) {
	const limit = 4
	src := newFakeSource()
	p := start(t, src, WithMaxConcurrent(limit))
	release := make(chan struct{})
	var running atomic.Int32
	if _, err := p.HandleAll(func(context.Context, event.JobEvent) error {
		running.Add(1)
		<-release
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		src.publish(uint64(i+1), ev("j", event.TypeStarted))
	}
	eventually(t, "cap reached", func() bool { return running.Load() == limit })
	if got := p.Stats().InFlight; got != limit {
		t.Errorf("InFlight = %d, want %d", got, limit)
	}
	close(release)
	eventually(t, "all acked", func() bool { return src.count("ack") == 10 })
}

func TestAckOnlyAfterAllHandlersSucceed(t *testing.T) {
	src := newFakeSource()
	p := start(t, src, WithBackoff(5*time.Millisecond, time.Second))
	var firstCalls, secondCalls atomic.Int32
	mustHandle(t, p, event.TypeStarted, func(context.Context, event.JobEvent) error { firstCalls.Add(1); return nil })
	mustHandle(t, p, event.TypeStarted, func(context.Context, event.JobEvent) error {
		if secondCalls.Add(1) == 1 {
			return errBoom
		}
		return nil
	})
	src.publish(1, ev("j", event.TypeStarted))
	eventually(t, "ack", func() bool { return src.count("ack") == 1 })

	got := src.settlements()
	want := []settlement{{seq: 1, delivered: 1, kind: "nak", delay: 5 * time.Millisecond}, {seq: 1, delivered: 2, kind: "ack"}}
	if !slices.Equal(got, want) {
		t.Errorf("settlements = %+v, want %+v", got, want)
	}
	if firstCalls.Load() != 2 || secondCalls.Load() != 2 {
		t.Errorf("handler calls = %d, %d; want both 2 (a redelivery runs every handler)", firstCalls.Load(), secondCalls.Load())
	}
	if st := p.Stats(); st.Failed != 1 || st.Retried != 1 || st.Handled != 1 || st.Received != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func mustHandle(t *testing.T, p *Processor, typ event.JobEventType, h Handler) {
	t.Helper()
	if _, err := p.Handle(typ, h); err != nil {
		t.Fatal(err)
	}
}

func TestRetryBackoffThenDeadLetter(t *testing.T) {
	src := newFakeSource()
	p := start(t, src, WithMaxDeliveries(4), WithBackoff(10*time.Millisecond, 25*time.Millisecond))
	mustHandle(t, p, event.TypeFailed, func(context.Context, event.JobEvent) error { return errBoom })
	e := ev("j", event.TypeFailed)
	src.publish(9, e)
	eventually(t, "term", func() bool { return src.count("term") == 1 })

	var delays []time.Duration
	for _, s := range src.settlements() {
		if s.kind == "nak" {
			delays = append(delays, s.delay)
		}
	}
	if want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 25 * time.Millisecond}; !slices.Equal(delays, want) {
		t.Errorf("nak delays = %v, want %v", delays, want)
	}
	l := src.deadLetters()
	if len(l) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(l))
	}
	if !errors.Is(l[0].Err, errBoom) || l[0].Delivery.NumDelivered != 4 || !l[0].Decoded ||
		l[0].Record.Event.ID != e.ID || l[0].Reason != ReasonFailed || l[0].Delivery.Seq != 9 {
		t.Errorf("letter = %+v", l[0])
	}
	if st := p.Stats(); st.Failed != 4 || st.Retried != 3 || st.DeadLettered != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestUndecodableIsTerminatedNotRetried(t *testing.T) {
	src := newFakeSource()
	p := start(t, src)
	var calls atomic.Int32
	if _, err := p.HandleAll(func(context.Context, event.JobEvent) error { calls.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	src.publishGarbage(1)
	src.publish(2, ev("j", event.TypeStarted))
	eventually(t, "term and ack", func() bool { return src.count("term") == 1 && src.count("ack") == 1 })
	if got := src.settlements(); slices.ContainsFunc(got, func(s settlement) bool { return s.kind == "nak" }) {
		t.Errorf("undecodable message nak'd: %+v", got)
	}
	l := src.deadLetters()
	if len(l) != 1 || l[0].Reason != ReasonUndecodable || l[0].Decoded || !errors.Is(l[0].Err, event.ErrInvalid) || string(l[0].Data) != "payload" {
		t.Errorf("letters = %+v", l)
	}
	if st := p.Stats(); st.Undecodable != 1 || st.DeadLettered != 1 || calls.Load() != 1 {
		t.Errorf("stats = %+v, calls %d", st, calls.Load())
	}
}

func TestNoSinkLogsAndTerminates(t *testing.T) {
	src := newFakeSource()
	p := New(&noSink{src}, WithMaxDeliveries(1), WithSlog(testLogger(t)))
	if p.cfg.deadLetter != nil {
		t.Fatal("a source without DeadLetter must leave the sink unset")
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	src.publishGarbage(1)
	eventually(t, "term", func() bool { return src.count("term") == 1 })
	if st := p.Stats(); st.DeadLettered != 1 {
		t.Errorf("DeadLettered = %d", st.DeadLettered)
	}
}

// noSink is a Source that is not a DeadLetterSink.
type noSink struct{ src *fakeSource }

func (s *noSink) Consume(ctx context.Context, deliver func(Message)) error {
	return s.src.Consume(ctx, deliver)
}

func TestInProgressHeartbeats(t *testing.T) {
	src := newFakeSource()
	p := start(t, src, WithInProgressInterval(2*time.Millisecond))
	mustHandle(t, p, event.TypeStarted, func(ctx context.Context, _ event.JobEvent) error {
		for {
			src.mu.Lock()
			n := src.beats[1]
			src.mu.Unlock()
			if n >= 3 {
				return nil
			}
			select {
			case <-src.changed:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	src.publish(1, ev("j", event.TypeStarted))
	eventually(t, "ack after 3 heartbeats", func() bool { return src.count("ack") == 1 })
}

func TestHeartbeatDefaultFromAckWait(t *testing.T) {
	p := New(&ackWaitSource{newFakeSource()})
	if p.cfg.heartbeat != 10*time.Second {
		t.Errorf("heartbeat = %s, want a third of AckWait (10s)", p.cfg.heartbeat)
	}
	if p := New(newFakeSource()); p.cfg.heartbeat != DefaultInProgressInterval {
		t.Errorf("heartbeat = %s, want default", p.cfg.heartbeat)
	}
}

type ackWaitSource struct{ *fakeSource }

func (ackWaitSource) AckWait() time.Duration { return 30 * time.Second }

func TestStopWaitsForInFlightHandlers(t *testing.T) {
	src := newFakeSource()
	p := New(src, WithSlog(testLogger(t)))
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	release := make(chan struct{})
	var stopped atomic.Bool
	mustHandle(t, p, event.TypeStarted, func(ctx context.Context, _ event.JobEvent) error {
		close(running)
		<-release
		return ctx.Err() // not cancelled: Stop lets it finish
	})
	src.publish(1, ev("j", event.TypeStarted))
	recv(t, running, "handler running")

	done := make(chan error, 1)
	go func() {
		err := p.Stop(context.Background())
		stopped.Store(true)
		done <- err
	}()
	eventually(t, "Stop to begin", p.stopping)
	if stopped.Load() || src.count("ack") != 0 {
		t.Fatal("Stop returned, or the message was settled, while its handler was running")
	}
	close(release)
	if err := recv(t, done, "Stop"); err != nil {
		t.Errorf("Stop = %v", err)
	}
	if got := src.settlements(); len(got) != 1 || got[0].kind != "ack" {
		t.Errorf("settlements when Stop returned = %+v, want the in-flight message acked", got)
	}
}

func TestStopDeadlineCancelsHandlersAndAbandons(t *testing.T) {
	src := newFakeSource()
	p := New(src, WithMaxDeliveries(1), WithSlog(testLogger(t)))
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	mustHandle(t, p, event.TypeStarted, func(ctx context.Context, _ event.JobEvent) error {
		close(running)
		<-ctx.Done()
		return ctx.Err()
	})
	src.publish(1, ev("j", event.TypeStarted))
	recv(t, running, "handler running")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := p.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want deadline exceeded", err)
	}
	got := src.settlements()
	if len(got) != 1 || got[0].kind != "nak" || got[0].delay != 0 {
		t.Errorf("settlements = %+v, want one immediate nak (not a dead letter)", got)
	}
	if st := p.Stats(); st.Abandoned != 1 || st.DeadLettered != 0 || st.InFlight != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// TestJobOrdering: with WithJobOrdering, each job's events reach the
// handler one at a time in delivery order, even when one fails and is
// retried, while other jobs go on concurrently.
func TestJobOrdering(t *testing.T) {
	const jobs, perJob = 6, 25
	src := newFakeSource()
	p := start(t, src, WithJobOrdering(), WithMaxConcurrent(4))
	var mu sync.Mutex
	seen := map[string][]uint64{}
	active := map[string]bool{}
	var overlap atomic.Bool
	failedOnce := map[uint64]bool{}
	if _, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error {
		seq := e.Details["seq"].(uint64)
		mu.Lock()
		if active[e.JobID] {
			overlap.Store(true)
		}
		active[e.JobID] = true
		mu.Unlock()
		defer func() { mu.Lock(); active[e.JobID] = false; mu.Unlock() }()
		mu.Lock()
		defer mu.Unlock()
		if seq%7 == 0 && !failedOnce[seq] {
			failedOnce[seq] = true
			return errBoom
		}
		seen[e.JobID] = append(seen[e.JobID], seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	seq := uint64(0)
	for range perJob {
		for j := range jobs {
			seq++
			e := ev("job-"+string(rune('a'+j)), event.TypeStarted)
			e.Details = map[string]any{"seq": seq}
			src.publish(seq, e)
		}
	}
	eventually(t, "all acked", func() bool { return src.count("ack") == jobs*perJob })
	if overlap.Load() {
		t.Error("two events of one job were handled at the same time")
	}
	mu.Lock()
	defer mu.Unlock()
	for job, seqs := range seen {
		if len(seqs) != perJob || !slices.IsSorted(seqs) {
			t.Errorf("job %s saw %v, want %d events in order", job, seqs, perJob)
		}
	}
	if n := src.count("nak"); n != 0 {
		t.Errorf("%d naks, want 0: ordered mode retries in place", n)
	}
	if st := p.Stats(); st.Retried == 0 || st.Failed != st.Retried {
		t.Errorf("stats = %+v, want in-place retries counted", st)
	}
}

func TestJobOrderingDeadLettersAndMovesOn(t *testing.T) {
	src := newFakeSource()
	p := start(t, src, WithJobOrdering(), WithMaxDeliveries(3))
	var order []string
	var mu sync.Mutex
	if _, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, string(e.Type))
		if e.Type == event.TypeFailed {
			return errBoom
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	src.publish(1, ev("j", event.TypeFailed))
	src.publish(2, ev("j", event.TypeCompleted))
	eventually(t, "term and ack", func() bool { return src.count("term") == 1 && src.count("ack") == 1 })
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"failed", "failed", "failed", "completed"}; !slices.Equal(order, want) {
		t.Errorf("order = %v, want %v", order, want)
	}
}

func TestMiddlewareOrder(t *testing.T) {
	src := newFakeSource()
	var trail []string
	var mu sync.Mutex
	mw := func(name string) Middleware {
		return func(h Handler) Handler {
			return func(ctx context.Context, e event.JobEvent) error {
				mu.Lock()
				trail = append(trail, name)
				mu.Unlock()
				return h(ctx, e)
			}
		}
	}
	p := start(t, src, WithMiddleware(mw("outer"), mw("inner")))
	mustHandle(t, p, event.TypeStarted, func(context.Context, event.JobEvent) error {
		mu.Lock()
		trail = append(trail, "handler")
		mu.Unlock()
		return nil
	})
	src.publish(1, ev("j", event.TypeStarted))
	eventually(t, "ack", func() bool { return src.count("ack") == 1 })
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"outer", "inner", "handler"}; !slices.Equal(trail, want) {
		t.Errorf("trail = %v, want %v", trail, want)
	}
}

func TestHistogramBuckets(t *testing.T) {
	for _, v := range []uint64{0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 123456789, 1 << 40, 1<<63 + 5} {
		b := bucketOf(v)
		if ub := upperBound(b); ub < v {
			t.Errorf("value %d in bucket %d whose upper bound %d is below it", v, b, ub)
		}
		if b > 0 && upperBound(b-1) >= v {
			t.Errorf("value %d in bucket %d but bucket %d already reaches %d", v, b, b-1, upperBound(b-1))
		}
		if b >= nBuckets {
			t.Errorf("bucket %d out of range", b)
		}
	}
	var h histogram
	for i := 1; i <= 100; i++ {
		h.observe(time.Duration(i) * time.Millisecond)
	}
	l := h.snapshot()
	within := func(got, want time.Duration) bool { return got >= want && got <= want+want/8 }
	if l.Count != 100 || !within(l.P50, 50*time.Millisecond) || !within(l.P99, 99*time.Millisecond) ||
		l.Max != 100*time.Millisecond || l.Mean != 50500*time.Microsecond {
		t.Errorf("latency = %+v", l)
	}
}
