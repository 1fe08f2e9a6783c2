package jsrollup

import (
	"context"
	"errors"
	"fmt"
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

// resetAttempts is how many times Read's ordered consumer tries to
// re-create its server-side consumer after losing it (a reconnect, a
// leader change, the stream deleted) before Read fails: nats.go waits 1 s
// and then 2 s between tries, so a stream gone for good ends Read within
// about 3 s plus the requests' time (each try may take up to nats.go's
// 10 s request timeout). The Keeper retries a failed Read.
const resetAttempts = 3

// Read calls fn for every message with sequence in [from, through], in
// order, and returns the last sequence it delivered (0 if none). It stops
// early when fn returns false. Messages purged before or during the read
// are simply absent; a range whose remaining messages vanish while Read
// waits ends after the idle time (WithIdle) once the stream shows none
// left in it. A stream deleted during the read ends it with an error once
// its consumer cannot be re-created (resetAttempts); a cancelled ctx ends
// it with ctx's error, at once unless a consumer re-create is under way
// (then after its try).
func (l *Log) Read(ctx context.Context, from, through uint64, fn func(Msg) bool) (uint64, error) {
	if from == 0 {
		from = 1
	}
	if through < from {
		return 0, nil
	}
	cons, err := l.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		InactiveThreshold: 10 * time.Second,
		// nats.go re-creates a lost consumer without end by default, and
		// Next waits through it whatever its max wait: a stream deleted
		// under the read would hold Read for ever.
		MaxResetAttempts: resetAttempts,
	})
	if err != nil {
		return 0, fmt.Errorf("jsrollup: read from sequence %d: %w", from, classify(err))
	}
	batch := min(through-from+1, 4096)
	msgs, err := cons.Messages(jetstream.PullMaxMessages(int(max(batch, 16))))
	if err != nil {
		return 0, fmt.Errorf("jsrollup: read from sequence %d: %w", from, classify(err))
	}
	defer l.release(cons, msgs)
	var last uint64
	for {
		// Without this check a cancelled read would go on while messages
		// keep coming (Next hands out buffered ones first).
		if err := ctx.Err(); err != nil {
			return last, err
		}
		// Next waits for ctx or the idle time, whichever ends first. (A
		// stop from another goroutine would race nats.go's consumer
		// re-create and could leave its new subscription running.)
		next, cancel := context.WithTimeout(ctx, l.cfg.idle)
		m, err := msgs.Next(jetstream.NextContext(next))
		idle := next.Err() != nil // read before cancel: the idle time passed
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			// Only the idle time passing means "nothing came"; a consumer
			// re-create's own request timeout is a failure like the rest.
			if idle {
				// Nothing came: is anything left in the range?
				st, serr := l.State(ctx)
				if serr != nil {
					return last, serr
				}
				if st.Last < max(last+1, from) || st.Msgs == 0 {
					return last, nil
				}
				left, perr := l.Pending(ctx, max(last+1, from))
				if perr != nil {
					return last, perr
				}
				if after, perr := l.Pending(ctx, through+1); perr == nil && left <= after {
					return last, nil
				}
				continue
			}
			return last, fmt.Errorf("jsrollup: read after sequence %d: %w", last, classify(err))
		}
		meta, err := m.Metadata()
		if err != nil {
			continue
		}
		seq := meta.Sequence.Stream
		if seq > through {
			return last, nil
		}
		last = seq
		if !fn(decode(seq, m.Subject(), m.Data())) {
			return last, nil
		}
		if seq == through {
			return last, nil
		}
		if meta.NumPending == 0 {
			// The server says the stream ends here; a message delivered
			// while the stream is being deleted says so too. Only a
			// stream that still exists and ends here ends the read.
			st, err := l.State(ctx)
			if err != nil {
				return last, err
			}
			if st.Last <= seq {
				return last, nil
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
	msgs.Stop()
	info := cons.CachedInfo()
	if info == nil || !l.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.timeout)
	defer cancel()
	_ = l.stream.DeleteConsumer(ctx, info.Name)
}
