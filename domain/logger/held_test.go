package logger

import (
	"fmt"
	"slices"
	"testing"

	"github.com/naq-go/events/domain/event"
)

// TestHeldResent: the "failed, count as Retried when sent again" mark
// travels with its event through compaction and removal, so a share of
// failed events not sent yet keeps its marks when the events before it
// leave (given up after their retries, say), and new events never carry
// one.
func TestHeldResent(t *testing.T) {
	q := newRing(8)
	for i := range 6 {
		ev := event.Enqueued(fmt.Sprintf("job-%d", i), "q", 0)
		q.push(&ev)
	}
	h := newHeld(8)
	h.take(&q, 6, 1)
	if k := h.resent(6); k != 0 {
		t.Fatalf("fresh events: %d counted as resent, want 0", k)
	}
	// A call of all 6 fails for 1, 2, 4 and 5: they are compacted to the
	// front, as settle does.
	w := 0
	for _, k := range []int{1, 2, 4, 5} {
		h.again[k] = true
		h.keep(w, k)
		w++
	}
	h.remove(w, h.len())
	if want := []uint64{2, 3, 5, 6}; !slices.Equal(h.seqs, want) {
		t.Fatalf("kept %v, want %v", h.seqs, want)
	}
	// The first two are sent again (counted), fail and are given up.
	if k := h.resent(2); k != 2 {
		t.Fatalf("resend of 2 failed events: %d counted, want 2", k)
	}
	h.remove(0, 2)
	// The other two still count when they go out, with a fresh one
	// behind them; nothing counts twice.
	ev := event.Enqueued("job-new", "q", 0)
	q.push(&ev)
	h.take(&q, 1, 7)
	got := []int{h.resent(3), h.resent(3)}
	if !slices.Equal(got, []int{2, 0}) {
		t.Errorf("resent %v over the next two sends, want [2 0]", got)
	}
}
