package filestore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/domain/event"
)

// streamFrom reads a FromTime stream up to and including the event with id
// end (already stored) and returns the ids it read before it.
func streamFrom(t *testing.T, st *filestore.Store, from time.Time, end string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []string
	for rec, err := range st.Stream(ctx, event.Filter{}, event.StreamOptions{FromTime: from}) {
		require.NoError(t, err, "stream FromTime %v ended before event %s; read %v", from, end, got)
		if rec.Event.ID == end {
			return got
		}
		got = append(got, rec.Event.ID)
	}
	t.Fatalf("stream FromTime %v ended without an error before event %s", from, end)
	return nil
}

// skewed returns n events whose timestamps (the producer's clock) are off
// by skew.
func skewed(job string, n int, skew time.Duration) []event.JobEvent {
	evs := make([]event.JobEvent, n)
	for i := range evs {
		evs[i] = event.New(job, event.TypeEnqueued, event.WithTimestamp(time.Now().Add(skew)))
	}
	return evs
}

// TestStreamFromStoreTime: FromTime starts at the first event the store
// took at or after the time, whatever the events' own timestamps say, and
// still does after a reopen.
func TestStreamFromStoreTime(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	st, err := filestore.Open(dir)
	require.NoError(t, err)
	before := skewed("early", 3, time.Hour) // the producer's clock is ahead
	require.NoError(t, st.StoreBatch(ctx, before))
	from := time.Now()
	after := skewed("late", 2, -time.Hour) // and this one's is behind
	require.NoError(t, st.StoreBatch(ctx, after[:1]))
	require.NoError(t, st.StoreBatch(ctx, after[1:]))
	end := event.New("end", event.TypeEnqueued)
	require.NoError(t, st.Store(ctx, end))

	want := append(idsOf(after), "")[:len(after)]
	assert.Equal(t, want, streamFrom(t, st, from, end.ID), "before reopen")
	assert.Equal(t, append(idsOf(before), want...), streamFrom(t, st, from.Add(-time.Hour), end.ID), "from before everything")
	require.NoError(t, st.Close())

	st, err = filestore.Open(dir)
	require.NoError(t, err)
	defer func() { _ = st.Close() }()
	assert.Equal(t, want, streamFrom(t, st, from, end.ID), "after reopen")
	assert.Zero(t, st.Stats().StoreTimeErrors)
	assert.Zero(t, st.Stats().CorruptLines)
}

// TestStreamFromStoreTimeLost: when the store times of a segment are lost
// (a crash before they reached the disk, a torn line, a file removed) the
// segment's modification time stands in for them: a FromTime stream may
// start early but never misses an event stored after its time. A torn line
// of the store-time file is cut off so that later appends stay readable.
func TestStreamFromStoreTimeLost(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	st, err := filestore.Open(dir)
	require.NoError(t, err)
	old := events("old", 3)
	require.NoError(t, st.StoreBatch(ctx, old))
	from := time.Now()
	recent := events("recent", 2)
	require.NoError(t, st.StoreBatch(ctx, recent))
	require.NoError(t, st.Close())

	segs := segments(t, dir, filestore.DefaultEnvironment, filestore.DefaultService)
	require.Len(t, segs, 1)
	times := strings.TrimSuffix(segs[0], ".jsonl") + ".times"
	data, err := os.ReadFile(times)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(data), "\n")
	require.Len(t, lines, 3, "one line per batch: %q", data)
	// The second batch's line is torn: only the first batch keeps its time.
	require.NoError(t, os.WriteFile(times, []byte(lines[0]+lines[1][:3]), 0o644))

	st, err = filestore.Open(dir)
	require.NoError(t, err)
	end := event.New("end", event.TypeEnqueued)
	require.NoError(t, st.Store(ctx, end))
	assert.Equal(t, idsOf(recent), streamFrom(t, st, from, end.ID), "the first batch keeps its time, the second gets the file's")
	require.NoError(t, st.Close())
	data, err = os.ReadFile(times)
	require.NoError(t, err)
	assert.Len(t, strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"), 2, "torn line cut, then one appended: %q", data)

	require.NoError(t, os.Remove(times))
	st, err = filestore.Open(dir)
	require.NoError(t, err)
	defer func() { _ = st.Close() }()
	got := streamFrom(t, st, from, end.ID)
	assert.Equal(t, append(idsOf(old), idsOf(recent)...), got, "without store times the whole segment counts as stored at its modification time")
	assert.Zero(t, st.Stats().StoreTimeErrors)
	assert.Zero(t, st.Stats().CorruptLines)
}

// TestStoreTimeFilesRemoved: the store-time file of a segment goes with it.
func TestStoreTimeFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, filestore.WithSegmentSize(filestore.MinSegmentSize), filestore.WithMaxEvents(50), filestore.WithSync(filestore.SyncNever))
	for i := range 40 {
		require.NoError(t, st.StoreBatch(t.Context(), events("j", 10)), "batch %d", i)
	}
	segs := segments(t, dir, filestore.DefaultEnvironment, filestore.DefaultService)
	require.Greater(t, len(segs), 1)
	times, err := filepath.Glob(filepath.Join(dir, filestore.DefaultEnvironment, filestore.DefaultService, "*.times"))
	require.NoError(t, err)
	for i := range segs {
		segs[i] = strings.TrimSuffix(segs[i], ".jsonl")
	}
	for i := range times {
		times[i] = strings.TrimSuffix(times[i], ".times")
	}
	assert.Equal(t, segs, times)
}
