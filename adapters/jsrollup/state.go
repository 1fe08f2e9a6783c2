package jsrollup

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/domain/rollup"
	"github.com/naq-go/events/ports"
)

const (
	headKey     = "head"
	chunkPrefix = "chunk."
)

// State persists rollups in a key-value bucket. It is safe for concurrent
// use.
type State struct {
	cfg config
	kv  jetstream.KeyValue
}

// NewState opens the bucket, creating it (history 1, file storage) when
// create is true and it does not exist. Without create, a missing bucket
// is an error wrapping ports.ErrNotFound: no service has kept rollups on
// this server yet.
func NewState(ctx context.Context, nc *nats.Conn, create bool, opts ...Option) (*State, error) {
	cfg, js, err := connect(nc, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, cfg.timeout)
	defer cancel()
	var kv jetstream.KeyValue
	if create {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      cfg.bucket,
			Description: "naq-events rollups (counts, sketches, failures) by stream sequence",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.replicas,
		})
	} else {
		kv, err = js.KeyValue(ctx, cfg.bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, fmt.Errorf("jsrollup: bucket %q: %w (no `naq-events serve` has kept rollups on this server yet)", cfg.bucket, ports.ErrNotFound)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jsrollup: open bucket %q: %w", cfg.bucket, classify(err))
	}
	return &State{cfg: cfg, kv: kv}, nil
}

// Bucket returns the bucket's name.
func (s *State) Bucket() string { return s.cfg.bucket }

// Load restores the rollups from the bucket; found is false (and the
// rollups empty) when no head was written yet. A head or chunk that does
// not decode is an error wrapping rollup.ErrCorrupt.
func (s *State) Load(ctx context.Context) (r *rollup.Rollups, found bool, err error) {
	ctx, cancel := withTimeout(ctx, s.cfg.timeout)
	defer cancel()
	e, err := s.kv.Get(ctx, headKey)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return rollup.New(), false, nil
	case err != nil:
		return nil, false, fmt.Errorf("jsrollup: get %s/%s: %w", s.cfg.bucket, headKey, classify(err))
	}
	h, err := rollup.DecodeHead(e.Value())
	if err != nil {
		return nil, false, fmt.Errorf("jsrollup: bucket %q: %w", s.cfg.bucket, err)
	}
	docs, err := s.getChunks(ctx, h.Chunks)
	if err != nil {
		return nil, false, err
	}
	r, err = rollup.Restore(h, func(n uint64) ([]byte, bool, error) {
		doc, ok := docs[n]
		return doc, ok, nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("jsrollup: bucket %q: %w", s.cfg.bucket, err)
	}
	return r, true, nil
}

// loadWorkers is how many chunk gets Load has in flight at once.
const loadWorkers = 16

// getChunks fetches the chunks' documents, loadWorkers at a time; a
// missing chunk is absent from the result.
func (s *State) getChunks(ctx context.Context, chunks []rollup.ChunkInfo) (map[uint64][]byte, error) {
	type got struct {
		n   uint64
		doc []byte
		err error
	}
	todo := make(chan uint64)
	out := make(chan got)
	var wg sync.WaitGroup
	for range min(loadWorkers, len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range todo {
				e, err := s.kv.Get(ctx, chunkKey(n))
				switch {
				case errors.Is(err, jetstream.ErrKeyNotFound):
					out <- got{n: n}
				case err != nil:
					out <- got{n: n, err: fmt.Errorf("jsrollup: get %s/%s: %w", s.cfg.bucket, chunkKey(n), classify(err))}
				default:
					out <- got{n: n, doc: e.Value()}
				}
			}
		}()
	}
	go func() {
		defer close(todo)
		for _, c := range chunks {
			select {
			case todo <- c.N:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(out)
	}()
	docs := make(map[uint64][]byte, len(chunks))
	var first error
	for g := range out {
		switch {
		case g.err != nil && first == nil:
			first = g.err
		case g.doc != nil:
			docs[g.n] = g.doc
		}
	}
	if first == nil && ctx.Err() != nil {
		first = fmt.Errorf("jsrollup: load %s: %w", s.cfg.bucket, classify(ctx.Err()))
	}
	return docs, first
}

// Save writes a flush: its chunks, the removal of its gone chunks, then
// the head, unless the stored head already covers more of the stream
// (another writer is ahead; its head stays).
func (s *State) Save(ctx context.Context, f rollup.Flush) error {
	ctx, cancel := withTimeout(ctx, s.cfg.timeout)
	defer cancel()
	for n, doc := range f.Chunks {
		if _, err := s.kv.Put(ctx, chunkKey(n), doc); err != nil {
			return fmt.Errorf("jsrollup: put %s/%s (%d bytes): %w", s.cfg.bucket, chunkKey(n), len(doc), classify(err))
		}
	}
	for _, n := range f.Gone {
		if err := s.kv.Purge(ctx, chunkKey(n)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("jsrollup: purge %s/%s: %w", s.cfg.bucket, chunkKey(n), classify(err))
		}
	}
	for range 3 {
		cur, err := s.kv.Get(ctx, headKey)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err := s.kv.Create(ctx, headKey, f.HeadDoc); err == nil {
				return nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("jsrollup: create %s/%s: %w", s.cfg.bucket, headKey, classify(err))
			}
			continue
		case err != nil:
			return fmt.Errorf("jsrollup: get %s/%s: %w", s.cfg.bucket, headKey, classify(err))
		}
		if h, err := rollup.DecodeHead(cur.Value()); err == nil && h.Seq > f.Head.Seq {
			return nil
		}
		if _, err := s.kv.Update(ctx, headKey, f.HeadDoc, cur.Revision()); err == nil {
			return nil
		} else if !isWrongLast(err) {
			return fmt.Errorf("jsrollup: update %s/%s: %w", s.cfg.bucket, headKey, classify(err))
		}
	}
	return fmt.Errorf("jsrollup: update %s/%s: %w: three writers raced for it", s.cfg.bucket, headKey, ports.ErrUnavailable)
}

// Reset removes every key of the bucket (the rollups start over).
func (s *State) Reset(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx, s.cfg.timeout)
	defer cancel()
	keys, err := s.kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("jsrollup: list %s: %w", s.cfg.bucket, classify(err))
	}
	for _, k := range keys {
		if err := s.kv.Purge(ctx, k); err != nil {
			return fmt.Errorf("jsrollup: purge %s/%s: %w", s.cfg.bucket, k, classify(err))
		}
	}
	return nil
}

func chunkKey(n uint64) string { return chunkPrefix + strconv.FormatUint(n, 10) }

func isWrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		strings.Contains(err.Error(), "wrong last sequence")
}

func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// classify marks transient failures as ports.ErrUnavailable.
func classify(err error) error {
	if err == nil || errors.Is(err, ports.ErrUnavailable) {
		return err
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code == 503 {
		return fmt.Errorf("%w: %w", ports.ErrUnavailable, err)
	}
	for _, target := range []error{
		nats.ErrNoResponders, jetstream.ErrNoStreamResponse, nats.ErrTimeout, context.DeadlineExceeded,
		nats.ErrDisconnected, nats.ErrConnectionClosed, nats.ErrConnectionDraining,
		nats.ErrConnectionReconnecting, jetstream.ErrJetStreamNotEnabled,
	} {
		if errors.Is(err, target) {
			return fmt.Errorf("%w: %w", ports.ErrUnavailable, err)
		}
	}
	return err
}
