package jsconsume_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsconsume"
	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/domain/subject"
	"github.com/naq-go/events/ports"
)

// startPlainServer starts a nats-server without JetStream on a free port.
func startPlainServer(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats-server not ready")
	return srv
}

// jetStreamAt connects to url (reconnecting forever, as the service
// does) and returns the connection's JetStream context.
func jetStreamAt(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectJitter(0, 0))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// tries returns the records of setUp's "trying again" line.
func (h recordHandler) tries() []loggedRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []loggedRecord
	for _, r := range *h.recs {
		if r.msg == "JetStream not ready for the consumer; trying again" {
			out = append(out, r)
		}
	}
	return out
}

// TestNewWaitsForJetStream: New, started while nothing serves the
// JetStream API, neither returns nor hangs on one request. First a
// subscriber swallows every $JS.API request, as a cluster electing its
// leaders does: each request is given up after WithRequestTimeout and
// sent again (without the bound, the first one would take New's whole
// minute). Then nothing answers at all (no responders), then the server
// goes away. When a JetStream server comes up on the same port, New
// returns the Source with the consumer and the dead-letter stream made.
func TestNewWaitsForJetStream(t *testing.T) {
	plain := startPlainServer(t)
	port := plain.Addr().(*net.TCPAddr).Port

	hole, err := nats.Connect(plain.ClientURL())
	require.NoError(t, err)
	t.Cleanup(hole.Close)
	swallowed := make(chan string, 100)
	sub, err := hole.Subscribe("$JS.API.>", func(m *nats.Msg) {
		select {
		case swallowed <- m.Subject:
		default:
		}
	})
	require.NoError(t, err)
	require.NoError(t, hole.Flush())

	js := jetStreamAt(t, plain.ClientURL())
	rec := newRecordHandler()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	type result struct {
		src *jsconsume.Source
		err error
	}
	done := make(chan result, 1)
	go func() {
		src, err := jsconsume.New(ctx, js, jsconsume.WithRequestTimeout(200*time.Millisecond), jsconsume.WithSlog(slog.New(rec)))
		done <- result{src, err}
	}()

	// Swallowed requests: the same stream info, sent again after each bound.
	deadline := time.After(20 * time.Second)
	for n := 0; n < 3; {
		select {
		case subj := <-swallowed:
			assert.Equal(t, "$JS.API.STREAM.INFO."+jsconsume.DefaultStream, subj)
			n++
		case r := <-done:
			t.Fatalf("New returned while no request was answered: %v", r.err)
		case <-deadline:
			t.Fatalf("a swallowed request was not sent again within 20 s (request timeout 200 ms): New waits on it")
		}
	}
	require.NoError(t, sub.Unsubscribe())
	require.NoError(t, hole.Flush())
	eventually(t, 20*time.Second, "a try answered by no responders", func() bool {
		for _, r := range rec.tries() {
			if strings.Contains(r.attrs["err"].String(), nats.ErrNoResponders.Error()) {
				return true
			}
		}
		return false
	})
	select {
	case r := <-done:
		t.Fatalf("New returned on a transient answer: %v", r.err)
	default:
	}

	// Then no server at all: a try made while the connection is down is
	// transient too.
	before := len(rec.tries())
	plain.Shutdown()
	plain.WaitForShutdown()
	eventually(t, 20*time.Second, "a try while the server is down", func() bool { return len(rec.tries()) > before })
	select {
	case r := <-done:
		t.Fatalf("New returned while the server was down: %v", r.err)
	default:
	}

	// The JetStream server comes up with the event stream already in its
	// store, so that no try of New can find JetStream without the stream
	// (a missing stream is permanent).
	store := t.TempDir()
	prep, err := natsembed.Start(natsembed.WithStoreDir(store))
	require.NoError(t, err)
	pjs := jetStreamAt(t, prep.ClientURL())
	_, err = pjs.CreateStream(ctx, jetstream.StreamConfig{Name: jsconsume.DefaultStream, Subjects: []string{subject.StreamFilter()}})
	require.NoError(t, err)
	pjs.Conn().Close()
	prep.Shutdown()
	srv, err := natsembed.Start(natsembed.WithStoreDir(store), natsembed.WithPort(port))
	require.NoError(t, err, "restart on the freed port %d (taken by another process meanwhile?)", port)
	t.Cleanup(srv.Shutdown)
	ajs := jetStreamAt(t, srv.ClientURL())

	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("New did not return within a minute of a JetStream server being up")
	}
	require.NoError(t, r.err)
	require.NotNil(t, r.src)
	_, err = ajs.Consumer(ctx, jsconsume.DefaultStream, jsconsume.DefaultDurable)
	require.NoError(t, err, "the durable consumer New made")
	_, err = ajs.Stream(ctx, jsconsume.DefaultDeadLetterStream)
	require.NoError(t, err, "the dead-letter stream New made")
	assert.GreaterOrEqual(t, len(rec.tries()), 5, "three swallowed requests, a no-responders answer and a try while down, each logged")
}

// TestNewGivesUpWithTheLastCause: when ctx ends while JetStream stays
// unreachable, New returns the last transient answer, wrapping
// ports.ErrUnavailable, after trying more than once.
func TestNewGivesUpWithTheLastCause(t *testing.T) {
	js := jetStreamAt(t, startPlainServer(t).ClientURL())
	rec := newRecordHandler()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err := jsconsume.New(ctx, js, jsconsume.WithSlog(slog.New(rec)))
	require.Error(t, err)
	require.ErrorIs(t, err, ports.ErrUnavailable)
	require.ErrorIs(t, err, nats.ErrNoResponders)
	assert.Contains(t, err.Error(), jsconsume.DefaultDurable)
	assert.GreaterOrEqual(t, len(rec.tries()), 2, "tried again within the second ctx allowed")
}

// TestNewGivesUpWithTheLastAnswer: when ctx ends while a request waits,
// New's error still carries the last answer JetStream gave (no
// responders here), not only ctx's end, and wraps ports.ErrUnavailable,
// also when ctx was cancelled rather than timed out.
func TestNewGivesUpWithTheLastAnswer(t *testing.T) {
	plain := startPlainServer(t)
	js := jetStreamAt(t, plain.ClientURL())
	rec := newRecordHandler()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := jsconsume.New(ctx, js, jsconsume.WithRequestTimeout(time.Minute), jsconsume.WithSlog(slog.New(rec)))
		done <- err
	}()
	eventually(t, 20*time.Second, "a no-responders answer", func() bool { return len(rec.tries()) > 0 })

	// Now the requests are swallowed: the next one waits (a minute), and
	// ctx is cancelled while it does.
	hole, err := nats.Connect(plain.ClientURL())
	require.NoError(t, err)
	t.Cleanup(hole.Close)
	swallowed := make(chan struct{}, 1)
	_, err = hole.Subscribe("$JS.API.>", func(*nats.Msg) {
		select {
		case swallowed <- struct{}{}:
		default:
		}
	})
	require.NoError(t, err)
	require.NoError(t, hole.Flush())
	select {
	case <-swallowed:
	case err := <-done:
		t.Fatalf("New returned before its request was swallowed: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no request of New reached the swallowing subscriber within 20 s")
	}
	cancel()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("New did not return within 20 s of its ctx being cancelled")
	}
	require.ErrorIs(t, err, ports.ErrUnavailable)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, nats.ErrNoResponders, "the last answer, not only ctx's end")
	assert.Contains(t, err.Error(), "tries")
}

// TestNewEndsAtOnceOnAPermanentAnswer: a missing event stream is not
// waited for, whatever ctx allows.
func TestNewEndsAtOnceOnAPermanentAnswer(t *testing.T) {
	srv, err := natsembed.Start(natsembed.WithStoreDir(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	js := jetStreamAt(t, srv.ClientURL())
	rec := newRecordHandler()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err = jsconsume.New(ctx, js, jsconsume.WithSlog(slog.New(rec)))
	require.ErrorIs(t, err, ports.ErrNotFound)
	assert.NotErrorIs(t, err, ports.ErrUnavailable, "a missing stream is not transient")
	assert.Empty(t, rec.tries(), "not tried again")
	require.NoError(t, ctx.Err(), "returned before ctx ended")
}
