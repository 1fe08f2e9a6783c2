package processor

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/naq-go/events/domain/event"
)

// TestJobOrderingWaitsForAFailedDeadLetter is defect 4 of issue 9: with
// WithJobOrdering, an event whose dead-letter write keeps failing is held
// (not nak'd) until the letter is written, so the job's next event waits
// for it, the handler is called at most MaxDeliveries times for it, and
// other jobs go on meanwhile (the waiting job gives its handler slot back).
func TestJobOrderingWaitsForAFailedDeadLetter(t *testing.T) {
	const maxDeliveries = 3
	src := newFakeSource()
	src.dlqErr = errors.New("dlq down")
	p := start(t, src, WithJobOrdering(), WithMaxDeliveries(maxDeliveries), WithMaxConcurrent(1))
	var mu sync.Mutex
	calls := map[uint64]int{}
	termsBeforeNext := -1 // terms settled when the job's second event reached the handler
	mustHandleAll(t, p, func(_ context.Context, e event.JobEvent) error {
		seq := e.Details["seq"].(uint64)
		mu.Lock()
		calls[seq]++
		mu.Unlock()
		switch seq {
		case 1:
			return errBoom
		case 2:
			n := src.count("term")
			mu.Lock()
			termsBeforeNext = n
			mu.Unlock()
		}
		return nil
	})
	publish := func(seq uint64, job string, typ event.JobEventType) {
		e := ev(job, typ)
		e.Details = map[string]any{"seq": seq}
		src.publish(seq, e)
	}
	publish(1, "j", event.TypeFailed)
	publish(2, "j", event.TypeCompleted)
	publish(3, "k", event.TypeCompleted)

	// Well past the point where the old code nak'd (deadLetterAttempts
	// failed writes), with the only handler slot free for job k.
	eventually(t, "job k handled while job j waits on the dead-letter sink", func() bool {
		return src.count("ack") >= 1 && p.Stats().DeadLetterErrors >= 2*deadLetterAttempts
	})
	mu.Lock()
	if calls[2] != 0 {
		t.Errorf("job j's second event was handled %d times while its first was unsettled", calls[2])
	}
	if calls[1] != maxDeliveries {
		t.Errorf("handler calls for the failing event = %d while waiting, want %d (MaxDeliveries)", calls[1], maxDeliveries)
	}
	mu.Unlock()
	if n := src.count("nak"); n != 0 {
		t.Errorf("%d naks: a job's event waiting on the dead-letter sink must stay held", n)
	}
	if st := p.Stats(); st.Held != 2 {
		t.Errorf("held = %d, want 2 (job j's two events)", st.Held)
	}

	src.mu.Lock()
	src.dlqErr = nil
	src.mu.Unlock()
	eventually(t, "the failed event dead-lettered and the next one acked", func() bool {
		return src.count("term") == 1 && src.count("ack") == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if termsBeforeNext != 1 {
		t.Errorf("job j's second event ran with %d terms settled, want 1: it must wait for the first", termsBeforeNext)
	}
	if calls[1] != maxDeliveries || calls[2] != 1 || calls[3] != 1 {
		t.Errorf("handler calls = %v, want seq 1: %d, seq 2 and 3: 1", calls, maxDeliveries)
	}
	l := src.deadLetters()
	if len(l) != 1 || l[0].Reason != ReasonFailed || !errors.Is(l[0].Err, errBoom) || l[0].Delivery.NumDelivered != maxDeliveries {
		t.Errorf("letters = %+v, want one %q with the handler error after %d attempts", l, ReasonFailed, maxDeliveries)
	}
	if st := p.Stats(); st.DeadLettered != 1 || st.Failed != maxDeliveries || st.Handled != 2 {
		t.Errorf("stats = %+v", st)
	}
}

// TestMaxDeliveriesBoundsHandlerCallsAcrossRedeliveries: when the Term
// after a dead letter is lost and the event comes back, the handlers are
// not called again — the letter is owed and written again (the sink
// de-duplicates) — so MaxDeliveries bounds the handler calls of one event
// across in-place retries and redeliveries, in both modes.
func TestMaxDeliveriesBoundsHandlerCallsAcrossRedeliveries(t *testing.T) {
	const maxDeliveries = 2
	for _, ordered := range []bool{false, true} {
		name := "unordered"
		opts := []Option{WithMaxDeliveries(maxDeliveries)}
		if ordered {
			name, opts = "job ordering", append(opts, WithJobOrdering())
		}
		t.Run(name, func(t *testing.T) {
			src := newFakeSource()
			src.termFail = 1
			p := start(t, src, opts...)
			var mu sync.Mutex
			calls := 0
			mustHandleAll(t, p, func(context.Context, event.JobEvent) error {
				mu.Lock()
				calls++
				mu.Unlock()
				return errBoom
			})
			src.publish(1, ev("j", event.TypeFailed))
			eventually(t, "term", func() bool { return src.count("term") == 1 })
			mu.Lock()
			defer mu.Unlock()
			if calls != maxDeliveries {
				t.Errorf("handler calls = %d, want %d (MaxDeliveries)", calls, maxDeliveries)
			}
			l := src.deadLetters()
			if len(l) != 2 {
				t.Fatalf("dead-letter writes = %d, want 2 (once more after the lost Term)", len(l))
			}
			for _, x := range l {
				if x.Reason != ReasonFailed || !errors.Is(x.Err, errBoom) {
					t.Errorf("letter reason %q err %v, want %q with the handler error", x.Reason, x.Err, ReasonFailed)
				}
			}
			if st := p.Stats(); st.Failed != maxDeliveries || st.SettleErrors != 1 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}
