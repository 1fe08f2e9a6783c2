package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrStreamReplaced is wrapped by the error that ends a Stream when the
// store's JetStream stream was deleted, or deleted and created again, while
// it ran. Its sequences then no longer name the events it delivered, so it
// stops rather than wait for ever (deleted) or skip the new stream's events
// up to the old sequence (re-created); a new Stream starts on the stream as
// it is now.
var ErrStreamReplaced = errors.New("stream deleted or re-created")

// errCodeStreamNotFound is the JetStream API's error code for "stream not
// found" (nats-server JSStreamNotFoundErr).
const errCodeStreamNotFound = 10059

// streamWatch is what a running Stream's watch knows: the stream's creation
// time when the Stream started, and why it must end, once known.
//
// nats.go re-creates an ordered consumer (a reset) after a reconnect, a
// server restart or missed heartbeats, from the sequence after the last one
// it delivered, and retries for ever while the create fails. After the
// stream was deleted, each try is answered "stream not found"; after it was
// re-created, the create succeeds on a stream whose sequences start again
// at 1. Neither is reported. The Store's JetStream context traces every API
// response (watchResponse); the response to a create of a watched
// consumer — one that failed "stream not found", or any re-create (serial
// above 1) — makes the watch ask for the stream's info and compare its
// creation time. That runs on the goroutine of the reset, before the new
// consumer delivers anything, so no event of a re-created stream is
// yielded.
//
// How it ends the Stream differs. A deleted stream keeps nats.go's reset
// retrying, deaf to Next's context: end (the Stream's context, which stops
// the iterator) makes its next try give up. A re-created one lets the
// reset succeed and start a new subscription; stopping the iterator while
// the reset runs would stop the old one and leave the new one running (a
// nats.go race), so wake only ends the context of Next's wait, and the
// Stream stops the iterator as it returns.
type streamWatch struct {
	s       *Store
	created time.Time
	end     context.CancelFunc // the Stream's context (Close calls it too)
	wake    context.CancelFunc // the context of the Stream's Next
	cause   atomic.Pointer[error]
}

// watchResponse is the Store's jetstream.ClientTrace.ResponseReceived: it
// passes the response to a consumer create of a running Stream's consumer
// to that Stream's watch.
func (s *Store) watchResponse(subj string, payload []byte, _ nats.Header) {
	rest, ok := strings.CutPrefix(subj, s.apiConsumerCreate)
	if !ok {
		return
	}
	name, _, _ := strings.Cut(rest, ".") // "<name>" or "<name>.<filter>"
	i := strings.LastIndexByte(name, '_')
	if i < 0 {
		return
	}
	serial, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return
	}
	s.mu.Lock()
	w := s.streamsByPrefix[name[:i]]
	s.mu.Unlock()
	if w == nil {
		return
	}
	var resp struct {
		Error *struct {
			ErrCode int `json:"err_code"`
		} `json:"error"`
	}
	if json.Unmarshal(payload, &resp) != nil {
		return
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == errCodeStreamNotFound:
		w.check(false)
	case resp.Error == nil && serial > 1:
		w.check(true)
	}
}

// watchConfirm bounds how long a watch tries to read the stream's info
// after a successful re-create of its consumer.
const watchConfirm = 15 * time.Second

// check asks for the stream's info; when the stream is gone or is not the
// one the Stream started on, it records why and ends the Stream. After a
// failed re-create (recreated false), any other answer (a timeout while
// the server is away) leaves the Stream running: the reset's next failure
// asks again. After a successful one nothing would ask again, so the info
// is retried for up to watchConfirm, and without an answer the Stream ends
// (an error wrapping ports.ErrUnavailable) rather than read on from a
// stream it could not tell apart from another.
func (w *streamWatch) check(recreated bool) {
	if w.cause.Load() != nil {
		return
	}
	name := w.s.cfg.stream
	var st jetstream.Stream
	get := func(ctx context.Context) (err error) {
		ctx, cancel := w.s.withTimeout(ctx)
		defer cancel()
		st, err = w.s.js.Stream(ctx, name)
		return classify(err)
	}
	var err error
	if recreated {
		ctx, cancel := context.WithTimeout(context.Background(), watchConfirm)
		err = w.s.retryUnavailable(ctx, streamRetryMax, get)
		cancel()
	} else {
		err = get(context.Background())
	}
	var cause error
	stop := w.end
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		cause = fmt.Errorf("the stream %s was deleted while this stream ran (its consumer cannot be made again: %w); "+
			"start a new one once the stream exists again: %w", name, err, ErrStreamReplaced)
	case err != nil && !recreated:
		return
	case err != nil:
		stop = w.wake
		cause = fmt.Errorf("after its consumer was re-created, the stream %s could not be checked to be the one this "+
			"stream started on (%w), so it ends rather than read on from sequences that may name other events; "+
			"resume after the last sequence it delivered to find out", name, err)
	case !st.CachedInfo().Created.Equal(w.created):
		stop = w.wake
		cause = fmt.Errorf("the stream %s was deleted and created again while this stream ran (created %s, now %s), "+
			"so its sequences name other events; start a new one to read the stream as it is now: %w",
			name, w.created.UTC().Format(time.RFC3339Nano), st.CachedInfo().Created.UTC().Format(time.RFC3339Nano), ErrStreamReplaced)
	default:
		return
	}
	if w.cause.CompareAndSwap(nil, &cause) {
		w.s.log.Warn("stream ended", "error", cause)
	}
	stop()
}

// err is why the Stream must end, or nil.
func (w *streamWatch) err() error {
	if p := w.cause.Load(); p != nil {
		return *p
	}
	return nil
}
