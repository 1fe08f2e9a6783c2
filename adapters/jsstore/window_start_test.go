package jsstore_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
)

// TestWindowStartsAtItsSequence (issue 10): a read with Since starts at
// the first message stored at Since minus the clock skew margin (a direct
// get by start time), not at the stream's start: no direct get request of
// the read asks for a sequence stored before the window, whatever the
// filter (all, a type, a queue).
func TestWindowStartsAtItsSequence(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	const old = 200
	var a []event.JobEvent
	for i := range old {
		a = append(a, event.Enqueued(fmt.Sprintf("old%d", i), "q", 1))
	}
	require.NoError(t, f.st.StoreBatch(ctx, a))
	since := time.Now() // after every old event was stored and acknowledged
	var b []event.JobEvent
	for i := range 30 {
		b = append(b, event.Started(fmt.Sprintf("new%d", i), "w", "thread", event.WithQueue("q")))
	}
	require.NoError(t, f.st.StoreBatch(ctx, b))
	st := newStore(t, f.nc, jsstore.WithClockSkew(0))

	type req struct {
		Seq       uint64     `json:"seq"`
		NextFor   string     `json:"next_by_subj"`
		StartTime *time.Time `json:"start_time"`
	}
	for _, flt := range []event.Filter{
		{Since: since},
		{Since: since, Types: []event.JobEventType{event.TypeStarted}},
		{Since: since, Queue: "q"},
		{Since: since, Until: time.Now().Add(time.Hour)},
	} {
		sub, err := f.nc.SubscribeSync("$JS.API.DIRECT.GET.>")
		require.NoError(t, err)
		require.NoError(t, f.nc.Flush())
		for _, p := range []event.Page{{}, {Limit: 5}} {
			recs, err := st.List(ctx, flt, p)
			require.NoError(t, err, "%+v", flt)
			want := len(b)
			if p.Limit > 0 {
				want = p.Limit
			}
			require.Len(t, recs, want, "%+v %+v", flt, p)
			assert.Greater(t, recs[0].Seq, uint64(old), "%+v: first record", flt)
		}
		require.NoError(t, f.nc.Flush())
		n, _, err := sub.Pending()
		require.NoError(t, err)
		byTime := 0
		for range n {
			m, err := sub.NextMsg(time.Second)
			require.NoError(t, err)
			var r req
			require.NoError(t, json.Unmarshal(m.Data, &r), "%s", m.Data)
			if r.StartTime != nil {
				byTime++
				assert.True(t, r.StartTime.Equal(since), "%+v: start_time %v, want Since %v (no skew margin)", flt, r.StartTime, since)
				continue
			}
			assert.Greater(t, r.Seq, uint64(old), "%+v: a request of the window read asks from seq %d, before the window (%s)", flt, r.Seq, m.Data)
		}
		assert.Positive(t, byTime, "%+v: the read starts by a direct get by start time", flt)
		require.NoError(t, sub.Unsubscribe())
	}
}
