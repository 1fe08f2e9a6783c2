package jsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/naq-go/events/domain/subject"
)

// Why the first job history after a server restart is slow, and what
// KeepIndexWarm does about it (figures in docs/performance.md, "Reads at
// scale").
//
// nats-server's file store keeps, per stream, an index from each subject
// to its first and last block (psim), and per block of messages (4 MiB for
// this stream's 1 GiB MaxBytes) the subjects in that block (fss). The block
// index is not kept on disk: after a restart every block's fss is absent,
// and the server builds it by reading the whole block the first time a
// filtered read looks into it. A direct get of the next message on a job's
// literal subject finds the subject's first block from psim, then looks
// into every block up to the one holding the next message. A job whose
// events lie far apart (on a busy stream, every long job) thus makes the
// first read load most of the stream's blocks: 50–800 ms on a 1M stream,
// while a read of the same job with the blocks' fss loaded takes a few
// milliseconds. The server drops a block's fss after two minutes without
// activity on the block, so an idle service goes cold again.
//
// KeepIndexWarm touches every block once right away and then every
// interval: one single direct get per block, by sequence, on a literal
// subject no message has. The server loads the block's fss if it is absent
// (its messages only briefly), finds the subject absent from it, answers
// 404 and, having touched the block, keeps its fss another two minutes.
// Each request holds the server's locks for one block only, so writers
// never wait for a whole pass.

// DefaultWarmInterval is KeepIndexWarm's default interval: under the two
// minutes after which nats-server drops an idle block's subject index.
const DefaultWarmInterval = 90 * time.Second

// warmBlockBytes is the block size a warm pass assumes to choose its
// stride: nats-server's smallest default block (1 MiB), so that no block
// of a larger size is stepped over.
const warmBlockBytes = 1 << 20

// warmInflight bounds the direct gets of a warm pass in flight at once.
const warmInflight = 32

type warmer struct {
	started atomic.Bool
	passes  atomic.Uint64
	last    atomic.Int64   // duration of the last pass, ns
	wg      sync.WaitGroup // the loop; Add under Store.mu, Close waits
}

// KeepIndexWarm keeps the server's per-block subject index of the stream
// loaded, so that job histories cost the same a minute after a restart as
// an hour later: a pass over every block now (in the background; New and
// this call do not wait for it) and every interval while the Store is
// open (Close stops it and waits for it). interval ≤ 0 means
// DefaultWarmInterval. A second call does nothing. It costs the server one
// lookup per block per pass, and right after a restart one read of every
// block (what the first job history would otherwise pay); the service
// calls it, short-lived commands do not.
func (s *Store) KeepIndexWarm(interval time.Duration) {
	if interval <= 0 {
		interval = DefaultWarmInterval
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.warm.started.CompareAndSwap(false, true) {
		return
	}
	s.warm.wg.Add(1) // under s.mu, so that Close's Wait comes after it
	go func() {      // owned by the Store: ends when s.done closes; Close waits
		defer s.warm.wg.Done()
		s.warmLoop(interval)
	}()
}

// IndexWarmups reports how many warm passes have finished and how long the
// last one took.
func (s *Store) IndexWarmups() (passes uint64, last time.Duration) {
	return s.warm.passes.Load(), time.Duration(s.warm.last.Load())
}

func (s *Store) warmLoop(interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() { // ends with warmLoop (cancel) or at Close; warmLoop waits
		defer close(watched)
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() { cancel(); <-watched }()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		start := time.Now()
		if n, err := s.warmPass(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Debug("index warm pass failed", "error", err)
		} else {
			s.warm.last.Store(int64(time.Since(start)))
			s.warm.passes.Add(1)
			s.log.Debug("index warm pass", "requests", n, "took", time.Since(start))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// warmPass sends one direct get per block of the stream and waits for the
// answers; it returns how many it sent.
func (s *Store) warmPass(parent context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(parent, 10*s.cfg.timeout)
	defer cancel()
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", classify(err))
	}
	st := info.State
	if st.Msgs < 2 {
		return 0, nil
	}
	stride := uint64(1)
	if st.Bytes > 0 {
		stride = max(1, warmBlockBytes/max(1, st.Bytes/st.Msgs))
	}
	// A literal subject no event has ("naq.events.~.~.~.~"): the server
	// finds it in no block. A first sequence above the stream's first makes
	// the server look into the block instead of answering from psim.
	none := strings.ReplaceAll(subject.StreamFilter(), "*", "~")
	inbox := s.nc.NewRespInbox()
	sub, err := s.nc.SubscribeSync(inbox + ".*")
	if err != nil {
		return 0, fmt.Errorf("subscribe: %w", classify(err))
	}
	defer func() { _ = sub.Unsubscribe() }()
	sent, inflight := 0, 0
	for seq := st.FirstSeq + 1; ; seq += stride {
		if seq > st.LastSeq {
			seq = st.LastSeq // the last block too
		}
		body, _ := json.Marshal(&getRequest{Seq: seq, NextFor: none})
		if err := s.nc.PublishRequest(s.apiDirectGet, inbox+"."+strconv.Itoa(sent), body); err != nil {
			return sent, fmt.Errorf("direct get: %w", classify(err))
		}
		sent++
		if inflight++; inflight == warmInflight {
			if _, err := sub.NextMsgWithContext(ctx); err != nil {
				return sent, fmt.Errorf("direct get: %w", classify(err))
			}
			inflight--
		}
		if seq == st.LastSeq {
			break
		}
	}
	for ; inflight > 0; inflight-- {
		if _, err := sub.NextMsgWithContext(ctx); err != nil {
			return sent, fmt.Errorf("direct get: %w", classify(err))
		}
	}
	return sent, nil
}
