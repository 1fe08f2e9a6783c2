package processor

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/naq-go/events/domain/event"
)

// TestDeadLetterWriteIsRetriedInPlace: a dead-letter write that fails a
// few times is retried with backoff while the message is held, and the
// letter carries the handler's error, not a redelivery.
func TestDeadLetterWriteIsRetriedInPlace(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		name := "unordered"
		opts := []Option{WithMaxDeliveries(1)}
		if ordered {
			name, opts = "job ordering", append(opts, WithJobOrdering())
		}
		t.Run(name, func(t *testing.T) {
			src := newFakeSource()
			src.dlqFail = deadLetterAttempts - 1
			p := start(t, src, opts...)
			mustHandleAll(t, p, func(context.Context, event.JobEvent) error { return errBoom })
			src.publish(1, ev("j", event.TypeFailed))
			eventually(t, "term", func() bool { return src.count("term") == 1 })
			if n := src.count("nak"); n != 0 {
				t.Errorf("%d naks, want none: the write is retried in place", n)
			}
			l := src.deadLetters()
			if len(l) != 1 || l[0].Reason != ReasonFailed || !errors.Is(l[0].Err, errBoom) {
				t.Fatalf("letters = %+v, want one failed with the handler error", l)
			}
			if st := p.Stats(); st.DeadLetterErrors != deadLetterAttempts-1 || st.Received != 1 || st.DeadLettered != 1 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// TestDeadLetterFailureNaksAndKeepsTheReason: when every in-place attempt
// fails the message is nak'd; on its next delivery (beyond MaxDeliveries)
// the letter still says why it was given up: the handler's error.
func TestDeadLetterFailureNaksAndKeepsTheReason(t *testing.T) {
	src := newFakeSource()
	src.dlqErr = errors.New("dlq down")
	p := start(t, src, WithMaxDeliveries(1))
	var calls atomic.Int32
	mustHandle(t, p, event.TypeFailed, func(context.Context, event.JobEvent) error { calls.Add(1); return errBoom })
	src.publish(1, ev("j", event.TypeFailed))
	eventually(t, "nak after the in-place attempts", func() bool { return src.count("nak") >= 1 })
	src.mu.Lock()
	src.dlqErr = nil
	src.mu.Unlock()
	eventually(t, "term", func() bool { return src.count("term") == 1 })
	l := src.deadLetters()
	if len(l) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(l))
	}
	if l[0].Reason != ReasonFailed || !errors.Is(l[0].Err, errBoom) {
		t.Errorf("letter reason %q err %v, want %q with the handler error", l[0].Reason, l[0].Err, ReasonFailed)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("handler calls = %d, want 1: the redelivery is over the limit and only dead-lettered", n)
	}
	if st := p.Stats(); st.DeadLetterErrors < deadLetterAttempts || st.DeadLettered != 1 || st.Failed != 1 {
		t.Errorf("stats = %+v", st)
	}
}
