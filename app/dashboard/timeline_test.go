package dashboard

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/rollup"
)

func TestBuildTimeline(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) event.Option { return event.WithTimestamp(t0.Add(d)) }
	evs := []event.JobEvent{
		// Given out of order: the timeline sorts by time.
		event.Completed("j", "w-2", 500*time.Millisecond, at(7*time.Second)),
		event.Enqueued("j", "q", 0, at(0)),
		event.Started("j", "w-1", "async", at(time.Second)),
		event.Failed("j", "w-1", errors.New("boom"), 2*time.Second, 0, at(3*time.Second)),
		event.RetryScheduled("j", 1, 2*time.Second, at(3*time.Second)),
		event.RetryStarted("j", 1, at(5*time.Second)),
		event.Started("j", "w-2", "async", at(6*time.Second)),
	}
	tl := BuildTimeline(evs)
	assert.Equal(t, t0, tl.Start)
	assert.Equal(t, t0.Add(7*time.Second), tl.End)
	kinds := make([]string, len(tl.Phases))
	for i, p := range tl.Phases {
		kinds[i] = p.Kind
	}
	assert.Equal(t, []string{PhaseWaiting, PhaseRunning, PhaseBackoff, PhaseWaiting, PhaseRunning}, kinds)
	require.Len(t, tl.Attempts, 2)
	assert.Equal(t, Attempt{N: 1, Worker: "w-1", Start: t0.Add(time.Second), End: t0.Add(3 * time.Second), Duration: 2 * time.Second, Outcome: "failed", Error: "errors.errorString: boom"}, tl.Attempts[0])
	assert.Equal(t, 500*time.Millisecond, tl.Attempts[1].Duration, "duration_ms wins over the time between events")
	assert.Equal(t, "completed", tl.Attempts[1].Outcome)
	assert.Equal(t, t0.Add(5*time.Second), tl.Phases[2].End, "back-off ends when the retry starts")

	open := BuildTimeline(evs[1:3])
	require.Len(t, open.Attempts, 1)
	assert.Equal(t, "running", open.Attempts[0].Outcome, "an attempt without an outcome is still running")
	assert.Empty(t, BuildTimeline(nil).Phases)
}

func TestFormat(t *testing.T) {
	assert.Equal(t, "1,234,567", fmtCount(1234567))
	assert.Equal(t, "-1,000", fmtCount(-1000))
	assert.Equal(t, "12", fmtCount(12))
	assert.Equal(t, "0.42 ms", fmtMS(0.42))
	assert.Equal(t, "12.3 ms", fmtMS(12.34))
	assert.Equal(t, "840 ms", fmtMS(840.4))
	assert.Equal(t, "2.13 s", fmtMS(2131.3))
	assert.Equal(t, "3m 05s", fmtDuration(3*time.Minute+5*time.Second))
	assert.Equal(t, "2h 10m", fmtDuration(2*time.Hour+10*time.Minute))
	// Events from 1970 and 9999 are valid: their span saturates time.Sub.
	assert.Equal(t, "-2562047h 47m", fmtDuration(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).Sub(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))))
	assert.Equal(t, "3.1%", fmtPct(0.0312))
	assert.Equal(t, "4s ago", fmtAgo(t0(), t0().Add(-4*time.Second)))
	assert.Equal(t, "never", fmtAgo(t0(), time.Time{}))
}

func t0() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

func TestDownsample(t *testing.T) {
	start := t0()
	var ps []rollup.Point
	for i := range 1000 {
		ps = append(ps, rollup.Point{Start: start.Add(time.Duration(i) * time.Minute), Width: time.Minute, Counts: map[event.JobEventType]int64{event.TypeStarted: 1}})
	}
	got := downsample(ps, 240)
	assert.LessOrEqual(t, len(got), 240)
	var n int64
	var width time.Duration
	for _, p := range got {
		n += p.Counts[event.TypeStarted]
		width += p.Width
	}
	assert.Equal(t, int64(1000), n, "no event lost")
	assert.Equal(t, 1000*time.Minute, width, "the same span")
	assert.Equal(t, start, got[0].Start)
	assert.Len(t, downsample(ps[:10], 240), 10, "short series unchanged")
}
