package jsstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
)

// TestCountIncludesUndecodable: a Count the server answers from its subject
// index counts a stored message that does not decode, which List skips (and
// counts in Stats.DecodeErrors); a Count that reads (here, by queue) does
// not. Without such messages the two agree, as the contract suite checks.
func TestCountIncludesUndecodable(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	evs := events("job1", 3)
	require.NoError(t, f.st.StoreBatch(ctx, evs))
	publishRaw(t, f.nc, "naq.events.dev.naq.job1.started", []byte("not json"))

	for _, flt := range []event.Filter{
		{},
		{Environment: "dev", Service: "naq", JobID: "job1"},
		{JobID: "job1", Types: []event.JobEventType{event.TypeStarted}},
	} {
		n, err := f.st.Count(ctx, flt)
		require.NoError(t, err)
		recs, err := f.st.List(ctx, flt, event.Page{})
		require.NoError(t, err)
		assert.Equal(t, len(recs)+1, n, "Count(%+v) counts the garbage List skips", flt)
	}
	assert.EqualValues(t, 3, f.st.Stats().DecodeErrors, "each List skipped the garbage once")

	n, err := f.st.Count(ctx, event.Filter{Queue: "q"})
	require.NoError(t, err)
	assert.Equal(t, len(evs), n, "a Count by reading skips the garbage like List")
}

// TestSubjectBodyMismatchSkipped: a stored message whose subject names
// another job or type than its document says is skipped and counted like
// one that does not decode, by Job, ByType, List and Stream: it never shows
// up in the history of the job its subject names.
func TestSubjectBodyMismatchSkipped(t *testing.T) {
	for _, tt := range []struct {
		name string
		body event.JobEvent // published on job1's "started" subject
	}{
		{"other job", event.New("job2", event.TypeStarted, event.WithQueue("q"))},
		{"other type", event.New("job1", event.TypeEnqueued, event.WithQueue("q"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			ctx := t.Context()
			evs := events("job1", 4) // enqueued, started, completed, retry_scheduled
			require.NoError(t, f.st.StoreBatch(ctx, evs[:2]))
			data, err := tt.body.MarshalJSON()
			require.NoError(t, err)
			publishRaw(t, f.nc, "naq.events.dev.naq.job1.started", data)
			require.NoError(t, f.st.StoreBatch(ctx, evs[2:]))
			skipped := uint64(0)
			checkSkipped := func(what string) {
				t.Helper()
				skipped++
				assert.Equal(t, skipped, f.st.Stats().DecodeErrors, "%s counts the liar once", what)
			}

			job, err := f.st.Job(ctx, "job1", event.Page{})
			require.NoError(t, err)
			assert.Equal(t, ids(evs), ids(job), "Job")
			checkSkipped("Job")

			started, err := f.st.ByType(ctx, event.TypeStarted, event.Page{})
			require.NoError(t, err)
			assert.Equal(t, []string{evs[1].ID}, ids(started), "ByType")
			checkSkipped("ByType")

			recs, err := f.st.List(ctx, event.Filter{}, event.Page{})
			require.NoError(t, err)
			assert.Equal(t, ids(evs), recIDs(recs), "List")
			checkSkipped("List")

			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var streamed []string
			for rec, err := range f.st.Stream(sctx, event.Filter{}, event.StreamOptions{History: true}) {
				require.NoError(t, err)
				streamed = append(streamed, rec.Event.ID)
				if rec.Event.ID == evs[len(evs)-1].ID {
					break
				}
			}
			assert.Equal(t, ids(evs), streamed, "Stream")
			checkSkipped("Stream")
		})
	}
}

func recIDs(recs []event.Record) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = recs[i].Event.ID
	}
	return out
}
