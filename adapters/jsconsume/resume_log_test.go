package jsconsume_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsconsume"
	"github.com/naq-go/events/domain/event"
)

// recordHandler keeps every slog record at Warn or above, with its
// attributes flattened into a map.
type recordHandler struct {
	mu   *sync.Mutex
	recs *[]loggedRecord
}

type loggedRecord struct {
	level slog.Level
	msg   string
	attrs map[string]slog.Value
}

func newRecordHandler() recordHandler {
	return recordHandler{mu: &sync.Mutex{}, recs: &[]loggedRecord{}}
}

func (h recordHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	rec := loggedRecord{level: r.Level, msg: r.Message, attrs: map[string]slog.Value{}}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value.Resolve(); return true })
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, rec)
	return nil
}

func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

func (h recordHandler) find(msg string) (loggedRecord, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range *h.recs {
		if r.msg == msg {
			return r, true
		}
	}
	return loggedRecord{}, false
}

// TestConsumerLostIsLoggedWithTheFloor (audit of issue 9, defect 3: "logs
// that it did"): when the durable is lost and re-created from the ack
// floor, the Source logs it once at Warn, naming the floor and the start
// sequence it resumed from. No other test asserted the log line.
func TestConsumerLostIsLoggedWithTheFloor(t *testing.T) {
	h := newHarness(t)
	events := h.publish(jobEvents(2, 10)...)
	rec := newRecordHandler()
	src := h.source(h.js, jsconsume.WithSlog(slog.New(rec)))
	p := newProc(t, src)
	s := newSeen()
	_, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error { s.add("a", e); return nil })
	require.NoError(t, err)
	run(t, p)

	eventually(t, 20*time.Second, "10 events handled and the ack floor read at 10", func() bool {
		return len(s.missing(events)) == 0 && src.AckFloor() == 10
	})
	_, early := rec.find("durable consumer was lost; created it again")
	require.False(t, early, "nothing was lost yet")

	h.deleteConsumer(jsconsume.DefaultDurable)
	eventually(t, 20*time.Second, "the consumer re-created", func() bool { return src.Recreations() == 1 })

	r, ok := rec.find("durable consumer was lost; created it again")
	require.True(t, ok, "the re-creation is logged")
	assert.Equal(t, slog.LevelWarn, r.level)
	assert.Equal(t, uint64(10), r.attrs["ack_floor"].Uint64(), "attrs %v", r.attrs)
	assert.Equal(t, uint64(11), r.attrs["start_seq"].Uint64(), "attrs %v", r.attrs)
	assert.Contains(t, r.attrs["why"].String(), "ack floor")
}
