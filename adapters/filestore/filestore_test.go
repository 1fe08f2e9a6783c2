package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(childMain(dir))
	}
	goleak.VerifyTestMain(m)
}

// open opens dir and closes the store at the end of the test.
func open(t *testing.T, dir string, opts ...filestore.Option) *filestore.Store {
	t.Helper()
	st, err := filestore.Open(dir, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func events(job string, n int) []event.JobEvent {
	types := []event.JobEventType{event.TypeEnqueued, event.TypeStarted, event.TypeCompleted}
	out := make([]event.JobEvent, n)
	for i := range out {
		out[i] = event.New(job, types[i%len(types)], event.WithQueue("q"), event.WithDetail("i", i))
	}
	return out
}

func idsOf(evs []event.JobEvent) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}

func recordIDs(recs []event.Record) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = recs[i].Event.ID
	}
	return out
}

func listAll(t *testing.T, st *filestore.Store) []event.Record {
	t.Helper()
	recs, err := st.List(t.Context(), event.Filter{}, event.Page{})
	require.NoError(t, err)
	return recs
}

// wire is the v1.0 JSON of ev, to compare events as the wire sees them
// (details numbers decode as float64, times as UTC).
func wire(t *testing.T, ev event.JobEvent) string {
	t.Helper()
	b, err := ev.AppendJSON(nil)
	require.NoError(t, err)
	return string(b)
}

// segments returns the segment files of env/svc in dir, sorted.
func segments(t *testing.T, dir, env, svc string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, env, svc, "*.jsonl"))
	require.NoError(t, err)
	slices.Sort(files)
	return files
}

// TestSegmentLines: every line of a segment is exactly the event's v1.0
// wire JSON, the file name is the first seq and the directory is the
// environment/service.
func TestSegmentLines(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, filestore.WithEnvironment("prod"), filestore.WithService("billing"))
	evs := events("job-1", 5)
	require.NoError(t, st.StoreBatch(t.Context(), evs))

	files := segments(t, dir, "prod", "billing")
	require.Len(t, files, 1)
	assert.Equal(t, "00000000000000000001.jsonl", filepath.Base(files[0]))
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	var want []byte
	for i := range evs {
		want, err = evs[i].AppendJSON(want)
		require.NoError(t, err)
		want = append(want, '\n')
	}
	assert.Equal(t, string(want), string(data))

	recs := listAll(t, st)
	require.Len(t, recs, 5)
	for i, r := range recs {
		assert.Equal(t, uint64(i+1), r.Seq)
		assert.Equal(t, "prod", r.Environment)
		assert.Equal(t, "billing", r.Service)
		assert.Equal(t, wire(t, evs[i]), wire(t, r.Event), "the event round-trips")
	}
}

// TestReopen: the index rebuilt by Open answers every query as before, over
// many segments and two environment/service pairs, and seqs continue.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	opts := []filestore.Option{filestore.WithSegmentSize(filestore.MinSegmentSize), filestore.WithSync(filestore.SyncNever)}
	a, err := filestore.Open(dir, append(opts, filestore.WithService("a"))...)
	require.NoError(t, err)
	b, err := filestore.Open(dir, append(opts, filestore.WithService("b"))...)
	require.NoError(t, err)
	ctx := t.Context()
	for i := range 40 {
		st := a
		if i%3 == 0 {
			st = b
		}
		require.NoError(t, st.StoreBatch(ctx, events(fmt.Sprintf("job-%d", i%7), 5)))
	}
	before := listAll(t, a)
	jobA, err := a.Job(ctx, "job-3", event.Page{})
	require.NoError(t, err)
	typeB, err := b.ByType(ctx, event.TypeStarted, event.Page{Offset: 2, Limit: 5})
	require.NoError(t, err)
	segs := a.Stats().Segments
	require.Greater(t, segs, 10, "small segments should have rolled")
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())

	a = open(t, dir, append(opts, filestore.WithService("a"))...)
	b = open(t, dir, append(opts, filestore.WithService("b"))...)
	assert.Equal(t, before, listAll(t, a))
	got, err := a.Job(ctx, "job-3", event.Page{})
	require.NoError(t, err)
	assert.Equal(t, jobA, got)
	got, err = b.ByType(ctx, event.TypeStarted, event.Page{Offset: 2, Limit: 5})
	require.NoError(t, err)
	assert.Equal(t, typeB, got)
	st := a.Stats()
	assert.Equal(t, segs, st.Segments)
	assert.Zero(t, st.TornLines+st.CorruptLines+st.Duplicates)

	// Seqs continue after the last one, and ids stored before are still
	// de-duplicated.
	require.NoError(t, a.StoreBatch(ctx, []event.JobEvent{before[0].Event, before[1].Event}))
	more := events("job-new", 2)
	require.NoError(t, a.StoreBatch(ctx, more))
	recs := listAll(t, a)
	require.Len(t, recs, len(before)+2)
	assert.Equal(t, before[len(before)-1].Seq+1, recs[len(before)].Seq)
	assert.Equal(t, idsOf(more), recordIDs(recs[len(before):]))
}

// TestTornTail: garbage after the last complete line (an interrupted
// write) is detected on Open, cut off or skipped with a counter, never
// fatal, and no line before it is lost.
func TestTornTail(t *testing.T) {
	full, err := events("job-x", 1)[0].AppendJSON(nil)
	require.NoError(t, err)
	for _, tc := range []struct {
		name           string
		tail           []byte
		torn, corrupt  uint64
		keepsTail      bool // the file still holds the tail after Open
		seqAfterReopen uint64
	}{
		{name: "half a line", tail: full[:len(full)/2], torn: 1, seqAfterReopen: 11},
		{name: "line without newline", tail: full, torn: 1, seqAfterReopen: 11},
		{name: "zeros of a lost page", tail: make([]byte, 4096), torn: 1, seqAfterReopen: 11},
		{name: "undecodable complete line", tail: []byte("{\"version\":\"1.0\",\"job_\n"), corrupt: 1, keepsTail: true, seqAfterReopen: 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := filestore.Open(dir)
			require.NoError(t, err)
			evs := events("job-1", 10)
			require.NoError(t, st.StoreBatch(t.Context(), evs[:4]))
			require.NoError(t, st.StoreBatch(t.Context(), evs[4:]))
			require.NoError(t, st.Close())

			seg := segments(t, dir, filestore.DefaultEnvironment, filestore.DefaultService)[0]
			good, err := os.ReadFile(seg)
			require.NoError(t, err)
			f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
			require.NoError(t, err)
			_, err = f.Write(tc.tail)
			require.NoError(t, err)
			require.NoError(t, f.Close())

			var logs bytes.Buffer
			st = open(t, dir, filestore.WithSlog(slog.New(slog.NewTextHandler(&logs, nil))))
			got, err := st.Job(t.Context(), "job-1", event.Page{})
			require.NoError(t, err)
			assert.Equal(t, idsOf(evs), idsOf(got), "every event before the torn tail is kept")
			assert.Contains(t, logs.String(), "level=WARN")
			assert.Contains(t, logs.String(), seg, "the warning names the file")
			stats := st.Stats()
			assert.Equal(t, tc.torn, stats.TornLines)
			assert.Equal(t, tc.corrupt, stats.CorruptLines)
			data, err := os.ReadFile(seg)
			require.NoError(t, err)
			if tc.keepsTail {
				assert.Equal(t, append(good, tc.tail...), data)
			} else {
				assert.Equal(t, good, data, "the torn tail is cut off")
			}

			// Appending after the repair gives well-formed lines and the
			// next seq.
			late := events("job-1", 1)
			require.NoError(t, st.Store(t.Context(), late[0]))
			recs := listAll(t, st)
			require.Len(t, recs, 11)
			assert.Equal(t, tc.seqAfterReopen, recs[10].Seq)
			require.NoError(t, st.Close())
			st2 := open(t, dir)
			got, err = st2.Job(t.Context(), "job-1", event.Page{})
			require.NoError(t, err)
			assert.Equal(t, append(idsOf(evs), late[0].ID), idsOf(got))
			assert.Zero(t, st2.Stats().TornLines, "the repair is durable")
		})
	}
}

// TestCorruptHeadAndTombstones: a garbled start.seq or a torn tombstone
// line is not fatal either.
func TestCorruptHeadAndTombstones(t *testing.T) {
	dir := t.TempDir()
	st, err := filestore.Open(dir)
	require.NoError(t, err)
	require.NoError(t, st.StoreBatch(t.Context(), events("job-1", 3)))
	require.NoError(t, st.StoreBatch(t.Context(), events("job-2", 3)))
	n, err := st.DeleteJob(t.Context(), "job-1")
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.NoError(t, st.Close())

	require.NoError(t, os.WriteFile(filepath.Join(dir, "start.seq"), []byte("garbage"), 0o644))
	f, err := os.OpenFile(filepath.Join(dir, "deleted.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"environment":"dev","serv`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	st = open(t, dir)
	recs := listAll(t, st)
	assert.Len(t, recs, 3, "job-1 stays deleted")
	for _, r := range recs {
		assert.Equal(t, "job-2", r.Event.JobID)
	}
	assert.Equal(t, uint64(1), st.Stats().CorruptLines)
	assert.Equal(t, uint64(1), st.Stats().TornLines)
}

// TestDeleteJob: a deletion is durable, touches only events stored before
// it, and its tombstone goes away once retention passed it.
func TestDeleteJob(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	opts := []filestore.Option{filestore.WithSegmentSize(filestore.MinSegmentSize), filestore.WithMaxEvents(30)}
	st, err := filestore.Open(dir, opts...)
	require.NoError(t, err)
	other, err := filestore.Open(dir, append(opts, filestore.WithEnvironment("prod"))...)
	require.NoError(t, err)
	require.NoError(t, st.StoreBatch(ctx, events("job-1", 4)))
	require.NoError(t, other.StoreBatch(ctx, events("job-1", 2))) // same job id, other environment
	require.NoError(t, st.StoreBatch(ctx, events("job-2", 4)))

	n, err := st.DeleteJob(ctx, "job-1")
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	n, err = st.DeleteJob(ctx, "job-1")
	require.NoError(t, err)
	assert.Zero(t, n, "nothing left to delete")
	later := events("job-1", 2)
	require.NoError(t, st.StoreBatch(ctx, later))
	require.NoError(t, other.Close())
	require.NoError(t, st.Close())

	st, err = filestore.Open(dir, opts...)
	require.NoError(t, err)
	got, err := st.Job(ctx, "job-1", event.Page{})
	require.NoError(t, err)
	assert.Equal(t, idsOf(later), idsOf(got), "only events stored after the deletion remain")
	c, err := st.Count(ctx, event.Filter{JobID: "job-1"})
	require.NoError(t, err)
	assert.Equal(t, 4, c, "the other environment's job-1 is untouched")
	assert.Equal(t, 1, st.Stats().Tombstones)

	// Push everything out by count: the tombstone no longer covers a
	// retained event and is dropped from the file.
	for range 10 {
		require.NoError(t, st.StoreBatch(ctx, events("job-3", 5)))
	}
	assert.Equal(t, 0, st.Stats().Tombstones)
	data, err := os.ReadFile(filepath.Join(dir, "deleted.jsonl"))
	require.NoError(t, err)
	assert.Empty(t, data)
	require.NoError(t, st.Close())
}

// TestRetention: MaxEvents and MaxBytes remove whole old segment files and
// the head survives reopening; MaxAge removes by event time on Cleanup.
func TestRetention(t *testing.T) {
	ctx := t.Context()
	t.Run("events and bytes", func(t *testing.T) {
		for _, opt := range []filestore.Option{filestore.WithMaxEvents(50), filestore.WithMaxBytes(50 * 330)} {
			dir := t.TempDir()
			opts := []filestore.Option{filestore.WithSegmentSize(filestore.MinSegmentSize), opt}
			st, err := filestore.Open(dir, opts...)
			require.NoError(t, err)
			var all []event.JobEvent
			for i := range 40 {
				evs := events(fmt.Sprintf("job-%d", i), 5)
				all = append(all, evs...)
				require.NoError(t, st.StoreBatch(ctx, evs))
			}
			stats := st.Stats()
			assert.LessOrEqual(t, stats.Events, 50)
			assert.Greater(t, stats.Events, 30)
			assert.Equal(t, uint64(len(all)-stats.Events), stats.Removed)
			files := segments(t, dir, filestore.DefaultEnvironment, filestore.DefaultService)
			assert.Len(t, files, stats.Segments, "removed segments are deleted from disk")
			assert.Less(t, len(files), 15)
			kept := recordIDs(listAll(t, st))
			assert.Equal(t, idsOf(all[len(all)-len(kept):]), kept, "the newest events stay")
			require.NoError(t, st.Close())

			st = open(t, dir, opts...)
			assert.Equal(t, kept, recordIDs(listAll(t, st)))
			assert.Equal(t, stats.FirstSeq, st.Stats().FirstSeq)
		}
	})
	t.Run("age", func(t *testing.T) {
		dir := t.TempDir()
		st := open(t, dir, filestore.WithMaxAge(time.Hour))
		old := time.Now().Add(-2 * time.Hour)
		oldEvs := []event.JobEvent{
			event.New("job-1", event.TypeEnqueued, event.WithTimestamp(old)),
			event.New("job-1", event.TypeStarted, event.WithTimestamp(old)),
		}
		fresh := events("job-1", 2)
		outOfOrder := event.New("job-2", event.TypeEnqueued, event.WithTimestamp(old))
		require.NoError(t, st.StoreBatch(ctx, append(append(oldEvs, fresh...), outOfOrder)))
		n, err := st.Cleanup(ctx)
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		assert.Equal(t, idsOf(fresh), recordIDs(listAll(t, st)))
		n, err = st.Cleanup(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
	})
}

// TestReplay: Replay delivers in order, removes only what fn accepted,
// keeps its progress across a reopen, deletes consumed segments and never
// reuses a seq.
func TestReplay(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	opts := []filestore.Option{filestore.WithSegmentSize(filestore.MinSegmentSize)}
	var spill logger.Spill
	st, err := filestore.Open(dir, opts...)
	require.NoError(t, err)
	spill = st
	var all []event.JobEvent
	for i := range 10 {
		evs := events(fmt.Sprintf("job-%d", i), 5)
		all = append(all, evs...)
		require.NoError(t, spill.StoreBatch(ctx, evs))
	}
	require.Equal(t, 50, spill.Pending())

	var got []string
	boom := errors.New("store down")
	calls := 0
	err = spill.Replay(ctx, 8, func(_ context.Context, evs []event.JobEvent) error {
		calls++
		if calls == 3 {
			return boom
		}
		assert.LessOrEqual(t, len(evs), 8)
		got = append(got, idsOf(evs)...)
		return nil
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, idsOf(all[:16]), got)
	assert.Equal(t, 34, spill.Pending())
	require.NoError(t, st.Close())

	st = open(t, dir, opts...)
	assert.Equal(t, 34, st.Pending(), "progress survives reopening")
	require.NoError(t, st.Replay(ctx, 8, func(_ context.Context, evs []event.JobEvent) error {
		got = append(got, idsOf(evs)...)
		return nil
	}))
	assert.Equal(t, idsOf(all), got, "every event once, in order")
	assert.Zero(t, st.Pending())
	assert.Empty(t, segments(t, dir, filestore.DefaultEnvironment, filestore.DefaultService), "consumed segments are deleted")
	last := st.Stats().NextSeq
	require.NoError(t, st.Close())

	st = open(t, dir, opts...)
	assert.Zero(t, st.Pending())
	require.NoError(t, st.Store(ctx, events("job-z", 1)[0]))
	recs := listAll(t, st)
	require.Len(t, recs, 1)
	assert.Equal(t, last, recs[0].Seq, "seqs are never reused")

	t.Run("invalid", func(t *testing.T) {
		require.ErrorIs(t, st.Replay(ctx, 0, func(context.Context, []event.JobEvent) error { return nil }), ports.ErrInvalid)
		require.ErrorIs(t, st.Replay(ctx, 1, nil), ports.ErrInvalid)
	})
}

// TestOptions: invalid options fail Open with ErrInvalid naming the value;
// a directory open in this process is shared only with the same log
// options.
func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  filestore.Option
		want string
	}{
		{"environment with dot", filestore.WithEnvironment("a.b"), `"a.b"`},
		{"empty service", filestore.WithService(""), "service is empty"},
		{"service with slash", filestore.WithService("a/b"), `"a/b"`},
		{"tiny segments", filestore.WithSegmentSize(100), "segment size 100"},
		{"negative age", filestore.WithMaxAge(-time.Second), "max age -1s"},
		{"negative bytes", filestore.WithMaxBytes(-1), "max bytes -1"},
		{"negative events", filestore.WithMaxEvents(-1), "max events -1"},
		{"zero sync interval", filestore.WithSync(filestore.SyncInterval(0)), "sync interval 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := filestore.Open(t.TempDir(), tc.opt)
			require.ErrorIs(t, err, ports.ErrInvalid)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	t.Run("conflicting log options", func(t *testing.T) {
		dir := t.TempDir()
		open(t, dir, filestore.WithMaxEvents(5))
		_, err := filestore.Open(dir, filestore.WithMaxEvents(6))
		require.ErrorIs(t, err, ports.ErrInvalid)
		assert.Contains(t, err.Error(), "max events 5")
		other := open(t, dir, filestore.WithMaxEvents(5), filestore.WithService("other"))
		h, err := other.Health(t.Context())
		require.NoError(t, err)
		assert.Equal(t, "other", h.Detail["service"])
	})
}

// TestSyncPolicies: every policy stores, survives a reopen and stops its
// goroutines on Close (goleak checks the last).
func TestSyncPolicies(t *testing.T) {
	for _, p := range []filestore.SyncPolicy{filestore.SyncAlways, filestore.SyncInterval(time.Millisecond), filestore.SyncNever} {
		t.Run(p.String(), func(t *testing.T) {
			dir := t.TempDir()
			st, err := filestore.Open(dir, filestore.WithSync(p))
			require.NoError(t, err)
			evs := events("job-1", 20)
			for i := 0; i < len(evs); i += 5 {
				require.NoError(t, st.StoreBatch(t.Context(), evs[i:i+5]))
			}
			h, err := st.Health(t.Context())
			require.NoError(t, err)
			assert.Equal(t, p.String(), h.Detail["sync"])
			require.NoError(t, st.Close())
			st = open(t, dir)
			got, err := st.Job(t.Context(), "job-1", event.Page{})
			require.NoError(t, err)
			assert.Equal(t, idsOf(evs), idsOf(got))
		})
	}
}

// TestStreamAcrossSegments: a History stream over many segments then live
// appends delivers every event once, in seq order.
func TestStreamAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, filestore.WithSegmentSize(filestore.MinSegmentSize), filestore.WithSync(filestore.SyncNever))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var want []string
	for i := range 30 {
		evs := events(fmt.Sprintf("job-%d", i), 10)
		want = append(want, idsOf(evs)...)
		require.NoError(t, st.StoreBatch(ctx, evs))
	}
	done := make(chan []string)
	go func() {
		var got []string
		var last uint64
		for rec, err := range st.Stream(ctx, event.Filter{}, event.StreamOptions{History: true}) {
			if err != nil || rec.Seq <= last {
				break
			}
			last = rec.Seq
			got = append(got, rec.Event.ID)
			if len(got) == 600 {
				break
			}
		}
		done <- got
	}()
	for i := 30; i < 60; i++ {
		evs := events(fmt.Sprintf("job-%d", i), 10)
		want = append(want, idsOf(evs)...)
		require.NoError(t, st.StoreBatch(ctx, evs))
	}
	assert.Equal(t, want, <-done)
}

// TestReplayWhileAppending: the logger spills while it replays; every
// event is delivered exactly once and in spill order.
func TestReplayWhileAppending(t *testing.T) {
	ctx := t.Context()
	st := open(t, t.TempDir(), filestore.WithSegmentSize(filestore.MinSegmentSize), filestore.WithSync(filestore.SyncNever))
	var want []string
	for i := range 100 {
		evs := events(fmt.Sprintf("job-%d", i), 20)
		want = append(want, idsOf(evs)...)
	}
	writerDone := make(chan error, 1)
	go func() {
		for i := 0; i < len(want); i += 20 {
			evs := events("w", 0)
			for _, id := range want[i : i+20] {
				evs = append(evs, event.New("job-w", event.TypeStarted, event.WithID(id)))
			}
			if err := st.StoreBatch(ctx, evs); err != nil {
				writerDone <- err
				return
			}
		}
		writerDone <- nil
	}()
	var got []string
	fn := func(_ context.Context, evs []event.JobEvent) error {
		got = append(got, idsOf(evs)...)
		return nil
	}
	for finished := false; !finished; {
		select {
		case err := <-writerDone:
			require.NoError(t, err)
			finished = true
		default:
		}
		require.NoError(t, st.Replay(ctx, 7, fn))
	}
	assert.Equal(t, want, got)
	assert.Zero(t, st.Pending())
}

// Example shows the file store as the logger's spill: events stored while
// the real store is down are replayed, oldest first, once it is back.
func Example() {
	dir, err := os.MkdirTemp("", "spill")
	if err != nil {
		panic(err)
	}
	// Any error is printed, so it fails the example's output check.
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Println("remove:", err)
		}
	}()
	spill, err := filestore.Open(dir, filestore.WithService("billing"))
	if err != nil {
		panic(err)
	}
	defer func() {
		if err := spill.Close(); err != nil {
			fmt.Println("close:", err)
		}
	}()
	ctx := context.Background()
	if err := spill.StoreBatch(ctx, []event.JobEvent{
		event.New("job-1", event.TypeEnqueued),
		event.New("job-1", event.TypeStarted),
		event.New("job-1", event.TypeCompleted),
	}); err != nil {
		fmt.Println("store:", err)
	}
	fmt.Println("pending:", spill.Pending())
	if err := spill.Replay(ctx, 2, func(_ context.Context, evs []event.JobEvent) error {
		for _, ev := range evs {
			fmt.Println("replayed", ev.JobID, ev.Type)
		}
		return nil // stored elsewhere: remove them from the spill
	}); err != nil {
		fmt.Println("replay:", err)
	}
	fmt.Println("pending:", spill.Pending())
	// Output:
	// pending: 3
	// replayed job-1 enqueued
	// replayed job-1 started
	// replayed job-1 completed
	// pending: 0
}
