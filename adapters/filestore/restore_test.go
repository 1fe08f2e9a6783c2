package filestore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/domain/event"
)

// TestRestoreAfterDeleteSurvivesReopen: an event stored again after
// DeleteJob removed its first copy (a logger retry, a spill replay) is
// live, and still is after a reopen: the first copy stays deleted, the
// second is kept.
func TestRestoreAfterDeleteSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	st, err := filestore.Open(dir)
	require.NoError(t, err)
	x := event.New("j1", event.TypeEnqueued)
	other := event.New("j2", event.TypeEnqueued)
	require.NoError(t, st.StoreBatch(ctx, []event.JobEvent{x, other}))
	n, err := st.DeleteJob(ctx, "j1")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, st.Store(ctx, x))

	check := func(when string) {
		t.Helper()
		got, err := st.Job(ctx, "j1", event.Page{})
		require.NoError(t, err)
		assert.Equal(t, []string{x.ID}, idsOf(got), "%s: Job(j1)", when)
		assert.Equal(t, []string{other.ID, x.ID}, recordIDs(listAll(t, st)), "%s: List", when)
		c, err := st.Count(ctx, event.Filter{JobID: "j1"})
		require.NoError(t, err)
		assert.Equal(t, 1, c, "%s: Count(j1)", when)
	}
	check("before reopen")
	require.NoError(t, st.Close())

	st, err = filestore.Open(dir)
	require.NoError(t, err)
	defer func() { _ = st.Close() }()
	check("after reopen")
	assert.Equal(t, uint64(1), st.Stats().Duplicates, "the removed first copy is counted as a duplicate")

	// Deleting again deletes the second copy, for good.
	n, err = st.DeleteJob(ctx, "j1")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.NoError(t, st.Close())
	st, err = filestore.Open(dir)
	require.NoError(t, err)
	got, err := st.Job(ctx, "j1", event.Page{})
	require.NoError(t, err)
	assert.Empty(t, got, "after the second delete and a reopen")
}

// TestRestoreAfterRetentionSurvivesReopen: an event stored again after
// count or bytes retention removed its first copy (while the segment of
// that copy stays on disk) is still retained after a reopen, and the
// retained set is the same as before it.
func TestRestoreAfterRetentionSurvivesReopen(t *testing.T) {
	at := event.WithTimestamp(time.Now().Truncate(time.Second))
	x, y, z := event.New("jx", event.TypeEnqueued, at), event.New("jy", event.TypeEnqueued, at), event.New("jz", event.TypeEnqueued, at)
	line := int64(len(wire(t, x)) + 1) // the three events encode to the same size
	require.Len(t, wire(t, y), len(wire(t, x)))
	require.Len(t, wire(t, z), len(wire(t, x)))
	for _, tc := range []struct {
		name string
		opt  filestore.Option
	}{
		{"max events", filestore.WithMaxEvents(2)},
		{"max bytes", filestore.WithMaxBytes(2 * line)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := t.Context()
			st, err := filestore.Open(dir, tc.opt)
			require.NoError(t, err)
			for _, ev := range []event.JobEvent{x, y, z} { // x goes
				require.NoError(t, st.Store(ctx, ev))
			}
			require.Equal(t, []string{y.ID, z.ID}, recordIDs(listAll(t, st)))
			require.NoError(t, st.Store(ctx, x)) // stored again; y goes
			want := []string{z.ID, x.ID}
			require.Equal(t, want, recordIDs(listAll(t, st)), "before reopen")
			require.Len(t, segments(t, dir, filestore.DefaultEnvironment, filestore.DefaultService), 1,
				"the first copy of x is still on disk")
			require.NoError(t, st.Close())

			st, err = filestore.Open(dir, tc.opt)
			require.NoError(t, err)
			defer func() { _ = st.Close() }()
			assert.Equal(t, want, recordIDs(listAll(t, st)), "after reopen")
			got, err := st.Job(ctx, "jx", event.Page{})
			require.NoError(t, err)
			assert.Equal(t, []string{x.ID}, idsOf(got), "Job(jx) after reopen")
		})
	}
}
