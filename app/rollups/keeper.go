// Package rollups keeps the service's rollups (domain/rollup) up to date
// from the event stream and provides them as a rollup.Reader: the HTTP
// stats and count routes, the dashboard and the CLI's stats all read the
// one computation instead of scanning events.
//
// A Keeper owns one goroutine that reads the stream in sequence order
// from where the rollups end, applies every message (idempotently by
// sequence), writes the changed chunks to a Persister every second
// (JetStream: a key-value bucket, adapters/jsrollup) and follows deletes:
//
//	stream ──Read(from, through)──▶ Keeper goroutine ──Apply──▶ rollup.Rollups ◀── Summary (any goroutine)
//	   ▲                              │  every FlushEvery: TakeFlush ──▶ Persister.Save
//	   └── State / Pending ───────────┘  every ReconcileEvery: drop, compare, rebuild chunks
//
// # Deletes and retention
//
// Whatever removes messages — a job purge from the API, the CLI or
// natscli, MaxAge, MaxMsgs or MaxBytes — is followed the same way, chunk
// by chunk of rollup.ChunkSize sequences:
//
//   - chunks wholly below the stream's first sequence are dropped (checked
//     on every read step), and the chunk holding the first sequence is
//     rebuilt from the messages left in it (at most ChunkSize reads);
//   - every ReconcileEvery (and on Reconcile), the message count the
//     rollups applied over a range of chunks is compared with the
//     stream's count over that range (two consumer pending counts, no
//     message read); ranges that differ are halved until the chunks that
//     lost messages are found, and those are rebuilt from the stream.
//
// So the rollups are exact again within one ReconcileEvery of a purge, for
// every filter; retention by age or count is exact at once (the straddling
// chunk is rebuilt on the step that sees the first sequence move). A
// source without pending counts (memory and file storage) compares the
// total instead and rebuilds everything when it differs.
//
// # Several instances
//
// Each instance keeps its own rollups from the same stream; being a
// function of the messages the stream holds (after reconciling), they
// agree. They share the bucket: a head is never replaced by one covering
// less, and a reader restoring from chunks of different writers replays
// what the oldest covers (rollup.Restore).
package rollups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/naq-go/events/adapters/jsrollup"
	"github.com/naq-go/events/domain/rollup"
)

// Source is the event stream as the keeper reads it; jsrollup.Log is one.
type Source interface {
	State(ctx context.Context) (jsrollup.StreamState, error)
	Read(ctx context.Context, from, through uint64, fn func(jsrollup.Msg) bool) (uint64, error)
}

// Counter is a Source that counts its messages from a sequence on
// without reading them; with it, deletes are found chunk by chunk.
type Counter interface {
	Pending(ctx context.Context, from uint64) (uint64, error)
}

// Persister keeps the rollups across restarts; jsrollup.State is one.
type Persister interface {
	Load(ctx context.Context) (*rollup.Rollups, bool, error)
	Save(ctx context.Context, f rollup.Flush) error
	Reset(ctx context.Context) error
}

// Defaults of the options.
const (
	DefaultPoll           = 200 * time.Millisecond
	DefaultFlushEvery     = time.Second
	DefaultReconcileEvery = 10 * time.Second
	DefaultCompactEvery   = time.Minute
	DefaultBatch          = 20_000
	DefaultFreshWait      = 2 * time.Second
	DefaultFreshMax       = 50_000
)

type keeperConfig struct {
	poll, flushEvery, reconcileEvery, compactEvery, freshWait time.Duration
	batch, freshMax                                           uint64
	log                                                       *slog.Logger
	now                                                       func() time.Time
}

// Option configures New. A value out of range keeps the default.
type Option func(*keeperConfig)

// WithPoll sets how often an idle keeper asks the stream for new messages.
// Default 200 ms; ≤ 0 keeps the default.
func WithPoll(d time.Duration) Option {
	return durOpt(d, func(c *keeperConfig) *time.Duration { return &c.poll })
}

// WithFlushEvery sets how often changed rollups are written to the
// Persister. Default 1 s; ≤ 0 keeps the default.
func WithFlushEvery(d time.Duration) Option {
	return durOpt(d, func(c *keeperConfig) *time.Duration { return &c.flushEvery })
}

// WithReconcileEvery sets how often the rollups are compared with the
// stream to follow purges. Default 10 s; ≤ 0 keeps the default.
func WithReconcileEvery(d time.Duration) Option {
	return durOpt(d, func(c *keeperConfig) *time.Duration { return &c.reconcileEvery })
}

// WithFreshWait sets how long Summary waits for the keeper to apply what
// the stream held when it was called, if it is at most WithFreshMax
// behind. Default 2 s; ≤ 0 keeps the default.
func WithFreshWait(d time.Duration) Option {
	return durOpt(d, func(c *keeperConfig) *time.Duration { return &c.freshWait })
}

// WithFreshMax sets how far behind the stream (in messages) the keeper may
// be for Summary to wait for it; further behind (catching up after a
// start), Summary answers at once with Summary.Behind set. Default 50,000;
// 0 keeps the default.
func WithFreshMax(n uint64) Option {
	return func(c *keeperConfig) {
		if n > 0 {
			c.freshMax = n
		}
	}
}

// WithClock sets the clock compaction measures rollup.RecentWindow against
// (minute buckets of hours older than that are merged). Default time.Now;
// nil keeps the default. For a data set stamped in the past (benchmarks).
func WithClock(now func() time.Time) Option {
	return func(c *keeperConfig) {
		if now != nil {
			c.now = now
		}
	}
}

// WithSlog sets the logger. Default slog.Default(); nil keeps it.
func WithSlog(l *slog.Logger) Option {
	return func(c *keeperConfig) {
		if l != nil {
			c.log = l
		}
	}
}

func durOpt(d time.Duration, f func(*keeperConfig) *time.Duration) Option {
	return func(c *keeperConfig) {
		if d > 0 {
			*f(c) = d
		}
	}
}

// Keeper keeps rollups from a Source. Make it with New, then Start and
// Stop it; Summary may be called at any time (before Start it answers
// what was loaded: nothing).
type Keeper struct {
	cfg   keeperConfig
	src   Source
	count Counter // nil: compare totals
	store Persister

	r atomic.Pointer[rollup.Rollups]

	mu      sync.Mutex
	applied chan struct{} // closed and replaced after each step
	kick    chan struct{}
	recon   chan chan error
	cancel  context.CancelFunc
	done    chan struct{}
	saved   uint64 // head Seq last saved
}

var _ rollup.Reader = (*Keeper)(nil)

// New returns a keeper of src's rollups persisted in store (nil: kept in
// memory only, rebuilt at each start).
func New(src Source, store Persister, opts ...Option) *Keeper {
	cfg := keeperConfig{poll: DefaultPoll, flushEvery: DefaultFlushEvery, reconcileEvery: DefaultReconcileEvery,
		compactEvery: DefaultCompactEvery, freshWait: DefaultFreshWait, batch: DefaultBatch,
		freshMax: DefaultFreshMax, log: slog.Default(), now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	k := &Keeper{cfg: cfg, src: src, store: store, applied: make(chan struct{}),
		kick: make(chan struct{}, 1), recon: make(chan chan error)}
	k.cfg.log = cfg.log.With("component", "rollups")
	if c, ok := src.(Counter); ok {
		k.count = c
	}
	k.r.Store(rollup.New())
	return k
}

// Start loads the persisted rollups (a corrupt state is dropped and
// rebuilt, with a warning) and starts the goroutine that catches up with
// the stream and follows it. It returns once loaded, not caught up.
func (k *Keeper) Start(ctx context.Context) error {
	if k.store != nil {
		r, found, err := k.store.Load(ctx)
		switch {
		case errors.Is(err, rollup.ErrCorrupt):
			k.cfg.log.Warn("persisted rollups do not decode; rebuilding them from the stream", "error", err)
			if err := k.store.Reset(ctx); err != nil {
				return fmt.Errorf("rollups: reset the corrupt state: %w", err)
			}
		case err != nil:
			return fmt.Errorf("rollups: load: %w", err)
		case found:
			k.r.Store(r)
			k.saved = r.Seq()
			// Build the hour tier of the last day now, so that the first
			// 24 h overview after a restart merges 24 hour entries rather
			// than every minute bucket (61 ms against 7 ms at 1M events
			// over a day, docs/performance.md).
			start := time.Now()
			if _, err := r.Summary(ctx, rollup.Query{Since: k.cfg.now().Add(-rollup.RecentWindow - rollup.HourWidth)}); err != nil {
				return fmt.Errorf("rollups: warm the hour tier: %w", err)
			}
			k.cfg.log.Info("rollups loaded", "seq", r.Seq(), "chunks", len(r.Chunks()), "hour_tier", time.Since(start).Round(time.Millisecond))
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	k.mu.Lock()
	k.cancel, k.done = cancel, make(chan struct{})
	done := k.done
	k.mu.Unlock()
	go func() {
		defer close(done)
		k.run(runCtx)
	}()
	return nil
}

// Stop ends the goroutine and writes what changed, within ctx.
func (k *Keeper) Stop(ctx context.Context) error {
	k.mu.Lock()
	cancel, done := k.cancel, k.done
	k.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("rollups: stop: %w", ctx.Err())
	}
	return k.flush(ctx)
}

// Rollups returns the current state (for tests and tools).
func (k *Keeper) Rollups() *rollup.Rollups { return k.r.Load() }

var _ rollup.FailureLocator = (*Keeper)(nil)

// FailureRanges implements rollup.FailureLocator from the rollups as they
// are (no wait): the sequence it returns says how far they cover.
func (k *Keeper) FailureRanges(ctx context.Context, q rollup.Query, errType, msg string) ([]rollup.SeqRange, uint64, error) {
	return k.r.Load().FailureRanges(ctx, q, errType, msg)
}

// Summary answers q from the rollups after waiting (up to WithFreshWait)
// until they cover what the stream held at the call, unless they are
// further behind than WithFreshMax; Summary.Behind says how many messages
// they did not cover.
func (k *Keeper) Summary(ctx context.Context, q rollup.Query) (rollup.Summary, error) {
	st, err := k.src.State(ctx)
	if err != nil {
		return rollup.Summary{}, fmt.Errorf("rollups: %w", err)
	}
	r := k.r.Load()
	if seq := r.Seq(); seq < st.Last && st.Last-seq <= k.cfg.freshMax {
		wait := time.NewTimer(k.cfg.freshWait)
		defer wait.Stop()
		for r.Seq() < st.Last {
			k.mu.Lock()
			ch := k.applied
			k.mu.Unlock()
			select {
			case k.kick <- struct{}{}:
			default:
			}
			select {
			case <-ch:
			case <-wait.C:
				goto answer
			case <-ctx.Done():
				return rollup.Summary{}, ctx.Err()
			}
			r = k.r.Load()
		}
	}
answer:
	if r.Seq() >= st.Last && appliedMsgs(r) > int64(st.Msgs) {
		// Messages were deleted since the last reconcile (a purge, or
		// retention not yet followed): reconcile before answering.
		rctx, cancel := context.WithTimeout(ctx, k.cfg.freshWait)
		err := k.Reconcile(rctx)
		cancel()
		if err != nil && ctx.Err() != nil {
			return rollup.Summary{}, ctx.Err()
		}
		r = k.r.Load()
	}
	s, err := r.Summary(ctx, q)
	if err != nil {
		return s, err
	}
	if s.Seq < st.Last {
		s.Behind = st.Last - s.Seq
	}
	return s, nil
}

// Reconcile compares the rollups with the stream now and rebuilds what
// lost messages (see the package doc); it returns when done.
func (k *Keeper) Reconcile(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case k.recon <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func appliedMsgs(r *rollup.Rollups) int64 {
	var n int64
	for _, c := range r.Chunks() {
		n += c.Msgs
	}
	return n
}

func (k *Keeper) run(ctx context.Context) {
	poll := time.NewTicker(k.cfg.poll)
	defer poll.Stop()
	lastFlush, lastRecon, lastCompact := time.Now(), time.Time{}, time.Now()
	backoff := time.Duration(0)
	for {
		caught, err := k.step(ctx)
		k.notify()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			k.cfg.log.Warn("rollups: reading the stream failed; retrying", "error", err, "in", backoff)
		} else {
			backoff = 0
		}
		now := time.Now()
		if now.Sub(lastFlush) >= k.cfg.flushEvery {
			lastFlush = now
			if err := k.flush(ctx); err != nil && ctx.Err() == nil {
				k.cfg.log.Warn("rollups: saving failed; will retry", "error", err)
			}
		}
		if caught && err == nil && now.Sub(lastRecon) >= k.cfg.reconcileEvery {
			lastRecon = now
			if err := k.reconcile(ctx); err != nil && ctx.Err() == nil {
				k.cfg.log.Warn("rollups: reconcile failed; will retry", "error", err)
			}
			k.notify()
		}
		if now.Sub(lastCompact) >= k.cfg.compactEvery {
			lastCompact = now
			k.r.Load().Compact(k.cfg.now())
		}
		if caught || err != nil {
			wait := poll.C
			var timer <-chan time.Time
			if backoff > 0 {
				wait, timer = nil, time.After(backoff)
			}
			select {
			case <-ctx.Done():
				return
			case <-wait:
			case <-timer:
			case <-k.kick:
			case reply := <-k.recon:
				err := k.reconcile(ctx)
				lastRecon = time.Now()
				k.notify()
				reply <- err
			}
		}
	}
}

func (k *Keeper) notify() {
	k.mu.Lock()
	close(k.applied)
	k.applied = make(chan struct{})
	k.mu.Unlock()
}

// step follows retention and reads at most one batch; caught is true when
// the rollups cover the stream's last sequence.
func (k *Keeper) step(ctx context.Context) (caught bool, err error) {
	st, err := k.src.State(ctx)
	if err != nil {
		return false, err
	}
	r := k.r.Load()
	seq := r.Seq()
	if st.Last < seq {
		// The stream is behind the rollups: it was deleted and made anew.
		k.cfg.log.Warn("rollups: the stream's last sequence is below what the rollups cover; starting over", "last", st.Last, "rollups", seq)
		k.r.Store(rollup.New())
		if k.store != nil {
			if err := k.store.Reset(ctx); err != nil {
				return false, err
			}
		}
		k.saved = 0
		return false, nil
	}
	if err := k.dropBefore(ctx, r, st.First); err != nil {
		return false, err
	}
	if st.Msgs == 0 {
		r.Advance(st.Last)
		return true, nil
	}
	if seq >= st.Last {
		return true, nil
	}
	from := max(seq+1, st.First)
	through := min(st.Last, from+k.cfg.batch-1)
	if _, err := k.src.Read(ctx, from, through, func(m jsrollup.Msg) bool {
		if m.Event == nil {
			r.Skip(m.Seq)
		} else {
			r.Apply(m.Seq, m.Environment, m.Service, m.Event)
		}
		return true
	}); err != nil {
		return false, err
	}
	r.Advance(through)
	return through >= st.Last, nil
}

func (k *Keeper) dropBefore(ctx context.Context, r *rollup.Rollups, first uint64) error {
	if first == 0 {
		return nil
	}
	n, rebuild := r.DropBefore(first)
	if !rebuild {
		return nil
	}
	return k.rebuild(ctx, r, n)
}

// rebuild reads chunk n's live messages and replaces it.
func (k *Keeper) rebuild(ctx context.Context, r *rollup.Rollups, n uint64) error {
	b := r.Rebuild(n)
	from, last := r.Range(b)
	if from <= last {
		if _, err := k.src.Read(ctx, from, last, func(m jsrollup.Msg) bool {
			if m.Event == nil {
				b.Skip(m.Seq)
			} else {
				b.Apply(m.Seq, m.Environment, m.Service, m.Event)
			}
			return true
		}); err != nil {
			return fmt.Errorf("rebuild chunk %d: %w", n, err)
		}
	}
	r.Replace(b, last)
	return nil
}

// reconcile finds the chunks that lost messages and rebuilds them.
func (k *Keeper) reconcile(ctx context.Context) error {
	st, err := k.src.State(ctx)
	if err != nil {
		return err
	}
	r := k.r.Load()
	if err := k.dropBefore(ctx, r, st.First); err != nil {
		return err
	}
	chunks := r.Chunks()
	top := r.Seq() + 1
	var applied int64
	for _, c := range chunks {
		applied += c.Msgs
	}
	if k.count == nil {
		if r.Seq() != st.Last || int64(st.Msgs) >= applied {
			return nil
		}
		return k.rebuildAll(ctx, st)
	}
	if len(chunks) == 0 {
		return nil
	}
	pending := map[uint64]uint64{}
	p := func(seq uint64) (uint64, error) {
		if v, ok := pending[seq]; ok {
			return v, nil
		}
		v, err := k.count.Pending(ctx, seq)
		pending[seq] = v
		return v, err
	}
	// start of chunk i's range; end of the range [i, j) is start(j) or top.
	start := func(i int) uint64 {
		if i == len(chunks) {
			return top
		}
		first, _ := rollup.ChunkBounds(chunks[i].N)
		return max(first, chunks[i].From)
	}
	var rebuilt int
	var walk func(i, j int) error
	walk = func(i, j int) error {
		var want int64
		for _, c := range chunks[i:j] {
			want += c.Msgs
		}
		// Pending at the end first: messages stored meanwhile can only
		// make the live count look larger, never smaller.
		hi, err := p(start(j))
		if err != nil {
			return err
		}
		lo, err := p(start(i))
		if err != nil {
			return err
		}
		live := int64(lo) - int64(hi)
		if live >= want {
			return nil // nothing lost (more is a race with new messages)
		}
		if j-i == 1 {
			rebuilt++
			return k.rebuild(ctx, r, chunks[i].N)
		}
		mid := (i + j) / 2
		if err := walk(i, mid); err != nil {
			return err
		}
		return walk(mid, j)
	}
	if err := walk(0, len(chunks)); err != nil {
		return err
	}
	if rebuilt > 0 {
		k.cfg.log.Info("rollups: rebuilt chunks that lost messages", "chunks", rebuilt, "counts", len(pending))
	}
	return nil
}

// rebuildAll builds the rollups anew from the whole stream (sources
// without pending counts) and swaps them in.
func (k *Keeper) rebuildAll(ctx context.Context, st jsrollup.StreamState) error {
	fresh := rollup.New()
	fresh.DropBefore(st.First)
	if _, err := k.src.Read(ctx, st.First, st.Last, func(m jsrollup.Msg) bool {
		if m.Event == nil {
			fresh.Skip(m.Seq)
		} else {
			fresh.Apply(m.Seq, m.Environment, m.Service, m.Event)
		}
		return true
	}); err != nil {
		return fmt.Errorf("rebuild all: %w", err)
	}
	fresh.Advance(st.Last)
	old := k.r.Swap(fresh)
	kept := map[uint64]bool{}
	for _, c := range fresh.Chunks() {
		kept[c.N] = true
	}
	var gone []uint64
	for _, c := range old.Chunks() {
		if !kept[c.N] {
			gone = append(gone, c.N)
		}
	}
	fresh.Dirty(gone)
	k.cfg.log.Info("rollups: rebuilt from the stream (its message count had dropped below theirs)", "seq", fresh.Seq())
	return nil
}

func (k *Keeper) flush(ctx context.Context) error {
	if k.store == nil {
		return nil
	}
	r := k.r.Load()
	f, err := r.TakeFlush()
	if err != nil {
		return err
	}
	if !f.Changed() && f.Head.Seq == k.saved {
		return nil
	}
	if err := k.store.Save(ctx, f); err != nil {
		r.Dirty(f.Gone)
		return err
	}
	k.saved = f.Head.Seq
	return nil
}
