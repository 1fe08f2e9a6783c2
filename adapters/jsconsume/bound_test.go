package jsconsume_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsconsume"
	"github.com/naq-go/events/domain/processor"
	"github.com/naq-go/events/ports"
)

// relayPrefix is the API prefix of the JetStream contexts the relay serves.
const relayPrefix = "relay.api."

// relay forwards every JetStream API request sent under relayPrefix to
// the real server's $JS.API with the request's own reply subject (the
// server answers the requester directly), except requests of one
// operation that it swallows while told to, as a cluster electing a
// leader swallows them: no answer, no error.
type relay struct {
	mu    sync.Mutex
	op    string // the operation, "STREAM.INFO.naq_events"; its subject or op + ".<more>"
	drop  int    // how many more of op's requests to swallow
	seen  int    // op's requests received, swallowed or not
	other int    // requests of other operations, all forwarded
}

// startRelay subscribes the relay on its own connection to the harness's
// server and returns it with a JetStream context that sends its API
// requests through it.
func (h *harness) startRelay() (*relay, jetstream.JetStream) {
	h.t.Helper()
	r := &relay{}
	fwd, _ := h.connect()
	_, err := fwd.Subscribe(relayPrefix+">", func(m *nats.Msg) {
		op := strings.TrimPrefix(m.Subject, relayPrefix)
		if r.swallow(op) {
			return
		}
		out := &nats.Msg{Subject: "$JS.API." + op, Reply: m.Reply, Header: m.Header, Data: m.Data}
		if err := fwd.PublishMsg(out); err != nil {
			h.t.Errorf("relay: forward %s: %v", op, err)
		}
	})
	require.NoError(h.t, err)
	require.NoError(h.t, fwd.Flush())
	nc, _ := h.connect()
	js, err := jetstream.NewWithAPIPrefix(nc, relayPrefix)
	require.NoError(h.t, err)
	return r, js
}

// swallowNext makes the relay swallow the next n requests of op.
func (r *relay) swallowNext(op string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.op, r.drop, r.seen, r.other = op, n, 0, 0
}

func (r *relay) swallow(op string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.op == "" || (op != r.op && !strings.HasPrefix(op, r.op+".")) {
		r.other++
		return false
	}
	r.seen++
	if r.drop > 0 {
		r.drop--
		return true
	}
	return false
}

func (r *relay) counts() (seen, drop int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen, r.drop
}

// TestEveryRequestIsBounded: each JetStream API request New makes, not
// only its first, is given up after WithRequestTimeout when the server
// does not answer it, and tried again: the event stream's info, the
// consumer's info, its creation, its update (an existing consumer of
// another configuration), the dead-letter stream's info and its
// creation. Without the bound, the swallowed request would hold New
// until its ctx (a minute here) ended.
func TestEveryRequestIsBounded(t *testing.T) {
	const reqTimeout = 300 * time.Millisecond
	cases := []struct {
		name     string
		op       string
		existing bool // the durable exists already, with another AckWait
	}{
		{"stream info", "STREAM.INFO." + jsconsume.DefaultStream, false},
		{"consumer info", "CONSUMER.INFO." + jsconsume.DefaultStream + "." + jsconsume.DefaultDurable, false},
		{"consumer create", "CONSUMER.CREATE." + jsconsume.DefaultStream, false},
		{"consumer update", "CONSUMER.CREATE." + jsconsume.DefaultStream, true},
		{"dead-letter stream info", "STREAM.INFO." + jsconsume.DefaultDeadLetterStream, false},
		{"dead-letter stream create", "STREAM.CREATE." + jsconsume.DefaultDeadLetterStream, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.existing {
				_, err := h.js.CreateConsumer(t.Context(), jsconsume.DefaultStream, jetstream.ConsumerConfig{
					Durable: jsconsume.DefaultDurable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
				require.NoError(t, err)
			}
			r, js := h.startRelay()
			r.swallowNext(tc.op, 1)
			rec := newRecordHandler()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			src, err := jsconsume.New(ctx, js, jsconsume.WithRequestTimeout(reqTimeout),
				jsconsume.WithAckWait(7*time.Second), jsconsume.WithSlog(slog.New(rec)))
			require.NoError(t, err)
			require.NotNil(t, src)
			require.NoError(t, ctx.Err(), "New returned before its ctx ended")

			seen, drop := r.counts()
			assert.Zero(t, drop, "the request was swallowed")
			assert.GreaterOrEqual(t, seen, 2, "%s was sent again after the swallowed one", tc.op)
			tries := rec.tries()
			require.NotEmpty(t, tries, "the unanswered request was logged as a try")
			assert.Contains(t, tries[0].attrs["err"].String(), context.DeadlineExceeded.Error(),
				"the try gave up on the bound")

			ci, err := h.consumerInfo(jsconsume.DefaultDurable)
			require.NoError(t, err)
			assert.Equal(t, 7*time.Second, ci.Config.AckWait, "the consumer has the Source's configuration")
			_, err = h.js.Stream(t.Context(), jsconsume.DefaultDeadLetterStream)
			require.NoError(t, err, "the dead-letter stream was made")
		})
	}
}

// TestDeadLetterRecreationIsBounded: when the dead-letter stream was
// deleted, DeadLetter makes it again with requests bounded by
// WithRequestTimeout too. An unanswered one ends that DeadLetter with an
// error wrapping ports.ErrUnavailable well before its ctx ends (the
// processor tries again); the next DeadLetter, answered, stores the
// letter once.
func TestDeadLetterRecreationIsBounded(t *testing.T) {
	h := newHarness(t)
	r, js := h.startRelay()
	rec := newRecordHandler()
	src, err := jsconsume.New(t.Context(), js, jsconsume.WithRequestTimeout(300*time.Millisecond), jsconsume.WithSlog(slog.New(rec)))
	require.NoError(t, err)
	require.NoError(t, h.js.DeleteStream(t.Context(), jsconsume.DefaultDeadLetterStream))

	l := processor.Letter{Subject: "naq.events.test.svc.j.failed", Data: []byte("{}"),
		Delivery: processor.Delivery{Seq: 9, NumDelivered: 3}, Reason: processor.ReasonFailed, Err: errors.New("boom")}
	for _, op := range []string{"STREAM.INFO." + jsconsume.DefaultDeadLetterStream, "STREAM.CREATE." + jsconsume.DefaultDeadLetterStream} {
		r.swallowNext(op, 1)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		err = src.DeadLetter(ctx, l)
		require.Error(t, err, "%s swallowed", op)
		require.ErrorIs(t, err, ports.ErrUnavailable, "%s swallowed", op)
		require.ErrorIs(t, err, context.DeadlineExceeded, "%s swallowed", op)
		require.NoError(t, ctx.Err(), "DeadLetter returned on the bound, not at its ctx's end")
		cancel()
		seen, drop := r.counts()
		require.Equal(t, 1, seen, "one request of %s", op)
		require.Zero(t, drop)
	}

	r.swallowNext("", 0)
	require.NoError(t, src.DeadLetter(t.Context(), l))
	dl := h.deadLetters()
	require.Len(t, dl, 1, "stored once")
	assert.Equal(t, "9", dl[0].Header.Get(jsconsume.HeaderOriginalSeq))
}
