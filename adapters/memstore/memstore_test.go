package memstore_test

import (
	"context"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
	"github.com/naq-go/events/ports/storetest"
)

// factory gives each test one backend shared by the stores it makes.
func factory() storetest.Factory {
	var mu sync.Mutex
	backends := map[*testing.T]*memstore.Backend{}
	return func(t *testing.T, cfg storetest.Config) ports.Store {
		mu.Lock()
		defer mu.Unlock()
		b := backends[t]
		if b == nil {
			b = memstore.NewBackend()
			backends[t] = b
			t.Cleanup(func() { mu.Lock(); delete(backends, t); mu.Unlock() })
		}
		return memstore.New(
			memstore.WithBackend(b),
			memstore.WithEnvironment(cfg.Environment),
			memstore.WithService(cfg.Service),
			memstore.WithMaxAge(cfg.MaxAge),
			memstore.WithMaxEvents(cfg.MaxEvents),
		)
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, factory(), storetest.WithBackendName("memory"), storetest.WithRetentionAge(100*time.Millisecond))
}

func TestOptionsRejectInvalidValues(t *testing.T) {
	cases := []struct {
		name string
		opt  memstore.Option
		want string
	}{
		{"environment with a dot", memstore.WithEnvironment("a.b"), `"a.b"`},
		{"empty service", memstore.WithService(""), "WithService"},
		{"service wildcard", memstore.WithService("*"), `"*"`},
		{"negative max age", memstore.WithMaxAge(-time.Second), "-1s"},
		{"negative max events", memstore.WithMaxEvents(-1), "-1"},
		{"nil clock", memstore.WithClock(nil), "WithClock(nil)"},
		{"nil backend", memstore.WithBackend(nil), "WithBackend(nil)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r, "New did not panic")
				assert.Contains(t, fmt.Sprint(r), c.want)
			}()
			memstore.New(c.opt)
		})
	}
}

func TestDefaults(t *testing.T) {
	st := memstore.New()
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	h, err := st.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "memory", h.Backend)
	assert.Equal(t, "dev", h.Detail["environment"])
	assert.Equal(t, "naq", h.Detail["service"])
	require.NoError(t, st.Store(t.Context(), event.New("job1", event.TypeEnqueued)))
	recs, err := st.List(t.Context(), event.Filter{}, event.Page{})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "dev", recs[0].Environment)
	assert.Equal(t, "naq", recs[0].Service)
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestRetentionByAgeUsesStoreTime(t *testing.T) {
	ctx := t.Context()
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := memstore.New(memstore.WithMaxAge(time.Minute), memstore.WithClock(clock.Now))
	t.Cleanup(func() { require.NoError(t, st.Close()) })

	// The event timestamps are far in the past: age counts from storing.
	old := event.WithTimestamp(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	first := []event.JobEvent{event.New("j", event.TypeEnqueued, old), event.New("j", event.TypeStarted, old), event.New("k", event.TypeStarted, old)}
	require.NoError(t, st.StoreBatch(ctx, first))
	clock.Advance(30 * time.Second)
	second := []event.JobEvent{event.New("j", event.TypeCompleted, old), event.New("k", event.TypeFailed, old)}
	require.NoError(t, st.StoreBatch(ctx, second))
	requireCount(t, st, 5)

	clock.Advance(30 * time.Second) // first batch exactly MaxAge old: kept
	n, err := st.Cleanup(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)

	clock.Advance(time.Nanosecond)
	n, err = st.Cleanup(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	requireCount(t, st, 2)
	evs, err := st.Job(ctx, "j", event.Page{})
	require.NoError(t, err)
	assert.Equal(t, []string{second[0].ID}, idsOf(evs))

	// A write expires what is due without a Cleanup.
	clock.Advance(time.Hour)
	require.NoError(t, st.Store(ctx, event.New("m", event.TypeEnqueued)))
	requireCount(t, st, 1)
	evs, err = st.ByType(ctx, event.TypeFailed, event.Page{})
	require.NoError(t, err)
	assert.Empty(t, evs)
}

func TestRetentionIsPerStore(t *testing.T) {
	ctx := t.Context()
	b := memstore.NewBackend()
	small := memstore.New(memstore.WithBackend(b), memstore.WithService("small"), memstore.WithMaxEvents(2))
	big := memstore.New(memstore.WithBackend(b), memstore.WithService("big"))
	t.Cleanup(func() { require.NoError(t, small.Close()) })
	t.Cleanup(func() { require.NoError(t, big.Close()) })
	for range 5 {
		require.NoError(t, big.Store(ctx, event.New("j", event.TypeStarted)))
		require.NoError(t, small.Store(ctx, event.New("j", event.TypeStarted)))
	}
	n, err := small.Count(ctx, event.Filter{Service: "small"})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	n, err = small.Count(ctx, event.Filter{Service: "big"})
	require.NoError(t, err)
	assert.Equal(t, 5, n, "the small store's retention must not touch the big store's events")
}

// The de-duplication memory is bounded by retention: an ID pushed out of the
// store is forgotten and may be stored again.
func TestDeduplicationForgetsRemovedEvents(t *testing.T) {
	ctx := t.Context()
	st := memstore.New(memstore.WithMaxEvents(3))
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	first := event.New("j", event.TypeEnqueued)
	require.NoError(t, st.Store(ctx, first))
	require.NoError(t, st.Store(ctx, first))
	requireCount(t, st, 1)
	for range 3 {
		require.NoError(t, st.Store(ctx, event.New("j", event.TypeStarted)))
	}
	require.NoError(t, st.Store(ctx, first))
	evs, err := st.Job(ctx, "j", event.Page{})
	require.NoError(t, err)
	require.Len(t, evs, 3)
	assert.Equal(t, first.ID, evs[2].ID)
}

func TestNoAliasing(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	ev := event.New("j", event.TypeFailed, event.WithDetail("k", "v"), event.WithTag("t", "1"), event.WithMemoryMB(3))
	require.NoError(t, st.Store(ctx, ev))
	ev.Details["k"] = "changed by the caller"
	ev.Tags["t"] = "changed"
	*ev.MemoryMB = 99

	got, err := st.Job(ctx, "j", event.Page{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "v", got[0].Details["k"])
	assert.Equal(t, "1", got[0].Tags["t"])
	assert.InDelta(t, 3.0, *got[0].MemoryMB, 0, "the caller's change to 99 is not seen")

	got[0].Details["k"] = "changed by a reader"
	again, err := st.Job(ctx, "j", event.Page{})
	require.NoError(t, err)
	assert.Equal(t, "v", again[0].Details["k"])
}

// A reader that stops pulling holds nothing: writers carry on, and when it
// resumes it gets everything, in order, across many read batches.
func TestSlowReaderNeverBlocksWriters(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	require.NoError(t, st.Store(ctx, event.New("j", event.TypeEnqueued)))

	next, stop := iter.Pull2(st.Stream(ctx, event.Filter{}, event.StreamOptions{History: true}))
	defer stop()
	_, err, ok := next()
	require.True(t, ok)
	require.NoError(t, err)

	// The reader is parked between pulls; 5000 writes must not wait for it.
	var want []string
	for range 50 {
		batch := make([]event.JobEvent, 100)
		for i := range batch {
			batch[i] = event.New(fmt.Sprintf("j%d", i%7), event.TypeStarted)
			want = append(want, batch[i].ID)
		}
		require.NoError(t, st.StoreBatch(ctx, batch))
	}
	got := make([]string, 0, len(want))
	for range want {
		rec, err, ok := next()
		require.True(t, ok)
		require.NoError(t, err)
		got = append(got, rec.Event.ID)
	}
	assert.Equal(t, want, got)
}

// A reader that falls behind retention loses only what was removed.
func TestSlowReaderGetsWhatIsStillRetained(t *testing.T) {
	ctx := t.Context()
	st := memstore.New(memstore.WithMaxEvents(100))
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	require.NoError(t, st.Store(ctx, event.New("j", event.TypeEnqueued)))
	next, stop := iter.Pull2(st.Stream(ctx, event.Filter{}, event.StreamOptions{History: true}))
	defer stop()
	_, err, ok := next()
	require.True(t, ok)
	require.NoError(t, err)

	var all []string
	for range 1000 {
		ev := event.New("j", event.TypeStarted)
		require.NoError(t, st.Store(ctx, ev))
		all = append(all, ev.ID)
	}
	for i, want := range all[900:] {
		rec, err, ok := next()
		require.True(t, ok)
		require.NoError(t, err)
		require.Equal(t, want, rec.Event.ID, "record %d after falling behind", i)
	}
}

func requireCount(t *testing.T, st *memstore.Store, want int) {
	t.Helper()
	n, err := st.Count(t.Context(), event.Filter{})
	require.NoError(t, err)
	require.Equal(t, want, n)
}

func idsOf(evs []event.JobEvent) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}

// TestContractSkipsWhatTheBackendLacks: a feature switched off with a
// storetest.WithoutX option shows as a skipped subtest with its reason,
// not as a pass. The suite runs in a child process (this test in this
// binary, with NAQ_STORETEST_SKIP_CHILD set) whose verbose output is read.
func TestContractSkipsWhatTheBackendLacks(t *testing.T) {
	if os.Getenv("NAQ_STORETEST_SKIP_CHILD") == "1" {
		storetest.Run(t, factory(), storetest.WithoutRetentionByCount(), storetest.WithoutRetentionByAge())
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestContractSkipsWhatTheBackendLacks$/^Retention", "-test.v")
	cmd.Env = append(os.Environ(), "NAQ_STORETEST_SKIP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child test run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"--- SKIP: TestContractSkipsWhatTheBackendLacks/RetentionByCount",
		"--- SKIP: TestContractSkipsWhatTheBackendLacks/RetentionByAge",
		"(WithoutRetentionByCount)",
		"(WithoutRetentionByAge)",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child test output lacks %q:\n%s", want, out)
		}
	}
}
