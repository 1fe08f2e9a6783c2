package processor

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

// TestHeldMessagesAreKeptInProgress: a message the processor holds but
// does not run yet — queued behind its job (WithJobOrdering), or waiting
// in dispatch for a handler slot — is reported in progress like a running
// one, so the source never redelivers it while it waits, however long the
// wait: every event is handled once, nothing expires, nothing is
// dead-lettered.
func TestHeldMessagesAreKeptInProgress(t *testing.T) {
	const ackWait = 200 * time.Millisecond
	tests := []struct {
		name      string
		opts      []Option
		failFirst bool // the first event fails once, then waits 2 ack waits to be retried in place
		held      int  // messages held while the first runs (the third waits in the source when slots are the limit)
	}{
		{"queued behind its job", []Option{WithJobOrdering()}, false, 3},
		{"waiting for a slot", []Option{WithMaxConcurrent(1)}, false, 2},
		{"queued behind a job retrying in place", []Option{WithJobOrdering(), WithBackoff(2*ackWait, 2*ackWait)}, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newFakeSource()
			src.expireAfter(ackWait)
			p := start(t, src, append([]Option{WithInProgressInterval(ackWait / 20)}, tt.opts...)...)
			release := make(chan struct{})
			var once sync.Once
			unblock := func() { once.Do(func() { close(release) }) }
			t.Cleanup(unblock) // before Stop, should the test fail
			running := make(chan struct{}, 8)
			var mu sync.Mutex
			calls := map[uint64]int{}
			mustHandleAll(t, p, func(_ context.Context, e event.JobEvent) error {
				seq := uint64(e.Details["seq"].(int))
				mu.Lock()
				calls[seq]++
				first := calls[seq] == 1
				mu.Unlock()
				if seq == 1 {
					running <- struct{}{}
					<-release
					if first && tt.failFirst {
						return errBoom // retried in place, holding the job's queue longer
					}
				}
				return nil
			})
			for seq := range 3 {
				e := ev("a", event.TypeStarted)
				e.Details = map[string]any{"seq": seq + 1}
				src.publish(uint64(seq+1), e)
			}
			recv(t, running, "first event running")
			eventually(t, "messages held for four ack waits (or one expired)", func() bool {
				exp, sweeps := src.expiries()
				return exp > 0 || (sweeps >= 16 && p.Stats().Held == int64(tt.held))
			})
			unblock()
			eventually(t, "3 acks", func() bool { return src.count("ack") >= 3 })

			exp, _ := src.expiries()
			if exp != 0 {
				t.Errorf("%d redeliveries after an expired ack wait, want 0: held messages must be reported in progress", exp)
			}
			mu.Lock()
			defer mu.Unlock()
			want := map[uint64]int{1: 1, 2: 1, 3: 1}
			if tt.failFirst {
				want[1] = 2
			}
			for seq, n := range want {
				if calls[seq] != n {
					t.Errorf("event %d handled %d times, want %d (calls %v)", seq, calls[seq], n, calls)
				}
			}
			if st := p.Stats(); st.DeadLettered != 0 || st.Duplicates != 0 {
				t.Errorf("stats = %+v, want no dead letter and no duplicate", st)
			}
			src.mu.Lock()
			beats := src.beats[2]
			src.mu.Unlock()
			if beats == 0 {
				t.Error("the waiting message was never reported in progress")
			}
		})
	}
}

// TestRedeliveryOfHeldSequenceIsIgnored: a redelivery of a sequence the
// processor still holds (the source's timeout passed anyway, e.g. while
// disconnected) is neither handled a second time nor settled; the held
// delivery settles the sequence. The dropped delivery does not count
// against MaxDeliveries.
func TestRedeliveryOfHeldSequenceIsIgnored(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		name := "unordered"
		opts := []Option{WithMaxDeliveries(2)}
		if ordered {
			name, opts = "job ordering", append(opts, WithJobOrdering())
		}
		t.Run(name, func(t *testing.T) {
			src := newFakeSource()
			p := start(t, src, opts...)
			running := make(chan struct{}, 4)
			release := make(chan struct{})
			var once sync.Once
			unblock := func() { once.Do(func() { close(release) }) }
			t.Cleanup(unblock) // before Stop, should the test fail
			var mu sync.Mutex
			calls := 0
			mustHandleAll(t, p, func(context.Context, event.JobEvent) error {
				mu.Lock()
				calls++
				n := calls
				mu.Unlock()
				if n == 1 {
					running <- struct{}{}
					<-release
					return errBoom // the next delivery is the third: 1 held, 2 dropped
				}
				return nil
			})
			src.publish(1, ev("a", event.TypeStarted))
			recv(t, running, "handler running")
			src.redeliver(1) // delivery 2 while delivery 1 runs
			eventually(t, "redelivery received", func() bool { return p.Stats().Received == 2 })
			unblock()
			eventually(t, "ack", func() bool { return src.count("ack") == 1 })

			got := src.settlements()
			want := []settlement{{seq: 1, delivered: 1, kind: "nak", delay: time.Millisecond}, {seq: 1, delivered: 3, kind: "ack"}}
			received := uint64(3)
			if ordered { // retried in place, acked on the held delivery
				want, received = []settlement{{seq: 1, delivered: 1, kind: "ack"}}, 2
			}
			if !slices.Equal(got, want) {
				t.Errorf("settlements = %+v, want %+v (delivery 2 dropped, never settled)", got, want)
			}
			mu.Lock()
			defer mu.Unlock()
			if calls != 2 {
				t.Errorf("handler calls = %d, want 2 (the held delivery, then its retry)", calls)
			}
			if st := p.Stats(); st.DeadLettered != 0 || st.Received != received || st.Duplicates != 1 {
				t.Errorf("stats = %+v, want %d received, 1 duplicate, none dead-lettered", st, received)
			}
		})
	}
}

func mustHandleAll(t *testing.T, p *Processor, h Handler) {
	t.Helper()
	if _, err := p.HandleAll(h); err != nil {
		t.Fatal(err)
	}
}
