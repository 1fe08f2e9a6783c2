package jsrollup

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/subject"
	"github.com/naq-go/events/ports"
)

// Log reads the event stream for the rollups. It is safe for concurrent
// use.
type Log struct {
	cfg    config
	nc     *nats.Conn
	stream jetstream.Stream
	name   string
}

// StreamState is where the stream is now.
type StreamState struct {
	First, Last uint64 // sequences of the oldest and newest message held
	Msgs        uint64 // messages held
}

// Msg is one message of the stream as the rollups see it: Event is nil
// when the message is not a decodable event whose subject agrees with it.
type Msg struct {
	Seq         uint64
	Environment string
	Service     string
	Event       *event.JobEvent
}

// NewLog opens the existing stream name on nc.
func NewLog(ctx context.Context, nc *nats.Conn, name string, opts ...Option) (*Log, error) {
	cfg, js, err := connect(nc, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, cfg.timeout)
	defer cancel()
	st, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("jsrollup: stream %q: %w", name, ports.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("jsrollup: stream %q: %w", name, classify(err))
	}
	return &Log{cfg: cfg, nc: nc, stream: st, name: name}, nil
}

// State returns the stream's first and last sequence and message count.
func (l *Log) State(ctx context.Context) (StreamState, error) {
	ctx, cancel := withTimeout(ctx, l.cfg.timeout)
	defer cancel()
	info, err := l.stream.Info(ctx)
	if err != nil {
		return StreamState{}, fmt.Errorf("jsrollup: stream info %q: %w", l.name, classify(err))
	}
	return StreamState{First: info.State.FirstSeq, Last: info.State.LastSeq, Msgs: info.State.Msgs}, nil
}

// Pending returns how many messages the stream holds at sequences ≥ from:
// the pending count of a consumer made and deleted at once, no message
// read.
func (l *Log) Pending(ctx context.Context, from uint64) (uint64, error) {
	ctx, cancel := withTimeout(ctx, l.cfg.timeout)
	defer cancel()
	cons, err := l.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       max(from, 1),
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: 10 * time.Second,
	})
	if err != nil {
		return 0, fmt.Errorf("jsrollup: count from sequence %d: %w", from, classify(err))
	}
	n := cons.CachedInfo().NumPending
	if err := l.stream.DeleteConsumer(ctx, cons.CachedInfo().Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, fmt.Errorf("jsrollup: delete counting consumer: %w", classify(err))
	}
	return n, nil
}

// Read calls fn for every message with sequence in [from, through], in
// order, and returns the last sequence it delivered (0 if none). It stops
// early when fn returns false. Messages purged before or during the read
// are simply absent; a range whose remaining messages vanish while Read
// waits ends after the idle time (WithIdle) once the stream shows none
// left in it.
//
// A consumer lost during the read (a reconnect, a server restart, a
// leader change, a consumer deleted by hand), or one that delivers
// nothing for the idle time while the range still holds messages, is made
// again from the sequence after the last one delivered, so nothing is
// missed or seen twice. Tries are 250 ms apart at first, doubling to 4 s,
// for up to the recovery time (WithReadRecovery) from when the loss is
// seen (a stuck consumer: after its idle time), without a message
// delivered; then Read fails with the last try's error. A closed
// connection ends the read at once. A stream deleted during the read ends
// it at the first failed try, with an error naming the stream and
// wrapping ports.ErrNotFound and jetstream.ErrStreamNotFound.
// A cancelled ctx ends it with ctx's error, at once unless a consumer
// re-create is under way (then after its try: nats.go gives a create up
// to 10 s).
func (l *Log) Read(ctx context.Context, from, through uint64, fn func(Msg) bool) (uint64, error) {
	if from == 0 {
		from = 1
	}
	if through < from {
		return 0, nil
	}
	r := &reading{l: l, from: from, through: through, fn: fn}
	err := r.run(ctx)
	if err == nil || ctx.Err() == nil {
		return r.last, err
	}
	return r.last, ctx.Err()
}

// reading is one Read: what it delivered so far, across its consumers.
type reading struct {
	l       *Log
	from    uint64 // the range asked for
	through uint64
	fn      func(Msg) bool
	last    uint64 // the last sequence delivered
	done    bool   // the range is read, or fn said stop
}

// state is Log.State bounded by the request timeout (WithTimeout) even
// when ctx, which bounds the whole read, has a deadline: a request the
// server does not answer (one sent while a node it placed work on was
// killed) is given up and tried again, not waited on for the read's time.
func (r *reading) state(ctx context.Context) (StreamState, error) {
	ctx, cancel := context.WithTimeout(ctx, r.l.cfg.timeout)
	defer cancel()
	return r.l.State(ctx)
}

// pending is Log.Pending bounded as state is.
func (r *reading) pending(ctx context.Context, from uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, r.l.cfg.timeout)
	defer cancel()
	return r.l.Pending(ctx, from)
}

// next is where the read goes on: the sequence after the last delivered.
func (r *reading) next() uint64 { return max(r.last+1, r.from) }

// run reads with one consumer after another until the range is read, fn
// stops, ctx ends or a lost consumer cannot be made again.
func (r *reading) run(ctx context.Context) error {
	var (
		lostAt time.Time // when the consumer was lost with no message since
		wait   = 250 * time.Millisecond
	)
	for {
		before := r.last
		err := r.consume(ctx, r.next())
		if err == nil || r.done || ctx.Err() != nil {
			return err
		}
		if r.l.nc.IsClosed() {
			return fmt.Errorf("jsrollup: read of stream %q after sequence %d: %w: %w", r.l.name, r.last, nats.ErrConnectionClosed, err)
		}
		// The consumer is lost (or could not be made). A stream deleted
		// ends the read; anything else is tried again for a while.
		if r.last != before || lostAt.IsZero() {
			lostAt, wait = time.Now(), 250*time.Millisecond
		}
		st, serr := r.state(ctx)
		if errors.Is(serr, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("jsrollup: read of stream %q after sequence %d: the stream was deleted: %w: %w", r.l.name, r.last, ports.ErrNotFound, serr)
		}
		if serr == nil && (st.Msgs == 0 || st.Last < r.next()) {
			return nil // nothing left in the range (purged meanwhile)
		}
		if time.Since(lostAt)+wait > r.l.cfg.recovery {
			return fmt.Errorf("jsrollup: read of stream %q after sequence %d: no consumer delivered for %v (WithReadRecovery): %w", r.l.name, r.last, r.l.cfg.recovery, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 4*time.Second)
	}
}

// consume reads from sequence from with one ordered consumer. It returns
// nil when the read is over (r.done, or the range holds nothing more) and
// an error when the consumer could not be made or was lost.
func (r *reading) consume(ctx context.Context, from uint64) error {
	l := r.l
	// The create is bounded like state's requests: one placed on a node
	// just killed is not answered.
	cctx, ccancel := context.WithTimeout(ctx, l.cfg.timeout)
	cons, err := l.stream.OrderedConsumer(cctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		InactiveThreshold: 10 * time.Second,
		// One try: Read makes a lost consumer again itself, after
		// checking that the stream is still there (nats.go would try
		// without end by default, and Next waits through its tries: a
		// stream deleted under the read would hold Read for ever).
		MaxResetAttempts: 1,
	})
	ccancel()
	if err != nil {
		return fmt.Errorf("read from sequence %d: %w", from, classify(err))
	}
	batch := min(r.through-from+1, 4096)
	msgs, err := cons.Messages(jetstream.PullMaxMessages(int(max(batch, 16))))
	if err != nil {
		l.release(cons, nil)
		return fmt.Errorf("read from sequence %d: %w", from, classify(err))
	}
	defer l.release(cons, msgs)
	for {
		// Without this check a cancelled read would go on while messages
		// keep coming (Next hands out buffered ones first).
		if err := ctx.Err(); err != nil {
			return err
		}
		// Next waits for ctx or the idle time, whichever ends first. (A
		// stop from another goroutine would race nats.go's consumer
		// re-create and could leave its new subscription running.)
		next, cancel := context.WithTimeout(ctx, l.cfg.idle)
		m, err := msgs.Next(jetstream.NextContext(next))
		idle := next.Err() != nil && errors.Is(err, context.DeadlineExceeded) // read before cancel
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !idle {
				// Lost: a consumer re-create failed, or its own request
				// timed out.
				return fmt.Errorf("read after sequence %d: %w", r.last, classify(err))
			}
			// Nothing came within the idle time: is anything left in
			// the range?
			at := r.next()
			st, serr := r.state(ctx)
			if serr != nil {
				return serr
			}
			if st.Last < at || st.Msgs == 0 {
				return nil
			}
			// Past the range first: messages stored in between can
			// only make the range look fuller (stuck), not done. (Only
			// messages past the range purged in between could.)
			var after uint64
			if r.through < math.MaxUint64 {
				if after, serr = r.pending(ctx, r.through+1); serr != nil {
					return serr
				}
			}
			left, perr := r.pending(ctx, at)
			if perr != nil {
				return perr
			}
			if left <= after {
				return nil
			}
			// Messages of the range are there but the consumer delivers
			// none: it is stuck (its node was killed before the server
			// marked it offline, say). Make another.
			return fmt.Errorf("read after sequence %d: %w: no message came within %v (WithIdle) though the stream holds %d of the range",
				r.last, ports.ErrUnavailable, l.cfg.idle, left-after)
		}
		meta, err := m.Metadata()
		if err != nil {
			continue
		}
		seq := meta.Sequence.Stream
		if seq > r.through {
			return nil
		}
		if seq <= r.last {
			continue // delivered already (never seen: ordered consumers resume after the last)
		}
		r.last = seq
		if !r.fn(decode(seq, m.Subject(), m.Data())) || seq == r.through {
			r.done = true
			return nil
		}
		if meta.NumPending == 0 {
			// The server says the stream ends here; a message delivered
			// while the stream is being deleted says so too. Only a
			// stream that still exists and ends here ends the read.
			st, err := r.state(ctx)
			if err != nil {
				return err
			}
			if st.Last <= seq {
				return nil
			}
		}
	}
}

func decode(seq uint64, subj string, data []byte) Msg {
	msg := Msg{Seq: seq}
	p, err := subject.Parse(subj)
	if err != nil {
		return msg
	}
	msg.Environment, msg.Service = p.Environment, p.Service
	ev, err := event.Decode(data)
	if err != nil || ev.JobID != p.JobID || ev.Type != p.Type {
		return msg
	}
	msg.Event = &ev
	return msg
}

func (l *Log) release(cons jetstream.Consumer, msgs jetstream.MessagesContext) {
	if msgs != nil {
		msgs.Stop()
	}
	info := cons.CachedInfo()
	if info == nil || !l.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.timeout)
	defer cancel()
	_ = l.stream.DeleteConsumer(ctx, info.Name)
}
